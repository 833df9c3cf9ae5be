"""Unsupervised Disentanglement Ranking (UDR; Duan et al. 2020, ICLR).

A model is disentangled when other seeds of the same hyper-parameters find the *same* units
up to permutation and sign. For two models a and b (same images): z-score each model's
posterior means, zero the inactive units (mean KL <= 0.01), take the similarity matrix
``R[i, j] = |Spearman(a_i, b_j)|`` (or Lasso weights), keep active rows/columns and score

    UDR_ab = (1/d_a sum_i max_j R_ij**2 / sum_j R_ij  +  1/d_b sum_j max_i R_ij**2 / sum_i R_ij) / 2

with d_a, d_b the active units: the mean of the row mean and the column mean (a row or
column of zeros adds 0). This is disentanglement_lib's ``relative_strength_disentanglement``,
which its ``compute_udr_sklearn`` applies to every pair, for any d_a and d_b (Duan et al.
2020, eq. 2 weights each model's units equally when d_a != d_b, where pooling rows and
columns would weight the larger model more). A model's score is the median over its pairs.
Known answers: identical models with uncorrelated units -> 1; R = [[1,1,0],[1,1,0],[0,0,1]]
-> 2/3; all-ones 3x3 -> 1/3; zeros -> 0; the 2x3 partial identity [[1,0,0],[0,1,0]] ->
(1 + 2/3) / 2 = 0.833 (pooling would give 0.800); no active unit on either side -> 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurofacedis.errors import InputError

__all__ = [
    "udr_scores",
    "udr_pairwise",
    "udr_pair",
    "relative_strength",
    "similarity_matrix",
    "METHODS",
]

#: Similarity measures between units of two models.
METHODS = ("spearman", "lasso")
#: Lasso penalty for the "lasso" similarity (disentanglement_lib's udr_sklearn uses 0.1).
LASSO_ALPHA = 0.1


def relative_strength(similarity: np.ndarray) -> float:
    """Score a similarity matrix (active units of a x active units of b) in [0, 1].

    Mean of the row mean and the column mean of ``max**2 / sum`` (0 for a row/column of
    zeros), as disentanglement_lib's ``relative_strength_disentanglement``: 1 when every unit
    matches exactly one unit of the other model with similarity 1; 0 for an empty matrix.
    """
    r = np.abs(np.asarray(similarity, dtype=np.float64))
    if r.ndim != 2:
        raise InputError(f"similarity must be 2-d, got shape {r.shape}", obj="udr")
    if r.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = np.nan_to_num(r.max(1) ** 2 / r.sum(1), nan=0.0)
        cols = np.nan_to_num(r.max(0) ** 2 / r.sum(0), nan=0.0)
    return float((rows.mean() + cols.mean()) / 2)


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return np.where(sd > 0, (x - x.mean(0)) / np.where(sd > 0, sd, 1.0), 0.0)


def similarity_matrix(
    a: np.ndarray, b: np.ndarray, method: str = "spearman", *, random_state: int = 0
) -> np.ndarray:
    """``|similarity|`` between the units of a (n, ka) and b (n, kb), shape (ka, kb).

    ``"spearman"``: absolute Spearman rank correlation (average ranks for ties; constant units
    give 0), equal to ``scipy.stats.spearmanr``. ``"lasso"``: absolute weights of a Lasso
    (alpha 0.1, as disentanglement_lib) predicting b's z-scored units from a's.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise InputError(f"latents must be (n, k) with equal n, got {a.shape} and {b.shape}",
                         obj="udr")
    if method == "spearman":
        from scipy.stats import rankdata

        ra, rb = _zscore(rankdata(a, axis=0)), _zscore(rankdata(b, axis=0))
        return np.abs(ra.T @ rb) / a.shape[0]
    if method == "lasso":
        from sklearn.linear_model import Lasso

        if a.shape[1] == 0 or b.shape[1] == 0:
            return np.zeros((a.shape[1], b.shape[1]))
        model = Lasso(alpha=LASSO_ALPHA, random_state=random_state)
        model.fit(_zscore(a), _zscore(b))
        return np.abs(np.atleast_2d(model.coef_)).reshape(b.shape[1], a.shape[1]).T
    raise InputError(f"unknown similarity {method!r}; choose one of {list(METHODS)}", obj="udr")


def udr_pair(
    a: np.ndarray,
    b: np.ndarray,
    active_a: np.ndarray | None = None,
    active_b: np.ndarray | None = None,
    method: str = "spearman",
    *,
    random_state: int = 0,
) -> float:
    """UDR of one pair of models (latents (n, ka), (n, kb); masks of active units)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ma = np.ones(a.shape[1], bool) if active_a is None else np.asarray(active_a, bool)
    mb = np.ones(b.shape[1], bool) if active_b is None else np.asarray(active_b, bool)
    if ma.shape != (a.shape[1],) or mb.shape != (b.shape[1],):
        raise InputError("each active mask must be bool (k,) matching its latents", obj="udr")
    # z-score, zero inactive units (they may still take weight in a Lasso), then drop them.
    za, zb = _zscore(a) * ma, _zscore(b) * mb
    r = similarity_matrix(za, zb, method, random_state=random_state)
    return relative_strength(r[np.ix_(ma, mb)])


def udr_pairwise(
    latents: Sequence[np.ndarray],
    active: Sequence[np.ndarray] | None = None,
    method: str = "spearman",
    *,
    random_state: int = 0,
) -> np.ndarray:
    """Pair scores of m models, (m, m), NaN on the diagonal.

    Entry [i, j] uses model i to explain model j (the two orders agree for Spearman).
    """
    m = len(latents)
    if active is None:
        active = [np.ones(np.shape(z)[1], bool) for z in latents]
    if len(active) != m:
        raise InputError(f"{m} latents but {len(active)} active masks", obj="udr")
    n = {np.shape(z)[0] for z in latents}
    if len(n) > 1:
        raise InputError(f"all models must encode the same stimuli, got n = {sorted(n)}",
                         obj="udr")
    out = np.full((m, m), np.nan)
    for i in range(m):
        for j in range(m):
            if i == j or (method == "spearman" and j < i):
                continue
            out[i, j] = udr_pair(latents[i], latents[j], active[i], active[j], method,
                                 random_state=random_state)
            if method == "spearman":
                out[j, i] = out[i, j]
    return out


def udr_scores(
    latents: Sequence[np.ndarray],
    active: Sequence[np.ndarray] | None = None,
    method: str = "spearman",
    *,
    random_state: int = 0,
) -> np.ndarray:
    """UDR score of each model: the median of its pair scores against the others.

    For models of one hyper-parameter setting fitted with different seeds, the seed with the
    highest score is the one to keep (Duan et al. 2020; Higgins et al. 2021 chose their β-VAE
    per β this way). In a run, ``--select udr`` does this through the runner's generic
    ``--select METRIC[:STAT]``, from the ``udr`` metric's per-seed scores.

    Parameters
    ----------
    latents
        One (n, k) array per model: posterior means of the *same* n stimuli.
    active
        One bool (k,) mask per model (mean KL > 0.01); None = all units active.
    method
        ``"spearman"`` (default) or ``"lasso"`` similarity between units.
    random_state
        Seed for the Lasso solver.

    Returns
    -------
    numpy.ndarray
        (m,) float scores in [0, 1]; higher = more consistent across seeds.
    """
    if len(latents) < 2:
        raise InputError(f"UDR needs at least 2 models (seeds), got {len(latents)}", obj="udr")
    pairs = udr_pairwise(latents, active, method, random_state=random_state)
    # Column i: how well the other models explain model i (disentanglement_lib's convention).
    return np.array([np.median(np.delete(pairs[:, i], i)) for i in range(len(latents))])
