"""RDM comparison (Spearman, Kendall tau-a, Pearson, cosine) with fast inference.

Values equal rsatoolbox 0.3.2's ``rsatoolbox.rdm.compare`` (methods ``spearman``, ``tau-a``,
``corr``, ``cosine``) and its noise ceiling (``rsatoolbox.inference.boot_noise_ceiling``).

Speed comes from ranking each RDM once:

* A stimulus permutation only moves the model's entries around, so the model's dense ranks,
  average ranks and values are looked up from one table per permutation, never re-sorted;
  rank norms do not change, so Spearman/Pearson/cosine reduce to one dot product.
* Kendall tau-a walks the data RDM in its (fixed) sorted order and counts discordant pairs
  with scipy's Fenwick-tree counter (the one scipy.stats.kendalltau and rsatoolbox use), so no
  sorting happens inside the loop.
* A stimulus bootstrap sample (rsatoolbox's ``bootstrap_sample_pattern`` +
  ``subsample_pattern``: pairs of a stimulus with its own copy are NaN and dropped) is the
  original vector with pair (i, j) repeated ``c_i * c_j`` times, ``c`` the draw counts. Ranks,
  ties and sums of the resampled vector follow from weighted counts, so again nothing is
  sorted per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurofacedis.errors import InputError

__all__ = [
    "COMPARISONS",
    "RSATOOLBOX_NAMES",
    "compare",
    "pool_rdm",
    "noise_ceiling",
    "PairedRDMs",
]

#: Comparison methods (our names); see :data:`RSATOOLBOX_NAMES` for rsatoolbox's.
COMPARISONS = ("spearman", "tau-a", "pearson", "cosine")
#: Our name -> rsatoolbox's ``compare(method=...)`` name.
RSATOOLBOX_NAMES = {"spearman": "spearman", "tau-a": "tau-a", "pearson": "corr",
                    "cosine": "cosine"}


def _check_method(method: str) -> str:
    if method not in COMPARISONS:
        raise InputError(f"unknown comparison {method!r}; one of {', '.join(COMPARISONS)}",
                         obj="rsa")
    return method


@dataclass
class _Ranked:
    """One vector ranked once: per dense rank (1..U) its value, count and average rank."""

    values: np.ndarray  # (U + 1,) value of each dense rank (index 0 unused)
    counts: np.ndarray | None  # (U + 1,) elements per dense rank; None: no ties (all 1)
    avg_rank: np.ndarray | None  # (U + 1,) average rank as rankdata; None: no ties (= rank)
    has_ties: bool

    def avg(self, dense: np.ndarray) -> np.ndarray:
        """Average ranks of elements given their dense ranks."""
        return self.avg_rank.take(dense) if self.has_ties else dense.astype(np.float64)

    def expanded(self, table: np.ndarray | None) -> np.ndarray:
        """Repeat a per-rank table (values or average ranks) for every element, sorted."""
        if table is None:  # average ranks without ties: 1..m
            return np.arange(1, self.values.size, dtype=np.float64)
        return table[1:] if self.counts is None else table[1:].repeat(self.counts[1:])

    def tied_pairs(self) -> int:
        """Pairs of elements with equal values."""
        return 0 if self.counts is None else _pairs(self.counts)

    @classmethod
    def of(cls, v: np.ndarray) -> tuple[_Ranked, np.ndarray, np.ndarray]:
        """Rank ``v``; also return its stable sort order and the dense ranks in that order."""
        v = np.asarray(v, dtype=np.float64)
        order = np.argsort(v, kind="stable")
        sv = v[order]
        new = np.empty(sv.size, dtype=bool)
        new[:1] = True
        np.not_equal(sv[1:], sv[:-1], out=new[1:])
        dense_sorted = np.cumsum(new, dtype=np.intp)
        del new
        u = int(dense_sorted[-1])
        if u == v.size:  # no ties: rank k holds the k-th smallest value
            values = np.concatenate([[0.0], sv])
            counts = avg = None
        else:
            values = np.zeros(u + 1)
            values[dense_sorted] = sv
            counts = np.bincount(dense_sorted, minlength=u + 1).astype(np.int64)
            avg = np.cumsum(counts) - (counts - 1) / 2.0
        return cls(values, counts, avg, u < v.size), order, dense_sorted


def _pairs(counts: np.ndarray) -> int:
    """Count tied pairs, sum of G (G - 1) / 2 over groups of size G (exact integer)."""
    c = np.asarray(counts, dtype=np.float64)
    # exact: integer sums below 2**53
    return (int(np.dot(c, c)) - int(c.sum())) // 2


def _wcorr(a: np.ndarray, b: np.ndarray, w: np.ndarray | None, *, center: bool) -> float:
    """Correlate two vectors, optionally weighted.

    (Weighted) Pearson correlation, or cosine when ``center`` is False; 0 for a zero norm
    (rsatoolbox's ``_cosine`` convention).
    """
    if w is None:
        if center:
            a = a - a.mean()
            b = b - b.mean()
        num = float(np.dot(a, b))
        na, nb = float(np.dot(a, a)), float(np.dot(b, b))
    else:  # raw weighted moments: fewer passes over the 2M-long vectors
        wa = w * a
        sa, saa, sab = float(wa.sum()), float(np.dot(wa, a)), float(np.dot(wa, b))
        np.multiply(w, b, out=wa)
        sb, sbb = float(wa.sum()), float(np.dot(wa, b))
        num, na, nb = sab, saa, sbb
        if center:
            sw = float(w.sum())
            num, na, nb = sab - sa * sb / sw, saa - sa * sa / sw, sbb - sb * sb / sw
    if na <= 0 or nb <= 0:
        return 0.0
    return num / np.sqrt(na) / np.sqrt(nb)


def _kendall_dis(x: np.ndarray, y: np.ndarray) -> int:
    """Pairs with x_k < x_l and y_k > y_l; x sorted ascending, x and y intp >= 1."""
    from scipy.stats._stats import _kendall_dis as dis  # the counter rsatoolbox and scipy use

    return int(dis(x, y))


def _tau_a(size: int, dis: int, xtie: int, ytie: int, ntie: int) -> float:
    """Kendall tau-a from pair counts, as rsatoolbox's ``_tau_a`` (clipped to [-1, 1])."""
    tot = size * (size - 1) // 2
    if tot == 0:
        return 0.0
    tau = (tot - xtie - ytie + ntie - 2 * dis) / tot
    return float(min(1.0, max(-1.0, tau)))


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


def noise_ceiling(vectors: np.ndarray, method: str) -> tuple[float, float]:
    """Lower and upper noise ceiling.

    From several data RDMs (rows), as rsatoolbox's ``boot_noise_ceiling``: lower = mean over
    RDMs of the similarity to the pool of the others (leave one out), upper = to the pool of
    all.
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 2:
        raise InputError("the noise ceiling needs at least 2 data RDMs", obj="rsa ceiling")
    pooled_all = pool_rdm(v, method)
    low, up = [], []
    for i in range(v.shape[0]):
        others = np.delete(v, i, axis=0)
        low.append(compare(pool_rdm(others, method), v[i], method))
        up.append(compare(pooled_all, v[i], method))
    return float(np.mean(low)), float(np.mean(up))


class PairedRDMs:
    """A data RDM and a model RDM ranked once, for similarity, permutation and bootstrap.

    Parameters
    ----------
    data, model
        Condensed RDMs over the same ``n`` stimuli (length n (n - 1) / 2, no NaN).
    """

    def __init__(self, data: np.ndarray, model: np.ndarray) -> None:
        data = np.asarray(data, dtype=np.float64).ravel()
        model = np.asarray(model, dtype=np.float64).ravel()
        if data.shape != model.shape:
            raise InputError(f"RDMs differ in size: {data.size} vs {model.size}", obj="rsa")
        n = int(round((1 + np.sqrt(1 + 8 * data.size)) / 2))
        if n * (n - 1) // 2 != data.size or n < 3:
            raise InputError(f"{data.size} is not the length of a condensed RDM (n >= 3)",
                             obj="rsa")
        if not (np.isfinite(data).all() and np.isfinite(model).all()):
            raise InputError("RDMs contain NaN or inf", obj="rsa")
        self.n = n
        self.size = data.size
        # everything is walked in the data's sorted order: x ascending, fixed for all samples
        self._rd, order, self._x = _Ranked.of(data)
        rq, qorder, qdense = _Ranked.of(model)
        self._rq = rq
        y = np.empty(model.size, dtype=np.intp)
        y[qorder] = qdense
        del qorder, qdense
        self._y0 = y[order]
        del y
        self._idx_t = np.int32 if n * n < 2**31 else np.int64
        iu, ju = np.triu_indices(n, 1)
        self._i = iu.take(order).astype(self._idx_t)
        del iu
        self._j = ju.take(order).astype(self._idx_t)
        del ju, order
        self._xtie = self._rd.tied_pairs()
        self._ytie = rq.tied_pairs()
        self._both_ties = self._rd.has_ties and rq.has_ties
        self._cache: dict[str, object] = {}

    # ------------------------------------------------------------------ helpers
    def _ntie(self, y: np.ndarray, w: np.ndarray | None) -> int:
        """Pairs tied in both RDMs (with weights: copies of one pair tie with each other)."""
        if self._both_ties:
            key = self._x.astype(np.int64) * (self._rq.values.size + 1) + y
            inv = np.unique(key, return_inverse=True)[1].ravel()
            return _pairs(np.bincount(inv, weights=w))
        return 0 if w is None else _pairs(w)

    def _const(self, name: str) -> object:
        """Data-side constants of the permutation statistics (model norms never change)."""
        if name not in self._cache:
            rd, rq = self._rd, self._rq
            if name == "spearman":
                a = rd.avg(self._x)
                a -= a.mean()
                ry = rq.expanded(rq.avg_rank)
                val: object = (a / np.sqrt(np.dot(a, a)),
                               float(np.sqrt(np.sum((ry - ry.mean()) ** 2))))
            elif name == "pearson":
                a = rd.values.take(self._x)
                a -= a.mean()
                vy = rq.expanded(rq.values)
                val = (a / np.sqrt(np.dot(a, a)), float(np.sqrt(np.sum((vy - vy.mean()) ** 2))))
            elif name == "cosine":
                a = rd.values.take(self._x)
                vy = rq.expanded(rq.values)
                val = (a / np.sqrt(np.dot(a, a)), float(np.sqrt(np.dot(vy, vy))))
            elif name == "qmat":
                q = np.zeros((self.n, self.n), dtype=self._idx_t)
                q[self._i, self._j] = self._y0
                q[self._j, self._i] = self._y0
                val = q.ravel()
            else:
                raise KeyError(name)
            self._cache[name] = val
        return self._cache[name]

    def _stats(self, y: np.ndarray, methods: Sequence[str], w: np.ndarray | None) -> list[float]:
        rd, rq, x = self._rd, self._rq, self._x
        wf = None if w is None else w.astype(np.float64)
        out = []
        for method in methods:
            _check_method(method)
            if method == "tau-a":
                if w is None:
                    size, dis = self.size, _kendall_dis(x, y)
                    xtie, ytie, ntie = self._xtie, self._ytie, self._ntie(y, None)
                else:
                    size = int(w.sum(dtype=np.int64))
                    dis = _kendall_dis(np.repeat(x, w), np.repeat(y, w))
                    own = _pairs(wf)  # copies of one pair tie with each other
                    xtie = _pairs(np.bincount(x, weights=wf)) if rd.has_ties else own
                    ytie = _pairs(np.bincount(y, weights=wf)) if rq.has_ties else own
                    ntie = self._ntie(y, wf) if self._both_ties else own
                out.append(_tau_a(size, dis, xtie, ytie, ntie))
            elif method == "spearman":
                if w is None:
                    out.append(_wcorr(rd.avg(x), rq.avg(y), None,
                                      center=True))
                else:
                    out.append(self._weighted_spearman(y, wf))
            elif method in ("pearson", "cosine"):
                out.append(_wcorr(rd.values.take(x), rq.values.take(y), wf,
                                  center=method == "pearson"))
        return out

    def _weighted_spearman(self, y: np.ndarray, wf: np.ndarray) -> float:
        """Spearman r of the vector with element k repeated ``wf[k]`` times.

        The repeated vector's average ranks have mean (L + 1) / 2 and sum of squares
        L (L + 1) (2L + 1) / 6 - sum(G^3 - G) / 12 over groups of G tied copies, so only the
        cross term needs a pass over the data.
        """
        x, rd = self._x, self._rd
        if rd.has_ties:
            gx = np.bincount(x, weights=wf)
            ax = (np.cumsum(gx) - (gx - 1) / 2.0).take(x)
        else:  # x = 1..m: element k is its own group
            gx = wf
            ax = np.cumsum(wf)
            ax -= (wf - 1) / 2.0
        gy = np.bincount(y, weights=wf)
        cy = np.cumsum(gy)
        cy -= (gy - 1) / 2.0
        ax *= wf
        sxy = float(np.dot(ax, cy.take(y)))
        size = float(wf.sum())
        mean = (size + 1) / 2
        base = size * (size + 1) * (2 * size + 1) / 6 - size * mean * mean
        vx = base - float(np.dot(gx * gx, gx) - gx.sum()) / 12
        vy = base - float(np.dot(gy * gy, gy) - gy.sum()) / 12
        if vx <= 0 or vy <= 0:
            return 0.0
        return (sxy - size * mean * mean) / np.sqrt(vx) / np.sqrt(vy)

    # ------------------------------------------------------------------ observed
    def similarity(self, method: str) -> float:
        """Return the observed similarity (equal to rsatoolbox's ``compare``)."""
        return self._stats(self._y0, [method], None)[0]

    def similarities(self, methods: Sequence[str]) -> np.ndarray:
        """Observed similarities for several methods."""
        return np.asarray(self._stats(self._y0, list(methods), None))

    # ------------------------------------------------------------------ permutations
    def permuted(self, perm: np.ndarray, methods: Sequence[str]) -> list[float]:
        """Compute similarities after permuting the model's stimuli.

        Similarities after relabelling the model's stimuli by ``perm`` (model RDM
        ``M[perm][:, perm]``).
        """
        q = self._const("qmat")
        p = np.asarray(perm).astype(self._idx_t)
        lin = p.take(self._i)
        lin *= self.n
        lin += p.take(self._j)
        y = q.take(lin).astype(np.intp, copy=False)
        del lin
        rq = self._rq
        out = []
        for method in methods:
            _check_method(method)
            if method == "tau-a":
                out.append(_tau_a(self.size, _kendall_dis(self._x, y), self._xtie, self._ytie,
                                  self._ntie(y, None)))
            else:
                a, norm = self._const(method)
                if method == "spearman":  # no ties: the average rank is the dense rank
                    b = rq.avg(y)
                else:
                    b = rq.values.take(y)
                out.append(float(np.dot(a, b)) / norm if norm > 0 else 0.0)
        return out

    def permutation_null(self, perms: np.ndarray, methods: Sequence[str], *,
                         n_jobs: int = 1, progress=None) -> np.ndarray:
        """(n_perm, n_methods) similarities under stimulus permutations (rows of ``perms``)."""
        return self._run(self.permuted, perms, methods, n_jobs, progress)

    # ------------------------------------------------------------------ bootstrap
    def resampled(self, sample: np.ndarray, methods: Sequence[str]) -> list[float]:
        """Compute similarities on one stimulus bootstrap sample.

        Similarities on a stimulus bootstrap sample (indices drawn with replacement), as
        rsatoolbox computes them on ``subsample_pattern('index', sample)`` of both RDMs.
        """
        c = np.bincount(np.asarray(sample), minlength=self.n).astype(self._idx_t)
        w = c.take(self._i)
        w *= c.take(self._j)
        return self._stats(self._y0, methods, w)

    def bootstrap(self, samples: np.ndarray, methods: Sequence[str], *,
                  n_jobs: int = 1, progress=None) -> np.ndarray:
        """(n_boot, n_methods) similarities over stimulus bootstrap samples (rows)."""
        return self._run(self.resampled, samples, methods, n_jobs, progress)

    # ------------------------------------------------------------------ loop
    def _run(self, fn, rows, methods, n_jobs, progress) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        methods = list(methods)
        for m in methods:
            _check_method(m)
        out = np.empty((len(rows), len(methods)))
        if len(rows) == 0:
            return out
        # 1-d dot products: BLAS threads only add overhead (and thrash a busy machine)
        with threadpool_limits(1, user_api="blas"):
            if n_jobs <= 1:
                for k, row in enumerate(rows):
                    out[k] = fn(row, methods)
                    if progress is not None:
                        progress(1)
            else:  # scipy's counter and numpy's gathers release the GIL
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                    for k, res in enumerate(pool.map(lambda r: fn(r, methods), rows)):
                        out[k] = res
                        if progress is not None:
                            progress(1)
        return out
