"""One pairing of items with concepts, and the one-to-one headline with its permutation null.

Scores of different kinds (r^2, eta^2, IoU) are put on one scale by chance correction,
kappa = (score - null mean) / (1 - null mean): 0 at chance, 1 for a perfect score, for every
kind of concept (as Cohen's kappa corrects agreement). Each item pairs with its significant
(BH-FDR q < alpha) concept of highest kappa.

Nested concepts: a label such as ``identity`` *contains* every attribute that is constant
within its levels (the identity factors of a face), so it explains at least as much of a
unit's variance as any of them, and their kappas tie in expectation when the unit follows
one attribute. A parent is kept over its best significant child only when it explains
significantly more (nested-model F test at ``alpha``); otherwise it is ranked just below the
child (parsimony).

Headline (``one_to_one``): concept c is *covered one-to-one* when its best unit j has c as
its own best concept (mutual best, both significant); its margin is
kappa[c, j] - max(j's runner-up concept, c's runner-up unit), clipped at 0, else 0. The mean
margin over concepts is 1 when each concept has exactly one unit that follows it perfectly and
nothing else, and near 0 for a code whose units each mix several concepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurofacedis.stats import fdr_bh

__all__ = ["Nesting", "nesting", "kappa_of", "demote_parents", "one_to_one", "headline_null"]


@dataclass(frozen=True)
class Nesting:
    """Parent -> child pairs among concepts (the child is constant within the parent's levels).

    ``pairs`` (parent index, child index, parent df, child df).
    """

    pairs: tuple[tuple[int, int, int, int], ...] = ()

    def related(self, n_concepts: int) -> np.ndarray:
        """(concepts, concepts) bool: True where one contains the other (either way)."""
        r = np.zeros((n_concepts, n_concepts), dtype=bool)
        for p, c, _, _ in self.pairs:
            r[p, c] = r[c, p] = True
        return r


def _df(kind: str, levels: int) -> int:
    return 1 if kind != "categorical" else max(levels - 1, 1)


def nesting(concepts: list) -> Nesting:
    """Find which categorical concepts contain which others (the child is a function of it)."""
    pairs = []
    for pi, p in enumerate(concepts):
        if p.kind != "categorical":
            continue
        for ci, c in enumerate(concepts):
            if ci == pi or c.kind == "local" or _df(c.kind, c.levels) >= p.levels - 1:
                continue
            order = np.argsort(p.data, kind="stable")
            codes, vals = p.data[order], np.asarray(c.data, dtype=np.float64)[order]
            starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
            lo, hi = np.minimum.reduceat(vals, starts), np.maximum.reduceat(vals, starts)
            if np.all(hi - lo <= 1e-12 * max(1.0, float(np.ptp(vals)))):
                pairs.append((pi, ci, p.levels - 1, _df(c.kind, c.levels)))
    return Nesting(tuple(pairs))


def kappa_of(score: np.ndarray, null_mean: np.ndarray) -> np.ndarray:
    """Chance-corrected score (score - null mean) / (1 - null mean); NaN stays NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(null_mean < 1, (score - null_mean) / (1 - null_mean), 0.0)


def demote_parents(kappa: np.ndarray, score: np.ndarray, sig: np.ndarray, nest: Nesting,
                   n: int, alpha: float) -> np.ndarray:
    """Rank a parent just below its best significant child where it adds nothing significant.

    ``kappa``, ``score``, ``sig`` are (concepts, items); ``n`` the number of stimuli.
    """
    from scipy.stats import f as f_dist

    out = kappa.copy()
    for p in sorted({pc[0] for pc in nest.pairs}):
        kids = [(c, dp, dc) for (pp, c, dp, dc) in nest.pairs if pp == p]
        kk = np.stack([np.where(sig[c], kappa[c], -np.inf) for c, _, _ in kids])
        best = np.argmax(kk, axis=0)
        has = np.isfinite(kk[best, np.arange(kk.shape[1])])
        c_idx = np.array([kids[b][0] for b in best])
        df_p, df_c = kids[0][1], np.array([kids[b][2] for b in best])
        items = np.arange(kappa.shape[1])
        sp, sc = score[p], score[c_idx, items]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = ((sp - sc) / (df_p - df_c)) / ((1 - sp) / max(n - df_p - 1, 1))
        pval = np.where(np.isfinite(f), f_dist.sf(f, df_p - df_c, max(n - df_p - 1, 1)), 1.0)
        demote = has & ((sp - sc <= 1e-9) | (pval >= alpha))  # a tie, or no evidence
        out[p] = np.where(demote, np.minimum(kappa[p], kappa[c_idx, items] - 1e-9), kappa[p])
    return out


def one_to_one(kappa: np.ndarray, sig: np.ndarray,
               related: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each concept's one-to-one margin (concepts,) and its unit (-1 when not covered).

    A concept's runner-up concepts leave out those ``related`` to it (parent or child), which
    tie with it by construction.
    """
    kk = np.where(sig & np.isfinite(kappa), kappa, -np.inf)
    n_c, n_j = kk.shape
    margin = np.zeros(n_c)
    unit = np.full(n_c, -1)
    if n_c == 0 or n_j == 0:
        return margin, unit
    best_c = np.where(np.isfinite(kk.max(axis=0)), np.argmax(kk, axis=0), -1)
    pos = np.where(np.isfinite(kappa), np.maximum(kappa, 0.0), 0.0)
    for c in range(n_c):
        j = int(np.argmax(kk[c]))
        if not np.isfinite(kk[c, j]) or best_c[j] != c:
            continue
        keep = np.ones(n_c, dtype=bool)
        keep[c] = False
        if related is not None:
            keep &= ~related[c]
        other_c = pos[keep, j].max(initial=0.0)
        other_j = np.delete(pos[c], j).max(initial=0.0)
        margin[c] = max(0.0, kappa[c, j] - max(other_c, other_j))
        unit[c] = j
    return margin, unit


def headline_null(score: np.ndarray, null: np.ndarray, null_mean: np.ndarray, nest: Nesting,
                  n: int, alpha: float) -> np.ndarray:
    """Return the mean one-to-one margin of every permutation (B,), scored as the data are.

    ``null`` (concepts, items, B) holds the permuted scores; each permutation's p-values come
    from its rank among the other permutations and the observed score, then BH-FDR.
    """
    from scipy.stats import rankdata

    b = null.shape[2]
    if b == 0 or null.shape[0] == 0 or null.shape[1] == 0:
        return np.zeros(b)
    ge_others = b - rankdata(null, axis=2, method="min")  # others >= this permutation
    out = np.empty(b)
    related = nest.related(null.shape[0])
    for k in range(b):
        s = null[..., k]
        p = (1 + ge_others[..., k] + (score >= s)) / (1 + b)
        ok = np.isfinite(s)
        sig = np.zeros_like(ok)
        sig[ok] = fdr_bh(p[ok], alpha)[1]
        kap = demote_parents(kappa_of(s, null_mean), s, sig, nest, n, alpha)
        out[k] = one_to_one(kap, sig, related)[0].mean()
    return out
