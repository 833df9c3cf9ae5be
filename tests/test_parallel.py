"""Dask execution of the runner's grid: same results as in-process, lost workers rerun."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.errors import InputError
from neurofacedis.runner import analyze, repeat_mean

distributed = pytest.importorskip("distributed")

MODELS = ["pca", "ica"]
METRICS = ["alignment", "udr"]  # udr needs the sibling seeds: exercises the sibling refs
SEEDS = 3


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("rec") / "small.nwb"
    data = simulate_session(n_identities=12, n_views=6, n_neurons=24, n_repeats=3,
                            image_size=32, seed=3)
    write_session(path, data)
    return path


@pytest.fixture(scope="module")
def reference(recording, tmp_path_factory):
    """The in-process run of the grid (2 models x 3 seeds x 2 metrics)."""
    return analyze(recording, models=MODELS, metrics=METRICS, seeds=SEEDS,
                   cache_dir=tmp_path_factory.mktemp("ref-cache"))


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread worker processes on loopback, no dashboard (what workers=2 starts)."""
    import dask
    from distributed import Client, LocalCluster

    from neurofacedis.parallel import LOCAL_CLUSTER_CONFIG

    with dask.config.set(LOCAL_CLUSTER_CONFIG), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None) as cl, \
            Client(cl, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
        yield cl, client


def _flat(per_seed: dict) -> dict[tuple[str, str, str], list[float]]:
    return {(m, lab, k): v for m, by in per_seed.items() for lab, st in by.items()
            for k, v in st.items()}


def _assert_same_summary(a: dict, b: dict) -> None:
    """Equal up to BLAS threading: the in-process run multiplies with the client's BLAS
    threads, workers with one, which moves PCA latents by ~1e-14 (bit-identical when the
    thread counts match; see docs/scale.md)."""
    fa, fb = _flat(a["per_seed"]), _flat(b["per_seed"])
    assert fa.keys() == fb.keys()
    for key in fa:
        assert fb[key] == pytest.approx(fa[key], rel=1e-9, abs=1e-12), key
    assert a["skipped"] == b["skipped"]
    for label, info in a["models"].items():
        assert [f["n_active"] for f in info["fits"]] == \
               [f["n_active"] for f in b["models"][label]["fits"]]


# ----------------------------------------------------------------------------- fast unit tests


def test_repeat_mean_in_chunks_equals_xarray_mean():
    import xarray as xr

    rng = np.random.default_rng(0)
    data = rng.poisson(3.0, size=(37, 5, 4)).astype(np.float32)
    data[rng.random(data.shape) < 0.1] = np.nan
    data[3, 2, :] = np.nan  # a neuron never recorded for one stimulus
    resp = xr.DataArray(data, dims=("stimulus", "neuron", "repeat"),
                        coords={"stimulus": [f"s{i}" for i in range(37)],
                                "neuron": np.arange(5), "repeat": np.arange(4)},
                        attrs={"window": (0.05, 0.35)}, name="responses")
    want = resp.mean("repeat", skipna=True)
    for chunk_bytes in (1, 5 * 4 * 4 * 3, 1 << 20):  # 1 stimulus, 3 stimuli, all at once
        got = repeat_mean(resp, chunk_bytes=chunk_bytes)
        xr.testing.assert_identical(got, want)
    assert np.isnan(got.values[3, 2])


def test_latents_round_trip_through_safetensors(tmp_path):
    from neurofacedis.parallel import read_latents, write_latents

    z = np.random.default_rng(1).standard_normal((7, 3))
    active = np.array([True, False, True])
    write_latents(tmp_path / "l" / "x.safetensors", z, active, ["a", "b", "c"])
    z2, a2, names = read_latents(tmp_path / "l" / "x.safetensors")
    np.testing.assert_array_equal(z2, z)
    np.testing.assert_array_equal(a2, active)
    assert names == ["a", "b", "c"]
    assert [p.name for p in (tmp_path / "l").iterdir()] == ["x.safetensors"]  # no temp left


def test_bad_execution_options_are_input_errors(recording):
    from neurofacedis.parallel import open_client

    with pytest.raises(InputError, match="not both"):
        analyze(recording, models=["pca"], metrics=["alignment"], workers=2,
                scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(InputError, match=">= 1"):
        analyze(recording, models=["pca"], metrics=["alignment"], workers=0)
    with pytest.raises(InputError, match="exactly one"):
        with open_client():
            pass


def test_import_neurofacedis_parallel_is_light():
    import subprocess
    import sys

    code = ("import sys, neurofacedis.parallel, neurofacedis.runner; "
            "print(any(m in sys.modules for m in ('distributed', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------- the cluster (one per module)


def test_grid_on_two_workers_survives_a_killed_worker(recording, reference, cluster, tmp_path):
    cl, client = cluster
    cache = tmp_path / "cache"
    done = threading.Event()
    killed: dict = {}

    def kill_one_busy_worker() -> None:
        # after the first task has finished (its latents are in the cache), SIGKILL a worker
        # that is running a task: its tasks must be rerun elsewhere (or after its restart)
        while not done.is_set() and not killed:
            if any(cache.glob("models/*/*/latents/*.safetensors")):
                busy = {w: ts for w, ts in client.processing().items() if ts}
                if busy:
                    worker, tasks = sorted(busy.items())[0]
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed.update(worker=worker, pid=pid, tasks=list(tasks))
                    return
            time.sleep(0.02)

    before = set(client.scheduler_info()["workers"])
    thread = threading.Thread(target=kill_one_busy_worker, daemon=True)
    thread.start()
    box: dict = {}

    def run() -> None:
        try:
            box["res"] = analyze(recording, models=MODELS, metrics=METRICS, seeds=SEEDS,
                                 cache_dir=cache, scheduler=cl.scheduler_address)
        except BaseException as exc:  # re-raised below
            box["exc"] = exc

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(300)  # bounded: a hung rerun fails the test instead of hanging it
    done.set()
    thread.join(10)
    assert not runner.is_alive(), "the grid did not finish within 300 s after the kill"
    if "exc" in box:
        raise box["exc"]
    res = box["res"]
    assert killed, "no worker was busy after the first task: nothing was killed"
    assert killed["tasks"] and killed["worker"] in before
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)  # really gone
    assert res.summary["errors"] == []
    # a rerun task finds what its killed attempt already put in the cache: "hit"
    assert len(res.jobs) == len(MODELS) * SEEDS
    assert {j.cache for j in res.jobs} <= {"miss", "hit"}
    _assert_same_summary(reference.summary, res.summary)
    # the latents went through the cache folder, beside each cached model
    for job in res.jobs:
        # (a worker killed while writing may leave a hidden ``.*.tmp`` beside: never read)
        folder = cache / "models" / job.cache_key[:2] / job.cache_key
        assert len(list(folder.glob("latents/*.safetensors"))) == 1
        np.testing.assert_allclose(job.latents, reference.jobs[res.jobs.index(job)].latents,
                                   rtol=0, atol=1e-10)


def test_grid_on_cluster_without_cache_and_with_cache_hits(recording, reference, cluster,
                                                           tmp_path):
    cl, _ = cluster
    off = analyze(recording, models=MODELS, metrics=METRICS, seeds=SEEDS,
                  cache_dir=tmp_path / "c", use_cache=False, scheduler=cl.scheduler_address)
    assert off.summary["errors"] == [] and {j.cache for j in off.jobs} == {"off"}
    assert not any((tmp_path / "c" / "runs").iterdir())  # the run-scoped folder is removed
    _assert_same_summary(reference.summary, off.summary)
    # with the cache on, a rerun finds every fit (and its latents) and gives the same numbers
    again = analyze(recording, models=MODELS, metrics=METRICS, seeds=SEEDS,
                    cache_dir=tmp_path / "c2", scheduler=cl.scheduler_address)
    again2 = analyze(recording, models=MODELS, metrics=METRICS, seeds=SEEDS,
                     cache_dir=tmp_path / "c2", scheduler=cl.scheduler_address)
    assert {j.cache for j in again.jobs} == {"miss"} and {j.cache for j in again2.jobs} == {"hit"}
    assert again.summary["per_seed"] == again2.summary["per_seed"]
