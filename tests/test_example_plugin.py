"""The worked third-party plugin (docs/examples/nfd-example-plugin) installs and runs.

It is pip-installed offline into this venv (no build isolation, no dependencies: hatchling
comes with the test extra), found through its entry point like any third-party plugin, checked
with neurofacedis.testing, and run through ``neurofacedis analyze``; uninstalled afterwards.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.registry import get_registry
from neurofacedis.testing import check_metric, check_model, make_mock_context, make_mock_recording

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "nfd-example-plugin"
DIST = "nfd-example-plugin"


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def installed():
    done = _pip(
        "install", "--no-build-isolation", "--no-deps", "--no-index", "--no-cache-dir",
        "--disable-pip-version-check", "-q", str(EXAMPLE),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    importlib.invalidate_caches()
    yield get_registry(refresh=True)
    _pip("uninstall", "-y", "-q", DIST)
    for name in [m for m in sys.modules if m == "nfd_example" or m.startswith("nfd_example.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    get_registry(refresh=True)


def test_registry_lists_the_example_with_its_distribution(installed):
    out = subprocess.run(
        [sys.executable, "-m", "neurofacedis", "plugins", "--json"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    rows = {(r["kind"], r["name"]): r for r in json.loads(out.stdout)}
    for key in (("model", "random_projection"), ("metric", "linear_cka")):
        row = rows[key]
        assert (row["plugin"], row["distribution"], row["version"]) == (
            "nfd_example", DIST, "0.1.0"
        )
        assert row["citation"]
    assert [p["name"] for p in rows[("metric", "linear_cka")]["params"]] == [
        "subset", "n_permutations"
    ]


def test_example_passes_the_conformance_kit(installed):
    model = installed.model("random_projection")
    metric = installed.metric("linear_cka")
    assert model.distribution == DIST and metric.plugin == "nfd_example"
    z = check_model(model.spec, plugin=model.plugin)
    assert z.shape == (24, 4)
    result = check_metric(metric.spec, plugin=metric.plugin)
    assert 0.0 <= result.attrs["cka"] <= 1.0 and 0.0 < result.attrs["p_value"] <= 1.0


def _cka_by_kernels(x: np.ndarray, y: np.ndarray) -> float:
    """CKA as normalised HSIC of linear kernels (Kornblith et al. 2019, eq. 2-4)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float(np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


def test_linear_cka_equals_the_kernel_formula(installed):
    metric = installed.metric("linear_cka").spec.factory(n_permutations=0)
    ctx = make_mock_context(seed=4)
    result = metric.compute(ctx)
    expect = _cka_by_kernels(ctx.latents.values, ctx.mean_responses.values)
    assert result.attrs["cka"] == pytest.approx(expect, rel=1e-12)
    assert "p_value" not in result.attrs
    # invariances the formula promises: rotation + scale of the latents leaves CKA unchanged
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 6)))[0]
    rotated = make_mock_context(latents=2.5 * ctx.latents.values @ q, seed=4)
    assert metric.compute(rotated).attrs["cka"] == pytest.approx(expect, rel=1e-10)


@pytest.mark.slow
def test_example_project_own_tests_pass(installed):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True, text=True, timeout=600, cwd=EXAMPLE,
    )
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.slow
def test_example_runs_through_neurofacedis_analyze(installed, tmp_path):
    pytest.importorskip("neurofacedis.runner")
    from neurofacedis.nwb import write_session

    rec = make_mock_recording(n_stimuli=40, seed=0)
    write_session(tmp_path / "rec.nwb", rec.to_session(), overwrite=True)
    out = subprocess.run(
        [sys.executable, "-m", "neurofacedis", "analyze", str(tmp_path / "rec.nwb"),
         "--model", "random_projection", "--metric", "linear_cka", "--out", str(tmp_path / "out"),
         "--cache-dir", str(tmp_path / "cache"), "--param", "linear_cka.n_permutations=20",
         "--json", "-q"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    fit = summary["models"]["random_projection"]
    assert fit["plugin"] == "nfd_example" and fit["distribution"] == DIST
    for name in ("analysis.nwb", "results.nc", "summary.json", "report.html"):
        assert (tmp_path / "out" / name).is_file(), name
    # The same number from first principles: the projection is seeded (seed 0) and CKA ignores
    # the training-mean shift, so it does not depend on the runner's split.
    images = (np.round(rec.images * 255).astype(np.uint8) / np.float32(255)).astype(np.float32)
    x = images.reshape(len(images), -1).astype(np.float64)
    w = np.random.default_rng(0).normal(0.0, 1.0 / np.sqrt(10), size=(x.shape[1], 10))
    expect = _cka_by_kernels(x @ w, rec.responses.mean(axis=2).astype(np.float64))
    got = summary["metrics"]["linear_cka"]["random_projection"]
    assert got["cka"] == pytest.approx(expect, rel=1e-6)
    assert 0.0 < got["p_value"] <= 1.0
