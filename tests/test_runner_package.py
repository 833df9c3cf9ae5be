"""The runner package (issue 19): one executor interface, one shape of error record, no
private imports across its modules, and the old import paths kept for one release."""

from __future__ import annotations

import ast
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.runner import analyze

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "neurofacedis" / "runner"


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("rec") / "tiny.nwb"
    data = simulate_session(n_identities=6, n_views=4, n_neurons=10, n_repeats=2,
                            image_size=16, seed=5)
    write_session(path, data)
    return path


class _Fails:
    """An ad-hoc model whose fit raises: it stays on the local executor either way."""

    name = "fails"
    unit_names = ["a"]

    def fit(self, images, labels, *, seed, progress, landmarks=None):
        raise RuntimeError("boom in fit")

    def encode(self, images, landmarks=None):  # pragma: no cover - never fitted
        return np.zeros((len(images), 1))


def _records(res) -> dict:
    """What both executors must agree on (timings and cache status aside)."""
    s = res.summary
    fits = {label: [{k: f[k] for k in ("seed", "n_units", "n_active", "error", "selected")}
                    for f in info["fits"]] for label, info in s["models"].items()}
    return {"per_seed": s["per_seed"], "skipped": s["skipped"], "errors": s["errors"],
            "selection": s["selection"], "fits": fits, "keys": list(res.results)}


def test_local_and_dask_executors_give_the_same_records(tiny_recording, tmp_path):
    distributed = pytest.importorskip("distributed")
    kwargs = dict(models=["pca", _Fails()], metrics=["alignment", "udr"], seeds=2,
                  params=["pca.n_components=3"], select="udr")
    local = analyze(tiny_recording, cache_dir=tmp_path / "a", **kwargs)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = analyze(tiny_recording, cache_dir=tmp_path / "b",
                         scheduler=cluster.scheduler_address, **kwargs)
    a, b = _records(local), _records(remote)
    assert a["errors"] == b["errors"] and [e["name"] for e in a["errors"]] == ["fails"] * 2
    assert a["skipped"] == b["skipped"] and a["fits"] == b["fits"] and a["keys"] == b["keys"]
    assert a["selection"].keys() == b["selection"].keys() == {"pca[n_components=3]"}
    assert a["selection"]["pca[n_components=3]"]["selected_seed"] == \
        b["selection"]["pca[n_components=3]"]["selected_seed"]
    assert a["per_seed"].keys() == b["per_seed"].keys() == {"alignment", "udr"}
    for metric, by in a["per_seed"].items():
        for label, stats in by.items():
            for k, v in stats.items():
                assert b["per_seed"][metric][label][k] == pytest.approx(v, rel=1e-9, abs=1e-12)


class _Reporter:
    """Records the log lines an executor prints."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, head: str, detail: str = "", *, style: str | None = None) -> None:
        self.lines.append(f"{head} {detail}")

    @contextmanager
    def task(self, description: str, total: float | None = None):
        yield lambda *a, **k: None


def test_local_executor_returns_outcomes_in_order_and_logs_each_failure(tiny_recording,
                                                                        tmp_path):
    from types import SimpleNamespace

    from neurofacedis.cache import ModelCache
    from neurofacedis.nwb import Recording
    from neurofacedis.registry import get_registry
    from neurofacedis.runner.executor import MetricTask
    from neurofacedis.runner.inputs import load_inputs, load_responses
    from neurofacedis.runner.jobs import build_jobs
    from neurofacedis.runner.local import LocalExecutor

    registry = get_registry()
    with Recording.open(tiny_recording) as rec:
        responses, mean = load_responses(rec)
        data = load_inputs(rec, train_images=None, split_by="stimulus", test_fraction=0.25,
                           split_seed=0)
        truth = rec.truth
    reporter = _Reporter()
    executor = LocalExecutor(data, truth=truth, responses=responses, mean=mean, split_seed=0,
                             cache=ModelCache(tmp_path), reporter=reporter)
    jobs = build_jobs([_Fails(), "pca"], [0], {"pca": {"n_components": [3]}}, registry)
    outcomes = executor.fit(jobs)
    assert [o.job for o in outcomes] == jobs and [o.ok for o in outcomes] == [False, True]
    assert outcomes[0].error == jobs[0].error == "RuntimeError: boom in fit"
    assert "boom in fit" in outcomes[0].traceback and jobs[1].latents.shape == (24, 3)
    broken = SimpleNamespace(spec=SimpleNamespace(factory=lambda **k: 1 / 0))
    good = registry.metric("alignment")
    tasks = [MetricTask("broken", broken, {}, jobs[1]),
             MetricTask("alignment", good, good.spec.defaults(), jobs[1])]
    bad, ok = executor.metrics(tasks)
    assert bad.error == "ZeroDivisionError: division by zero" and bad.result is None
    assert ok.error is None and "alignment" in ok.result.attrs
    assert reporter.lines == ["model fails/seed0 failed: RuntimeError: boom in fit",
                              "metric broken on pca[n_components=3]/seed0 failed: "
                              "ZeroDivisionError: division by zero"]


def test_error_records_have_one_shape():
    from types import SimpleNamespace

    from neurofacedis.runner.jobs import FitJob
    from neurofacedis.runner.summary import RunRecords

    job = FitJob(label="pca[k=2]", name="pca", params={}, seed=1, plugin="nfd_linear",
                 distribution="neurofacedis", plugin_version="1.0")
    entry = SimpleNamespace(plugin="nfd_rsa", distribution="neurofacedis", version="2.0")
    records = RunRecords()
    records.model_failed(job, "boom", "tb1")
    records.metric_failed("rsa", entry, job, "bad", "tb2")
    model, metric = records.errors
    assert list(model) == list(metric) == ["kind", "name", "model", "seed", "plugin",
                                           "distribution", "version", "error", "traceback"]
    assert model == {"kind": "model", "name": "pca", "model": "pca[k=2]", "seed": 1,
                     "plugin": "nfd_linear", "distribution": "neurofacedis", "version": "1.0",
                     "error": "boom", "traceback": "tb1"}
    assert metric["kind"] == "metric" and metric["name"] == "rsa"
    assert (metric["plugin"], metric["version"], metric["model"]) == ("nfd_rsa", "2.0",
                                                                      "pca[k=2]")


def test_build_jobs_orders_models_grid_seeds_and_refuses_a_repeat():
    from neurofacedis.errors import InputError
    from neurofacedis.registry import get_registry
    from neurofacedis.runner.jobs import build_jobs

    registry = get_registry()
    jobs = build_jobs(["pca"], [0, 1], {"pca": {"n_components": [2, 3]}}, registry)
    assert [j.job_id for j in jobs] == ["pca[n_components=2]/seed0", "pca[n_components=2]/seed1",
                                        "pca[n_components=3]/seed0", "pca[n_components=3]/seed1"]
    with pytest.raises(InputError, match="model given twice: pca/seed0"):
        build_jobs(["pca", "pca"], [0], {}, registry)


def _runner_imports() -> list[tuple[str, str, list[str]]]:
    out = []
    for path in sorted(RUNNER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                out.append((path.name, node.module, [a.name for a in node.names]))
    return out


def test_no_private_name_crosses_a_runner_module():
    crossing = [f"{where} imports {name} from {module}" for where, module, names in
                _runner_imports() if module.startswith("neurofacedis.runner")
                for name in names if name.startswith("_")]
    assert not crossing


def test_the_executors_never_import_each_other():
    for where, other in (("local.py", "neurofacedis.runner.dask"),
                         ("dask.py", "neurofacedis.runner.local")):
        tree = ast.parse((RUNNER / where).read_text())
        runtime = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and n.module == other and n.col_offset > 0 and not _under_type_checking(
                       tree, n)]
        top = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == other]
        assert not runtime and not top, where


def _under_type_checking(tree: ast.AST, node: ast.AST) -> bool:
    for block in ast.walk(tree):
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING":
            if any(n is node for n in ast.walk(block)):
                return True
    return False


def test_old_import_paths_still_work():
    import neurofacedis.parallel as parallel
    import neurofacedis.requirements as requirements
    import neurofacedis.run_inputs as run_inputs
    from neurofacedis.runner import dask, inputs
    from neurofacedis.runner import requirements as table

    assert parallel.open_client is dask.open_client and parallel.DaskRun is dask.DaskExecutor
    assert requirements.unmet is table.unmet
    assert run_inputs.load_inputs is inputs.load_inputs
    import neurofacedis.runner as runner

    for name in runner.__all__:
        assert getattr(runner, name) is not None, name
    assert callable(runner._unmet)  # tests/test_metrics_plain_pynwb.py uses it
