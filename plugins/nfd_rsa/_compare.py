"""RDM comparison (Spearman, Kendall tau-a, Pearson, cosine) with fast, lean inference.

Values equal rsatoolbox 0.3.2's ``rsatoolbox.rdm.compare`` (methods ``spearman``, ``tau-a``,
``corr``, ``cosine``) and its noise ceiling (``rsatoolbox.inference.boot_noise_ceiling``).

Speed comes from ranking each RDM once:

* A stimulus permutation only moves the model's entries around, so the model's dense ranks
  are looked up (one table, by stimulus pair) in the data RDM's sorted order, never
  re-sorted; rank norms do not change, so Spearman reduces to one dot product.
* Kendall tau-a walks the data RDM in its (fixed) sorted order, in the same pass as
  Spearman, and counts discordant pairs on value bands (:class:`nfd_rsa._rank.Inversions`:
  numba-compiled, cache-resident, 2 bytes per pair, scipy's exact count).
* A stimulus bootstrap sample (rsatoolbox's ``bootstrap_sample_pattern`` +
  ``subsample_pattern``: pairs of a stimulus with its own copy are NaN and dropped) is the
  original vector with pair (i, j) repeated ``c_i * c_j`` times, ``c`` the draw counts. Ranks,
  ties and sums of the resampled vector follow from weighted counts, the model's side in one
  sequential pass over its sorted order (doubled average ranks as integers), sums over all
  pairs in closed form from ``c``.
* Pearson and cosine need no ranks: sums over the RDMs in their natural order.

Memory is a fixed number of bytes per stimulus pair (the ``rsa`` metric needs this on large
recordings): ranks are int32 with a table of tied groups only, pair indices int16 (below
32,768 stimuli), loops run in blocks (:func:`nfd_rsa._rank.spans`), and value and rank work
run in separate passes that hold only what they need -- about 24 bytes per pair at the peak
(while an RDM is ranked), plus block temporaries; each sample thread adds ~4 bytes per pair
(permutations) or ~8 (bootstrap: the model's doubled ranks as int32, on top of 8 bytes per
pair shared by the threads: both sides' tables in the other's order). The noise ceiling streams
the data RDMs: the pooled RDMs are sums of transformed RDMs, so each RDM is computed again
in a later pass instead of being kept (see :func:`ceiling`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from neurofacedis.blocks import run_blocks, workers  # noqa: F401 - re-exported
from neurofacedis.errors import InputError
from nfd_rsa._rank import (
    Inversions,
    Ties,
    block_len,
    dense_by_position,
    index_dtype,
    pairs,
    rank,
    sort_within,
    spans,
)
from nfd_rsa._rdm import one_blas_thread

__all__ = [
    "COMPARISONS",
    "RSATOOLBOX_NAMES",
    "ArrayRDM",
    "PairedRDMs",
    "ceiling",
    "compare",
    "noise_ceiling",
    "pool_rdm",
]

#: Comparison methods (our names); see :data:`RSATOOLBOX_NAMES` for rsatoolbox's.
COMPARISONS = ("spearman", "tau-a", "pearson", "cosine")
#: Our name -> rsatoolbox's ``compare(method=...)`` name.
RSATOOLBOX_NAMES = {"spearman": "spearman", "tau-a": "tau-a", "pearson": "corr",
                    "cosine": "cosine"}
_RANKED = ("spearman", "tau-a")
_VALUED = ("pearson", "cosine")


def _check_method(method: str) -> str:
    if method not in COMPARISONS:
        raise InputError(f"unknown comparison {method!r}; one of {', '.join(COMPARISONS)}",
                         obj="rsa")
    return method


def _n_of(size: int) -> int:
    n = int(round((1 + np.sqrt(1 + 8 * size)) / 2))
    if n * (n - 1) // 2 != size or n < 3:
        raise InputError(f"{size} is not the length of a condensed RDM (n >= 3)", obj="rsa")
    return n


class ArrayRDM:
    """A condensed RDM already in memory, as a source (see :class:`nfd_rsa.PatternRDM`)."""

    def __init__(self, vector: np.ndarray) -> None:
        v = np.asarray(vector, dtype=np.float64).ravel()
        if not np.isfinite(v).all():
            raise InputError("RDMs contain NaN or inf", obj="rsa")
        self._v = v
        self.size = v.size
        self.n = _n_of(v.size)

    def vector(self, dtype: type = np.float64) -> np.ndarray:
        """Return the condensed RDM (no copy for float64)."""
        return self._v.astype(dtype, copy=False)

    def rows(self):
        """Consecutive condensed blocks."""
        for a, b in spans(self.size):
            yield a, b, self._v[a:b]


def _as_source(x: Any):
    return x if hasattr(x, "vector") and hasattr(x, "rows") else ArrayRDM(x)


def _vector(src) -> np.ndarray:
    v = src.vector()
    if v.dtype != np.float64 or v.size != src.size:
        raise InputError("an RDM source returned a wrong vector", obj="rsa")
    return v


def _tau_a(size: int, dis: int, xtie: int, ytie: int, ntie: int) -> float:
    """Kendall tau-a from pair counts, as rsatoolbox's ``_tau_a`` (clipped to [-1, 1])."""
    tot = size * (size - 1) // 2
    if tot == 0:
        return 0.0
    tau = (tot - xtie - ytie + ntie - 2 * dis) / tot
    return float(min(1.0, max(-1.0, tau)))


def _corr(n: float, s: np.ndarray, *, center: bool) -> float:
    """Pearson r (or cosine) from sums s = (sa, sb, saa, sbb, sab) over n (weighted) elements.

    0 for a zero norm (rsatoolbox's ``_cosine`` convention).
    """
    sa, sb, saa, sbb, sab = (float(v) for v in s)
    if center:
        sab, saa, sbb = sab - sa * sb / n, saa - sa * sa / n, sbb - sb * sb / n
    if saa <= 0 or sbb <= 0:
        return 0.0
    return sab / np.sqrt(saa) / np.sqrt(sbb)


def _joint_block(xd: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> int:
    """Count pairs tied in both x and y in a block holding whole x tie groups.

    Weighted (``w``): copies of one pair tie with each other.
    """
    key = xd.astype(np.int64)
    key *= int(y.max()) + 1
    key += y
    if w is None:
        key.sort()
        new = np.flatnonzero(np.r_[True, key[1:] != key[:-1], True])
        return pairs(np.diff(new))
    o = np.argsort(key, kind="stable")
    ks = key[o]
    start = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    return pairs(np.add.reduceat(w[o].astype(np.int64), start))


def _joint_ties(xt: Ties, y: np.ndarray) -> int:
    """Pairs tied in both x (sorted, with ties ``xt``) and y."""
    return sum(_joint_block(xt.dense_at(a, b), y[a:b]) for a, b in xt.spans())


def compare(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> float:
    """Similarity of two condensed RDMs, as ``rsatoolbox.rdm.compare`` computes it.

    ``spearman``: Pearson r of average ranks; ``tau-a``: Kendall's tau without tie correction
    in the denominator; ``pearson``: Pearson r; ``cosine``: cosine of the raw vectors.
    """
    _check_method(method)
    return PairedRDMs(a, b).similarity(method)


def pool_rdm(vectors: np.ndarray, method: str) -> np.ndarray:
    """Pool several RDMs into one.

    The RDM that best represents a set (rsatoolbox's ``pool_rdm``): mean of ranks
    (spearman, tau-a), of z-scored vectors shifted to min 0 (pearson), of RMS-normalised
    vectors (cosine).
    """
    from scipy.stats import rankdata

    v = np.asarray(vectors, dtype=np.float64)
    _check_method(method)
    if method == "cosine":
        v = v / np.sqrt(np.mean(v**2, axis=1, keepdims=True))
        return v.mean(axis=0)
    if method == "pearson":
        v = v - v.mean(axis=1, keepdims=True)
        v = v / v.std(axis=1, keepdims=True)
        m = v.mean(axis=0)
        return m - m.min()
    return rankdata(v, axis=1).mean(axis=0)


def _pair_sums(c: np.ndarray) -> tuple[int, int, int]:
    """Sum over stimulus pairs i < j of ``w = c_i c_j``, exact, from the draw counts alone.

    Returns ``sum w`` (the resampled vector's length), ``sum w (w - 1) / 2`` (pairs among
    copies of one pair) and ``sum w^3 - w`` (the tie correction of a side without ties of its
    own), via ``sum_{i<j} f_i f_j = ((sum f)^2 - sum f^2) / 2`` on powers of ``c``.
    """
    vals, cnts = np.unique(c, return_counts=True)
    s = {k: sum(int(m) * int(v) ** k for v, m in zip(vals, cnts, strict=True))
         for k in (1, 2, 3, 4, 6)}
    length = (s[1] * s[1] - s[2]) // 2
    squares = (s[2] * s[2] - s[4]) // 2
    return length, (squares - length) // 2, (s[3] * s[3] - s[6]) // 2 - length


def _cube_sum(g: np.ndarray) -> float:
    """sum(G^3 - G) over groups of G tied copies (a rank variance's tie correction), float64."""
    gf = g.astype(np.float64)
    return float(np.dot(gf * gf, gf) - gf.sum())


def _doubled_ranks(g: np.ndarray, before: int, length: int) -> tuple[np.ndarray, int]:
    """Twice the centred average rank of each group of ``g`` copies, and ``before`` updated.

    A group of G copies after ``before`` others, in a vector of ``length``: 2 before + G - L
    plus twice the copies of earlier groups in this block (integers, exact).
    """
    t = np.cumsum(g)
    total = int(t[-1])
    t *= 2
    t -= g
    t += 2 * before - length
    return t, before + total


class _BootSpearman:
    """Spearman r of a bootstrap sample (pair k repeated ``w_k`` times), block by block.

    The repeated vector's average ranks have mean (L + 1) / 2 and sum of squares
    L (L^2 - 1) / 12 - sum(G^3 - G) / 12 over groups of G tied copies, so only the cross
    term needs a pass over the data. Ranks are kept doubled, as integers: twice the centred
    average rank of a value's G copies is 2 (copies before them) + G - L. ``cy2``: that for
    each model dense rank (:meth:`PairedRDMs._model_side`); ``vy``, ``vx``: sum(G^3 - G) of
    the model and (when the data have no ties; else accumulated here) of the data. The cross
    term is summed x4 in float64 and divided at the end: scaling by 4 is exact, so the value
    is the undoubled float computation's, bit for bit.
    """

    def __init__(self, length: int, cy2: np.ndarray, vy: float, vx: float) -> None:
        self.length, self.cy2, self.vy, self.vx = length, cy2, vy, vx
        self.num4, self.before = 0.0, 0

    def add(self, w: np.ndarray, xd: np.ndarray | None, y0: np.ndarray) -> None:
        """Next block in the data's sorted order: weights, data dense ranks (ties), model ranks."""
        gx, x0 = w, None
        if xd is not None:  # weight of each data tie group in the block
            x0 = xd - xd[0]
            gx = np.bincount(x0, weights=w).astype(np.int64)
            self.vx += _cube_sum(gx)
        t, self.before = _doubled_ranks(gx, self.before, self.length)
        if x0 is not None:
            t = t.take(x0)
        t *= w
        self.num4 += float(np.dot(t.astype(np.float64), self.cy2.take(y0).astype(np.float64)))

    def value(self) -> float:
        """Spearman r of everything added."""
        size = float(self.length)
        base = size * (size * size - 1.0)
        vx, vy = (base - self.vx) / 12.0, (base - self.vy) / 12.0
        if vx <= 0 or vy <= 0:
            return 0.0
        return self.num4 / 4.0 / np.sqrt(vx) / np.sqrt(vy)


class PairedRDMs:
    """A data RDM and a model RDM, for similarity, permutation and bootstrap.

    Parameters
    ----------
    data, model
        Condensed RDMs over the same ``n`` stimuli (length n (n - 1) / 2, no NaN), or sources
        (:class:`nfd_rsa.PatternRDM`, :class:`ArrayRDM`...) that compute them on demand; with
        sources, neither RDM is held longer than a pass needs it.
    """

    def __init__(self, data: Any, model: Any) -> None:
        self._dsrc, self._msrc = _as_source(data), _as_source(model)
        if self._dsrc.size != self._msrc.size:
            raise InputError(f"RDMs differ in size: {self._dsrc.size} vs {self._msrc.size}",
                             obj="rsa")
        self.size = int(self._dsrc.size)
        self.n = _n_of(self.size)
        a = np.arange(self.n, dtype=np.int64)
        self._off = a * (2 * self.n - a - 1) // 2 - a - 1  # pair (a < b) is at off[a] + b
        if self.size < 2**31:  # gathers with int32 indices
            self._off = self._off.astype(np.int32)
        self._qd: np.ndarray | None = None  # model dense ranks by pair
        self._qt: Ties | None = None
        self._ii: np.ndarray | None = None  # pairs in the data's sorted order
        self._jj: np.ndarray | None = None
        self._dt: Ties | None = None
        self._row_blocks: list[tuple[int, int]] | None = None
        self._y0: np.ndarray | None = None  # model ranks in the data's order (bootstrap pass)
        self._mi: np.ndarray | None = None  # pairs in the model's sorted order (bootstrap pass)
        self._mj: np.ndarray | None = None

    # ------------------------------------------------------------------ ranks
    def model_ranks(self) -> tuple[np.ndarray, Ties]:
        """Dense ranks of the model RDM by pair (int32) and their tie table."""
        if self._qd is None:
            m = _vector(self._msrc)
            order, ties = rank(m)
            del m
            self._qd = dense_by_position(order, ties)
            self._qt = ties
        return self._qd, self._qt

    def _data_ranks(self) -> None:
        if self._ii is not None:
            return
        self.model_ranks()
        d = _vector(self._dsrc)
        order, ties = rank(d)
        del d
        n = self.n
        starts = self._off + np.arange(1, n + 1)  # first pair of each row
        it = index_dtype(n)
        ii, jj = np.empty(self.size, dtype=it), np.empty(self.size, dtype=it)
        for a, b in spans(self.size):
            c = order[a:b]
            i = np.searchsorted(starts, c, side="right") - 1
            ii[a:b] = i
            jj[a:b] = c - self._off.take(i)
        del order
        self._ii, self._jj, self._dt = ii, jj, ties

    def release(self, *, model: bool = True) -> None:
        """Drop the data's sorted order (and the model's ranks) to free memory."""
        self._ii = self._jj = self._dt = None
        if model:
            self._qd = self._qt = None

    # ------------------------------------------------------------------ rank statistics
    def _y_perm(self, perm: np.ndarray | None, a: int, b: int) -> np.ndarray:
        """Model dense ranks of sorted data positions a..b after relabelling by ``perm``."""
        i, j = self._ii[a:b], self._jj[a:b]
        if perm is None:
            idx = self._off.take(i)
            idx += j
        else:
            pi, pj = perm.take(i), perm.take(j)
            lo = np.minimum(pi, pj)
            np.maximum(pi, pj, out=pj)
            idx = self._off.take(lo)
            idx += pj
        return self._qd.take(idx)

    def _rank_perm(self, perm: np.ndarray | None, methods: Sequence[str]) -> list[float]:
        """Spearman and tau-a after relabelling by ``perm``: one pass, blocks of the data order.

        Each block of model ranks (in the data's sorted order) feeds the Spearman dot product
        and the streaming discordance counter (:class:`nfd_rsa._rank.Inversions`); no
        P-long array is kept beyond the counter's 2 bytes per pair.
        """
        dt, qt = self._dt, self._qt
        spear, tau = "spearman" in methods, "tau-a" in methods
        inv = Inversions(qt.n_unique, self.size) if tau else None
        mean = (self.size + 1) / 2.0
        if perm is not None:  # stimulus indices in the pairs' dtype: smaller gathers
            perm = np.asarray(perm).astype(self._ii.dtype, copy=False)
        num, ntie = 0.0, 0
        for a, b in dt.spans():
            yb = self._y_perm(perm, a, b)
            if spear:
                ax = dt.avg_at(a, b)
                ax -= mean
                num += float(np.dot(ax, qt.avg_of(yb)))
            if tau:
                if dt.has_ties:  # pairs tied in x are never discordant: y ascends inside them
                    xd = dt.dense_at(a, b)
                    if qt.has_ties:
                        ntie += _joint_block(xd, yb)
                    sort_within(xd, yb)
                inv.add(yb)
        out = []
        for method in methods:
            if method == "spearman":
                den = dt.rank_norm() * qt.rank_norm()
                out.append(num / den if den > 0 else 0.0)
            else:
                out.append(_tau_a(self.size, inv.total(), dt.tied_pairs(), qt.tied_pairs(),
                                  ntie))
        return out

    def _weights(self, sample: np.ndarray) -> np.ndarray:
        return np.bincount(np.asarray(sample), minlength=self.n).astype(np.int64)

    def _rank_boot(self, sample: np.ndarray, methods: Sequence[str]) -> list[float]:
        """Spearman and tau-a on a bootstrap sample: pair k repeated ``w_k`` times.

        One sequential pass over the model's sorted order for its weighted ranks (when
        Spearman or model ties need them), then one fused pass over the data's sorted order
        for both statistics. Needs :meth:`_boot_tables`.
        """
        dt, qt = self._dt, self._qt
        c = self._weights(sample)
        spear, tau = "spearman" in methods, "tau-a" in methods
        length, own, cube = _pair_sums(c)
        cy2, vy, ytie = (self._model_side(c, length, cube) if spear or qt.has_ties
                         else (None, 0.0, 0))
        sp = _BootSpearman(length, cy2, vy, 0.0 if dt.has_ties else float(cube)) if spear \
            else None
        inv = Inversions(qt.n_unique, length) if tau else None
        xtie = ntie = 0
        for a, b in dt.spans():
            w = c.take(self._ii[a:b])
            w *= c.take(self._jj[a:b])
            y0 = self._y0[a:b]
            xd = dt.dense_at(a, b) if dt.has_ties else None
            if sp is not None:
                sp.add(w, xd, y0)
            if not tau:
                continue
            yrep = np.repeat(y0, w)
            if xd is not None and yrep.size:  # whole tie groups: sort y inside them
                xrep = np.repeat(xd, w)
                sort_within(xrep, yrep)
                xtie += pairs(np.bincount(xd - xd[0], weights=w).astype(np.int64))
                if qt.has_ties:
                    ntie += _joint_block(xd, y0, w)
            inv.add(yrep)
        res: dict[str, float] = {}
        if tau:
            res["tau-a"] = _tau_a(length, inv.total(), xtie if dt.has_ties else own,
                                  ytie if qt.has_ties else own,
                                  ntie if dt.has_ties and qt.has_ties else own)
        if sp is not None:
            res["spearman"] = sp.value()
        return [res[m] for m in methods]

    def _model_side(self, c: np.ndarray, length: int, cube: int
                    ) -> tuple[np.ndarray, float, int]:
        """Compute the model side of a bootstrap sample: one sequential pass, its sorted order.

        Returns twice the centred average rank of each model dense rank's copies (index 0
        unused; see :class:`_BootSpearman`), sum(G^3 - G) over groups of G equal copies, and
        the pairs among them. ``cube``: that sum when the model has no ties.
        """
        qt = self._qt
        cy2 = np.zeros(qt.n_unique + 1, dtype=np.int32 if length < 2**31 - 1 else np.int64)
        before, vy, ytie = 0, 0.0, 0
        for a, b in qt.spans():
            g = c.take(self._mi[a:b])
            g *= c.take(self._mj[a:b])
            r0 = a + 1
            if qt.has_ties:  # weight of each dense rank (whole tie groups in the block)
                d = qt.dense_at(a, b)
                g = np.add.reduceat(g, np.flatnonzero(np.r_[True, d[1:] != d[:-1]]))
                r0 = int(d[0])
                vy += _cube_sum(g)
                ytie += pairs(g)
            cy2[r0:r0 + g.size], before = _doubled_ranks(g, before, length)
        return cy2, vy if qt.has_ties else float(cube), ytie

    def _boot_tables(self, *, drop: bool) -> None:
        """Model dense ranks in the data's sorted order and stimulus pairs in the model's.

        Built once per bootstrap pass (8 bytes per pair), so that samples read both sides
        sequentially; ``drop``: free the by-pair table meanwhile (it comes back when needed).
        """
        y0 = np.empty(self.size, dtype=self._qd.dtype)
        for a, b in spans(self.size):
            y0[a:b] = self._y_perm(None, a, b)
        if drop:
            self._qd = None
        mi, mj = np.empty_like(self._ii), np.empty_like(self._jj)
        if self._qt.has_ties:  # any order inside a tie group: weights are summed per group
            order = np.argsort(y0, kind="stable")
            for a, b in spans(self.size):
                mi[a:b] = self._ii.take(order[a:b])
                mj[a:b] = self._jj.take(order[a:b])
            del order
        else:  # dense rank r is at sorted position r - 1
            for a, b in spans(self.size):
                pos = y0[a:b] - 1
                mi[pos] = self._ii[a:b]
                mj[pos] = self._jj[a:b]
        self._y0, self._mi, self._mj = y0, mi, mj

    # ------------------------------------------------------------------ value statistics
    def _pair_rows(self):
        """Natural-order blocks of whole rows, with the stimuli (a < b) of each pair."""
        n = self.n
        starts = self._off + np.arange(1, n + 1)  # first pair of each row; starts[n-1] = P
        if self._row_blocks is None:
            step, bounds, r0 = max(1, block_len(self.size) // 4), [], 0
            while r0 < n - 1:
                r1 = int(np.searchsorted(starts, starts[r0] + step, side="right")) - 1
                r1 = min(max(r1, r0 + 1), n - 1)
                bounds.append((r0, r1))
                r0 = r1
            self._row_blocks = bounds
        for r0, r1 in self._row_blocks:
            s, e = int(starts[r0]), int(starts[r1])
            ia = np.repeat(np.arange(r0, r1, dtype=np.intp), n - 1 - np.arange(r0, r1))
            ib = np.arange(s, e, dtype=np.intp)
            ib -= self._off.take(ia)
            yield s, e, ia, ib

    def _value_eval(self, d, m, mus, kind, row, methods) -> list[float]:
        """Pearson/cosine for one permutation or bootstrap sample (natural order)."""
        mu_d, mu_m = mus
        c = None
        if kind == "boot":
            c = self._weights(row)
        acc_p = np.zeros(5)
        acc_c = np.zeros(5)
        sw = 0.0
        for s, e, ia, ib in self._pair_rows():
            db = d[s:e]
            if kind == "perm" and row is not None:
                pa, pb = row.take(ia), row.take(ib)
                lo = np.minimum(pa, pb)
                np.maximum(pa, pb, out=pb)
                idx = self._off.take(lo)
                idx += pb
                mb = m.take(idx)
            else:
                mb = m[s:e]
            if c is not None:
                wf = (c.take(ia) * c.take(ib)).astype(np.float64)
                sw += float(wf.sum())
            else:
                wf = None
            for acc, (da, mbb) in ((acc_p, (db - mu_d, mb - mu_m)), (acc_c, (db, mb))):
                wa = da if wf is None else wf * da
                wb = mbb if wf is None else wf * mbb
                acc += (wa.sum(), wb.sum(), np.dot(wa, da), np.dot(wb, mbb), np.dot(wa, mbb))
        if c is None:
            sw = float(self.size)
        out = []
        for method in methods:
            out.append(_corr(sw, acc_p, center=True) if method == "pearson"
                       else _corr(sw, acc_c, center=False))
        return out

    # ------------------------------------------------------------------ public
    def similarity(self, method: str) -> float:
        """Return the observed similarity (equal to rsatoolbox's ``compare``)."""
        return float(self.similarities([method])[0])

    def similarities(self, methods: Sequence[str]) -> np.ndarray:
        """Observed similarities for several methods."""
        return self._evaluate("perm", [None], methods, 1, None)[0]

    def permuted(self, perm: np.ndarray, methods: Sequence[str]) -> list[float]:
        """Similarities after relabelling the model's stimuli by ``perm``.

        That is, of the model RDM ``M[perm][:, perm]``.
        """
        return list(self._evaluate("perm", [np.asarray(perm)], methods, 1, None)[0])

    def permutation_null(self, perms: Iterable[np.ndarray], methods: Sequence[str], *,
                         n_jobs: int = 1, progress=None) -> np.ndarray:
        """(n_perm, n_methods) similarities under stimulus permutations.

        ``perms``: rows of permutations (any sized, re-iterable collection).
        """
        return self._evaluate("perm", perms, methods, n_jobs, progress)

    def resampled(self, sample: np.ndarray, methods: Sequence[str]) -> list[float]:
        """Similarities on a stimulus bootstrap sample (indices drawn with replacement).

        As rsatoolbox computes them on ``subsample_pattern('index', sample)`` of both RDMs.
        """
        return list(self._evaluate("boot", [np.asarray(sample)], methods, 1, None)[0])

    def bootstrap(self, samples: Iterable[np.ndarray], methods: Sequence[str], *,
                  n_jobs: int = 1, progress=None) -> np.ndarray:
        """(n_boot, n_methods) similarities over stimulus bootstrap samples (rows)."""
        return self._evaluate("boot", samples, methods, n_jobs, progress)

    # ------------------------------------------------------------------ passes
    def _evaluate(self, kind: str, rows, methods, n_jobs, progress) -> np.ndarray:
        methods = [_check_method(m) for m in methods]
        out = np.empty((len(rows), len(methods)))
        if len(rows) == 0:
            return out
        valued = [m for m in methods if m in _VALUED]
        ranked = [m for m in methods if m in _RANKED]
        if valued:
            cols = [methods.index(m) for m in valued]
            d, m = _vector(self._dsrc), _vector(self._msrc)
            mus = (float(d.mean()), float(m.mean()))
            out[:, cols] = self._run(
                lambda row: self._value_eval(d, m, mus, kind, row, valued), rows, n_jobs,
                progress if not ranked else None)
            del d, m
        if ranked:
            self._data_ranks()
            self.model_ranks()
            cols = [methods.index(m) for m in ranked]
            fn = self._rank_perm if kind == "perm" else self._rank_boot
            if kind == "boot":
                self._boot_tables(drop=len(rows) > 1)
            try:
                out[:, cols] = self._run(lambda row: fn(row, ranked), rows, n_jobs, progress)
            finally:
                self._y0 = self._mi = self._mj = None
        return out

    def _run(self, fn: Callable, rows, n_jobs: int, progress) -> np.ndarray:
        # 1-d dot products: BLAS threads only add overhead (and thrash a busy machine)
        with one_blas_thread():
            res = run_blocks(fn, rows, n_jobs, progress)
        return np.asarray(res, dtype=np.float64).reshape(len(res), -1)


# ---------------------------------------------------------------------- noise ceiling
def _avg2(ties: Ties, a: int, b: int) -> np.ndarray:
    """Twice the average ranks of sorted positions a..b, as integers."""
    if not ties.has_ties:
        return np.arange(2 * a + 2, 2 * b + 2, 2, dtype=np.int64)
    return (2.0 * ties.avg_at(a, b)).astype(np.int64)


def _tau_sorted(xt: Ties, y: np.ndarray, yt_pairs: int, y_ties: bool) -> float:
    """Kendall tau-a of x (sorted, ties ``xt``) and y (dense ranks >= 1 in x's order).

    ``y`` is reordered inside x's tie groups.
    """
    ntie = _joint_ties(xt, y) if xt.has_ties and y_ties else 0
    inv = Inversions(int(y.max()), y.size)
    for a, b in xt.spans():
        if xt.has_ties:
            sort_within(xt.dense_at(a, b), y[a:b])
        inv.add(y[a:b])
    return _tau_a(y.size, inv.total(), xt.tied_pairs(), yt_pairs, ntie)


def ceiling(sources: Sequence[Any], methods: Sequence[str],
            model: PairedRDMs | None = None) -> dict[str, tuple[float, float, float]]:
    """Noise ceiling of several data RDMs, streamed: ``method -> (lower, upper, splits)``.

    As rsatoolbox's ``boot_noise_ceiling``: lower = mean over RDMs i of the similarity of
    RDM i to the pool of the others, upper = to the pool of all; ``splits`` = mean similarity
    of ``model``'s model RDM to each RDM (rsatoolbox's ``eval_fixed``; NaN without a model).

    The pools are sums of transformed RDMs (ranks; z-scores; RMS-normalised values), and the
    pool of the others is the pool of all minus RDM i's share, so one pass accumulates the
    sum and later passes compute each RDM again and compare -- at most one RDM, its sort
    order and the sum are held at a time. ``sources`` compute the RDMs (``vector()``).
    """
    methods = [_check_method(m) for m in methods]
    srcs = [_as_source(s) for s in sources]
    if len(srcs) < 2:
        raise InputError("the noise ceiling needs at least 2 data RDMs", obj="rsa ceiling")
    size = srcs[0].size
    if any(s.size != size for s in srcs) or (model is not None and model.size != size):
        raise InputError("ceiling RDMs differ in size", obj="rsa ceiling")
    out: dict[str, tuple[float, float, float]] = {}
    valued = [m for m in methods if m in _VALUED]
    ranked = [m for m in methods if m in _RANKED]
    with one_blas_thread():  # 1-d dot products and small tiles (see nfd_rsa._rdm)
        if valued:
            out.update(_value_ceiling(srcs, valued, model))
        if ranked:
            out.update(_rank_ceiling(srcs, ranked, model))
    return {m: out[m] for m in methods}


def _moments(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(sum x, sum t, x.x, t.t, x.t) -- the sums :func:`_corr` takes."""
    return np.array([x.sum(), t.sum(), np.dot(x, x), np.dot(t, t), np.dot(x, t)])


def _scale(v: np.ndarray) -> tuple[float, float, float]:
    """Mean, SD (ddof 0) and RMS of ``v`` -- rsatoolbox's pooling transforms -- blockwise."""
    mu = float(v.mean())
    ss = sum(float(np.dot(v[a:b] - mu, v[a:b] - mu)) for a, b in spans(v.size))
    return mu, float(np.sqrt(ss / v.size)), float(np.sqrt(np.dot(v, v) / v.size))


def _transformed(v: np.ndarray, a: int, b: int, method: str, sc) -> np.ndarray:
    mu, sd, rms = sc
    return (v[a:b] - mu) / sd if method == "pearson" else v[a:b] / rms


def _value_add(src, pools: dict[str, np.ndarray], model, mu_m) -> dict[str, float]:
    """Pass 1 for one RDM: add its transform to each pool; its similarity to the model."""
    v = _vector(src)
    sc = _scale(v)
    for a, b in spans(v.size):
        for m, pool in pools.items():
            pool[a:b] += _transformed(v, a, b, m, sc)
    out = {}
    if model is not None:
        acc = {"pearson": np.zeros(5), "cosine": np.zeros(5)}
        for a, b, mb in model._msrc.rows():
            acc["pearson"] += _moments(mb - mu_m, v[a:b] - sc[0])
            acc["cosine"] += _moments(mb, v[a:b])
        out = {m: _corr(v.size, acc[m], center=m == "pearson") for m in pools}
    return out


def _value_compare(src, pools: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Pass 2 for one RDM: its similarity to the pool of the others and of all."""
    v = _vector(src)
    sc = _scale(v)
    acc = {m: (np.zeros(5), np.zeros(5)) for m in pools}
    for a, b in spans(v.size):
        for m, pool in pools.items():
            t = _transformed(v, a, b, m, sc)
            acc[m][0][:] += _moments(pool[a:b] - t, t)
            acc[m][1][:] += _moments(pool[a:b], t)
    return {m: (_corr(v.size, lo, center=m == "pearson"), _corr(v.size, up, center=m == "pearson"))
            for m, (lo, up) in acc.items()}


def _value_ceiling(srcs, methods, model) -> dict[str, tuple[float, float, float]]:
    size = srcs[0].size
    pools = {m: np.zeros(size) for m in methods}
    mu_m = None
    if model is not None:
        mu_m = sum(float(seg.sum()) for _, _, seg in model._msrc.rows()) / size
    split = [_value_add(src, pools, model, mu_m) for src in srcs]
    both = [_value_compare(src, pools) for src in srcs]
    return {m: (float(np.mean([x[m][0] for x in both])), float(np.mean([x[m][1] for x in both])),
                float(np.mean([x[m] for x in split])) if model is not None else float("nan"))
            for m in methods}


def _spearman_sorted(xt: Ties, order: np.ndarray, yt: Ties,
                     avg_y: Callable[[np.ndarray], np.ndarray]) -> float:
    """Spearman r of x (sorted by ``order``, ties ``xt``) and y (ties ``yt``).

    ``avg_y(idx)`` gives y's average ranks at pair positions ``idx``.
    """
    mean = (xt.size + 1) / 2.0
    num = 0.0
    for a, b in spans(xt.size):
        ax = xt.avg_at(a, b)
        ax -= mean
        num += float(np.dot(ax, avg_y(order[a:b])))
    den = xt.rank_norm() * yt.rank_norm()
    return num / den if den > 0 else 0.0


def _avg_by_pair(qd: np.ndarray, qt: Ties) -> Callable[[np.ndarray], np.ndarray]:
    return lambda idx: qt.avg_of(qd.take(idx))


def _halved(t2: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda idx: 0.5 * t2.take(idx)


def _vs_ranks(src, methods, qd: np.ndarray, qt: Ties, s2: np.ndarray | None = None
              ) -> dict[str, float]:
    """Compare one RDM with a vector given by its dense ranks ``qd`` (by pair), ties ``qt``.

    With ``s2``, also add twice the RDM's average ranks to it (pass 1 of the ceiling).
    """
    v = _vector(src)
    order, ti = rank(v)
    del v
    if s2 is not None:
        for a, b in spans(order.size):
            s2[order[a:b]] += _avg2(ti, a, b).astype(s2.dtype)
    out = {}
    if "spearman" in methods:
        out["spearman"] = _spearman_sorted(ti, order, qt, _avg_by_pair(qd, qt))
    if "tau-a" in methods:
        y = np.empty(order.size, dtype=qd.dtype)
        for a, b in spans(order.size):
            y[a:b] = qd.take(order[a:b])
        del order
        out["tau-a"] = _tau_sorted(ti, y, qt.tied_pairs(), qt.has_ties)
    return out


def _vs_others(src, methods, s2: np.ndarray) -> dict[str, float]:
    """Compare one RDM with the pool of the others: ``s2`` minus its own (twice) ranks."""
    v = _vector(src)
    order, ti = rank(v)
    del v
    size = order.size
    t2 = np.empty(size, dtype=np.int32 if 2 * size + 2 < 2**31 else np.int64)
    for a, b in spans(size):
        t2[order[a:b]] = _avg2(ti, a, b)
    pos = order.astype(t2.dtype) if ti.has_ties else None  # else t2 / 2 - 1 is the position
    del order
    for a, b in spans(size):
        s2[a:b] -= t2[a:b].astype(s2.dtype)
    try:
        ou, tu = rank(s2)
        out = {}
        if "spearman" in methods:
            out["spearman"] = _spearman_sorted(tu, ou, ti, _halved(t2))
        du = dense_by_position(ou, tu) if "tau-a" in methods else None
        del ou
    finally:
        for a, b in spans(size):
            s2[a:b] += t2[a:b].astype(s2.dtype)
    if du is not None:
        y = np.empty(size, dtype=du.dtype)
        for a, b in spans(size):
            if pos is None:
                y[t2[a:b] // 2 - 1] = du[a:b]
            else:
                y[a:b] = du.take(pos[a:b])
        del t2, du, pos
        out["tau-a"] = _tau_sorted(ti, y, tu.tied_pairs(), tu.has_ties)
    return out


def _rank_ceiling(srcs, methods, model) -> dict[str, tuple[float, float, float]]:
    size, r = srcs[0].size, len(srcs)
    s2 = np.zeros(size, dtype=np.uint32 if 2 * r * size + 2 < 2**32 else np.int64)
    split: list[dict[str, float]] = []
    if model is not None:  # pass 1: sum of (twice the) ranks; the model vs each RDM
        model.release(model=False)
        qd, qt = model.model_ranks()
        split = [_vs_ranks(src, methods, qd, qt, s2) for src in srcs]
        del qd, qt
        model.release()
    else:
        for src in srcs:
            _add_ranks(src, s2)
    low = [_vs_others(src, methods, s2) for src in srcs]  # pass 2: vs the others' pool
    order, ts = rank(s2)  # pass 3: vs the pool of all
    del s2
    ds = dense_by_position(order, ts)
    del order
    up = [_vs_ranks(src, methods, ds, ts) for src in srcs]
    return {m: (float(np.mean([x[m] for x in low])), float(np.mean([x[m] for x in up])),
                float(np.mean([x[m] for x in split])) if split else float("nan"))
            for m in methods}


def _add_ranks(src, s2: np.ndarray) -> None:
    v = _vector(src)
    order, ti = rank(v)
    del v
    for a, b in spans(order.size):
        s2[order[a:b]] += _avg2(ti, a, b).astype(s2.dtype)


def noise_ceiling(vectors: np.ndarray, method: str) -> tuple[float, float]:
    """Lower and upper noise ceiling.

    From several data RDMs (rows), as rsatoolbox's ``boot_noise_ceiling``: lower = mean over
    RDMs of the similarity to the pool of the others (leave one out), upper = to the pool of
    all.
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 2:
        raise InputError("the noise ceiling needs at least 2 data RDMs", obj="rsa ceiling")
    low, up, _ = ceiling([ArrayRDM(row) for row in v], [method])[method]
    return low, up
