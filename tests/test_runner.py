"""The analysis runner end to end: outputs, cache, comparisons, broken plugins, atomicity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.errors import InputError, UnknownNameError
from neurofacedis.runner import analyze, split_stimuli


@pytest.fixture(scope="module")
def small_recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("rec") / "small.nwb"
    data = simulate_session(n_identities=12, n_views=6, n_neurons=24, n_repeats=3,
                            image_size=32, seed=3)
    write_session(path, data)
    return path


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_split_is_seeded_and_disjoint():
    tr, te = split_stimuli(100, test_fraction=0.2, seed=1)
    tr2, te2 = split_stimuli(100, test_fraction=0.2, seed=1)
    np.testing.assert_array_equal(te, te2)
    assert len(te) == 20 and len(tr) == 80 and not set(tr) & set(te)
    groups = np.repeat(np.arange(10), 10)
    tr, te = split_stimuli(100, test_fraction=0.2, seed=0, groups=groups)
    assert not set(groups[tr]) & set(groups[te]) and len(set(groups[te])) == 2


def test_analyze_writes_all_outputs(small_recording, tmp_path):
    before = _sha(small_recording)
    out = tmp_path / "out"
    res = analyze(small_recording, models=["pca", "ica"], metrics=["alignment"], out=out,
                  cache_dir=tmp_path / "cache")
    assert _sha(small_recording) == before  # the input is never modified
    for name in ("analysis.nwb", "results.nc", "summary.json", "report.html"):
        assert (out / name).is_file(), name
    assert list((out / "figures").glob("*.png"))
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["metrics"]["alignment"]) == {"pca", "ica"}
    for label in ("pca", "ica"):
        value = summary["metrics"]["alignment"][label]["alignment"]
        assert 0.0 <= value <= 1.0
    assert summary["recording"]["sha256"] == before
    assert summary["errors"] == []
    assert res.ok
    # results.nc holds the full xarray results, equal to what the run returned
    from neurofacedis.results import load_results

    back = load_results(out / "results.nc")
    assert set(back) == set(res.results)
    for key, ds in res.results.items():
        assert float(back[key].attrs["alignment"]) == pytest.approx(float(ds.attrs["alignment"]))
    html = (out / "report.html").read_text()
    assert "<img" in html and "alignment" in html and "Provenance" in html
    # analysis.nwb: latents with provenance, readable with plain pynwb
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out / "analysis.nwb"), "r", load_namespaces=True) as io:
        nwb = io.read()
        lat = {k: v for k, v in nwb.processing["neurofacedis"].data_interfaces.items()
               if type(v).__name__ == "ModelLatents"}
        assert any(k.startswith("latents_pca") for k in lat)
        z = next(v for k, v in lat.items() if k.startswith("latents_pca"))
        assert z.model == "pca" and int(z.seed) == 0
        assert len(z.training_images_sha256) == 64
        np.testing.assert_allclose(z.data[:], res.jobs[0].latents, rtol=1e-6, atol=1e-6)
        assert before in (nwb.notes or "") + (nwb.session_description or "") + str(
            getattr(z, "source", ""))


def test_analysis_nwb_passes_nwbinspector(small_recording, tmp_path):
    from nwbinspector import Importance, inspect_nwbfile

    out = tmp_path / "o"
    analyze(small_recording, models=["pca"], metrics=["alignment"], out=out,
            cache_dir=tmp_path / "cache", figures=False)
    bad = [m for m in inspect_nwbfile(nwbfile_path=str(out / "analysis.nwb"))
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == []


def test_second_run_hits_cache_with_identical_numbers(small_recording, tmp_path):
    kw = dict(models=["ica"], metrics=["alignment"], cache_dir=tmp_path / "cache")
    a = analyze(small_recording, out=tmp_path / "a", **kw)
    b = analyze(small_recording, out=tmp_path / "b", **kw)
    assert a.summary["models"]["ica"]["fits"][0]["cache"] == "miss"
    assert b.summary["models"]["ica"]["fits"][0]["cache"] == "hit"
    assert a.summary["metrics"] == b.summary["metrics"]
    np.testing.assert_array_equal(a.jobs[0].latents, b.jobs[0].latents)


def test_seeds_give_welch_fdr_comparisons(small_recording, tmp_path):
    res = analyze(small_recording, models=["pca", "ica"], metrics=["alignment"], seeds=3,
                  cache_dir=tmp_path / "cache")
    per_seed = res.summary["per_seed"]["alignment"]
    assert per_seed["ica"]["seed"] == [0, 1, 2]
    rows = res.summary["comparisons"]["alignment"]
    row = next(r for r in rows if r["stat"] == "alignment")
    assert {row["a"], row["b"]} == {"pca", "ica"}
    assert 0.0 <= row["p"] <= row["p_fdr"] <= 1.0
    sd = res.summary["metrics_sd"]["alignment"]["ica"]["alignment"]
    assert sd == pytest.approx(np.std(per_seed["ica"]["alignment"], ddof=1))


def test_welch_equals_scipy_and_is_quiet_on_identical_seeds():
    import warnings

    from scipy.stats import ttest_ind

    from neurofacedis.runner import welch

    a, b = np.array([0.41, 0.38, 0.44, np.nan]), np.array([0.30, 0.33, 0.29, 0.35])
    t, p = ttest_ind(a[:3], b, equal_var=False)
    np.testing.assert_allclose(welch(a, b), (t, p), rtol=1e-12)
    assert np.isnan(welch([0.4], b)).all() and np.isnan(welch([0.3, 0.3], [0.3, 0.3])).all()
    with warnings.catch_warnings():  # seeds that reach the same fit: scipy's precision warning
        warnings.simplefilter("error")
        t, p = welch([0.38808677207076847] * 2 + [0.3880867720707685], [0.3, 0.31, 0.305])
    assert t > 0 and p < 0.01


def test_figure_labels_keep_what_tells_models_apart():
    from neurofacedis.results import short_labels

    labels = ["beta_vae[beta=16,loss=gaussian,lr=0.001]", "beta_vae[beta=4,loss=gaussian,lr=0.001]",
              "ae[loss=gaussian,lr=0.001]", "pca", "ica[n_units=5]", "ica[n_units=8]"]
    assert short_labels(labels) == ["beta_vae[beta=16]", "beta_vae[beta=4]", "ae", "pca",
                                    "ica[n_units=5]", "ica[n_units=8]"]


def test_param_sweep_labels(small_recording, tmp_path):
    res = analyze(small_recording, models=["pca"], metrics=["alignment"],
                  params=["pca.n_components=4,6"], cache_dir=tmp_path / "cache")
    assert set(res.summary["metrics"]["alignment"]) == {"pca[n_components=4]",
                                                        "pca[n_components=6]"}
    assert [j.latents.shape[1] for j in res.jobs] == [4, 6]


class _Raises:
    name = "raises"
    unit_names = ["a", "b"]

    def fit(self, images, labels, *, seed, progress, landmarks=None):
        raise RuntimeError("boom in fit")

    def encode(self, images, *, landmarks=None):  # pragma: no cover - never reached
        return np.zeros((len(images), 2))

    def save(self, directory):  # pragma: no cover
        pass

    def load(self, directory):  # pragma: no cover
        pass


class _WrongShape(_Raises):
    name = "wrongshape"

    def fit(self, images, labels, *, seed, progress, landmarks=None):
        pass

    def encode(self, images, *, landmarks=None):
        return np.zeros((len(images) - 1, 2))


class _NaNs(_WrongShape):
    name = "nans"

    def encode(self, images, *, landmarks=None):
        z = np.random.default_rng(0).normal(size=(len(images), 2))
        z[3, 1] = np.nan
        return z


def test_broken_models_are_reported_while_others_still_run(small_recording, tmp_path):
    out = tmp_path / "out"
    res = analyze(small_recording, models=["pca", _Raises(), _WrongShape(), _NaNs()],
                  metrics=["alignment"], out=out, cache_dir=tmp_path / "cache")
    assert not res.ok
    errs = {e["name"]: e["error"] for e in res.summary["errors"]}
    assert "boom in fit" in errs["raises"]
    assert "shape" in errs["wrongshape"]
    assert "non-finite" in errs["nans"] or "NaN" in errs["nans"]
    assert "pca" in res.summary["metrics"]["alignment"]
    assert (out / "summary.json").is_file() and (out / "report.html").is_file()
    assert "boom in fit" in (out / "report.html").read_text()


def test_misspelt_model_suggests_the_right_one(small_recording):
    with pytest.raises(UnknownNameError, match="did you mean 'pca'"):
        analyze(small_recording, models=["pcaa"], metrics=["alignment"])


def test_unmet_requirements_are_skipped_with_reason(small_recording, tmp_path):
    from neurofacedis.registry import get_registry

    needing = [n for n, e in get_registry().metrics.items() if "seeds" in e.spec.requires]
    if not needing:
        pytest.skip("no installed metric requires several seeds")
    res = analyze(small_recording, models=["pca"], metrics=[needing[0]],
                  cache_dir=tmp_path / "cache")
    assert res.summary["skipped"][0]["metric"] == needing[0]
    assert "seeds" in res.summary["skipped"][0]["reason"]


def test_adhoc_model_path_from_python(small_recording, tmp_path):
    res = analyze(small_recording, models=["sklearn.decomposition:PCA"], metrics=["alignment"])
    # sklearn's PCA does not follow the Model protocol: fit(images, labels, seed=...) fails
    assert not res.ok and res.summary["errors"][0]["name"] == "pca"


def test_into_adds_latents_atomically(small_recording, tmp_path):
    import shutil

    from neurofacedis.nwb import Recording

    copy = tmp_path / "copy.nwb"
    shutil.copy(small_recording, copy)
    analyze(copy, models=["pca"], metrics=["alignment"], into=True, cache_dir=tmp_path / "c")
    with Recording.open(copy) as rec:
        assert any(k.startswith("latents_pca") for k in rec.latents)
        n = rec.n_stimuli
    with Recording.open(small_recording) as rec:
        assert rec.n_stimuli == n and not rec.latents


def test_cli_analyze_json_and_bad_input(small_recording, tmp_path, capsys):
    """Real processes: ``--json`` prints only the summary on stdout; a bad file exits 2 in one
    line. The misspelt model (an argument error, not a process matter) runs in-process."""
    exe = [sys.executable, "-m", "neurofacedis"]
    proc = subprocess.run(
        [*exe, "analyze", str(small_recording), "--model", "pca", "--metric", "alignment",
         "-p", "alignment.n_subsets=5", "-p", "alignment.n_rotations=1",  # its testing size
         "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c"), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert "pca" in summary["metrics"]["alignment"]
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not an hdf5 file at all")
    proc = subprocess.run([*exe, "analyze", str(bad), "--model", "pca", "--out",
                           str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and str(bad) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
    from neurofacedis.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(small_recording), "--model", "pcaa"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "did you mean" in err and "Traceback" not in err


def test_failed_write_leaves_previous_output(small_recording, tmp_path, monkeypatch):
    out = tmp_path / "out"
    analyze(small_recording, models=["pca"], metrics=["alignment"], out=out,
            cache_dir=tmp_path / "c", figures=False)
    first = (out / "summary.json").read_text()
    import neurofacedis.results as results

    def explode(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(results, "render_report", explode)
    with pytest.raises(RuntimeError):
        analyze(small_recording, models=["pca"], metrics=["alignment"], out=out,
                cache_dir=tmp_path / "c", figures=False)
    assert (out / "summary.json").read_text() == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_bad_options(small_recording):
    with pytest.raises(InputError):
        analyze(small_recording, models=["pca"], metrics=["alignment"], test_fraction=1.5)
    with pytest.raises(InputError):
        analyze(small_recording, models=[], metrics=["alignment"])



@pytest.mark.parametrize("kwargs,flags,name,flag", [
    ({"models": []}, ["--model", "pca", "--model", "pca"], "models", "--model"),
    ({"models": ["pca"], "split_by": "x"}, ["--model", "pca", "--split-by", "x"], "split_by",
     "--split-by"),
    ({"models": ["pca"], "train_images": "missing.npy"},
     ["--model", "pca", "--train-images", "missing.npy"], "train_images", "--train-images"),
])
def test_library_errors_name_parameters_and_the_cli_names_flags(small_recording, tmp_path,
                                                                 capsys, kwargs, flags, name,
                                                                 flag):
    from neurofacedis.cli import main

    with pytest.raises(InputError) as err:
        analyze(small_recording, metrics=["alignment"], **kwargs)
    assert err.value.obj == name
    with pytest.raises(SystemExit) as code:
        main(["analyze", str(small_recording), *flags, "--metric", "alignment",
              "--cache-dir", str(tmp_path / "c")])
    line = capsys.readouterr().err.strip()
    assert code.value.code == 2 and line.startswith("error: ") and f" {flag}: " in line, line
    assert len(line.splitlines()) == 1

CONCURRENT = r"""
import json, sys
from neurofacedis.runner import analyze
res = analyze(sys.argv[1], models=["ica"], metrics=["alignment"], cache_dir=sys.argv[2],
              out=sys.argv[3])
print(json.dumps({"cache": res.summary["models"]["ica"]["fits"][0]["cache"],
                  "metrics": res.summary["metrics"]}))
"""


def test_two_runs_at_once_share_the_cache(small_recording, tmp_path):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(small_recording), str(cache),
                               str(tmp_path / f"out{i}")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert sorted(o["cache"] for o in outs) == ["hit", "miss"]  # fitted once
    assert outs[0]["metrics"] == outs[1]["metrics"]
    entries = list((cache / "models").glob("*/*/meta.json"))
    assert len(entries) == 1


def test_p_values_get_fdr_across_models():
    from statsmodels.stats.multitest import multipletests

    from neurofacedis.stats import fdr_across_models as _fdr_across_models

    per_seed = {"rsa": {"a": {"seed": [0, 1], "p_value": [0.01, 0.04]},
                        "b": {"seed": [0], "p_value": [0.03]}},
                "alignment": {"a": {"seed": [0], "alignment": [0.5]}}}
    _fdr_across_models(per_seed)
    want = multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1]
    np.testing.assert_allclose(per_seed["rsa"]["a"]["p_value_fdr"], want[:2])
    np.testing.assert_allclose(per_seed["rsa"]["b"]["p_value_fdr"], want[2:])
    assert "p_value_fdr" not in per_seed["alignment"]["a"]


def test_aam_without_landmarks_errors_clearly_while_others_run(tmp_path):
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    data = simulate_session(n_identities=8, n_views=4, n_neurons=12, n_repeats=2,
                            image_size=24, seed=5)
    data.landmarks = None
    path = tmp_path / "nolandmarks.nwb"
    write_session(path, data)
    res = analyze(path, models=["aam", "pca"], metrics=["alignment"], out=tmp_path / "o",
                  cache_dir=tmp_path / "c", figures=False)
    err = next(e for e in res.summary["errors"] if e["name"] == "aam")
    assert "landmarks" in err["error"] and "--detect-landmarks" in err["error"]
    assert "pca" in res.summary["metrics"]["alignment"]
    assert not res.ok


def test_one_unit_fit_skips_alignment_and_runs_the_rest(small_recording, tmp_path):
    # a collapsed β-VAE keeps one active unit; pca with one component stands in for it
    metrics = ["alignment", "decoding", "reconstruction", "encoding", "rsa", "dci", "mig"]
    res = analyze(small_recording, models=["pca"], params={"pca": {"n_components": [1]}},
                  metrics=metrics, out=tmp_path / "o", quiet=True, cache_dir=tmp_path / "c")
    assert res.ok and not res.summary["errors"]
    (skip,) = res.summary["skipped"]
    assert skip["metric"] == "alignment" and "this fit has 1" in skip["reason"]
    assert sorted(res.summary["metrics"]) == sorted(set(metrics) - {"alignment"})
    assert np.isfinite(res.summary["metrics"]["reconstruction"]["pca[n_components=1]"]
                       ["cosine_distance_own"])


# ------------------------------------------------------------------ training on another set


@pytest.fixture(scope="module")
def training_set(tmp_path_factory) -> Path:
    """Another session of the virtual face patch (other identities) at twice the size."""
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("train") / "training.nwb"
    write_session(path, simulate_session(n_identities=10, n_views=5, n_neurons=2, n_repeats=1,
                                         image_size=64, seed=11))
    return path


def test_nwb_training_set_brings_labels_and_resized_landmarks(training_set):
    from neurofacedis.runner import load_training_set
    from neurofacedis.simulate import simulate_session

    ts = load_training_set(training_set, (32, 32))
    small = simulate_session(n_identities=10, n_views=5, n_neurons=2, n_repeats=1,
                             image_size=32, seed=11)
    assert ts.images.shape == (50, 32, 32) and ts.images.dtype == np.float32
    assert list(ts.labels["identity"].astype(int)) == list(np.asarray(small.identity, int))
    # landmarks follow the resize: the 64 px set's, rescaled, are the 32 px render's
    np.testing.assert_allclose(ts.landmarks, small.landmarks, atol=1e-9)
    same = load_training_set(training_set, (64, 64))
    np.testing.assert_allclose(same.landmarks, simulate_session(
        n_identities=10, n_views=5, n_neurons=2, n_repeats=1, image_size=64, seed=11).landmarks,
        atol=1e-12)


def test_analyze_fits_every_model_on_an_nwb_training_set(small_recording, training_set,
                                                         tmp_path):
    res = analyze(small_recording, models=["pca", "aam", "classifier"], metrics=["alignment"],
                  params={"classifier": {"steps": 3, "size": 32, "width": 8, "hidden": 16}},
                  train_images=training_set, out=tmp_path / "out", cache_dir=tmp_path / "cache",
                  figures=False)
    assert res.ok, res.summary["errors"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["training_images"]["source"] == str(training_set)
    jobs = {j.name: j for j in res.jobs}
    # PCA's mean image is the training set's, not the recording's training stimuli
    from neurofacedis.runner import load_training_set

    train = load_training_set(training_set, (32, 32)).images
    np.testing.assert_allclose(jobs["pca"].model._arrays["mean"], train.reshape(50, -1).mean(0),
                               atol=1e-6)
    # the classifier learnt the training set's 10 identities (the recording shows 12)
    labels = jobs["classifier"].model.provenance_extra["labels"]["identity"]
    assert labels["n_classes"] == 10


def test_image_only_training_set_leaves_aam_without_landmarks(small_recording, training_set,
                                                              tmp_path):
    from neurofacedis.runner import load_training_set

    npy = tmp_path / "faces.npy"
    np.save(npy, load_training_set(training_set, (32, 32)).images)
    res = analyze(small_recording, models=["pca", "aam"], metrics=["alignment"],
                  train_images=npy, cache_dir=tmp_path / "cache", figures=False)
    errors = {e["name"]: e["error"] for e in res.summary["errors"]}
    assert set(errors) == {"aam"} and "landmarks" in errors["aam"]


def test_fit_key_follows_the_training_annotations(small_recording):
    import pandas as pd

    from neurofacedis.cache import cache_key
    from neurofacedis.registry import get_registry
    from neurofacedis.runner.inputs import annotations_sha256 as _annotations_sha256
    from neurofacedis.runner.jobs import FitJob
    from neurofacedis.runner.jobs import fit_key as _fit_key

    lm = np.zeros((3, 4, 2))
    labels = pd.DataFrame({"identity": [0, 0, 1]})
    base = _annotations_sha256(labels, lm)
    assert base == _annotations_sha256(labels.copy(), lm.copy())
    moved = lm.copy()
    moved[0, 0, 0] = 0.5
    assert _annotations_sha256(labels, moved) != base
    assert _annotations_sha256(pd.DataFrame({"identity": [0, 1, 1]}), lm) != base
    assert _annotations_sha256(labels, None) != base
    entry = get_registry().model("aam")
    job = FitJob(label="aam", name="aam", params={}, seed=0, entry=entry, plugin=entry.plugin,
                 distribution=entry.distribution, plugin_version=str(entry.version))
    assert _fit_key(job, "img", base, cache_key) != _fit_key(
        job, "img", _annotations_sha256(labels, moved), cache_key)


def test_fit_warnings_reach_the_summary_once_per_fit_and_stay_with_the_cache(small_recording,
                                                                              tmp_path):
    kwargs = dict(models=["ica"], metrics=["alignment"], seeds=2, figures=False,
                  params={"ica": {"max_iter": 1}}, cache_dir=tmp_path / "cache")
    for _ in range(2):  # fitted, then loaded from the cache: the same warnings
        res = analyze(small_recording, **kwargs)
        said = [w for w in res.summary["warnings"] if w.startswith("model ica")]
        assert said == [f"model ica[max_iter=1]/seed{s}: FastICA did not converge. Consider "
                        "increasing tolerance or the maximum number of iterations."
                        for s in (0, 1)]
        assert all(j.extra["converged"] is False for j in res.jobs)


def test_select_udr_keeps_the_seeds_it_chose_before_issue_19(small_recording, tmp_path):
    # --select udr is now "run the udr metric, keep the best seed per label"; the seeds and
    # scores below were recorded with the runner's former udr_scores() selection (same data)
    res = analyze(small_recording, models=["ica", "pca"], metrics=["alignment"],
                  seeds=[0, 1, 2, 3], select="udr", params=["ica.n_components=4,6"],
                  cache_dir=tmp_path / "cache")
    sel = res.summary["selection"]
    assert {k: v["selected_seed"] for k, v in sel.items()} == {
        "ica[n_components=4]": 1, "ica[n_components=6]": 2, "pca": 0}
    before = {"ica[n_components=4]": [0.8561468259678188, 0.8585342573999735,
                                      0.8561468259678188, 0.5390735073349712],
              "ica[n_components=6]": [0.7431581405522402, 0.7431581405522403,
                                      0.7433066830046385, 0.7431581405522403],
              "pca": [0.6736472466477647] * 4}
    for label, scores in before.items():
        got = [sel[label]["udr"][str(s)] for s in range(4)]
        np.testing.assert_allclose(got, scores, rtol=1e-9, atol=1e-12)
        assert sel[label]["scores"] == sel[label]["udr"] and sel[label]["metric"] == "udr"
    assert "udr" not in res.summary["metrics"]  # selection only: not asked as a metric
    chosen = {(j.label, j.seed) for j in res.jobs if j.selected}
    assert ("ica[n_components=4]", 1) in chosen and ("ica[n_components=4]", 0) not in chosen


def test_select_any_metric_statistic_and_unknown_selection(small_recording, tmp_path):
    res = analyze(small_recording, models=["ica"], metrics=["alignment"], seeds=[0, 1],
                  select="alignment:alignment", cache_dir=tmp_path / "cache")
    info = res.summary["selection"]["ica"]
    per_seed = res.summary["per_seed"]["alignment"]["ica"]
    best = per_seed["seed"][int(np.argmax(per_seed["alignment"]))]
    assert info["selected_seed"] == best and info["metric"] == "alignment"
    with pytest.raises(UnknownNameError, match="unknown selection 'nope'"):
        analyze(small_recording, models=["pca"], select="nope", cache_dir=tmp_path / "cache")


def test_runner_does_not_import_the_udr_plugin():
    import ast

    names = set()
    for path in Path(__file__).resolve().parents[1].joinpath("neurofacedis", "runner").glob(
            "*.py"):
        tree = ast.parse(path.read_text())
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "neurofacedis.runner.jobs" in names  # the package was read
    assert not any(str(m).startswith("nfd_") for m in names)
