"""Network-dissection-style pairing of model units and neurons with labelled face attributes.

For every item (a latent unit or a neuron) and every concept (a column of the stimulus table
or a known generative factor), the share of the item's variance over stimuli that the concept
explains: r^2 for a continuous concept, eta^2 (between-group / total sum of squares, one-way
ANOVA) for a categorical one. A permutation null (stimulus labels shuffled, the same
shuffles for every item and concept) gives each score a p-value and its chance level; the
chance-corrected score (score - null mean) is the selectivity, comparable across concepts with
different numbers of levels. Each item is paired with the concept of highest selectivity among
those significant after Benjamini-Hochberg FDR over all item x concept tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from neurofacedis.errors import InputError
from neurofacedis.specs import label_columns

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["Concept", "concepts_from", "concept_scores", "permutation_null"]

@dataclass
class Concept:
    """A labelled attribute: ``codes`` (int group per stimulus) or ``values`` (float)."""

    name: str
    kind: str  # "categorical" or "continuous"
    data: np.ndarray  # codes (n,) int for categorical, values (n,) float for continuous
    levels: int


def concepts_from(stimuli: pd.DataFrame | None, factors: xr.DataArray | None,
                  n: int) -> list[Concept]:
    """Collect the labelled attributes of the stimuli.

    Concepts from the stimulus table (object/bool/category/integer columns categorical,
    float columns continuous) and the known factors (continuous). Columns that are IDs (all
    distinct), constant, or incomplete are skipped.
    """
    import pandas as pd

    out: dict[str, Concept] = {}
    if stimuli is not None:
        if len(stimuli) != n:
            raise InputError(f"stimulus table has {len(stimuli)} rows for {n} stimuli",
                             obj="dissection")
        for col in label_columns(stimuli):
            name, s = str(col), stimuli[col]
            if pd.api.types.is_float_dtype(s):
                out[name] = Concept(name, "continuous", s.to_numpy(dtype=np.float64), 0)
            else:
                codes, uniques = pd.factorize(s.astype(str))
                out[name] = Concept(name, "categorical", codes.astype(np.intp), len(uniques))
    if factors is not None:
        vals = np.asarray(factors.transpose("stimulus", "factor").values, dtype=np.float64)
        names = ([str(f) for f in factors["factor"].values] if "factor" in factors.coords
                 else [f"factor{i}" for i in range(vals.shape[1])])
        for i, name in enumerate(names):
            v = vals[:, i]
            if name not in out and np.isfinite(v).all() and np.ptp(v) > 0:
                out[name] = Concept(name, "continuous", v, 0)
    return list(out.values())


def _center(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xc = x - x.mean(axis=0)
    return xc, np.einsum("ij,ij->j", xc, xc)


def concept_scores(x: np.ndarray, concept: Concept) -> np.ndarray:
    """Score every column of ``x`` against one concept.

    Variance of each column of ``x`` explained by ``concept``: r^2 or eta^2 (0 for a
    constant column).
    """
    xc, sst = _center(np.asarray(x, dtype=np.float64))
    return _scores(xc, sst, concept, None)


def _scores(xc: np.ndarray, sst: np.ndarray, c: Concept, perms: np.ndarray | None) -> np.ndarray:
    """Score items against a concept, optionally permuted.

    Scores (items,) for the concept as given, or (len(perms), items) with its labels
    permuted by each row of ``perms``.
    """
    from scipy import sparse

    n = xc.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_sst = np.where(sst > 0, 1.0 / sst, 0.0)
    if c.kind == "continuous":
        v = c.data - c.data.mean()
        v = v / np.sqrt(np.dot(v, v))
        if perms is None:
            return (v @ xc) ** 2 * inv_sst
        return (v[perms] @ xc) ** 2 * inv_sst
    counts = np.bincount(c.data, minlength=c.levels).astype(np.float64)
    w = np.where(counts > 0, 1.0 / counts, 0.0)
    if perms is None:
        s = sparse.csr_matrix((np.ones(n), (c.data, np.arange(n))), shape=(c.levels, n)) @ xc
        return (w @ s**2) * inv_sst
    b = len(perms)
    rows = (np.arange(b)[:, None] * c.levels + c.data[perms]).ravel()
    cols = np.tile(np.arange(n), b)
    m = sparse.csr_matrix((np.ones(b * n), (rows, cols)), shape=(b * c.levels, n))
    s = (m @ xc).reshape(b, c.levels, -1)
    return np.einsum("g,bgj->bj", w, s**2) * inv_sst


def permutation_null(x: np.ndarray, concepts: list[Concept], perms: np.ndarray,
                     progress=None, keep_null: int = 0) -> dict[str, np.ndarray]:
    """Observed scores, null mean, null sd and permutation p-values, each (concepts, items).

    The same stimulus permutations (rows of ``perms``) serve every concept and item;
    p = (1 + #null >= observed) / (1 + n_perm). With ``keep_null`` = k > 0 the permuted
    scores of the first k items are returned too, as ``null`` (concepts, k, n_perm).
    """
    xc, sst = _center(np.asarray(x, dtype=np.float64))
    n_items, n_perm = xc.shape[1], len(perms)
    obs = np.empty((len(concepts), n_items))
    mean = np.zeros_like(obs)
    sq = np.zeros_like(obs)
    ge = np.zeros_like(obs)
    kept = np.empty((len(concepts), min(keep_null, n_items), n_perm))
    for ci, c in enumerate(concepts):
        obs[ci] = _scores(xc, sst, c, None)
        tol = 1e-12 * np.maximum(obs[ci], 1e-300)
        per = max(1, 2_000_000 // max(1, (c.levels or 1) * n_items))
        for start in range(0, n_perm, per):
            null = _scores(xc, sst, c, perms[start:start + per])
            mean[ci] += null.sum(axis=0)
            sq[ci] += (null**2).sum(axis=0)
            ge[ci] += (null >= obs[ci] - tol).sum(axis=0)
            kept[ci, :, start:start + per] = null[:, :kept.shape[1]].T
        if progress is not None:
            progress(1)
    if n_perm:
        mean /= n_perm
        var = np.maximum(sq / n_perm - mean**2, 0.0) * n_perm / max(n_perm - 1, 1)
        p = (1 + ge) / (1 + n_perm)
    else:
        var = np.full_like(obs, np.nan)
        mean = np.full_like(obs, np.nan)
        p = np.full_like(obs, np.nan)
    out = {"score": obs, "null_mean": mean, "null_sd": np.sqrt(var), "p_value": p}
    if keep_null:
        out["null"] = kept
    return out

