"""Cross-validated ridge regression from a few units to many neurons, all neurons at once.

Every quantity ridge needs -- fits with an intercept, K-fold validation R^2 for a grid of
alphas, held-out R^2 and Pearson r -- is a function of per-block sums (n, sum x, sum y,
sum y^2, X'X, X'Y) over the blocks of rows (the K folds and the test set). One pass over the
responses in row chunks collects them, so memory stays at the response matrix plus a chunk,
and each alpha costs O(k^2 N) instead of a refit per neuron. The coefficients come from the SVD
of the centered training design (k columns, cheap): W = V diag(1 / (s^2 + alpha)) V' Z'Y.
Equal to scikit-learn's ``Ridge(alpha)`` and ``RidgeCV(alphas, cv=folds)`` (per neuron).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["RidgeCVResult", "ridge_cv", "block_stats"]


@dataclass
class _Block:
    """Sums over one block of rows (x and y shifted by fixed offsets)."""

    n: int
    sx: np.ndarray  # (k,)
    sy: np.ndarray  # (N,)
    syy: np.ndarray  # (N,)
    sxx: np.ndarray  # (k, k)
    sxy: np.ndarray  # (k, N)

    def __add__(self, other: _Block) -> _Block:
        return _Block(self.n + other.n, self.sx + other.sx, self.sy + other.sy,
                      self.syy + other.syy, self.sxx + other.sxx, self.sxy + other.sxy)

    def __sub__(self, other: _Block) -> _Block:
        return _Block(self.n - other.n, self.sx - other.sx, self.sy - other.sy,
                      self.syy - other.syy, self.sxx - other.sxx, self.sxy - other.sxy)


def block_stats(x: np.ndarray, y: np.ndarray, rows: np.ndarray, x0: np.ndarray, y0: np.ndarray,
                chunk: int = 256) -> _Block:
    """Sum over ``rows`` of x - x0 and y - y0, reading y in chunks of rows."""
    k, nn = x.shape[1], y.shape[1]
    b = _Block(0, np.zeros(k), np.zeros(nn), np.zeros(nn), np.zeros((k, k)), np.zeros((k, nn)))
    for start in range(0, len(rows), chunk):
        r = rows[start:start + chunk]
        xc = x[r] - x0
        yc = np.asarray(y[r], dtype=np.float64) - y0
        b.n += len(r)
        b.sx += xc.sum(axis=0)
        b.sy += yc.sum(axis=0)
        b.syy += np.einsum("ij,ij->j", yc, yc)
        b.sxx += xc.T @ xc
        b.sxy += xc.T @ yc
    return b


def _r2(sse: np.ndarray, sst: np.ndarray) -> np.ndarray:
    """Sklearn's r2_score per column: 1 - SSE/SST; SST = 0 gives 1 (perfect) or 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / sst
    zero = sst <= 0
    if zero.any():
        r2 = np.where(zero, np.where(sse <= 1e-30, 1.0, 0.0), r2)
    return r2


class _Fit:
    """Ridge on the training block ``t``: SVD of its centered design, Z'Y in its basis."""

    def __init__(self, t: _Block, x: np.ndarray, rows: np.ndarray, x0: np.ndarray) -> None:
        self.mx = t.sx / t.n
        self.my = t.sy / t.n
        z = x[rows] - x0 - self.mx
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        self.v = vt.T
        self.s2 = s**2
        zy = t.sxy - np.outer(t.sx, self.my)  # Z'Y with Y centered on the training mean
        self.a = self.v.T @ zy  # (k, N)

    def coef(self, alpha: np.ndarray | float) -> np.ndarray:
        """(k, N) weights; ``alpha`` scalar or one per neuron."""
        alpha = np.asarray(alpha, dtype=np.float64)
        shrink = 1.0 / (self.s2[:, None] + (alpha[None, :] if alpha.ndim else alpha))
        return self.v @ (self.a * shrink)

    def residual_terms(self, f: _Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Residual terms of a validation block.

        For validation block ``f`` (D = x - train mean, F = y - train mean): sum F^2,
        D'F and D'D.
        """
        mx, my = self.mx, self.my
        ff = f.syy - 2 * my * f.sy + f.n * my**2
        df = f.sxy - np.outer(f.sx, my) - np.outer(mx, f.sy) + f.n * np.outer(mx, my)
        dd = f.sxx - np.outer(f.sx, mx) - np.outer(mx, f.sx) + f.n * np.outer(mx, mx)
        return ff, df, dd


def _sse(w: np.ndarray, ff: np.ndarray, df: np.ndarray, dd: np.ndarray) -> np.ndarray:
    return ff - 2 * np.einsum("kj,kj->j", w, df) + np.einsum("kj,kj->j", w, dd @ w)


@dataclass
class RidgeCVResult:
    """What :func:`ridge_cv` returns (N = neurons, A = alphas, k = units).

    Attributes
    ----------
    alpha
        (N,) chosen alpha per neuron (all equal when shared).
    cv_score
        (A, N) mean validation R^2 over folds (scikit-learn's ``mean_test_score``).
    coef, intercept
        (k, N) and (N,) refitted on all training rows with the chosen alpha.
    test_r2, test_r
        (N,) R^2 (sklearn's ``r2_score``) and Pearson r of predictions on the test rows.
    """

    alpha: np.ndarray
    cv_score: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    test_r2: np.ndarray
    test_r: np.ndarray


def ridge_cv(
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    folds: Sequence[np.ndarray],
    alphas: Sequence[float],
    *,
    per_neuron: bool = True,
    chunk: int = 256,
) -> RidgeCVResult:
    """K-fold ridge of every column of ``y`` on ``x`` (with intercept), then held-out scores.

    Parameters
    ----------
    x, y
        (n, k) design and (n, N) responses over all stimuli (``y`` is only read in chunks).
    train, test
        Row indices for fitting and for the held-out scores.
    folds
        K arrays of positions into ``train``: the validation rows of each fold (as
        ``KFold.split`` yields them); fold k trains on the other folds' rows.
    alphas
        Candidate penalties (scikit-learn's ``alpha``).
    per_neuron
        Pick alpha per neuron (RidgeCV fitted per neuron) or one alpha for all, maximising
        the mean validation R^2 over neurons.
    """
    x = np.asarray(x, dtype=np.float64)
    train, test = np.asarray(train), np.asarray(test)
    alphas = np.asarray(alphas, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise InputError(f"x {x.shape} and y {y.shape} must be (n, k) and (n, N)", obj="ridge")
    if alphas.ndim != 1 or alphas.size == 0 or np.any(alphas <= 0):
        raise InputError("alphas must be positive", obj="ridge")
    if len(folds) < 2:
        raise InputError("need at least 2 folds", obj="ridge")
    # offsets near the means keep the sums well conditioned
    x0 = x[train].mean(axis=0)
    y0 = np.zeros(y.shape[1])
    for start in range(0, len(train), chunk):
        y0 += np.asarray(y[train[start:start + chunk]], dtype=np.float64).sum(axis=0)
    y0 /= len(train)
    fold_rows = [train[np.asarray(f)] for f in folds]
    blocks = [block_stats(x, y, r, x0, y0, chunk) for r in fold_rows]
    total = blocks[0]
    for b in blocks[1:]:
        total = total + b
    scores = np.zeros((alphas.size, y.shape[1]))
    for k, f in enumerate(blocks):
        others = np.concatenate([r for j, r in enumerate(fold_rows) if j != k])
        fit = _Fit(total - f, x, others, x0)
        ff, df, dd = fit.residual_terms(f)
        sst = f.syy - f.sy**2 / f.n
        for a, alpha in enumerate(alphas):
            scores[a] += _r2(_sse(fit.coef(alpha), ff, df, dd), sst)
    scores /= len(folds)
    if per_neuron:
        best = np.argmax(scores, axis=0)
    else:
        best = np.full(y.shape[1], int(np.argmax(scores.mean(axis=1))))
    chosen = alphas[best]
    fit = _Fit(total, x, np.concatenate(fold_rows), x0)
    coef = fit.coef(chosen)
    # held-out: predictions (x - x0 - mx) W + y0 + my, scored from the test block's sums
    t = block_stats(x, y, test, x0, y0, chunk)
    ff, df, dd = fit.residual_terms(t)
    sst = t.syy - t.sy**2 / t.n
    test_r2 = _r2(_sse(coef, ff, df, dd), sst)
    # Pearson r of prediction and response on the test rows, from centered test sums
    cxy = t.sxy - np.outer(t.sx, t.sy) / t.n
    cxx = t.sxx - np.outer(t.sx, t.sx) / t.n
    cov = np.einsum("kj,kj->j", coef, cxy)
    var_p = np.einsum("kj,kj->j", coef, cxx @ coef)
    with np.errstate(divide="ignore", invalid="ignore"):
        test_r = cov / np.sqrt(var_p * sst)
    intercept = y0 + fit.my - (x0 + fit.mx) @ coef
    return RidgeCVResult(chosen, scores, coef, intercept, test_r2, test_r)
