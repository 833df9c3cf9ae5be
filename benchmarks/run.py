"""Run every benchmark in benchmarks/, collect their ratios, write a report and plots.

Each ``benchmarks/bench_*.py`` runs in its own process (``--quick`` sizes with ``--quick``).
Ratios are taken from what a script prints: ``BENCH-JSON {...}`` lines (``ratios`` and
``series`` for plots), else lines with a ratio such as ``12.3x`` or table rows ``name  1.2s
1.0s  1.20``. Writes benchmarks/results/latest.{json,md}, one PNG per scaling series, and the
table of numbers with the machine they came from (nproc, CPU model, date) into
docs/performance.md between its ``bench:start``/``bench:end`` markers.

    .venv/bin/python benchmarks/run.py [--quick] [--only NAME ...] [--timeout S] [--no-docs]
        [--script-args NAME "ARGS"]   # e.g. --script-args large_recording "8000 4000 10"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

#: Quick arguments for scripts without a ``--quick`` flag, or whose ``--quick`` says too little.
QUICK_ARGS = {
    "bench_nwb_io.py": ["2000", "1000", "100"],
    "bench_beta_vae.py": ["--steps", "20", "--repeats", "1", "--images", "1024"],
    "bench_grid.py": ["--repeats", "1"],  # the 8-fit grid of the goal, timed once
}
#: Extra arguments in every mode.
EXTRA_ARGS = {"bench_large_recording.py": ["--scaling"]}

_JSON = re.compile(r"^BENCH-JSON (\{.*\})\s*$")
_TIMES = re.compile(r"(?P<v>\d+(?:\.\d+)?)x(?![\w.])")
_ROW = re.compile(r"^\s*(?P<label>\S.*?)\s+(?P<a>\d+(?:\.\d+)?)\s*s\s+(?P<b>\d+(?:\.\d+)?)\s*s"
                  r"\s+(?P<r>\d+(?:\.\d+)?)\s*$")
_GOAL = re.compile(r"\([^()]*\b(goal|target)\b[^()]*\)", re.I)


def discover(only: list[str]) -> list[Path]:
    """The benchmark scripts, sorted; ``only`` keeps those whose name contains a word."""
    scripts = sorted(HERE.glob("bench_*.py"))
    return [s for s in scripts if not only or any(o in s.stem for o in only)]


def machine() -> dict[str, object]:
    """Where the numbers come from."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "torch", "dask", "sklearn"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def parse(stdout: str) -> tuple[dict[str, float], list[dict]]:
    """Ratios and plot series from a benchmark's printed output."""
    ratios: dict[str, float] = {}
    series: list[dict] = []
    structured = False
    for line in stdout.splitlines():
        m = _JSON.match(line)
        if m:
            structured = True
            data = json.loads(m.group(1))
            ratios.update({str(k): float(v) for k, v in data.get("ratios", {}).items()})
            series.extend(data.get("series", []))
    if structured:
        return ratios, series
    section = ""
    for line in stdout.splitlines():
        if line.startswith("=="):
            section = line.strip("= ").strip()
            continue
        text = _GOAL.sub("", line)
        row = _ROW.match(text)
        if row:
            label = row.group("label").strip()
            ratios[f"{section}: {label}" if section else label] = float(row.group("r"))
            continue
        hits = list(_TIMES.finditer(text))
        if len(hits) == 1:
            label = (text[:hits[0].start()] + text[hits[0].end():]).strip(" :=-")
            label = re.sub(r"\s+", " ", label)[:80]
            ratios[f"{section}: {label}" if section else label] = float(hits[0].group("v"))
    return ratios, series


def run_one(script: Path, *, quick: bool, timeout: float,
            override: list[str] | None = None) -> dict:
    """Run one script and collect its output, ratios and series."""
    src = script.read_text()
    args = list(EXTRA_ARGS.get(script.name, []))
    if override is not None:
        args = list(override)
    elif quick:
        quick_args = QUICK_ARGS.get(script.name)
        args += quick_args if quick_args is not None else (
            ["--quick"] if '"--quick"' in src else [])
    env = dict(os.environ, PYTHONWARNINGS="ignore", MPLBACKEND="Agg")
    started = datetime.now(timezone.utc).isoformat(timespec="minutes")
    load = round(os.getloadavg()[0], 1)
    t0 = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=timeout)
        code, stdout, stderr = out.returncode, out.stdout, out.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - t0
    ratios, series = parse(stdout)
    return {"script": script.name, "args": args, "returncode": code,
            "date": started, "load_average": load, "seconds": round(seconds, 1),
            "ratios": ratios, "series": series,
            "stdout": stdout, "stderr_tail": "\n".join(stderr.strip().splitlines()[-5:])}


def plot(results: list[dict], folder: Path) -> list[Path]:
    """One PNG per scaling series (log-log axes)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    files = []
    for res in results:
        for i, s in enumerate(res["series"]):
            if not s.get("x"):
                continue
            fig = Figure(figsize=(5.5, 3.8), layout="constrained")
            ax = fig.subplots()
            for label, ys in s["y"].items():
                ax.plot(s["x"], ys, "o-", label=label)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(s.get("x_label", ""))
            ax.set_ylabel(s.get("y_label", ""))
            ax.set_title(s.get("title", ""), fontsize=9)
            ax.legend(fontsize=8)
            path = folder / f"{Path(res['script']).stem}_{i}.png"
            fig.savefig(path, dpi=100)
            files.append(path)
    return files


def table(results: list[dict], info: dict, plots: list[Path], quick: bool) -> str:
    """The Markdown report: machine, then one row per ratio."""
    lines = [
        f"Machine: {info['nproc']} CPUs, {info['cpu']}; {info['platform']}; Python "
        f"{info['python']}; {', '.join(f'{k} {v}' for k, v in info['versions'].items())}.",
        f"Report written {info['date']} ({'--quick sizes' if quick else 'full sizes'}); "
        "each row says when it ran (UTC) and the load average then (the machine may be shared).",
        "",
        "| benchmark | measure | ratio | ran at (load) |",
        "|---|---|---:|---|",
    ]
    for res in results:
        status = "" if res["returncode"] == 0 else f" (exit {res['returncode']})"
        when = f"{res.get('date', '?').replace('T', ' ')[:16]} ({res.get('load_average', '?')})"
        if not res["ratios"]:
            lines.append(f"| {res['script']}{status} | (no ratio printed; "
                         f"{res['seconds']} s) | | {when} |")
        for label, value in res["ratios"].items():
            lines.append(f"| {res['script']}{status} | {label.replace('|', '/')} | "
                         f"{value:.2f} | {when} |")
    if plots:
        lines += ["", "Scaling plots: " + ", ".join(
            f"[{p.name}](../benchmarks/results/{p.name})" for p in plots) + "."]
    return "\n".join(lines) + "\n"


def update_doc(text: str) -> bool:
    """Replace the block between the markers in docs/performance.md."""
    if not DOC.is_file():
        return False
    doc = DOC.read_text()
    if START not in doc or END not in doc:
        return False
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{text}{END}{tail}")
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (minutes, not hours)")
    ap.add_argument("--only", nargs="*", default=[], help="run scripts whose name has these")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per script")
    ap.add_argument("--no-docs", action="store_true", help="leave docs/performance.md alone")
    ap.add_argument("--script-args", nargs=2, action="append", default=[],
                    metavar=("NAME", "ARGS"), help='e.g. large_recording "8000 4000 10"')
    args = ap.parse_args()
    overrides = {name: text.split() for name, text in args.script_args}
    scripts = discover(args.only)
    if not scripts:
        raise SystemExit("no benchmark matched")
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    results = []
    for script in scripts:
        print(f"running {script.name} ...", flush=True)
        override = next((v for k, v in overrides.items() if k in script.stem), None)
        res = run_one(script, quick=args.quick, timeout=args.timeout, override=override)
        results.append(res)
        state = "ok" if res["returncode"] == 0 else f"FAILED ({res['stderr_tail'][-200:]})"
        print(f"  {state}, {res['seconds']} s, {len(res['ratios'])} ratio(s)", flush=True)
        for label, value in res["ratios"].items():
            print(f"    {value:8.2f}  {label}")
    latest = RESULTS / "latest.json"
    if args.only and latest.is_file():  # a partial run updates its rows, keeps the others
        done = {r["script"] for r in results}
        before = json.loads(latest.read_text())
        old = before.get("results", [])
        for r in old:  # rows from before dates were kept per row
            r.setdefault("date", before.get("machine", {}).get("date", "?"))
            r.setdefault("load_average", (before.get("machine", {}).get("load_average")
                                          or ["?"])[0])
        results = sorted([r for r in old if r["script"] not in done] + results,
                         key=lambda r: r["script"])
    plots = plot(results, RESULTS)
    md = table(results, info, plots, args.quick)
    (RESULTS / "latest.json").write_text(json.dumps({"machine": info, "quick": args.quick,
                                                     "results": results}, indent=1))
    (RESULTS / "latest.md").write_text("# Benchmark results\n\n" + md)
    print(f"wrote {RESULTS / 'latest.md'}, latest.json and {len(plots)} plot(s)")
    if not args.no_docs and update_doc(md):
        print(f"updated {DOC}")
    if any(r["returncode"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
