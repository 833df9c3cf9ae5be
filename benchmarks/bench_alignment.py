"""Alignment Lasso: vectorised Gram coordinate descent vs a loop of scikit-learn Lasso fits.

Both solve the same problem on the same standardised inputs with the same stopping rule
(tol=1e-4, max_iter=1000). Prints the speed ratio, the weight differences and the peak extra
memory (tracemalloc) relative to the response matrix. When ``--loop-neurons`` is below the
number of neurons, the sklearn loop runs on that many neurons and its time is extrapolated
linearly (every neuron is an independent fit of the same size), and weights are compared on
those neurons.

    .venv/bin/python benchmarks/bench_alignment.py             # both issue sizes
    .venv/bin/python benchmarks/bench_alignment.py --quick     # small, a few seconds
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from nfd_alignment import alignment_score, fit_lasso  # noqa: E402
from nfd_alignment._score import zscore_train  # noqa: E402


def simulate(n: int, k: int, j: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mildly correlated units; each neuron a sparse mix of 1-3 units plus noise."""
    rng = np.random.default_rng(seed)
    mix = np.eye(k) + 0.3 * rng.standard_normal((k, k))
    x = rng.standard_normal((n, k)) @ mix
    w = np.zeros((k, j))
    for c in range(j):
        units = rng.choice(k, size=rng.integers(1, 4), replace=False)
        w[units, c] = rng.uniform(0.3, 1.5, units.size) * rng.choice([-1, 1], units.size)
    y = 5.0 + x @ w + rng.standard_normal((n, j)).astype(np.float64)
    return x, y


def sklearn_loop(zx: np.ndarray, zy: np.ndarray, alpha: float, tol: float) -> np.ndarray:
    from sklearn.linear_model import Lasso

    out = np.empty((zx.shape[1], zy.shape[1]))
    for c in range(zy.shape[1]):
        out[:, c] = Lasso(alpha=alpha, tol=tol).fit(zx, zy[:, c]).coef_
    return out


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, res = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t)
    return best, res


def run(n: int, k: int, j: int, loop_neurons: int, alpha: float, tol: float) -> None:
    x, y = simulate(n, k, j)
    zx, _ = zscore_train(x, None)
    zy, _ = zscore_train(y, None)
    m = min(loop_neurons, j)
    t_ours, fit = best_of(lambda: fit_lasso(zx, zy, alpha, tol=tol, fit_intercept=False), 3)
    t_loop, ref = best_of(lambda: sklearn_loop(zx, zy[:, :m], alpha, tol), 1)
    t_loop_all = t_loop * j / m
    coef = fit.coef[:, :m]
    diff = np.abs(coef - ref)
    rel = diff.max() / np.abs(ref).max()

    tracemalloc.start()
    fit_lasso(zx, zy, alpha, tol=tol, fit_intercept=False)
    fit_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    t = time.perf_counter()
    score = alignment_score(x, y, alpha, tol=tol).alignment
    t_score = time.perf_counter() - t
    score_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    note = "" if m == j else f" (loop run on {m} neurons, time x{j / m:g} extrapolated)"
    print(f"\n== {n} stimuli x {k} units x {j} neurons, alpha={alpha}, tol={tol}{note}")
    print(f"vectorised Gram CD        : {t_ours:8.3f} s  (sweeps max {fit.n_iter.max()})")
    print(f"sklearn Lasso loop        : {t_loop_all:8.3f} s")
    print(f"speed ratio (loop / ours) : {t_loop_all / t_ours:8.1f}x")
    print(f"max |w - w_sklearn|       : {diff.max():.3e}   relative to max|w|: {rel:.3e}")
    print(f"whole alignment_score     : {t_score:8.3f} s  (z-scoring included) = {score:.4f}")
    print(
        f"peak extra memory / Y     : fit {fit_peak / y.nbytes:.3f}, "
        f"alignment_score {score_peak / y.nbytes:.3f}  (Y = {y.nbytes / 2**20:.0f} MiB)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes only")
    p.add_argument("--alpha", type=float, default=0.02)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--loop-neurons", type=int, default=1000)
    a = p.parse_args()
    if a.quick:
        run(500, 10, 200, 200, a.alpha, a.tol)
        return
    run(1000, 10, 500, 500, a.alpha, a.tol)
    run(2000, 10, 10_000, a.loop_neurons, a.alpha, a.tol)


if __name__ == "__main__":
    main()
