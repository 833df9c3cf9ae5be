"""Encoding speed: nfd_encoding vs scikit-learn RidgeCV per neuron, run side by side.

Workload (defaults): 2,000 stimuli x 10 units x 10,000 neurons, 80/20 train/test split,
5-fold CV over a 15-value alpha grid, alpha chosen per neuron. Ours runs the whole ``encoding``
metric (z-scoring, CV, refit, held-out R^2 and r, medians with 1,000-sample bootstrap CIs).

Reference: ``RidgeCV(alphas, cv=KFold(5))`` fitted per neuron on the same z-scored latents
and folds, then ``predict`` + ``r2_score`` on the held-out stimuli. A neuron takes ~0.1 s, so it
runs on ``--ref-neurons`` neurons and the time is extrapolated linearly to all of them (said in
the output). Their held-out R^2 and chosen alphas are checked against ours.

Memory: peak traced allocation (tracemalloc) of our metric beyond the response matrix.

    python benchmarks/bench_encoding.py            # full size
    python benchmarks/bench_encoding.py --quick    # 1,000 neurons
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from nfd_encoding import EncodingMetric  # noqa: E402


def simulate(n: int, k: int, nn: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    y = z @ rng.standard_normal((k, nn)) * 0.5 + rng.standard_normal((n, nn))
    return z, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-stimuli", type=int, default=2000)
    ap.add_argument("--n-units", type=int, default=10)
    ap.add_argument("--n-neurons", type=int, default=10000)
    ap.add_argument("--ref-neurons", type=int, default=50)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n_neurons, args.ref_neurons = 1000, 20
    import xarray as xr
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    from neurofacedis.specs import MetricContext

    n = args.n_stimuli
    z, y = simulate(n, args.n_units, args.n_neurons)
    rng = np.random.default_rng(1)
    idx = rng.permutation(n)
    test, train = np.sort(idx[: n // 5]), np.sort(idx[n // 5:])
    ctx = MetricContext(
        responses=xr.DataArray(y, dims=("stimulus", "neuron")),
        latents=xr.DataArray(z, dims=("stimulus", "unit")),
        train=train, test=test, rng=np.random.default_rng(2),
    )
    metric = EncodingMetric()
    print(f"encoding benchmark: {n} stimuli x {args.n_units} units x {args.n_neurons} neurons, "
          f"5-fold CV over {metric.alphas.size} alphas per neuron")
    t0 = time.perf_counter()
    res = metric.compute(ctx)
    t_ours = time.perf_counter() - t0
    tracemalloc.start()
    metric.compute(MetricContext(responses=ctx.responses, latents=ctx.latents, train=train,
                                 test=test, rng=np.random.default_rng(2)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # the reference on the same z-scored latents and folds (the metric's rng draws the seed)
    seed = int(np.random.default_rng(2).integers(2**31))
    kf = KFold(5, shuffle=True, random_state=seed)
    zs = (z - z[train].mean(0)) / z[train].std(0)
    cols = np.random.default_rng(3).choice(args.n_neurons, args.ref_neurons, replace=False)
    t0 = time.perf_counter()
    r2_ref, alpha_ref = [], []
    for j in cols:
        m = RidgeCV(alphas=metric.alphas, cv=kf).fit(zs[train], y[train, j])
        r2_ref.append(r2_score(y[test, j], m.predict(zs[test])))
        alpha_ref.append(m.alpha_)
    t_ref = (time.perf_counter() - t0) / len(cols) * args.n_neurons
    r2_ours = res["r2"].values[cols]
    rel = np.max(np.abs(r2_ours - r2_ref) / np.abs(r2_ref))
    same_alpha = np.mean(res["alpha"].values[cols] == np.array(alpha_ref))
    print(f"  equality on {len(cols)} neurons: held-out R^2 max relative difference {rel:.1e}, "
          f"same alpha for {same_alpha:.0%}")
    print(f"  reference sklearn RidgeCV per neuron: {t_ref / args.n_neurons * 1e3:.0f} ms/neuron "
          f"(measured on {len(cols)}) -> {t_ref:.0f} s extrapolated to {args.n_neurons}")
    print(f"  nfd_encoding: {t_ours:.2f} s for all {args.n_neurons} neurons")
    print(f"  speed-up: {t_ref / t_ours:.0f}x (target >= 10x)")
    print(f"  peak traced memory during compute: {peak / 2**20:.0f} MiB = "
          f"{peak / y.nbytes:.2f}x the response matrix ({y.nbytes / 2**20:.0f} MiB, "
          "held by the caller)")
    print(f"  median held-out R^2 {res.attrs['median_r2']:.3f}")


if __name__ == "__main__":
    main()
