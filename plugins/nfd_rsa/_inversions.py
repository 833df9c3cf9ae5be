"""Compiled (numba) kernels of :class:`nfd_rsa._rank.Inversions`: exact inversion counts.

An inversion is a pair k < l with y_k > y_l (ties never count). The count is a radix
recursion on 6-bit digits, most significant first: walking a segment in sequence order, an
element is inverted with every earlier element of a *larger* digit (read from ``above[d]``,
the number seen so far with a digit > d) and, inside its own digit, with the inversions of
the next digits -- so the segment is stably partitioned by digit and each part counted the
same way, depth first (a part of 2**16 values fits in L2), on 2 ping-pong buffers. Parts of
<= :data:`SMALL` elements are counted pair by pair, and the last <= 6 bits need no partition.

``above`` is updated for all 64 digits at once (``above[k] += k < d``), branch-free and in
SIMD lanes, as uint8 counters flushed into int64 every 255 elements: a Fenwick tree (scipy's
``_kendall_dis``) walks a data-dependent number of levels per element and mispredicts its
loop exits (~45 ns per element); this costs a fixed ~4 ns per element and digit.

Compiled on first use, once per process (``cache=True``: reused from ``__pycache__`` or the
user cache across processes; where neither is writable, compiled in memory -- never an
error). Every kernel releases the GIL (``n_jobs`` threads run them in parallel).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["SMALL", "add_block", "count"]

#: Parts of at most this many elements are counted pair by pair.
SMALL = 24
_CHUNK = 255  # uint8 counters flushed every 255 elements


def _jit(fn):
    """Compile ``fn`` lazily without the GIL, cached on disk where a cache folder is writable."""
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # numba: "no locator available" -- no writable cache folder
        return numba.njit(nogil=True)(fn)


@_jit
def _digits(src, dst, lo, hi, shift, mask, pos, ab, base, scatter):
    """Inversions between different digits of ``src[lo:hi]``; partition it into ``dst``."""
    base[:] = 0
    ab[:] = 0
    ks = np.arange(64).astype(np.uint8)
    inv = 0
    i = lo
    while i < hi:
        e = min(hi, i + _CHUNK)
        acc = 0
        for j in range(i, e):
            x = src[j]
            d = np.uint8((x >> shift) & mask)
            acc += ab[d]
            inv += base[d]
            for k in range(64):
                ab[k] += ks[k] < d
            if scatter:
                dst[pos[d]] = x
                pos[d] += 1
        inv += acc
        for k in range(64):
            base[k] += ab[k]
            ab[k] = 0
        i = e
    return inv


@_jit
def _pairwise(a, lo, hi):
    inv = 0
    for i in range(lo, hi):
        x = a[i]
        for j in range(i + 1, hi):
            inv += x > a[j]
    return inv


@_jit
def count(src, starts, col, a, t, bits):
    """Inversions of a sequence given in parts, laid end to end.

    The parts are ``src[starts[k, col]:starts[k, col + 1]]``, k = 0, 1, ...; values < 2**bits
    (only the low ``bits`` are read). ``a`` and ``t``: work buffers (overwritten), each at least
    as long as the parts together.
    """
    m = 0
    for k in range(starts.shape[0]):
        for i in range(starts[k, col], starts[k, col + 1]):
            a[m] = src[i]
            m += 1
    stack = np.empty((64 * (bits // 6 + 2), 4), np.int64)  # lo, hi, bits, buffer
    ab = np.zeros(64, np.uint8)
    base = np.zeros(64, np.int64)
    cnt = np.zeros(64, np.int64)
    pos = np.zeros(64, np.int64)
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = 0, m, bits, 0
    top, inv = 1, 0
    while top > 0:
        top -= 1
        lo, hi, b, which = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3]
        src = a if which == 0 else t
        dst = t if which == 0 else a
        if hi - lo <= SMALL:
            inv += _pairwise(src, lo, hi)
            continue
        if b <= 6:
            inv += _digits(src, dst, lo, hi, 0, (1 << b) - 1, pos, ab, base, False)
            continue
        shift = b - 6
        cnt[:] = 0
        for i in range(lo, hi):
            cnt[(src[i] >> shift) & 63] += 1
        s = lo
        for k in range(64):
            pos[k] = s
            s += cnt[k]
        inv += _digits(src, dst, lo, hi, shift, 63, pos, ab, base, True)
        for k in range(63, -1, -1):  # pos[k] is now the end of part k; first part on top
            if cnt[k] > 1:
                stack[top, 0], stack[top, 1] = pos[k] - cnt[k], pos[k]
                stack[top, 2], stack[top, 3] = shift, 1 - which
                top += 1
    return inv


@_jit
def add_block(y, s, low, start, cnt, seen):
    """Feed one block: inversions between value bands; low parts into ``low``, band by band.

    Band h = y >> s (h < ``cnt.size``). Counts pairs across blocks from the elements per band
    seen so far (``seen``, updated) and, with at most 64 bands, pairs inside the block in the
    same pass that partitions it (above 64, the caller counts those on the band numbers with
    :func:`count`). ``low[start:]`` receives y mod 2**16 grouped by band, in sequence order
    inside each band (the bits from s up are equal inside a band); ``cnt`` the number of
    elements per band.
    """
    nb = cnt.size
    cnt[:] = 0
    for i in range(y.size):
        cnt[y[i] >> s] += 1
    inv, above = 0, 0
    for h in range(nb - 1, -1, -1):  # above: seen in earlier blocks, in bands > h
        inv += cnt[h] * above
        above += seen[h]
        seen[h] += cnt[h]
    pos = np.empty(nb, np.int64)
    p = start
    for h in range(nb):
        pos[h] = p
        p += cnt[h]
    if nb <= 64:  # one fused pass: count and partition
        ab = np.zeros(64, np.uint8)
        base = np.zeros(64, np.int64)
        return inv + _digits(y, low, 0, y.size, s, 63, pos, ab, base, True)
    for i in range(y.size):
        x = y[i]
        h = x >> s
        low[pos[h]] = x
        pos[h] += 1
    return inv
