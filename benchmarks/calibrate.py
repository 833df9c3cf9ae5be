"""Calibration of every printed test and power of the alignment difference (issue 21).

Runs :func:`neurofacedis.calibrate.run_calibration` at full size and writes the Markdown
tables and the power-curve figure that docs/methods.md shows:

    python benchmarks/calibrate.py --n-power 40       # the run in docs/methods.md (235 s)
    python benchmarks/calibrate.py                    # 200 null datasets, 50 per power point
    python benchmarks/calibrate.py --n-null 400 --n-power 100 --jobs 8
    python benchmarks/calibrate.py --power-curves     # the claim tests' curves (~70 s)

``--power-curves`` instead simulates the reproduce claim tests' power curves
(:func:`neurofacedis.calibrate.run_power_curves`, as ``neurofacedis calibrate --power-curves``)
and writes the package's ``neurofacedis/data/power_curves.json`` and
``docs/img/claim-power.png``.

Prints the tables, the settings, the run time and the machine's load (and writes them to
``--out`` if given); draws ``docs/img/calibration-power.png`` (``--figure``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from neurofacedis.calibrate import run_calibration, run_power_curves, write_power_curves

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-null", type=int, default=200)
    ap.add_argument("--n-power", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=0, help="processes (0 = every core)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", type=Path, default=ROOT / "docs/img/calibration-power.png")
    ap.add_argument("--out", type=Path, default=None, help="also write the text here")
    ap.add_argument("--power-curves", action="store_true",
                    help="simulate the claim tests' power curves instead")
    ap.add_argument("--datasets", type=int, default=1200, help="with --power-curves: per cell")
    args = ap.parse_args()
    if args.power_curves:
        claim_curves(args.datasets, args.seed)
        return
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    res = run_calibration(args.n_null, args.n_power, n_jobs=args.jobs, seed=args.seed)
    wall, load1 = time.perf_counter() - t0, os.getloadavg()[0]
    tmp = args.figure.with_suffix(".tmp.png")
    res.plot(tmp)
    tmp.replace(args.figure)
    text = (f"Calibration run: {res.settings}; {wall:.0f} s on {os.cpu_count()} cores, "
            f"load average {load0:.1f} before, {load1:.1f} after.\n\n"
            + res.markdown() + "\n" + res.power_markdown())
    if args.out is not None:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out)
    print(text)
    print(f"figure: {args.figure} ({args.figure.stat().st_size / 1024:.0f} KB)")


def claim_curves(datasets: int, seed: int) -> None:
    """Simulate the claim tests' curves; write the package data and the docs' figure."""
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    curves = run_power_curves(datasets, seed)
    wall = time.perf_counter() - t0
    command = (f"python benchmarks/calibrate.py --power-curves --datasets {datasets} "
               f"--seed {seed}")
    path = write_power_curves(curves, ROOT / "neurofacedis/data/power_curves.json",
                              command=command)
    figure = ROOT / "docs/img/claim-power.png"
    tmp = figure.with_suffix(".tmp.png")
    curves.plot(tmp)
    tmp.replace(figure)
    cells = sum(v.size for v in curves.rejections.values())
    print(f"{cells} cells x {datasets} datasets in {wall:.0f} s on {os.cpu_count()} cores "
          f"(load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after)")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB), {figure}")


if __name__ == "__main__":
    main()
