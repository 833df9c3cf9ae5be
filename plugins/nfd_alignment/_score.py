"""The alignment score, its ceiling, the rotated-code control and one-to-one matching.

After Higgins et al. 2021 and Eastwood & Williams 2018. The ceiling uses subsets of neurons;
the matching is Hungarian on |correlation|.

Everything is computed on training stimuli: latents and responses are z-scored over them, the
Lasso is fitted on them and correlations for the matching are taken over them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurofacedis.errors import InputError
from nfd_alignment._lasso import lasso_gram

__all__ = [
    "AlignmentResult",
    "alignment_from_importance",
    "alignment_score",
    "neuron_ceiling",
    "rotated_control",
    "match_units",
    "DEFAULT_ALPHA",
]

#: Lasso strength on z-scored data. Eastwood & Williams' reference code (DCI) uses 0.02;
#: Higgins et al. 2021 follow their method and report no other value, so we keep 0.02.
DEFAULT_ALPHA = 0.02


@dataclass(frozen=True)
class AlignmentResult:
    """Alignment of one set of units with a population of neurons.

    Attributes
    ----------
    alignment
        sum_j rho_j (1 - H_j), in [0, 1].
    importance
        (K, J) R = |W|, Lasso weights of each unit for each neuron.
    weight
        (K, J) signed Lasso weights W.
    neuron_score
        (J,) 1 - H_j; NaN for neurons no unit predicts (they drop out).
    neuron_weight
        (J,) rho_j = sum_k R[k, j] / sum R.
    alpha
        The Lasso strength used.
    """

    alignment: float
    importance: np.ndarray
    weight: np.ndarray
    neuron_score: np.ndarray
    neuron_weight: np.ndarray
    alpha: float


def alignment_from_importance(importance: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Score a (units x neurons) importance matrix: completeness in DCI terms.

    P = R / sum_k R, H_j = -sum_k P log_K P (K = number of units), score = sum_j rho_j (1 - H_j)
    with rho_j = sum_k R[:, j] / sum R. Neurons with an all-zero column get NaN and weight 0.

    Returns
    -------
    alignment, neuron_score (J,), neuron_weight (J,)
        ``alignment`` is NaN when every column is zero.

    Notes
    -----
    DCI's completeness (``nfd_disentanglement.dci``, after disentanglement_lib) scores an
    all-zero matrix 0; this score leaves it undefined (NaN) on purpose. All-zero weights mean
    the Lasso found no unit that predicts any neuron: no evidence either way, not a measured
    lack of alignment. NaN keeps such a fit out of the ceiling's mean and the rotated control's
    ``nanmean`` instead of pulling them to 0, and the metric refuses a main fit with no weight
    ("lower alpha") instead of reporting 0 (``test_all_zero_importance_is_nan_where_dci_gives_0``).
    """
    from scipy.stats import entropy

    r = np.abs(np.asarray(importance, dtype=np.float64))
    k, j = r.shape
    if k < 2:
        raise ValueError("the alignment score needs at least 2 units (entropy base K)")
    col = r.sum(axis=0)
    total = col.sum()
    score = np.full(j, np.nan)
    rho = np.zeros(j)
    used = col > 0
    if total <= 0:
        return math.nan, score, rho
    score[used] = 1.0 - entropy(r[:, used], base=k, axis=0)
    rho[used] = col[used] / total
    return float(np.sum(rho[used] * score[used])), score, rho


def zscore_train(values: np.ndarray, train: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Z-score columns over the training rows; returns (float64 copy of those rows, valid).

    Columns that are constant or contain NaN over training rows are set to zero and marked
    invalid (a zero column is predicted by nothing and drops out of the score).
    """
    a = np.asarray(values)
    if train is None:
        x = np.array(a, dtype=np.float64)  # a copy
    else:  # fancy indexing already copies; convert without a second copy
        x = np.asarray(a[np.asarray(train)], dtype=np.float64)
    x -= x.mean(axis=0)
    sd = np.sqrt(np.einsum("ij,ij->j", x, x) / max(x.shape[0], 1))
    valid = np.isfinite(sd) & (sd > 0)
    np.divide(x, np.where(valid, sd, 1.0), out=x)
    x[:, ~valid] = 0.0
    return x, valid


def check_sizes(n_units: int, n_train: int) -> None:
    """Refuse fewer than 2 units (entropy base K) or fewer than 3 training stimuli."""
    if n_units < 2:
        raise InputError(f"alignment needs at least 2 active units, got {n_units}", obj="latents")
    if n_train < 3:
        raise InputError(f"alignment needs at least 3 training stimuli, got {n_train}")


def _check(latents: np.ndarray, responses: np.ndarray, train: np.ndarray | None) -> None:
    """Check raw arrays given to the public functions (the metric's come checked)."""
    if latents.ndim != 2 or responses.ndim != 2:
        raise InputError("latents and responses must be 2-d (stimulus x unit/neuron)")
    if latents.shape[0] != responses.shape[0]:
        raise InputError(
            f"latents have {latents.shape[0]} stimuli but responses {responses.shape[0]}"
        )
    check_sizes(latents.shape[1], latents.shape[0] if train is None else len(train))
    if not np.all(np.isfinite(latents if train is None else latents[train])):
        raise InputError("latents contain NaN or inf", obj="latents")


@dataclass(frozen=True)
class Lasso:
    """One Lasso configuration (strength on z-scored data, scikit-learn's stopping rule)."""

    alpha: float = DEFAULT_ALPHA
    tol: float = 1e-4
    max_iter: int = 1000

    def fit_stats(
        self, gram: np.ndarray, xty: np.ndarray, yty: np.ndarray, n: int
    ) -> AlignmentResult:
        """Fit from the sufficient statistics X'X, X'Y, diag(Y'Y) and score the weights."""
        w = lasso_gram(gram, xty, yty, n, self.alpha, tol=self.tol, max_iter=self.max_iter).coef
        r = np.abs(w)
        score, per_neuron, rho = alignment_from_importance(r)
        return AlignmentResult(score, r, w, per_neuron, rho, self.alpha)

    def fit(self, zx: np.ndarray, zy: np.ndarray) -> AlignmentResult:
        """Fit every column of ``zy`` on ``zx`` (both z-scored) and score the weights."""
        yty = np.einsum("ij,ij->j", zy, zy)
        return self.fit_stats(zx.T @ zx, zx.T @ zy, yty, zx.shape[0])


def alignment_score(
    latents: np.ndarray,
    responses: np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    *,
    train: np.ndarray | None = None,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> AlignmentResult:
    """Alignment of latent units with neurons (Higgins et al. 2021, METHODS.md).

    Parameters
    ----------
    latents
        (n, K) active-unit latents.
    responses
        (n, J) responses averaged over repeats.
    alpha
        Lasso strength on z-scored data (default :data:`DEFAULT_ALPHA`).
    train
        Indices of training stimuli (z-scoring and fitting use only these); None = all.
    tol, max_iter
        Lasso stopping rule, as scikit-learn's.

    Returns
    -------
    AlignmentResult
        ``alignment`` is NaN when alpha removes every weight.
    """
    latents = np.asarray(latents)
    responses = np.asarray(responses)
    _check(latents, responses, train)
    zx, _ = zscore_train(latents, train)
    zy, _ = zscore_train(responses, train)
    return Lasso(alpha, tol, max_iter).fit(zx, zy)


def _ceiling(
    zy: np.ndarray,
    valid: np.ndarray,
    k: int,
    n_subsets: int,
    lasso: Lasso,
    rng: np.random.Generator,
    progress: object = None,
    n_jobs: int = 1,
) -> np.ndarray:
    """Alignment of ``n_subsets`` random sets of ``k`` valid neurons with all the others.

    The subsets are drawn first, in order, from ``rng``; their fits then run in ordered
    parallel blocks (:func:`neurofacedis.blocks.run_blocks`): the same numbers for any
    ``n_jobs``.
    """
    from neurofacedis.blocks import run_blocks

    candidates = np.flatnonzero(valid)
    if candidates.size < k + 1:
        return np.full(n_subsets, np.nan)
    n = zy.shape[0]
    yty = np.einsum("ij,ij->j", zy, zy)
    picks = [np.sort(rng.choice(candidates, size=k, replace=False)) for _ in range(n_subsets)]

    def one(pick: np.ndarray) -> float:
        xs = zy[:, pick]
        fit = lasso.fit_stats(xs.T @ xs, xs.T @ zy, yty, n)
        targets = np.ones(zy.shape[1], dtype=bool)
        targets[pick] = False
        return alignment_from_importance(fit.importance[:, targets])[0]

    return np.asarray(run_blocks(one, picks, n_jobs, progress if callable(progress) else None),
                      dtype=np.float64).reshape(n_subsets)


def neuron_ceiling(
    responses: np.ndarray,
    n_units: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    n_subsets: int = 50,
    rng: np.random.Generator | None = None,
    train: np.ndarray | None = None,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> np.ndarray:
    """Alignment of ``n_units`` randomly chosen neurons (as the "model") with the others.

    Each subset of neurons plays the K units; the remaining neurons are the targets. This is
    the ceiling of Higgins et al. 2021 (Fig. 3b): how aligned a population is with itself.

    Returns
    -------
    numpy.ndarray
        (n_subsets,) scores; all NaN when there are fewer than ``n_units + 1`` usable neurons.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    zy, valid = zscore_train(np.asarray(responses), train)
    return _ceiling(zy, valid, n_units, n_subsets, Lasso(alpha, tol, max_iter), rng)


def _rotate_inplace(zy: np.ndarray, rng: np.random.Generator, block: int) -> None:
    """Right-multiply zy by a random orthogonal matrix, block-diagonal after a permutation.

    With J <= block this is a Haar-random rotation of all neurons (scipy's ortho_group);
    above it, neurons are shuffled into groups of at most ``block`` and each group is rotated
    by its own Haar matrix, so memory stays O(n J + block^2) for any number of neurons.
    """
    from scipy.stats import ortho_group

    j = zy.shape[1]
    perm = rng.permutation(j)
    for group in np.array_split(perm, math.ceil(j / max(block, 2))):
        if group.size < 2:
            continue
        q = ortho_group.rvs(group.size, random_state=rng)
        zy[:, group] = zy[:, group] @ q


def _rotated(
    zx: np.ndarray,
    zy: np.ndarray,
    n_rotations: int,
    block: int,
    lasso: Lasso,
    rng: np.random.Generator,
    progress: object = None,
    n_jobs: int = 1,
) -> np.ndarray:
    """Rotated-code control, rotating ``zy`` in place (it is a scratch copy).

    The rotations run in order (each from the last); only their small statistics are kept
    (``zx.T @ zy``, norms), and the Lasso fits on them run in ordered parallel blocks.
    """
    from neurofacedis.blocks import run_blocks

    n = zx.shape[0]
    gram = zx.T @ zx
    stats = []
    for _ in range(n_rotations):
        # Each pass rotates the previous result again: still an orthogonal recombination of
        # the original responses. Columns stay centred; re-standardise through the statistics.
        _rotate_inplace(zy, rng, block)
        ss = np.einsum("ij,ij->j", zy, zy)
        sd = np.sqrt(ss / n)
        ok = sd > 1e-12 * max(float(sd.max()), 1.0)
        scale = np.where(ok, 1.0 / np.where(ok, sd, 1.0), 0.0)
        stats.append(((zx.T @ zy) * scale, ss * scale**2))
    return np.asarray(run_blocks(lambda st: lasso.fit_stats(gram, st[0], st[1], n).alignment,
                                 stats, n_jobs, progress if callable(progress) else None),
                      dtype=np.float64).reshape(n_rotations)


def rotated_control(
    latents: np.ndarray,
    responses: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    n_rotations: int = 5,
    block: int = 128,
    rng: np.random.Generator | None = None,
    train: np.ndarray | None = None,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> np.ndarray:
    """Alignment against linearly recombined (randomly rotated) responses.

    A model aligned with single neurons loses its score when the neurons are mixed; a
    model that only spans the same subspace does not (Higgins et al. 2021, Fig. 3c).

    Returns
    -------
    numpy.ndarray
        (n_rotations,) scores.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    latents = np.asarray(latents)
    responses = np.asarray(responses)
    _check(latents, responses, train)
    zx, _ = zscore_train(latents, train)
    zy, _ = zscore_train(responses, train)
    return _rotated(zx, zy, n_rotations, block, Lasso(alpha, tol, max_iter), rng)


def _match_from_corr(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from neurofacedis.stats import match_one_to_one

    rows, cols = match_one_to_one(np.abs(corr))
    r = corr[rows, cols]
    order = np.argsort(-np.abs(r), kind="stable")
    return rows[order], cols[order], r[order]


def match_units(
    latents: np.ndarray, responses: np.ndarray, *, train: Sequence[int] | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one unit-neuron matching: Hungarian method on |Pearson r| over training stimuli.

    Returns
    -------
    unit, neuron, r
        Index arrays of the min(K, J) matched pairs and their signed correlation, sorted by
        |r| (best first).
    """
    latents = np.asarray(latents)
    responses = np.asarray(responses)
    tr = None if train is None else np.asarray(train)
    _check(latents, responses, tr)
    zx, _ = zscore_train(latents, tr)
    zy, _ = zscore_train(responses, tr)
    return _match_from_corr((zx.T @ zy) / zx.shape[0])
