"""Representational dissimilarity matrices (RDMs) over stimuli, as rsatoolbox defines them.

RDMs are returned as condensed vectors (upper triangle, row-major, the order of
``scipy.spatial.distance.squareform`` and of rsatoolbox's ``RDMs.get_vectors()``). The
products go through BLAS (rsatoolbox's einsum does not), which is where most of the speed-up
over ``rsatoolbox.rdm.calc_rdm`` comes from.
"""

from __future__ import annotations

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["RDM_METHODS", "calc_rdm", "calc_rdm_crossnobis", "to_matrix"]

#: Dissimilarities for patterns (stimulus x channel); crossnobis needs repeats.
RDM_METHODS = ("correlation", "euclidean", "crossnobis")


def _condensed(square: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import squareform

    return squareform(square, checks=False).astype(np.float64, copy=False)


def calc_rdm(patterns: np.ndarray, method: str = "correlation") -> np.ndarray:
    """RDM of the rows of ``patterns`` (stimulus x channel), condensed.

    ``correlation``: 1 - Pearson r between stimulus patterns (rsatoolbox's
    ``calc_rdm_correlation``). ``euclidean``: squared Euclidean distance divided by the number
    of channels (rsatoolbox's ``calc_rdm_euclidean``).
    """
    x = np.asarray(patterns, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise InputError(f"need a (stimulus, channel) matrix with >= 3 stimuli, got {x.shape}",
                         obj=f"rdm {method}")
    if not np.isfinite(x).all():
        raise InputError("patterns contain NaN or inf", obj=f"rdm {method}")
    if method == "correlation":
        xc = x - x.mean(axis=1, keepdims=True)
        norm = np.sqrt(np.einsum("ij,ij->i", xc, xc))
        if np.any(norm == 0):
            raise InputError(
                f"{int(np.sum(norm == 0))} stimulus pattern(s) are constant across channels: "
                "correlation distance is undefined (use euclidean)",
                obj="rdm correlation",
            )
        xc /= norm[:, None]
        out = _condensed(xc @ xc.T)
        return np.subtract(1.0, out, out=out)
    if method == "euclidean":
        sq = np.einsum("ij,ij->i", x, x)
        d = x @ x.T  # in place from here: n x n temporaries dominate memory
        d *= -2.0
        d += sq[:, None]
        d += sq[None, :]
        out = _condensed(d)
        out /= x.shape[1]
        return out
    raise InputError(f"unknown RDM method {method!r}; one of correlation, euclidean",
                     obj="rdm")


def calc_rdm_crossnobis(responses: np.ndarray) -> np.ndarray:
    """Cross-validated squared Euclidean (crossnobis with identity noise) RDM, condensed.

    ``responses`` is (stimulus, channel, repeat) with no missing values. Leave-one-repeat-out:
    for each repeat r, ``(a_i - a_j) . (b_i - b_j) / P`` with ``a`` the mean of the other
    repeats and ``b`` repeat r, averaged over r -- rsatoolbox's ``calc_rdm_crossnobis`` with
    ``cv_descriptor`` = repeat and ``noise=None``. Unbiased: 0 on average for equal patterns.
    """
    y = np.asarray(responses, dtype=np.float64)
    if y.ndim != 3 or y.shape[2] < 2:
        raise InputError("crossnobis needs responses with >= 2 repeats", obj="rdm crossnobis")
    if not np.isfinite(y).all():
        raise InputError("crossnobis needs every repeat of every stimulus (found NaN)",
                         obj="rdm crossnobis")
    n, p, r = y.shape
    total = y.sum(axis=2)
    acc = np.zeros((n, n))
    for f in range(r):
        b = np.ascontiguousarray(y[:, :, f])
        a = (total - b) / (r - 1)
        k = a @ b.T
        d = np.diag(k).copy()
        acc -= k
        acc -= k.T
        acc += d[:, None]
        acc += d[None, :]
    out = _condensed(acc)
    out /= r * p
    return out


def to_matrix(vector: np.ndarray) -> np.ndarray:
    """Square symmetric RDM from a condensed vector (zero diagonal)."""
    from scipy.spatial.distance import squareform

    return squareform(np.asarray(vector, dtype=np.float64), checks=False)
