"""Interruptions: SIGINT/SIGTERM at seeded random points never leave a half output.

A driver process imports neurofacedis once and forks one child per kill point; each child runs
``neurofacedis analyze`` (``cli.main``, so its signal handling is what is tested) and a
SIGALRM timer, armed when the target phase starts (fit, encode, cache save, metric, NetCDF,
analysis.nwb, report, the final swap, adding latents to the recording), sends the chosen
signal at a seeded fraction of that phase's measured duration. The points run in a row on
one output folder and one model cache, each with a new split seed (so each fits anew).
After every kill: the output is the previous complete output or a new complete one, never
partial; every cache entry is complete; no temporary file is left (after SIGINT/SIGTERM);
the recording is unchanged. At the end, an uninterrupted run resumes and equals a clean
reference run. SIGKILL points (no handler can run) are checked for the same "never half a
file" rule, temporary leftovers allowed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DRIVER = r'''
import json, os, signal, sys, time, traceback, hashlib
from pathlib import Path

cfg = json.loads(Path(sys.argv[1]).read_text())
from neurofacedis.cli import main
import neurofacedis.results as results
import neurofacedis.nwb as nwb
from neurofacedis.registry import get_registry
get_registry()
import nfd_linear._models as linear
import nfd_alignment._metric as alignment
import sklearn.decomposition, sklearn.linear_model, xarray, h5netcdf, pynwb  # noqa: warm

PHASES = {
    "fit": (linear.PCAModel, "fit"),
    "encode": (linear.PCAModel, "encode"),
    "cache-save": (linear.PCAModel, "save"),
    "metric": (alignment.AlignmentMetric, "compute"),
    "write-netcdf": (results, "_write_netcdf"),
    "write-nwb": (results, "_write_analysis_nwb"),
    "report": (results, "render_report"),
    "swap": (results, "_swap_into_place"),
    "into": (nwb, "add_latents"),
}
#: the metric's small settings (its testing_params): each run's metric phase takes ~0.1 s
#: instead of ~0.9 s; the timers scale with the measured phase, so every phase is still hit
CHEAP = ["-p", "alignment.n_subsets=5", "-p", "alignment.n_rotations=1"]
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read())
    return h.hexdigest()


def tree(root):
    out = {}
    if not os.path.exists(root):
        return out
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = sha(p)
        for x in dirs:
            out[os.path.relpath(os.path.join(d, x), root) + "/"] = "dir"
    return out


def output_problems(out):
    """What is missing or unreadable in an output folder (empty list: complete)."""
    import xarray as xr
    from pynwb import NWBHDF5IO
    probs = []
    for name in ("analysis.nwb", "results.nc", "summary.json", "report.html"):
        if not (Path(out) / name).is_file():
            probs.append(f"missing {name}")
    if probs:
        return probs
    try:
        s = json.loads((Path(out) / "summary.json").read_text())
        assert "alignment" in s["metrics"]
    except Exception as exc:
        probs.append(f"summary.json: {exc!r}")
    try:
        xr.open_datatree(Path(out) / "results.nc", engine="h5netcdf").close()
    except Exception as exc:
        probs.append(f"results.nc: {exc!r}")
    try:
        with NWBHDF5IO(str(Path(out) / "analysis.nwb"), "r") as io:
            io.read()
    except Exception as exc:
        probs.append(f"analysis.nwb: {exc!r}")
    if "</html>" not in (Path(out) / "report.html").read_text():
        probs.append("report.html truncated")
    return probs


def run_child(argv, target=None, delay=0.0, sig="SIGINT", hitfile=None, timesfile=None):
    """Fork; the child runs main(argv) with hooks; returns (exit code, killed-by signal)."""
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            return None, os.WTERMSIG(status)
        return os.WEXITSTATUS(status), None
    code = 98
    try:
        stack, times, armed = [], {}, [False]

        def hook(name, fn):
            def wrapper(*a, **k):
                stack.append(name)
                if name == target and not armed[0]:
                    armed[0] = True
                    if name == "swap" and Path(a[1]).exists():
                        # the tightest window: between moving OUT aside and moving TMP in
                        import os as _os
                        real = _os.replace
                        calls = [0]
                        def replace(src, dst):
                            real(src, dst)
                            calls[0] += 1
                            if calls[0] == 1:
                                on_alarm(None, None)
                        results.os.replace = replace
                    else:
                        signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-6))
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    stack.pop()
                    times.setdefault(name, 0.0)
                    times[name] += time.perf_counter() - t0
            return wrapper

        def on_alarm(signum, frame):
            if hitfile:
                Path(hitfile).write_text(stack[-1] if stack else "(between phases)")
            os.kill(os.getpid(), SIGNALS[sig])

        signal.signal(signal.SIGALRM, on_alarm)
        for name, (owner, attr) in PHASES.items():
            setattr(owner, attr, hook(name, getattr(owner, attr)))
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        if timesfile:
            Path(timesfile).write_text(json.dumps(times))
    except BaseException:
        traceback.print_exc()
        code = 97
    finally:
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)


def argv_for(split_seed, out, into=None):
    argv = ["analyze", into or cfg["recording"], "-m", "pca", "--metric", "alignment",
            "--out", out, "--cache-dir", cfg["cache"], "--no-figures", "-q",
            "--split-seed", str(split_seed), *CHEAP]
    return argv + (["--into"] if into else [])


work = Path(cfg["work"])
report = {"points": []}
# a clean reference run, and the phase durations (one run with every phase, --into included)
ref_out = str(work / "reference")
code, _ = run_child(["analyze", cfg["recording"], "-m", "pca", "--metric", "alignment",
                     "--out", ref_out, "--cache-dir", str(work / "ref-cache"), "--no-figures",
                     "-q", "--split-seed", "1", *CHEAP])
report["reference_exit"] = code
import shutil
shutil.copy(cfg["recording"], work / "dry.nwb")
code, _ = run_child(argv_for(999, str(work / "dry-out"), into=str(work / "dry.nwb")),
                    timesfile=str(work / "times.json"))
report["dry_exit"] = code
times = json.loads((work / "times.json").read_text())
report["times"] = times
rec_sha = sha(cfg["recording"])
out = str(work / "out")
into_file = str(work / "into.nwb")
shutil.copy(cfg["recording"], into_file)
def litter():
    """Temporary names in the work folder and the cache (dot-prefixed; locks excluded)."""
    names = {n for n in os.listdir(work) if n.startswith((".out.", ".into.nwb"))}
    names |= {k for k in tree(cfg["cache"]) if "/." in "/" + k and not k.startswith("locks")}
    return names


for i, point in enumerate(cfg["points"]):
    into = into_file if point["phase"] == "into" else None
    before = {"out": tree(out), "into": sha(into_file), "litter": litter()}
    hit = work / f"hit{i}.txt"
    delay = point["fraction"] * times.get(point["phase"], 0.0)
    t0 = time.time()
    code, killed = run_child(argv_for(i + 1, out, into=into), target=point["phase"],
                             delay=delay, sig=point["signal"], hitfile=str(hit))
    after = tree(out)
    report["points"].append({
        **point, "index": i, "exit": code, "killed_by": killed, "seconds": time.time() - t0,
        "hit": hit.read_text() if hit.exists() else None,
        "out_unchanged": after == before["out"],
        "out_problems": output_problems(out) if os.path.exists(out) else ["absent"],
        "out_existed": bool(before["out"]),
        "into_unchanged": sha(into_file) == before["into"],
        "new_litter": sorted(litter() - before["litter"]),
        "cache": tree(cfg["cache"]),
        "recording_unchanged": sha(cfg["recording"]) == rec_sha,
    })
    if point["phase"] == "into" and sha(into_file) != before["into"]:
        try:
            with nwb.Recording.open(into_file) as r:
                report["points"][-1]["into_latents"] = sorted(r.latents)
        except Exception as exc:
            report["points"][-1]["into_problems"] = [repr(exc)]
# resume: the first point's configuration, uninterrupted, in the shared cache
code, _ = run_child(argv_for(1, str(work / "resumed")))
report["resume_exit"] = code
Path(cfg["report"]).write_text(json.dumps(report, indent=1))
'''

GRACEFUL = ("SIGINT", "SIGTERM")
PHASES = ("fit", "encode", "cache-save", "metric", "write-netcdf", "write-nwb", "report",
          "swap", "into")


def kill_points(n_graceful: int, n_hard: int, seed: int) -> list[dict]:
    """Seeded kill points: every phase at least twice, random fraction, SIGINT or SIGTERM."""
    rng = np.random.default_rng(seed)
    phases = list(PHASES) * (n_graceful // len(PHASES) + 1)
    rng.shuffle(phases)
    points = [{"phase": str(p), "fraction": float(rng.uniform(0.0, 1.0)),
               "signal": str(rng.choice(GRACEFUL))} for p in phases[:n_graceful]]
    for _ in range(n_hard):
        at = int(rng.integers(0, len(points) + 1))
        points.insert(at, {"phase": str(rng.choice(PHASES)),
                           "fraction": float(rng.uniform(0.0, 1.0)), "signal": "SIGKILL"})
    return points


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("kill-rec") / "tiny.nwb"
    write_session(path, simulate_session(n_identities=6, n_views=4, n_neurons=12, n_repeats=2,
                                         image_size=16, seed=1))
    return path


def test_kill_points_are_seeded_and_cover_every_phase():
    a, b = kill_points(20, 4, seed=10), kill_points(20, 4, seed=10)
    assert a == b and len(a) == 24
    graceful = [p for p in a if p["signal"] != "SIGKILL"]
    assert {p["phase"] for p in graceful} == set(PHASES)
    assert {p["signal"] for p in graceful} == set(GRACEFUL)


@pytest.mark.slow
def test_twenty_kill_points_in_a_row_leave_no_half_output(recording, tmp_path):
    points = kill_points(20, 4, seed=10)
    cfg = {"recording": str(recording), "work": str(tmp_path), "cache": str(tmp_path / "cache"),
           "points": points, "report": str(tmp_path / "report.json")}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "NEUROFACEDIS_CACHE": str(tmp_path / "user-cache"),
           "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / "cfg.json")],
                          capture_output=True, text=True, env=env, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["reference_exit"] == 0 and report["dry_exit"] == 0, proc.stderr[-3000:]
    assert set(report["times"]) == set(PHASES)
    failures = []
    hits = set()
    for p in report["points"]:
        where = f"point {p['index']} ({p['signal']} in {p['phase']} at {p['fraction']:.2f})"
        hard = p["signal"] == "SIGKILL"
        if hard:
            ok_exit = p["killed_by"] == signal.SIGKILL or p["exit"] == 0
        else:
            want = 128 + getattr(signal, p["signal"])
            ok_exit = p["exit"] in (want, 0)  # 0: the run finished before the signal came
            if p["exit"] == want and p["hit"]:
                hits.add(p["hit"])
        if not ok_exit:
            failures.append(f"{where}: exit {p['exit']} killed by {p['killed_by']}")
        # the output: the previous one untouched, or a complete new one; never partial
        state = ("unchanged" if p["out_unchanged"] else "absent"
                 if p["out_problems"] == ["absent"] else "partial" if p["out_problems"]
                 else "complete")
        allowed = {"unchanged", "complete"}
        if hard and any(".out.old-" in n for n in p["new_litter"]):
            allowed.add("absent")  # SIGKILL between the two renames: previous kept in .old-*
        if state not in allowed:
            failures.append(f"{where}: output {state} {p['out_problems']}")
        if not hard and p["new_litter"]:
            failures.append(f"{where}: temporary files left {p['new_litter']}")
        # every cache entry complete: weights and meta.json together, or nothing
        entries: dict[str, set[str]] = {}
        for rel in p["cache"]:
            parts = rel.split("/")
            if parts[0] == "models" and len(parts) >= 4 and not parts[2].startswith("."):
                entries.setdefault(parts[2], set()).add(parts[3])
        for key, files in entries.items():
            if "meta.json" not in files or not any(f.endswith(".safetensors") for f in files):
                failures.append(f"{where}: incomplete cache entry {key[:8]} {sorted(files)}")
        if not p["recording_unchanged"]:
            failures.append(f"{where}: the recording changed")
        if p["phase"] == "into" and not p["into_unchanged"] and not p.get("into_latents"):
            failures.append(f"{where}: recording after --into damaged {p.get('into_problems')}")
    assert not failures, "\n".join(failures)
    # most points interrupted the phase aimed at (a short phase may end before the timer)
    assert "swap" in hits and len(hits) >= 5, hits
    # resuming the first point's configuration gives the reference run's numbers
    assert report["resume_exit"] == 0
    ref = json.loads((tmp_path / "reference" / "summary.json").read_text())
    res = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert res["metrics"] == ref["metrics"]


BETA_VAE = r'''
import os, signal, sys
import neurofacedis.progress as progress
from neurofacedis.cli import main

calls, kill_at = [0], int(sys.argv[1])


def tick(*args, **kwargs):  # every progress callback of a quiet run; the fit calls it per step
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGTERM)


progress._noop = tick
main(sys.argv[2:])
'''


@pytest.mark.slow
def test_sigterm_during_beta_vae_fit_leaves_a_checkpoint_that_resumes(recording, tmp_path,
                                                                     monkeypatch):
    """SIGTERM mid-training is deferred to the step boundary like Ctrl-C: a checkpoint is
    written, no cache entry; the rerun resumes from it and equals an uninterrupted run.

    The uninterrupted reference runs in-process (no signal is involved; one torch thread, as
    in the subprocesses), saving a process start and torch import."""
    pytest.importorskip("torch")
    from neurofacedis.cli import main

    params = ["--param", "beta_vae.steps=40", "--param", "beta_vae.size=16",
              "--param", "beta_vae.batch=8", "--param", "beta_vae.latents=4",
              "--param", "beta_vae.threads=1",
              "--param", "alignment.n_subsets=5", "--param", "alignment.n_rotations=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NEUROFACEDIS_CACHE": str(tmp_path / "uc")}

    def argv(out: str, cache: str) -> list[str]:
        return ["analyze", str(recording), "-m", "beta_vae", "--metric", "alignment",
                *params, "--out", str(tmp_path / out), "--cache-dir", str(tmp_path / cache),
                "--no-figures", "-q"]

    def run(kill_at: int, out: str, cache: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", BETA_VAE, str(kill_at), *argv(out, cache)],
                              capture_output=True, text=True, env=env, timeout=300)

    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(tmp_path / "uc"))
    with pytest.raises(SystemExit) as reference:
        main(argv("reference", "clean-cache"))
    assert reference.value.code == 0
    killed = run(15, "out", "cache")
    assert killed.returncode == 128 + signal.SIGTERM, killed.stderr[-2000:]
    assert killed.stderr.strip().splitlines()[-1] == "interrupted"
    assert not (tmp_path / "out").exists()
    assert not list((tmp_path / "cache").glob("models/*/*/meta.json"))  # no entry: not fitted
    ckpts = list((tmp_path / "cache").glob("checkpoints/*/checkpoint.json"))
    assert len(ckpts) == 1
    step = json.loads(ckpts[0].read_text())["step"]
    assert 0 < step < 40
    resumed = run(0, "out", "cache")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not ckpts[0].exists()  # cleared once the fit completed
    ref = json.loads((tmp_path / "reference" / "summary.json").read_text())
    res = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert res["metrics"] == ref["metrics"]
