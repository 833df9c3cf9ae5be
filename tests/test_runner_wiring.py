"""The runner passes library features through: landmarks to metrics (issue 25), unit selection
and pooled sessions (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.runner import analyze


@pytest.fixture(scope="module")
def sim_recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("rec") / "sim.nwb"
    data = simulate_session(n_identities=8, n_views=4, n_neurons=6, n_repeats=2,
                            image_size=32, seed=5)
    write_session(path, data)
    return path


class _Maps:
    """An ad-hoc model: two pixel-mean latents and a 16x16 feature map of the image."""

    name = "maps"
    unit_names = ["mean", "contrast"]

    def fit(self, images, labels, *, seed, progress, landmarks=None):
        pass

    def encode(self, images, *, landmarks=None):
        flat = images.reshape(len(images), -1)
        return np.c_[flat.mean(axis=1), flat.std(axis=1)]

    def feature_maps(self, images, *, layer):
        assert layer == "conv2"
        small = images.reshape(len(images), 16, 2, 16, 2).mean(axis=(2, 4))
        return np.stack([small, 1.0 - small], axis=1).astype(np.float32)

    def save(self, directory):  # pragma: no cover - ad-hoc models are not cached
        pass

    def load(self, directory):  # pragma: no cover
        pass


def test_dissection_gets_the_recordings_landmarks(sim_recording, tmp_path):
    res = analyze(sim_recording, models=[_Maps()], metrics=["dissection"],
                  params=["dissection.layer=conv2", "dissection.n_permutations=20",
                          "dissection.n_faces=1", "dissection.thumbnail=8"],
                  figures=False, cache_dir=tmp_path / "cache")
    assert res.ok, res.summary["errors"]
    (result,) = [r for (m, _, _), r in res.results.items() if m == "dissection"]
    kinds = set(np.asarray(result["concept_kind"].values).astype(str))
    assert "local" in kinds  # facial parts from the recording's landmarks
    assert "no landmarks" not in json.dumps(result.attrs, default=str)


# --- issue 20: unit selection and pooled sessions through analyze ------------------------------

N = 12


def _lab(path, trains, *, order=None, prefix="img", drop=None, **columns):
    """A plain-pynwb session over N images (stored in ``order``, named ``prefix``)."""
    from lab_nwb import add_units, new_file, pixels, schedule, write
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    images = pixels(n=N)
    shown, onsets = schedule(n=N)
    order = list(range(N)) if order is None else order
    where = {k: i for i, k in enumerate(order)}
    nwbfile = new_file(path.stem)
    frames = [GrayscaleImage(name=f"{prefix}{where[k]:02d}", data=images[k])
              for k in order if k != drop]
    nwbfile.add_stimulus_template(Images(name="faces", images=frames, description="faces"))
    rows = {f.name: i for i, f in enumerate(sorted(frames, key=lambda f: f.name))}
    nwbfile.add_trial_column(name="image_index", description="which image")
    for k, t in zip(shown, onsets, strict=True):
        if k != drop:
            nwbfile.add_trial(start_time=t, stop_time=t + 0.4,
                              image_index=rows[f"{prefix}{where[k]:02d}"])
    add_units(nwbfile, trains, **columns)
    write(nwbfile, path)
    return path


def _trains(n_units=4):
    from lab_nwb import pixels, schedule, spike_trains

    shown, onsets = schedule(n=N)
    return spike_trains(pixels(n=N), shown, onsets, n_units=n_units)


def _provenance_extra(path):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        nwb = io.read()
        lat = [o for o in nwb.processing["neurofacedis"].data_interfaces.values()
               if type(o).__name__ == "ModelLatents"]
        return [json.loads(o.extra) for o in lat]


def test_units_and_min_rate_select_and_summary_names_the_dropped_unit(tmp_path):
    trains = _trains()
    trains[2] = np.array([0.1, 0.2])  # fires before the first stimulus only: silent
    path = _lab(tmp_path / "lab.nwb", trains, quality=["good", "good", "good", "mua"])
    res = analyze(path, models=["pca"], metrics=["alignment"], out=tmp_path / "out",
                  params=["pca.n_components=3"],
                  figures=False, cache_dir=tmp_path / "c", units="quality == 'good'",
                  min_rate=0.5)
    sel = json.loads((tmp_path / "out" / "summary.json").read_text())["recording"][
        "unit_selection"]
    assert sel["kept"] == [0, 1] and sel["units"] == "quality == 'good'"
    assert sel["dropped"]["2"] == "silent: no spike in any response window"
    assert "3" in sel["dropped"] and sel["min_rate"] == 0.5
    assert res.ok and res.summary["recording"]["n_neurons"] == 2
    (extra,) = {json.dumps(e, sort_keys=True) for e in
                _provenance_extra(tmp_path / "out" / "analysis.nwb")}
    assert json.loads(extra)["unit_selection"] == sel
    assert json.loads(extra)["recording_files"][0]["path"] == str(path)
    # and the report says it, before the verdict
    import html

    report = html.unescape((tmp_path / "out" / "report.html").read_text())
    line = ("Units: 2 kept, 2 dropped, 0 flagged (selected by units \"quality == 'good'\", "
            "min rate 0.5 Hz). unit 2: silent: no spike in any response window; unit 3: ")
    assert line in report.replace("&#x27;", "'")
    assert report.index("Units: 2 kept") < report.index("<h2>Verdict</h2>")


def test_pooling_two_files_equals_one_file_holding_both(tmp_path):
    trains = _trains()
    (tmp_path / "one").mkdir()
    both = _lab(tmp_path / "one" / "both.nwb", trains)
    (tmp_path / "sessions").mkdir()
    a = _lab(tmp_path / "sessions" / "a.nwb", trains[:2])
    order = [3, 5, 0, 1, 4, 2, 11, 7, 6, 10, 9, 8]
    b = _lab(tmp_path / "sessions" / "b.nwb", trains[2:], order=order, prefix="pic")
    kw = dict(models=["pca"], metrics=["alignment"], figures=False, cache_dir=tmp_path / "c",
              params=["pca.n_components=3"])
    one = analyze(both, **kw)
    pooled = analyze([a, b], out=tmp_path / "out", **kw)
    assert pooled.ok and one.ok and one.summary["metrics"]["alignment"]["pca[n_components=3]"]
    assert pooled.summary["metrics"] == one.summary["metrics"]
    key = next(iter(one.results))
    for name, var in one.results[key].data_vars.items():  # every number of the result
        np.testing.assert_array_equal(pooled.results[key][name].values, var.values)
    rec = pooled.summary["recording"]
    assert [f["path"] for f in rec["files"]] == [str(a), str(b)]
    assert len({f["sha256"] for f in rec["files"]}) == 2
    assert set(rec["unit_selection"]) == {"a", "b"} and rec["identifier"] == "a+b"
    (files,) = {json.dumps(e["recording_files"]) for e in
                _provenance_extra(tmp_path / "out" / "analysis.nwb")}
    assert [f["identifier"] for f in json.loads(files)] == ["a", "b"]
    folder = analyze(tmp_path / "sessions", **kw)  # a folder: a.nwb, b.nwb
    assert folder.summary["metrics"] == one.summary["metrics"]


def test_union_pooling_runs_and_every_metric_says_what_it_did(tmp_path):
    trains = _trains()
    a = _lab(tmp_path / "a.nwb", trains[:2])
    b = _lab(tmp_path / "b.nwb", trains[2:], drop=4)  # image 4 not shown in b: NaN there
    names = ["alignment", "rsa", "mig"]
    res = analyze([a, b], models=["pca"], metrics=names, params=["pca.n_components=3"],
                  figures=False, cache_dir=tmp_path / "c", stimuli_match="union")
    assert res.summary["recording"]["n_stimuli"] == N
    assert res.summary["recording"]["stimuli_match"] == "union"
    said = {m: "result" for m in res.summary["metrics"]}
    said.update({s["metric"]: s["reason"] for s in res.summary["skipped"]})
    said.update({e["name"]: e["error"] for e in res.summary["errors"]})
    assert set(said) == set(names) and "\n" not in "".join(said.values())
    assert said["alignment"] == "result" and said["mig"].startswith("needs known generative")


def test_dask_workers_open_the_same_pooled_selected_recording(tmp_path):
    from neurofacedis.runner.dask import WorkerRun

    trains = _trains()
    trains[1] = np.zeros(0)  # silent: dropped in a
    a = _lab(tmp_path / "a.nwb", trains[:2])
    b = _lab(tmp_path / "b.nwb", trains[2:], drop=4)
    spec = WorkerRun(recording=str(a), window=None, train_images=None, split_by="stimulus",
                     test_fraction=0.2, split_seed=0, cache_root=str(tmp_path), stamp=(0, 0),
                     recordings=(str(a), str(b)), options=(("min_rate", 0.1),),
                     match="union")
    with spec.open() as rec:
        assert rec.n_stimuli == N and rec.n_neurons == 3
        assert rec.responses.coords["session"].values.tolist() == ["a", "b", "b"]
        assert rec.files[0]["selection"]["min_rate"] == 0.1


def test_bad_pooling_options_are_one_line(tmp_path):
    from neurofacedis.errors import InputError

    a = _lab(tmp_path / "a.nwb", _trains()[:2])
    with pytest.raises(InputError, match="stimuli_match: must be one of intersect, union"):
        analyze([a, a], models=["pca"], stimuli_match="all")
    with pytest.raises(InputError, match="into: adds latents to one recording"):
        analyze([a, a], models=["pca"], into=True)
    with pytest.raises(InputError, match="no recording given"):
        analyze([], models=["pca"])


@pytest.mark.parametrize("workers", [None, 1])
def test_models_that_require_factors_get_them_from_the_runner(sim_recording, tmp_path,
                                                               workers):
    """`--model factors` on a simulated file: the runner passes factors= to fit and encode."""
    from neurofacedis.nwb import Recording

    res = analyze(sim_recording, models=["factors"], metrics=["decoding"],
                  params={"factors": {"rotate": [False, True]}}, cache_dir=tmp_path / "c",
                  workers=workers)
    assert res.summary["errors"] == []
    with Recording.open(sim_recording) as rec:
        truth, names = rec.factors.to_numpy(dtype=float), list(rec.factors.columns)
    plain, rotated = sorted(res.jobs, key=lambda j: j.params["rotate"])
    np.testing.assert_array_equal(plain.latents, truth)  # the factors themselves
    assert plain.unit_names == names
    # the rotated control: the same information in a rotated (orthogonal) basis
    np.testing.assert_allclose(np.linalg.norm(rotated.latents, axis=1),
                               np.linalg.norm(truth, axis=1), rtol=1e-12)
    np.testing.assert_allclose(rotated.latents @ rotated.latents.T, truth @ truth.T, atol=1e-10)
    assert not np.allclose(rotated.latents, truth, atol=0.1)
