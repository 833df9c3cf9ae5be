"""3D world renderer: faces per second at 64x64, and the ratio to the flat renderer.

Renders the same number of faces with :func:`~neurofacedis.simulate.render_heads` (the ``3d``
world, one thread and ``--workers`` threads) and :func:`~neurofacedis.simulate.render_faces`
(the flat world), after a warm-up block each, and prints faces/s of each and their ratio.
On a shared machine, wall time depends on what else runs: CPU time is printed as well.

    .venv/bin/python benchmarks/bench_render3d.py            # 2,000 faces at 64x64
    .venv/bin/python benchmarks/bench_render3d.py --quick    # 256 faces
"""

from __future__ import annotations

import argparse
import time

from neurofacedis.simulate import render_faces, render_heads, sample_factors, sample_head_factors


def _rate(fn, n: int) -> tuple[float, float]:
    """Faces per second of ``fn()`` by wall clock and by this process's CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 faces instead of 2,000")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="threads for the 3D renderer")
    args = parser.parse_args()
    n_ident = 32 if args.quick else 250
    heads, _ = sample_head_factors(n_ident, 8, seed=0)
    flat, _ = sample_factors(n_ident, 8, seed=0)
    n = len(heads)
    render_heads(heads.iloc[:64], size=args.size, workers=1)  # warm-up
    render_faces(flat.iloc[:64], size=args.size)
    one = _rate(lambda: render_heads(heads, size=args.size, workers=1), n)
    many = _rate(lambda: render_heads(heads, size=args.size, workers=args.workers), n)
    ref = _rate(lambda: render_faces(flat, size=args.size), n)
    print(f"render {n} faces at {args.size}x{args.size} (grey)")
    print(f"  3d world, 1 thread   : {one[0]:8.0f} faces/s wall ({one[1]:8.0f} per CPU-second)")
    print(f"  3d world, {args.workers} threads  : {many[0]:8.0f} faces/s wall")
    print(f"  flat world           : {ref[0]:8.0f} faces/s wall ({ref[1]:8.0f} per CPU-second)")
    print(f"  ratio 3d/flat        : {many[0] / ref[0]:8.2f} ({args.workers} threads vs flat), "
          f"{one[1] / ref[1]:.2f} per CPU-second")


if __name__ == "__main__":
    main()
