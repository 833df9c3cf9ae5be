"""A grid of independent model fits: Dask on N local workers vs the sequential runner.

The grid is ``--fits`` β-VAE fits (2 β values x fits/2 seeds, ``--steps`` Adam steps each, no
metrics, fresh caches) of a small simulated recording, run by
:func:`neurofacedis.runner.analyze` three ways, interleaved so background load hits all alike:

- ``sequential``: in this process, one fit after another, with the torch threads the plugin
  picks by default (printed), what a user gets without flags;
- ``sequential 1-thread``: the same in a child process with OMP_NUM_THREADS=1 (the work of
  one Dask worker, for the parallel efficiency);
- ``plain processes``: ``--workers`` child processes at once (1 thread each), each a
  sequential grid of fits/workers, no Dask: the most any executor can get from the machine
  as loaded right now (on a shared machine it shows why a speed-up is or is not there);
- ``dask``: ``scheduler=`` the LocalCluster that ``--workers N`` starts
  (:func:`neurofacedis.parallel.open_client`), started and warmed up (imports, plugin
  discovery) before timing; its start-up is reported apart.

Prints wall times and the ratios sequential / dask (goal on 2 cores: >= 1.7x).

    .venv/bin/python benchmarks/bench_grid.py [--fits 8] [--steps 60] [--repeats 2]
    .venv/bin/python benchmarks/bench_grid.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def grid_kwargs(fits: int, steps: int) -> dict:
    return {
        "models": ["beta_vae"], "metrics": [], "seeds": max(1, fits // 2), "quiet": True,
        "params": {"beta_vae": {"beta": [1.0, 4.0], "steps": [steps], "size": [32],
                                "augment": [False]}},
    }


def run_grid(recording: Path, fits: int, steps: int, **kw) -> float:
    from neurofacedis.runner import analyze

    with tempfile.TemporaryDirectory(prefix="nfd-grid-cache-") as cache:
        t0 = time.perf_counter()
        res = analyze(recording, cache_dir=cache, **grid_kwargs(fits, steps), **kw)
        wall = time.perf_counter() - t0
    if res.summary["errors"] or len(res.jobs) != fits:
        raise SystemExit(f"grid failed: {res.summary['errors'][:1]}")
    return wall


def children(rec: Path, n: int, fits: int, steps: int, env: dict) -> list[float]:
    """Run ``n`` child processes at once, each a sequential grid of ``fits``; their walls."""
    procs = [subprocess.Popen([sys.executable, __file__, "--child", str(rec), str(fits),
                               str(steps)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
    walls = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit("a child grid failed")
        walls.append(float(out.split("WALL")[-1].split()[0]))
    return walls


def _warm() -> int:
    import torch  # noqa: F401

    from neurofacedis.registry import get_registry

    return len(get_registry().models)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fits", type=int, default=8, help="fits in the grid (even)")
    ap.add_argument("--steps", type=int, default=60, help="Adam steps per fit")
    ap.add_argument("--repeats", type=int, default=2, help="timings per variant (median)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="4 fits x 20 steps, 1 repeat")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # the 1-thread sequential variant, in its own process
        rec, fits, steps = args.child
        _warm()  # imports outside the timing, as in the parent and the workers
        print(f"WALL {run_grid(Path(rec), int(fits), int(steps)):.4f}")
        return
    if args.quick:
        args.fits, args.steps, args.repeats = 4, 20, 1

    import torch

    from neurofacedis.nwb import write_session
    from neurofacedis.parallel import open_client
    from neurofacedis.simulate import simulate_session

    with tempfile.TemporaryDirectory(prefix="nfd-grid-") as tmp:
        rec = Path(tmp) / "grid.nwb"
        write_session(rec, simulate_session(n_identities=16, n_views=8, n_neurons=20,
                                            n_repeats=2, image_size=32, seed=0))
        t0 = time.perf_counter()
        clients = open_client(workers=args.workers)  # the LocalCluster --workers N starts
        client = clients.__enter__()
        client.wait_for_workers(args.workers)
        client.run(_warm)
        address = client.scheduler.address
        startup = time.perf_counter() - t0
        _warm()
        env1 = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                    OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        times: dict[str, list[float]] = {"sequential": [], "sequential 1-thread": [],
                                         "plain processes": [], "dask": []}
        try:
            for _ in range(args.repeats):
                times["sequential"].append(run_grid(rec, args.fits, args.steps))
                threads = torch.get_num_threads()  # as the fits left it
                times["sequential 1-thread"].append(
                    max(children(rec, 1, args.fits, args.steps, env1)))
                times["plain processes"].append(
                    max(children(rec, args.workers, args.fits // args.workers, args.steps,
                                 env1)))
                times["dask"].append(run_grid(rec, args.fits, args.steps, scheduler=address))
        finally:
            clients.__exit__(None, None, None)
    med = {k: statistics.median(v) for k, v in times.items()}
    load = os.getloadavg()
    print(f"grid: {args.fits} beta_vae fits x {args.steps} steps (32x32, batch 64); "
          f"{os.cpu_count()} CPUs, load average {load[0]:.1f}; median of {args.repeats}")
    print(f"  sequential, in process ({threads} torch threads): {med['sequential']:7.2f} s")
    print(f"  sequential, 1 thread (child process)       : {med['sequential 1-thread']:7.2f} s")
    print(f"  {args.workers} plain processes at once, no Dask : "
          f"{med['plain processes']:7.2f} s   (what this machine allows any executor)")
    print(f"  dask, {args.workers} workers x 1 thread              : {med['dask']:7.2f} s"
          f"   (cluster start-up + warm-up {startup:.1f} s, not included)")
    r_seq = med["sequential"] / med["dask"]
    r_one = med["sequential 1-thread"] / med["dask"]
    r_cold = med["sequential"] / (med["dask"] + startup)
    r_plain = med["sequential"] / med["plain processes"]
    r_over = med["dask"] / med["plain processes"]
    print(f"  speed-up sequential / dask          : {r_seq:5.2f}x (goal >= 1.7x)")
    print(f"  speed-up sequential 1-thread / dask : {r_one:5.2f}x (parallel efficiency "
          f"{r_one / args.workers:.0%})")
    print(f"  speed-up incl. cluster start-up     : {r_cold:5.2f}x")
    print(f"  machine ceiling sequential / plain processes: {r_plain:5.2f}x")
    print(f"  dask / plain processes (Dask's own cost)    : {r_over:5.2f}x")
    print("BENCH-JSON " + json.dumps({
        "name": "grid", "ratios": {"sequential/dask": r_seq, "sequential 1-thread/dask": r_one,
                                   "sequential/(dask+startup)": r_cold,
                                   "sequential/plain processes": r_plain,
                                   "dask/plain processes": r_over},
        "times": times, "startup": startup, "load": load[0]}))


if __name__ == "__main__":
    main()
