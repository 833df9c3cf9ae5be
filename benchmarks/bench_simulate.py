"""Virtual face patch: analytic anti-aliasing vs 4x4 supersampling, and session wall times.

The reference renders the same faces at 4x the size with the same renderer and box-filters
them down with scikit-image's ``downscale_local_mean`` (classic supersampling). Prints faces
per second of both, their speed ratio and the mean absolute grey-level difference, then the
wall time of ``simulate_session()`` (defaults) and ``demo_session()``.

    .venv/bin/python benchmarks/bench_simulate.py            # 2,000 faces at 64x64
    .venv/bin/python benchmarks/bench_simulate.py --quick    # 200 faces
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage.transform import downscale_local_mean

from neurofacedis.simulate import demo_session, render_faces, sample_factors, simulate_session


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 faces instead of 2,000")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    n_ident = 25 if args.quick else 250
    factors, _ = sample_factors(n_ident, 8, seed=0)
    n = len(factors)

    (fast, _), t_fast = _timed(render_faces, factors, size=args.size)
    n_ref = min(n, 200)  # the reference is slow: time it on a subset, compare per face
    (big, _), t_big = _timed(render_faces, factors.iloc[:n_ref], size=4 * args.size)
    ref, t_down = _timed(downscale_local_mean, big.astype(np.float32), (1, 4, 4))
    t_ref = t_big + t_down
    diff = np.abs(fast[:n_ref].astype(np.float32) - ref).mean()
    print(f"render {n} faces at {args.size}x{args.size} (grey, one process)")
    print(f"  analytic anti-aliasing : {t_fast:7.2f} s  ({n / t_fast:8.0f} faces/s)")
    print(f"  4x4 supersampling (ref): {t_ref:7.2f} s  ({n_ref / t_ref:8.0f} faces/s, "
          f"{n_ref} faces)")
    print(f"  speed ratio ref/ours   : {(t_ref / n_ref) / (t_fast / n):7.1f}x per face")
    print(f"  mean |ours - ref|      : {diff:7.2f} grey levels of 255")

    session, t_sim = _timed(simulate_session)
    spikes = sum(len(t) for t in session.spike_times)
    print(f"simulate_session() defaults: {t_sim:.2f} s ({session.n_stimuli} stimuli, "
          f"{session.responses.shape[1]} neurons, {session.responses.shape[2]} repeats, "
          f"{spikes:,} spikes)")
    _, t_demo = _timed(demo_session)
    print(f"demo_session(): {t_demo:.2f} s")


if __name__ == "__main__":
    main()
