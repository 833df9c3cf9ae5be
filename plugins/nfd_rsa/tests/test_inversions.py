"""The compiled inversion counter (nfd_rsa._inversions behind nfd_rsa._rank.Inversions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata
from scipy.stats._stats import _kendall_dis


def _scipy_count(y: np.ndarray) -> int:
    """scipy's Fenwick counter on dense ranks (same inversions, a tree of their size)."""
    if y.size < 2:
        return 0
    d = rankdata(y, method="dense").astype(np.intp)
    return int(_kendall_dis(d, d))


def _brute(y: np.ndarray) -> int:
    return int(sum(int(np.count_nonzero(y[i] > y[i + 1:])) for i in range(y.size)))


def _feed(top: int, y: np.ndarray, cuts: np.ndarray) -> int:
    from nfd_rsa._rank import Inversions

    inv = Inversions(top, y.size)
    for part in np.split(y, cuts):
        inv.add(part)
    return inv.total()


@pytest.mark.parametrize("top", [2**23 + 5, 2**26, 2**33])
def test_more_than_64_bands_and_int64_values(top):
    """Above 2**22 values the bands (s <= 16 bits of low parts) number > 64 and are counted on
    their band numbers; above 2**31 the values are int64. Same count as scipy's, on
    sequences with ties and copies, fed in uneven blocks; the input is not modified."""
    rng = np.random.default_rng(11)
    for trial in range(6):
        size = int(rng.integers(2, 3_000))
        y = rng.integers(0, top + 1, size, dtype=np.int64)
        if trial % 2:
            y = np.repeat(y, rng.integers(0, 4, size))  # bootstrap-style copies
            y[rng.integers(0, y.size, y.size // 3)] = y[0]  # a large tie group
        kept = y.copy()
        cuts = np.sort(rng.integers(0, y.size + 1, int(rng.integers(0, 5))))
        assert _feed(top, y, cuts) == _scipy_count(y), (top, trial)
        assert np.array_equal(y, kept)


def test_count_kernel_edges():
    """The radix kernel on its own: parts around the pairwise size, a one-digit tail, sorted,
    reversed and constant runs, several parts laid end to end; equal to brute force."""
    from nfd_rsa._inversions import SMALL, count

    rng = np.random.default_rng(3)
    cases = [np.arange(40)[::-1], np.arange(40), np.full(50, 7), np.zeros(0, int)]
    for size in (SMALL - 1, SMALL, SMALL + 1, 65, 300, 2_000):
        for hi in (2, 64, 65, 4_096, 2**16):
            cases.append(rng.integers(0, hi, size))
    for y in cases:
        y = y.astype(np.uint16)
        cut = y.size // 3
        starts = np.array([[0, cut, y.size], [cut, y.size, y.size]])  # rows: blocks
        a, t = np.empty_like(y), np.empty_like(y)
        assert count(y, starts, 0, a, t, 16) == _brute(y), y.size  # y[:cut] + y[cut:]
        assert count(y, starts, 1, a, t, 16) == _brute(y[cut:])  # y[cut:] + nothing


def test_threads_count_the_same():
    """Kernels release the GIL; two threads counting at once give the serial counts."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    ys = [rng.integers(0, 60_000, 20_000).astype(np.int32) for _ in range(4)]
    cuts = np.array([5_000, 12_000])
    serial = [_feed(60_000, y, cuts) for y in ys]
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda y: _feed(60_000, y, cuts), ys)) == serial
    assert serial == [_scipy_count(y) for y in ys]


def test_compiles_without_a_writable_cache_folder(monkeypatch):
    """Where numba finds no cache folder it can write (read-only package, no home), the
    kernels are compiled in memory instead of failing."""
    import numba.core.caching as caching
    from nfd_rsa._inversions import _jit

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    with pytest.raises(RuntimeError, match="no locator"):  # what numba does with cache=True
        __import__("numba").njit(cache=True)(lambda x: x + 1)

    def twice(x):
        return 2 * x

    fn = _jit(twice)
    assert fn(21) == 42
    assert type(fn._cache).__name__ == "NullCache"


def test_metric_works_without_numba_cache_dir(tmp_path):
    """A fresh process with NUMBA_CACHE_DIR unset and an empty home gives the same tau-a
    permutation values as this one."""
    from nfd_rsa import PairedRDMs

    rng = np.random.default_rng(4)
    d, m = rng.random(190), rng.random(190).round(1)  # 20 stimuli, model ties
    perms = [rng.permutation(20) for _ in range(3)]
    here = PairedRDMs(d, m).permutation_null(perms, ["tau-a", "spearman"])
    plugins = Path(__file__).resolve().parents[2]
    code = (
        "import json, sys, numpy as np\n"
        f"sys.path.insert(0, {str(plugins)!r})\n"
        "from nfd_rsa import PairedRDMs\n"
        "a = json.loads(sys.stdin.read())\n"
        "out = PairedRDMs(np.array(a['d']), np.array(a['m'])).permutation_null(\n"
        "    [np.array(p) for p in a['p']], ['tau-a', 'spearman'])\n"
        "print(json.dumps(out.tolist()))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["HOME"] = str(tmp_path)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True,
                         input=json.dumps({"d": d.tolist(), "m": m.tolist(),
                                           "p": [p.tolist() for p in perms]}))
    assert np.array_equal(np.array(json.loads(res.stdout)), here)
