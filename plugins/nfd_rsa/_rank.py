"""Ranking helpers that keep memory a fixed number of bytes per stimulus pair.

An RDM over n stimuli has P = n (n - 1) / 2 entries, so everything here works on P-long
vectors in blocks (:func:`spans`) whose temporaries stay ~1/16 of one vector, and stores
ranks as int32 rather than float64 average ranks. Ties are recorded only when there are any.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Inversions", "Ties", "block_len", "pairs", "rank", "sort_within", "spans"]

_BLOCK_MIN = 1 << 12
_BLOCK_MAX = 1 << 20
_BAND_MIN = 13  # Inversions: bands of >= 2**13 values (tests lower it for many bands)


def block_len(size: int) -> int:
    """Elements per block: 1/16 of the vector, within [4096, 1M]."""
    return int(min(_BLOCK_MAX, max(_BLOCK_MIN, size // 16)))


def spans(size: int, step: int | None = None) -> Iterator[tuple[int, int]]:
    """Consecutive ``(start, stop)`` blocks covering ``range(size)``."""
    step = step or block_len(size)
    for a in range(0, size, step):
        yield a, min(a + step, size)


def index_dtype(top: int) -> type:
    """Smallest of int16/int32/int64 holding values up to ``top``."""
    if top < 2**15:
        return np.int16
    return np.int32 if top < 2**31 else np.int64


def pairs(counts: np.ndarray) -> int:
    """Pairs among equal elements, sum of G (G - 1) / 2 over group sizes G (exact)."""
    c = np.asarray(counts).astype(np.int64, copy=False)
    return (int(np.dot(c, c)) - int(c.sum())) // 2


class Inversions:
    """Count pairs k < l with y_k > y_l of a sequence fed block by block (exact, int).

    Split by value bands (band h = y >> s, at most 64 of them below 2**22 values), so that
    no P-long copy of the sequence is kept: a pair is inverted when h_k > h_l (counted as
    each block is fed, against the bands seen so far) or when h_k = h_l and the low parts
    y mod 2**s are (counted at :meth:`total`, band by band). Both counts run in compiled
    kernels (:mod:`nfd_rsa._inversions`: a radix recursion on 6-bit digits, branch-free,
    each band's work in L2). Memory: the low parts, 2 bytes per element (s <= 16), plus two
    2-byte buffers of one band's size at :meth:`total`.

    Parameters
    ----------
    top
        Largest value the sequence may hold (values are integers >= 0).
    size
        Number of elements that will be fed in all.
    """

    def __init__(self, top: int, size: int) -> None:
        bits = max(int(top).bit_length(), 1)
        self._s = min(16, max(_BAND_MIN, bits - 6))  # <= 64 bands below 2**22, uint16 lows
        self._nb = (int(top) >> self._s) + 1
        self._dtype = np.int32 if top < 2**31 else np.int64
        self._low = np.empty(max(int(size), 1), dtype=np.uint16)
        self._pos = 0
        self._starts: list[np.ndarray] = []  # per block: where each band starts in _low
        self._sizes = np.zeros(self._nb, dtype=np.int64)  # elements per band, so far
        self._count = 0

    def add(self, y: np.ndarray) -> None:
        """Feed the next block of the sequence (integers in [0, top]; not modified)."""
        from nfd_rsa._inversions import add_block, count

        if y.size == 0:
            return
        y = np.ascontiguousarray(y, dtype=self._dtype)  # one compiled variant: no copy of int32
        cnt = np.empty(self._nb, dtype=np.int64)
        self._count += int(add_block(y, self._s, self._low, self._pos, cnt, self._sizes))
        if self._nb > 64:  # pairs of different bands inside the block, on the band numbers
            h = np.right_shift(y, self._s).astype(np.uint16 if self._nb <= 2**16 else np.int64)
            whole = np.array([[0, h.size]], dtype=np.int64)
            self._count += int(count(h, whole, 0, np.empty_like(h), np.empty_like(h),
                                     (self._nb - 1).bit_length()))
        st = np.empty(self._nb + 1, dtype=np.int64)
        st[0] = self._pos
        np.cumsum(cnt, out=st[1:])
        st[1:] += self._pos
        self._starts.append(st)
        self._pos += y.size

    def total(self) -> int:
        """Return the number of inverted pairs of everything fed."""
        from nfd_rsa._inversions import count

        total = self._count
        if not self._starts:
            return total
        starts = np.stack(self._starts)
        a = np.empty(int(self._sizes.max()), dtype=self._low.dtype)  # one band at a time
        t = np.empty_like(a)
        for b in np.flatnonzero(self._sizes > 1):
            total += int(count(self._low, starts, b, a, t, self._s))
        return total


def sort_within(dense: np.ndarray, y: np.ndarray) -> None:
    """Sort ``y`` ascending inside each run of equal ``dense``, in place.

    One block holding whole runs; for :class:`Inversions`: pairs inside a run of equal
    ``dense`` (tied in x) then never count as inverted.
    """
    if y.size == 0:
        return
    top = int(y.max()) + 1
    key = dense.astype(np.int64)
    key -= key[0]
    key *= top
    key += y
    key.sort()
    np.remainder(key, top, out=key)
    y[:] = key


@dataclass
class Ties:
    """Tie structure of a sorted vector, stored as its tied groups only.

    ``starts`` and ``lens``: sorted position and size of each group of >= 2 equal elements
    (None: no ties). Dense and average ranks are derived block by block, so a vector with few
    ties costs almost nothing beyond its sort order.
    """

    size: int
    starts: np.ndarray | None = None
    lens: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.starts is not None and self.starts.size == 0:
            self.starts = self.lens = None
        self._cum = None
        if self.starts is not None:  # duplicates (non-first elements) before each group
            cum = np.zeros(self.starts.size + 1, dtype=np.int64)
            np.cumsum(self.lens - 1, out=cum[1:])
            self._cum = cum.astype(self.starts.dtype)

    @property
    def has_ties(self) -> bool:
        """Whether any two elements are equal."""
        return self.starts is not None

    @property
    def n_unique(self) -> int:
        """Number of distinct values."""
        return self.size - (int(self._cum[-1]) if self.has_ties else 0)

    def _group(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Find the last group starting at or before each position k.

        Returns its index (0 if none), whether there is one, whether k lies inside it.
        """
        g = np.searchsorted(self.starts, k, side="right") - 1
        some = g >= 0
        gc = np.maximum(g, 0)
        inside = some & (k < self.starts.take(gc) + self.lens.take(gc))
        return gc, some, inside

    def dense_at(self, a: int, b: int) -> np.ndarray:
        """Dense ranks (1..U) of sorted positions a..b (intp)."""
        k = np.arange(a, b, dtype=np.intp)
        if self.has_ties:
            gc, some, _ = self._group(k)
            dup = np.minimum(k - self.starts.take(gc), self.lens.take(gc) - 1)
            dup += self._cum.take(gc)
            dup *= some
            k -= dup
        k += 1
        return k

    def avg_at(self, a: int, b: int) -> np.ndarray:
        """Average ranks (as scipy's rankdata) of sorted positions a..b."""
        out = np.arange(a + 1, b + 1, dtype=np.float64)
        if self.has_ties:
            gc, _, inside = self._group(np.arange(a, b))
            mid = self.starts.take(gc) + (self.lens.take(gc) + 1) / 2.0
            np.copyto(out, mid, where=inside)
        return out

    def avg_of(self, dense: np.ndarray) -> np.ndarray:
        """Average ranks of elements with the given dense ranks."""
        out = dense.astype(np.float64)
        if not self.has_ties:
            return out
        first = self.starts - self._cum[:-1] + 1  # dense rank of each group
        g = np.searchsorted(first, dense, side="right") - 1
        some = g >= 0
        gc = np.maximum(g, 0)
        shift = self._cum.take(gc + 1).astype(np.float64)
        shift *= some
        out += shift  # past group g, ranks run ahead of dense ranks by its duplicates
        inside = some & (dense == first.take(gc))
        mid = self.starts.take(gc) + (self.lens.take(gc) + 1) / 2.0
        np.copyto(out, mid, where=inside)
        return out

    def tied_pairs(self) -> int:
        """Pairs of equal elements."""
        return pairs(self.lens) if self.has_ties else 0

    def g3(self) -> float:
        """Sum of G^3 - G over tie groups (the rank-variance correction)."""
        if not self.has_ties:
            return 0.0
        g = self.lens.astype(np.float64)
        return float(np.dot(g * g, g) - g.sum())

    def rank_norm(self) -> float:
        """Norm of the centred average ranks."""
        p = float(self.size)
        return float(np.sqrt(max((p * p * p - p - self.g3()) / 12.0, 0.0)))

    def spans(self, step: int | None = None) -> Iterator[tuple[int, int]]:
        """Blocks of sorted positions that never split a tie group."""
        if not self.has_ties:
            yield from spans(self.size, step)
            return
        step = step or block_len(self.size)
        a = 0
        while a < self.size:
            b = min(a + step, self.size)
            if b < self.size:
                g = int(np.searchsorted(self.starts, b, side="right")) - 1
                if g >= 0 and b < self.starts[g] + self.lens[g]:  # b splits group g
                    start = int(self.starts[g])
                    b = start if start > a else start + int(self.lens[g])
            yield a, b
            a = b


def sorted_ties(values: np.ndarray, order: np.ndarray) -> Ties:
    """Ties of ``values`` in the order ``order`` (ascending), found blockwise."""
    size = values.size
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    open_start = None  # a group still running at the end of the previous block
    prev = None
    for a, b in spans(size):
        sv = values.take(order[a:b])
        eq = np.zeros(b - a + 2, dtype=np.int8)  # eq[i + 1]: position a + i equals a + i - 1
        eq[1] = prev is not None and sv[0] == prev
        eq[2:-1] = sv[1:] == sv[:-1]
        prev = sv[-1]
        d = np.diff(eq)
        rs = np.flatnonzero(d == 1) + (a - 1)  # group starts (the element before the run)
        re = np.flatnonzero(d == -1) + a  # group ends (exclusive)
        if open_start is not None:
            if eq[1]:
                rs[0] = open_start
            else:
                starts.append(np.array([open_start]))
                ends.append(np.array([a]))
        open_start = None
        if re.size and re[-1] == b and b < size:  # may continue into the next block
            open_start = int(rs[-1])
            rs, re = rs[:-1], re[:-1]
        starts.append(rs)
        ends.append(re)
    if open_start is not None:
        starts.append(np.array([open_start]))
        ends.append(np.array([size]))
    it = np.int32 if size < 2**31 else np.int64
    st = np.concatenate(starts).astype(it)
    ln = (np.concatenate(ends) - st).astype(it)
    return Ties(size, st, ln)


def rank(values: np.ndarray) -> tuple[np.ndarray, Ties]:
    """Sort order (intp) and ties of ``values``."""
    order = np.argsort(values)
    return order, sorted_ties(values, order)


def dense_by_position(order: np.ndarray, ties: Ties) -> np.ndarray:
    """Dense ranks (int32) of the elements in their original positions."""
    out = np.empty(order.size, dtype=np.int32 if order.size < 2**31 else np.int64)
    for a, b in spans(order.size):
        out[order[a:b]] = ties.dense_at(a, b)
    return out
