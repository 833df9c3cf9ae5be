"""Representational dissimilarity matrices (RDMs) over stimuli, as rsatoolbox defines them.

RDMs are condensed vectors (upper triangle, row-major, the order of
``scipy.spatial.distance.squareform`` and of rsatoolbox's ``RDMs.get_vectors()``), computed in
blocks of rows so that no n x n matrix is ever held. The products go through BLAS
(rsatoolbox's einsum does not), which is where most of the speed-up over
``rsatoolbox.rdm.calc_rdm`` comes from.

:class:`PatternRDM` and :class:`CrossnobisRDM` are *sources*: they keep only their inputs and
compute the RDM (whole, or row block by row block) when asked, so that the metric can drop an
RDM and compute it again instead of holding several at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neurofacedis.errors import InputError
from nfd_rsa._rank import block_len

__all__ = ["RDM_METHODS", "CrossnobisRDM", "PatternRDM", "calc_rdm", "calc_rdm_crossnobis",
           "to_matrix"]

#: Dissimilarities for patterns (stimulus x channel); crossnobis needs repeats.
RDM_METHODS = ("correlation", "euclidean", "crossnobis")


def _row_starts(n: int) -> np.ndarray:
    r = np.arange(n, dtype=np.int64)
    return r * (2 * n - r - 1) // 2


def _upper_rows(x: np.ndarray, size: int) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Blocks of rows of ``x @ x.T`` right of the diagonal: (row0, row1, start, products)."""
    yield from _upper_rows_tiled(lambda a, b: x[a:b], x.shape[0], x.shape[1], size)


_CONTROLLER: list = []


def one_blas_thread():
    """Context that limits BLAS to one thread (threadpoolctl; the controller made once).

    The tiles are small products: BLAS threads gain little on them, and on a busy machine
    their spinning costs far more (the memory test's 50 RDMs of 600 stimuli: 48 s with
    OpenBLAS's 2 threads at load average 4 on 2 cores, 3.4 s with one).
    """
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _upper_rows_tiled(tile, n: int, channels: int, size: int
                      ) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Do :func:`_upper_rows` for a matrix given by ``tile(a, b)`` (rows a..b, float64).

    Only tiles of the matrix are ever held; the products run on one BLAS thread.
    """
    budget = block_len(size)
    step = max(32, 2 * budget // max(channels, 1))
    starts = _row_starts(n)
    r0 = 0
    while r0 < n - 1:  # few, tall blocks: each converts the tiles right of it again
        r1 = min(n - 1, r0 + max(32, n // 16, budget // max(n - r0, 1)))
        a = tile(r0, r1)
        g = np.empty((r1 - r0, n - r0))
        with one_blas_thread():
            for c0 in range(r0, n, step):
                c1 = min(n, c0 + step)
                np.matmul(a, (a[c0 - r0:c1 - r0] if c1 <= r1 else tile(c0, c1)).T,
                          out=g[:, c0 - r0:c1 - r0])
        del a
        seg = np.empty(int(starts[r1 - 1] - starts[r0]) + n - r1, dtype=np.float64)
        pos = 0
        for k in range(r0, r1):
            row = g[k - r0, k - r0 + 1:]
            seg[pos:pos + row.size] = row
            pos += row.size
        del g
        yield r0, r1, int(starts[r0]), seg
        r0 = r1


class PatternRDM:
    """Correlation or squared-euclidean RDM of the rows of a pattern matrix, on demand.

    ``correlation``: 1 - Pearson r between stimulus patterns (rsatoolbox's
    ``calc_rdm_correlation``). ``euclidean``: squared Euclidean distance divided by the number
    of channels (rsatoolbox's ``calc_rdm_euclidean``). Keeps a reference to ``patterns`` (any
    float dtype) and converts tiles of it to float64 while multiplying, so no float64 copy of
    the whole matrix is made (``keep=True`` keeps one, for small matrices used often). ``fill``
    is a matrix of values put in place of NaN (e.g. stimulus means for missing repeats).
    """

    def __init__(self, patterns: np.ndarray, method: str = "correlation", *,
                 fill: np.ndarray | None = None, keep: bool = False) -> None:
        if method not in ("correlation", "euclidean"):
            raise InputError(f"unknown RDM method {method!r}; one of correlation, euclidean",
                             obj="rdm")
        x = np.asarray(patterns)
        if x.ndim != 2 or x.shape[0] < 3:
            raise InputError(f"need a (stimulus, channel) matrix with >= 3 stimuli, got "
                             f"{x.shape}", obj=f"rdm {method}")
        self.method = method
        self.n, self.channels = x.shape
        self.size = self.n * (self.n - 1) // 2
        self._patterns, self._fill = x, fill
        self._full: np.ndarray | None = None
        self._stats: tuple[np.ndarray, np.ndarray] | None = None
        self._has_nan = fill is not None
        if keep:
            self._full = self._tile(0, self.n)

    def _raw(self, a: int, b: int) -> np.ndarray:
        x = np.array(self._patterns[a:b], dtype=np.float64)
        if self._fill is not None and self._has_nan:
            bad = np.isnan(x)
            np.copyto(x, np.asarray(self._fill[a:b], dtype=np.float64), where=bad)
        return x

    def _row_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Compute, per stimulus, the mean and 1 / norm of the centred pattern.

        (Squared norm for euclidean.) Also notes whether there are NaN to fill.
        """
        if self._stats is None:
            mean, norm = np.zeros(self.n), np.zeros(self.n)
            step = max(1, block_len(self.size) // max(self.channels, 1))
            self._has_nan = self._fill is not None and any(
                np.isnan(self._patterns[a:a + step]).any() for a in range(0, self.n, step))
            for a in range(0, self.n, step):
                x = self._raw(a, a + step)
                if not np.isfinite(x).all():
                    raise InputError("patterns contain NaN or inf", obj=f"rdm {self.method}")
                if self.method == "correlation":
                    mean[a:a + step] = x.mean(axis=1)
                    x -= mean[a:a + step, None]
                norm[a:a + step] = np.einsum("ij,ij->i", x, x)
            if self.method == "correlation":
                np.sqrt(norm, out=norm)
                if np.any(norm == 0):
                    raise InputError(
                        f"{int(np.sum(norm == 0))} stimulus pattern(s) are constant across "
                        "channels: correlation distance is undefined (use euclidean)",
                        obj="rdm correlation",
                    )
                np.divide(1.0, norm, out=norm)  # multiplied, tile by tile
            self._stats = (mean, norm)
        return self._stats

    def _tile(self, a: int, b: int) -> np.ndarray:
        """Rows a..b as the products need them (float64; centred, normalised: correlation)."""
        if self._full is not None:
            return self._full[a:b]
        x = self._raw(a, b)
        if self.method == "correlation":
            mean, inv = self._row_stats()
            x -= mean[a:b, None]
            x *= inv[a:b, None]
        return x

    def rows(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """Consecutive condensed blocks ``(start, stop, float64 values)``."""
        _, sq = self._row_stats()
        n = self.n
        for r0, r1, start, seg in _upper_rows_tiled(self._tile, n, self.channels, self.size):
            if self.method == "correlation":
                np.subtract(1.0, seg, out=seg)
            else:
                seg *= -2.0
                pos = 0
                for k in range(r0, r1):
                    m = n - k - 1
                    seg[pos:pos + m] += sq[k]
                    seg[pos:pos + m] += sq[k + 1:]
                    pos += m
                seg /= self.channels
            yield start, start + seg.size, seg

    def vector(self, dtype: type = np.float64) -> np.ndarray:
        """Return the condensed RDM."""
        out = np.empty(self.size, dtype=dtype)
        for a, b, seg in self.rows():
            out[a:b] = seg
        return out


class CrossnobisRDM:
    """Cross-validated squared Euclidean (crossnobis with identity noise) RDM, on demand.

    ``responses`` is (stimulus, channel, repeat) with no missing values; ``stimuli`` and
    ``channels`` optionally select (index arrays). Leave-one-repeat-out: for each repeat r,
    ``(a_i - a_j) . (b_i - b_j) / P`` with ``a`` the mean of the other repeats and ``b``
    repeat r, averaged over r -- rsatoolbox's ``calc_rdm_crossnobis`` with ``cv_descriptor`` =
    repeat and ``noise=None``. Unbiased: 0 on average for equal patterns.

    Summed over r this is ``K_ii + K_jj - 2 K_ij`` with ``K = (T T' - sum_r Y_r Y_r') / (R - 1)``
    (``T`` the sum of the repeats), so it is computed one repeat at a time in blocks of rows,
    after removing the grand mean pattern (which leaves every difference unchanged).
    """

    def __init__(self, responses: np.ndarray, stimuli: np.ndarray | None = None,
                 channels: np.ndarray | None = None) -> None:
        y = np.asarray(responses)
        if y.ndim != 3 or y.shape[2] < 2:
            raise InputError("crossnobis needs responses with >= 2 repeats",
                             obj="rdm crossnobis")
        self._y, self._stim, self._chan = y, stimuli, channels
        self.n = y.shape[0] if stimuli is None else len(stimuli)
        self.channels = y.shape[1] if channels is None else len(channels)
        self.repeats = y.shape[2]
        if self.n < 3:
            raise InputError("need >= 3 stimuli", obj="rdm crossnobis")
        self.size = self.n * (self.n - 1) // 2

    def _repeat(self, r: int) -> np.ndarray:
        y = self._y[:, :, r]
        if self._stim is not None:
            y = y[self._stim]
        if self._chan is not None:
            y = y[:, self._chan]
        out = np.array(y, dtype=np.float64)
        if not np.isfinite(out).all():
            raise InputError("crossnobis needs every repeat of every stimulus (found NaN)",
                             obj="rdm crossnobis")
        return out

    def vector(self, dtype: type = np.float64) -> np.ndarray:
        """Return the condensed RDM."""
        n, p, rep = self.n, self.channels, self.repeats
        mu = np.zeros(p)
        for r in range(rep):
            mu += self._repeat(r).sum(axis=0)
        mu /= n * rep
        total = np.zeros((n, p))
        diag = np.zeros(n)
        out = np.zeros(self.size)
        for r in range(rep):
            yr = self._repeat(r)
            yr -= mu
            total += yr
            diag -= np.einsum("ij,ij->i", yr, yr)
            for _, _, start, seg in _upper_rows(yr, self.size):
                out[start:start + seg.size] += seg
            del yr
        diag += np.einsum("ij,ij->i", total, total)
        out *= 2.0
        for r0, r1, start, seg in _upper_rows(total, self.size):
            seg *= 2.0
            out[start:start + seg.size] -= seg
            pos = start
            for k in range(r0, r1):
                m = n - k - 1
                out[pos:pos + m] += diag[k]
                out[pos:pos + m] += diag[k + 1:]
                pos += m
        out /= (rep - 1) * rep * p
        return out.astype(dtype, copy=False)

    def rows(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """Consecutive condensed blocks (computed whole, then sliced)."""
        v = self.vector()
        step = block_len(v.size)
        for a in range(0, v.size, step):
            yield a, min(a + step, v.size), v[a:a + step]


def calc_rdm(patterns: np.ndarray, method: str = "correlation") -> np.ndarray:
    """RDM of the rows of ``patterns`` (stimulus x channel), condensed float64.

    ``correlation``: 1 - Pearson r between stimulus patterns (rsatoolbox's
    ``calc_rdm_correlation``). ``euclidean``: squared Euclidean distance divided by the number
    of channels (rsatoolbox's ``calc_rdm_euclidean``).
    """
    return PatternRDM(patterns, method).vector()


def calc_rdm_crossnobis(responses: np.ndarray) -> np.ndarray:
    """Cross-validated squared Euclidean RDM from (stimulus, channel, repeat) responses.

    rsatoolbox's ``calc_rdm_crossnobis`` with ``cv_descriptor`` = repeat and ``noise=None``
    (see :class:`CrossnobisRDM`).
    """
    return CrossnobisRDM(responses).vector()


def to_matrix(vector: np.ndarray) -> np.ndarray:
    """Square symmetric RDM from a condensed vector (zero diagonal)."""
    from scipy.spatial.distance import squareform

    return squareform(np.asarray(vector, dtype=np.float64), checks=False)
