"""Concurrency: several processes share one model cache and one output root at once.

Four ``neurofacedis analyze`` processes (forked from one parent after its imports, released
together through pipes) run on the same recording, the same cache and the same output root --
two of them even on the same output folder. Every fit happens exactly once (per-key file
lock), every output folder is complete, every cache entry is complete and matches its recorded
hashes, and nothing temporary is left. Four ``data fetch`` processes into one destination
likewise end with one verified file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

FETCH = r'''
import sys, time
from pathlib import Path
from neurofacedis.cli import main
import neurofacedis.data.fetch, pooch, requests  # warm
go = Path(sys.argv[1])
Path(sys.argv[2]).touch()  # ready
while not go.exists():
    time.sleep(0.01)
main(sys.argv[3:])
'''

#: Imports once, then forks one process per run (import time on 2 busy cores dominates
#: otherwise); the children start together when the parent writes to their pipes.
FORKED = r'''
import json, os, sys
from neurofacedis.cli import main
from neurofacedis.registry import get_registry
import neurofacedis.runner, neurofacedis.results, sklearn.decomposition, pynwb, h5netcdf  # warm
get_registry()
runs = json.loads(sys.argv[1])
children = []
for i, argv in enumerate(runs["argvs"]):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)  # wait for the start signal
        out = os.open(f"{runs['log']}{i}.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(f"{runs['log']}{i}.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(err, 2)
        code = 0
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 97
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    os.close(r)
    children.append((pid, w))
for _, w in children:  # go
    os.write(w, b"x")
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid, _ in children]
print(json.dumps(codes))
'''


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_together(script: str, argvs: list[list[str]], tmp: Path, env: dict) -> list:
    """Start one process per argv; release them together once all have imported."""
    go = tmp / "go"
    procs, ready = [], []
    for i, argv in enumerate(argvs):
        flag = tmp / f"ready{i}"
        ready.append(flag)
        procs.append(subprocess.Popen(
            [sys.executable, "-c", script, str(go), str(flag), *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    deadline = time.time() + 240
    while not all(f.exists() for f in ready):
        assert time.time() < deadline, "processes did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.05)
    go.touch()
    return [(p, *p.communicate(timeout=300)) for p in procs]


def complete(out: Path) -> dict:
    """Check an output folder holds every output, readable; return its summary."""
    import xarray as xr
    from pynwb import NWBHDF5IO

    for name in ("analysis.nwb", "results.nc", "summary.json", "report.html"):
        assert (out / name).is_file(), (out, name)
    xr.open_datatree(out / "results.nc", engine="h5netcdf").close()
    with NWBHDF5IO(str(out / "analysis.nwb"), "r") as io:
        io.read()
    assert (out / "report.html").read_text().rstrip().endswith("</html>")
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("conc-rec") / "tiny.nwb"
    write_session(path, simulate_session(n_identities=6, n_views=4, n_neurons=12, n_repeats=2,
                                         image_size=16, seed=2))
    return path


@pytest.mark.slow
def test_four_analyses_share_one_cache_and_output_root(recording, tmp_path):
    cache, root = tmp_path / "cache", tmp_path / "results"
    root.mkdir()
    before = sha(recording)
    outs = [root / "shared", root / "shared", root / "run2", root / "run3"]
    argvs = [["analyze", str(recording), "-m", "pca", "--param", "pca.n_components=4,6",
              "--seeds", "2", "--metric", "alignment", "--out", str(out), "--cache-dir",
              str(cache), "--no-figures", "-q", "--json"] for out in outs]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "NEUROFACEDIS_CACHE": str(tmp_path / "user-cache")}
    log = str(tmp_path / "run")
    proc = subprocess.run([sys.executable, "-c", FORKED, json.dumps({"argvs": argvs,
                                                                      "log": log})],
                          capture_output=True, text=True, env=env, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    summaries = []
    for i, code in enumerate(codes):
        assert code == 0, Path(f"{log}{i}.err").read_text()[-2000:]
        summaries.append(json.loads(Path(f"{log}{i}.out").read_text()))
    # every fit done exactly once across the four processes
    fits: dict[str, list[str]] = {}
    for s in summaries:
        for model in s["models"].values():
            for fit in model["fits"]:
                fits.setdefault(fit["cache_key"], []).append(fit["cache"])
    assert len(fits) == 4  # two pca sizes x seeds 0 and 1
    for key, statuses in fits.items():
        assert sorted(statuses) == ["hit", "hit", "hit", "miss"], (key[:8], statuses)
    # the same numbers everywhere; every output folder complete
    assert all(s["metrics"] == summaries[0]["metrics"] for s in summaries)
    for out in set(outs):
        assert complete(out)["metrics"] == summaries[0]["metrics"]
    # one complete, verified entry per key in the cache; nothing temporary anywhere
    from neurofacedis.cache import ModelCache

    entries = sorted(p.parent.name for p in cache.glob("models/*/*/meta.json"))
    assert entries == sorted(fits)
    assert all(ModelCache._verified(cache / "models" / k[:2] / k) for k in entries)
    litter = [p for p in [*root.rglob(".*"), *cache.rglob(".*")] if "locks" not in p.parts]
    assert litter == []
    assert sorted(p.name for p in root.iterdir()) == ["run2", "run3", "shared"]
    assert sha(recording) == before


@pytest.mark.slow
def test_four_fetches_into_one_destination(tmp_path):
    payload = tmp_path / "site" / "rec.nwb"
    payload.parent.mkdir()
    payload.write_bytes(os.urandom(1 << 16))
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"schema_version": 1, "datasets": [{
        "name": "shared", "description": "x", "kind": "nwb", "license": "CC0-1.0",
        "citation": "x", "files": [{"path": "rec.nwb", "url": payload.as_uri(),
                                    "sha256": sha(payload)}]}]}))
    dest = tmp_path / "dest"
    argv = ["data", "fetch", "shared", "--manifest", str(manifest), "--dest", str(dest), "-q",
            "--json", "--allow-local-urls"]
    env = {**os.environ, "NEUROFACEDIS_CACHE": str(tmp_path / "user-cache")}
    done = start_together(FETCH, [argv] * 4, tmp_path, env)
    for proc, stdout, stderr in done:
        assert proc.returncode == 0, stderr[-2000:]
        assert json.loads(stdout)["files"][0]["verified"] is True
    assert sha(dest / "rec.nwb") == sha(payload)
    lock = json.loads((dest / "neurofacedis-data.lock.json").read_text())
    assert lock["datasets"]["shared"]["files"]["rec.nwb"]["sha256"] == sha(payload)
    assert sorted(p.name for p in dest.iterdir()) == ["neurofacedis-data.lock.json", "rec.nwb"]
