"""Peak memory of analysing a large recording, as a ratio to its response matrix.

Writes a simulated recording (stimuli x neurons x repeats float32 responses, Poisson counts
from a sparse, axis-aligned low-rank code; small images that carry the same code), then, each
in a fresh process, measures the peak resident memory (``VmHWM``) of:

- ``runner read+mean``: what the runner does to every recording (read the responses once,
  repeat mean chunk by chunk: :func:`neurofacedis.runner.load_responses`);
- ``reference xarray mean``: the same read + ``responses.mean("repeat", skipna=True)``, what
  every metric context did before (NaN-replaced copy + mask of the whole matrix);
- ``analyze``: the full runner (PCA model, no cache, no outputs) with each metric alone and
  with all of them together.

The ratio printed is (peak - the process's peak before the recording is opened) / matrix
bytes; the goal is <= 2. Sampling counts of the metrics are cut (said in the output) because
they change time, not memory. Issue size: 20,000 x 10,000 x 10 (8 GB); the default here is
that size, ``--quick`` is 2,000 x 1,000 x 10, and ``--scaling`` adds a sweep over stimuli and
neurons for the plots of benchmarks/run.py.

    .venv/bin/python benchmarks/bench_large_recording.py [STIMULI NEURONS REPEATS]
    .venv/bin/python benchmarks/bench_large_recording.py --quick [--scaling]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METRICS = ["alignment", "encoding", "rsa"]
#: Fewer resamples than the defaults: they scale time, not the memory measured here. RSA keeps
#: its default comparisons (tau-a and the Pearson/cosine ceiling pools do change memory).
METRIC_PARAMS = {
    "alignment": {"n_subsets": [3], "n_rotations": [1]},
    "rsa": {"n_permutations": [10], "n_bootstrap": [10]},
    "encoding": {},
}
#: NFD_BENCH_RSA_CEILING=none measures RSA without its noise ceiling (the ceiling computes every
#: per-repeat RDM 5 times: hours at 20,000 stimuli on 2 cores; its memory per pair is the same).
if os.environ.get("NFD_BENCH_RSA_CEILING"):
    METRIC_PARAMS["rsa"]["ceiling"] = [os.environ["NFD_BENCH_RSA_CEILING"]]


def write_recording(path: Path, n: int, u: int, r: int, seed: int = 0) -> None:
    """A recording whose neurons each follow one of K latent factors (axis code)."""
    from neurofacedis.nwb import SessionData, SessionMetadata, write_session

    rng = np.random.default_rng(seed)
    k = 10
    z = rng.standard_normal((n, k))
    basis = rng.standard_normal((k, 16 * 16)) / np.sqrt(k)
    images = (255 / (1 + np.exp(-(z @ basis)))).astype(np.uint8).reshape(n, 16, 16)
    factor = rng.integers(0, k, u)
    gain = rng.uniform(0.2, 0.6, u)
    resp = np.empty((n, u, r), dtype=np.float32)
    step = max(1, (64 << 20) // (u * r * 4))
    for s in range(0, n, step):
        rate = np.exp(1.0 + z[s:s + step, factor] * gain)  # (chunk, u)
        resp[s:s + step] = rng.poisson(rate[:, :, None], size=(len(rate), u, r))
    data = SessionData(
        images=images, stimulus_ids=[f"s{i:06d}" for i in range(n)],
        metadata=SessionMetadata(identifier=f"bench-{n}x{u}x{r}"),
        identity=np.arange(n) // 4, responses=resp,
    )
    write_session(path, data, overwrite=True)


def _peak_bytes() -> int:
    """This process's peak resident memory.

    ``VmHWM`` of /proc/self/status (Linux): unlike ``ru_maxrss``, it does not carry over the
    parent's peak across fork + exec (which here would count the recording the parent wrote).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _metric_spec(name: str):
    """The registered metric, or (plugin not installed yet) its spec from plugins/nfd_*."""
    from neurofacedis.registry import get_registry

    reg = get_registry()
    if name in reg.metrics:
        return reg.metric(name).spec, True
    import importlib

    plugins = Path(__file__).resolve().parents[1] / "plugins"
    sys.path.insert(0, str(plugins))
    for pkg in sorted(p.name for p in plugins.glob("nfd_*")):
        mod = importlib.import_module(pkg)
        for spec in getattr(mod, "neurofacedis_register_metrics", lambda: [])():
            if spec.name == name:
                return spec, False
    raise SystemExit(f"metric {name!r} is neither installed nor in plugins/")


def measure(path: str, what: str, matrix: int) -> dict:
    """Run one measurement in this (fresh) process and return its numbers."""
    # libraries the run imports count as baseline, not as analysis memory
    import scipy.stats  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import statsmodels.stats.multitest  # noqa: F401
    import xarray  # noqa: F401

    from neurofacedis.nwb import Recording
    from neurofacedis.runner import analyze, load_responses

    metrics = [] if what in ("runner", "reference") else what.split("+")
    specs = {m: _metric_spec(m) for m in metrics}
    with Recording.open(path) as rec:  # h5py/pynwb in the baseline; no responses read
        _ = rec.n_stimuli
    base = _peak_bytes()
    t0 = time.perf_counter()
    note = ""
    if what == "runner":
        with Recording.open(path) as rec:
            resp, mean = load_responses(rec)
        del resp, mean
    elif what == "reference":
        with Recording.open(path) as rec:
            resp = rec.responses
            mean = resp.mean("repeat", skipna=True)  # what each metric context did before
        del resp, mean
    elif all(installed for _, installed in specs.values()):
        res = analyze(path, models=["pca"], metrics=metrics, use_cache=False, quiet=True,
                      params={m: {k: v for k, v in METRIC_PARAMS.get(m, {}).items()}
                              for m in metrics})
        if res.summary["errors"]:
            note = "; ".join(e["error"] for e in res.summary["errors"])[:200]
    else:  # not registered yet: the runner's own steps, then the plugin's compute()
        note = "called directly (plugin not installed)"
        _direct(path, specs, metrics)
    seconds = time.perf_counter() - t0
    peak = _peak_bytes()
    return {"what": what, "matrix_bytes": matrix, "baseline_bytes": base, "peak_bytes": peak,
            "ratio": (peak - base) / matrix, "seconds": seconds, "note": note}


def _direct(path: str, specs: dict, metrics: list[str]) -> None:
    from neurofacedis.nwb import Recording
    from neurofacedis.runner import FitJob, load_responses
    from neurofacedis.runner.inputs import load_inputs
    from neurofacedis.runner.jobs import metric_context

    with Recording.open(path) as rec:
        resp, mean = load_responses(rec)
        data = load_inputs(rec, train_images=None, split_by="stimulus", test_fraction=0.2,
                           split_seed=0)
        from nfd_linear._models import PCAModel

        model = PCAModel()
        model.fit(data.fit_images, None, seed=0, progress=lambda *a, **k: None)
        z = model.encode(data.images)
        job = FitJob(label="pca", name="pca", params={}, seed=0, model=model, latents=z,
                     unit_names=list(model.unit_names), active=np.ones(z.shape[1], bool))
        for m in metrics:
            spec, _ = specs[m]
            params = {k: v[0] for k, v in METRIC_PARAMS.get(m, {}).items()}
            ctx = metric_context(job, truth=rec.truth, responses=resp, train=data.train,
                                 test=data.test, images=data.images, factors=None,
                                 stimuli=data.stimuli, siblings=[], metric=m, split_seed=0,
                                 mean=mean)
            spec.factory(**params).compute(ctx)


def run_child(path: Path, what: str, matrix: int) -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = subprocess.run([sys.executable, __file__, "--measure", str(path), what, str(matrix)],
                         capture_output=True, text=True, env=env)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("MEASURE ")]
    if out.returncode or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["?"]
        return {"what": what, "error": tail[0][:200]}
    return json.loads(lines[-1][len("MEASURE "):])


def sweep(folder: Path, sizes: list[tuple[int, int, int]], whats: list[str]) -> list[dict]:
    rows = []
    for n, u, r in sizes:
        path = folder / f"rec_{n}x{u}x{r}.nwb"
        t0 = time.perf_counter()
        write_recording(path, n, u, r)
        print(f"\n== {n} stimuli x {u} neurons x {r} repeats = "
              f"{n * u * r * 4 / 2**20:.0f} MiB float32 (written in "
              f"{time.perf_counter() - t0:.1f} s)", flush=True)
        print(f"{'step':<34}{'peak MiB':>10}{'base MiB':>10}{'ratio':>8}{'time s':>9}")
        for what in whats:
            row = run_child(path, what, n * u * r * 4)
            row.update(n=n, u=u, r=r)
            rows.append(row)
            if "error" in row:
                print(f"{what:<34} failed: {row['error']}")
                continue
            label = {"runner": "runner read+mean",
                     "reference": "reference xarray mean"}.get(what, f"analyze {what}")
            print(f"{label:<34}{row['peak_bytes'] / 2**20:>10.0f}"
                  f"{row['baseline_bytes'] / 2**20:>10.0f}{row['ratio']:>7.2f}x"
                  f"{row['seconds']:>9.1f}  {row['note']}", flush=True)
        path.unlink()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=int, help="STIMULI NEURONS REPEATS")
    ap.add_argument("--quick", action="store_true", help="2,000 x 1,000 x 10")
    ap.add_argument("--scaling", action="store_true", help="also sweep stimuli and neurons")
    ap.add_argument("--metrics", default=",".join(METRICS), help="comma-separated")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the reference xarray mean (~2.7x the matrix: too big at 8 GB "
                         "on a 23 GiB machine)")
    ap.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        path, what, matrix = args.measure
        print("MEASURE " + json.dumps(measure(path, what, int(matrix))), flush=True)
        return
    n, u, r = (args.sizes + [20000, 10000, 10][len(args.sizes):]) if not args.quick \
        else (2000, 1000, 10)
    metrics = [m for m in args.metrics.split(",") if m]
    whats = list(dict.fromkeys(["runner", *([] if args.no_reference else ["reference"]),
                                *metrics, "+".join(metrics)]))
    print(f"peak RSS over the response matrix (goal <= 2.00x); metric resamples cut: "
          f"{json.dumps(METRIC_PARAMS)}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="nfd-bench-") as tmp:
        rows = sweep(Path(tmp), [(n, u, r)], whats)
        series = []
        if args.scaling:
            both = "+".join(metrics)
            xs = [n // 4, n // 2, n]
            s_rows = sweep(Path(tmp), [(x, u, r) for x in xs[:-1]], [both])
            s_rows += [row for row in rows if row["what"] == both]
            us = [u // 4, u // 2, u]
            u_rows = sweep(Path(tmp), [(n, x, r) for x in us[:-1]], [both])
            u_rows += [row for row in rows if row["what"] == both]
            for axis, rs in (("stimuli", s_rows), ("neurons", u_rows)):
                ok = [row for row in rs if "error" not in row]
                series.append({"title": f"analyze {both}: scaling in {axis}", "x_label": axis,
                               "x": [row["n" if axis == "stimuli" else "u"] for row in ok],
                               "y_label": "peak / matrix and seconds",
                               "y": {"peak/matrix": [row["ratio"] for row in ok],
                                     "seconds": [row["seconds"] for row in ok]}})
    ratios = {f"peak/matrix {row['what']} ({row['n']}x{row['u']}x{row['r']})": row["ratio"]
              for row in rows if "error" not in row}
    ref = next((row for row in rows if row["what"] == "reference" and "error" not in row), None)
    own = next((row for row in rows if row["what"] == "runner" and "error" not in row), None)
    if ref and own:
        gain = (ref["peak_bytes"] - ref["baseline_bytes"]) / max(
            own["peak_bytes"] - own["baseline_bytes"], 1)
        print(f"\nreference / runner peak (read + repeat mean): {gain:.2f}x")
        ratios["reference/runner peak (read+mean)"] = gain
    print("BENCH-JSON " + json.dumps({"name": "large_recording", "ratios": ratios,
                                      "series": series}))


if __name__ == "__main__":
    main()
