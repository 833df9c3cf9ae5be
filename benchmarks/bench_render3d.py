"""3D world renderer: faces per second at 64x64, and the ratio to the flat renderer.

Renders the same faces with :func:`~neurofacedis.simulate.render_heads` (the ``3d`` world) in
this process (``workers=1``) and on ``--workers`` forked processes (the default for a large
batch), and with :func:`~neurofacedis.simulate.render_faces` (the flat world), after a
warm-up each; prints the best of ``--repeat`` runs as faces/s by wall clock and per
CPU-second (this process's CPU time plus its finished children's), and the 1-minute load
average beside every number. On a shared machine wall time depends on what else runs; the
per-CPU-second rate much less so. Both renderers must give the same bytes whatever the
worker count (checked here too).

    .venv/bin/python benchmarks/bench_render3d.py            # 2,000 faces at 64x64
    .venv/bin/python benchmarks/bench_render3d.py --quick    # 512 faces, one run
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable

import numpy as np

from neurofacedis.simulate import render_faces, render_heads, sample_factors, sample_head_factors


def _cpu() -> float:
    """CPU seconds of this process and of its children that have finished."""
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def _rate(fn: Callable[[], object], n: int, repeat: int) -> tuple[float, float, float, object]:
    """Best faces/s of ``fn()`` by wall clock and per CPU-second, the load, the last result."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), _cpu()
        out = fn()
        wall.append(time.perf_counter() - w)
        cpu.append(_cpu() - c)
    return n / min(wall), n / min(cpu), os.getloadavg()[0], out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512 faces, one run")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="processes for the 3D renderer")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()
    n_ident = 64 if args.quick else 250
    repeat = 1 if args.quick else max(1, args.repeat)
    heads, _ = sample_head_factors(n_ident, 8, seed=0)
    flat, _ = sample_factors(n_ident, 8, seed=0)
    n, size = len(heads), args.size
    render_heads(heads.iloc[:64], size=size, workers=1)  # warm-up
    render_faces(flat.iloc[:64], size=size)
    one = _rate(lambda: render_heads(heads, size=size, workers=1), n, repeat)
    many = _rate(lambda: render_heads(heads, size=size, workers=args.workers), n, repeat)
    ref = _rate(lambda: render_faces(flat, size=size), n, repeat)
    same = all(np.array_equal(a, b) for a, b in zip(one[3], many[3], strict=True))
    print(f"render {n} faces at {size}x{size} (grey), best of {repeat}; "
          f"{os.cpu_count()} CPUs, load = 1-minute load average after the runs")
    rows = [("3d world, 1 process", one), (f"3d world, {args.workers} processes", many),
            ("flat world", ref)]
    for name, (wall, cpu, load, _) in rows:
        print(f"  {name:24s}: {wall:6.0f} faces/s wall, {cpu:6.0f} per CPU-second"
              f"  (load {load:.2f})")
    print(f"  ratio 3d/flat           : {many[0] / ref[0]:6.2f} wall ({args.workers} processes"
          f" vs flat), {one[1] / ref[1]:.2f} per CPU-second")
    print(f"  same bytes on 1 and {args.workers} processes: {same}")


if __name__ == "__main__":
    main()
