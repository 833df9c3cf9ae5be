"""Behaviour without neurons (issue 23, the FE-AlexNet case) and behaviour from a second file.

A plain-pynwb file holding images and a trials table of human judgements, but no Units and no
StimulusResponses, is analysed with ``target="behaviour"``: the behaviour metrics run, every
neural metric is skipped with a one-line reason, and ``inspect`` calls it a behaviour file.
With target neurons it stops in one line that names ``--target behaviour``. Behaviour may
also come from a file of its own (``behaviour=``), matched to the recording by stimulus id.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest

from neurofacedis.errors import InputError, MissingDataError
from neurofacedis.runner import analyze

CHEAP = {"agreement": {"n_permutations": [50], "n_folds": [3]},
         "error_consistency": {"n_permutations": [50], "n_folds": [3]},
         "rating_encoding": {"n_permutations": [99], "n_folds": [3]}}
N_STIMULI, SIZE = 24, 16


def _images_and_raters(seed: int = 0):
    """Tiny seeded images; valence judged from their mean brightness by 6 simulated raters."""
    from neurofacedis.simulate._raters import simulate_raters

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(N_STIMULI, SIZE, SIZE), dtype=np.uint8)
    images[: N_STIMULI // 2] //= 2  # half dark, half bright: a readable valence
    ids = [f"face{i:02d}" for i in range(N_STIMULI)]
    brightness = images.reshape(N_STIMULI, -1).mean(axis=1, keepdims=True)
    raters = simulate_raters(brightness, n_subjects=6, noise=0.8, stimulus_ids=ids, seed=seed)
    return images, ids, raters.behaviour


def write_behaviour_only(path, *, with_images: bool = True):
    """Write images + intervals/trials (human choices and ratings) with plain pynwb only."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    images, ids, behaviour = _images_and_raters()
    nwb = NWBFile(session_description="valence judgements of faces", identifier="fe-alexnet",
                  session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    if with_images:
        nwb.add_stimulus_template(Images(name="faces", description="the face images", images=[
            GrayscaleImage(name=sid, data=img, description="face") for sid, img in
            zip(ids, images, strict=True)]))
    table = behaviour.to_table()
    for name, text in [("stimulus_id", "image"), ("subject_id", "participant"),
                       ("choice", "positive or negative"), ("rating", "valence"),
                       ("reaction_time", "seconds")]:
        nwb.add_trial_column(name, text)
    for i, row in enumerate(table.itertuples(index=False)):
        nwb.add_trial(start_time=2.0 * i, stop_time=2.0 * i + 1.5, stimulus_id=row.stimulus_id,
                      subject_id=row.subject_id, choice=row.choice, rating=row.rating,
                      reaction_time=row.reaction_time)
    labels = np.array(behaviour.choice_labels, dtype=object)[behaviour.targets]
    nwb.create_processing_module("behavior", "human behaviour").add(DynamicTable(
        name="stimuli", description="one row per stimulus", columns=[
            VectorData(name="stimulus_id", description="image", data=ids),
            VectorData(name="target", description="correct answer", data=list(labels))]))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.fixture(scope="module")
def behaviour_file(tmp_path_factory):
    return write_behaviour_only(tmp_path_factory.mktemp("behaviour-only") / "fe.nwb")


def test_behaviour_only_file_runs_behaviour_metrics_and_skips_neural_ones(behaviour_file,
                                                                          tmp_path):
    before = behaviour_file.read_bytes()
    res = analyze(behaviour_file, models=["pca"], target="behaviour", params=CHEAP,
                  metrics=["agreement", "error_consistency", "rating_encoding", "alignment",
                           "encoding", "behaviour_rsa"],
                  out=tmp_path / "out", cache_dir=tmp_path / "cache", figures=False)
    assert behaviour_file.read_bytes() == before
    assert res.ok, res.summary["errors"]
    metrics = res.summary["metrics"]
    assert 0.5 < metrics["agreement"]["pca"]["agreement"] <= 1.0
    assert "error_consistency" in metrics
    assert metrics["rating_encoding"]["pca"]["r2"] > 0.5  # ratings follow the brightness
    assert "alignment" not in metrics and "encoding" not in metrics
    reasons = {s["metric"]: s["reason"] for s in res.summary["skipped"]}
    assert set(reasons) == {"alignment", "encoding", "behaviour_rsa"}
    # under target behaviour a missing kind of judgement is named with the file
    assert reasons.pop("behaviour_rsa").endswith("; fe.nwb's behaviour has no RDMs")
    for reason in reasons.values():
        assert reason == ("needs neural responses (a Units table or StimulusResponses); "
                          "fe.nwb has none: a behaviour-only file")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["recording"]["n_neurons"] == 0
    assert summary["recording"]["response_source"] == "none"
    assert summary["target"]["kind"] == "behaviour" and summary["target"]["n_subjects"] == 6
    report = (tmp_path / "out" / "report.html").read_text()
    assert "a behaviour-only file" in report


def test_behaviour_only_file_with_target_neurons_is_one_line_naming_the_flag(behaviour_file,
                                                                               tmp_path):
    with pytest.raises(MissingDataError) as err:
        analyze(behaviour_file, models=["pca"], cache_dir=tmp_path / "cache")
    assert str(err.value) == (
        f"{behaviour_file}: units: no neural data (no Units table and no StimulusResponses); "
        "a behaviour-only file is analysed with `target` behaviour")


def test_cli_target_neurons_names_the_flag(behaviour_file, tmp_path, capsys):
    from neurofacedis.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(behaviour_file), "--model", "pca", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert err.rstrip().endswith("a behaviour-only file is analysed with --target behaviour")
    assert not (tmp_path / "o").exists()


def test_inspect_describes_a_behaviour_file(behaviour_file):
    from neurofacedis.inspection import summarize

    report = summarize(behaviour_file)
    assert report["kind"] == "behaviour"
    assert report["stimuli"] == N_STIMULI and report["image_shape"] == [SIZE, SIZE]
    assert report["neurons"] == 0
    assert report["behaviour"] == {"subjects": 6, "trials": 6 * N_STIMULI,
                                   "choices": ["negative", "positive"], "ratings": True,
                                   "rdms": False, "trials_table": "intervals/trials"}
    assert "--target behaviour" in report["analysable"]


# --- behaviour from a file of its own ---------------------------------------------------------


@pytest.fixture(scope="module")
def recording_and_ratings(tmp_path_factory):
    """A recording with neurons, and its stimuli's ratings in a separate behaviour-only file."""
    from neurofacedis.nwb import write_session
    from neurofacedis.nwb._behaviour import write_behaviour
    from neurofacedis.simulate import simulate_session
    from neurofacedis.simulate._raters import simulate_raters

    root = tmp_path_factory.mktemp("behaviour-file")
    data = simulate_session(n_identities=12, n_views=4, n_neurons=4, n_repeats=2,
                            image_size=16, seed=1)
    write_session(root / "rec.nwb", data)
    raters = simulate_raters(data.factors.to_numpy(), n_subjects=6, noise=0.5,
                             stimulus_ids=data.stimulus_ids, seed=2)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    write_behaviour(root / "ratings.nwb", raters.behaviour, identifier="ratings",
                    session_start_time=start)
    other = simulate_raters(data.factors.to_numpy()[:6], n_subjects=2, seed=3,
                            stimulus_ids=[f"x{i}" for i in range(6)])
    write_behaviour(root / "other.nwb", other.behaviour, identifier="other",
                    session_start_time=start)
    return root


def test_behaviour_from_a_second_file_is_matched_by_stimulus_id(recording_and_ratings, tmp_path):
    root = recording_and_ratings
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    res = analyze(root / "rec.nwb", models=["pca"], target="behaviour",
                  behaviour=root / "ratings.nwb", metrics=["agreement", "alignment"],
                  params=CHEAP, cache_dir=tmp_path / "cache", figures=False)
    assert res.ok, res.summary["errors"]
    assert {"agreement", "alignment"} <= set(res.summary["metrics"])  # neurons and behaviour
    target = res.summary["target"]
    assert target["source"] == str(root / "ratings.nwb") and len(target["sha256"]) == 64
    assert target["n_subjects"] == 6 and target["n_stimuli"] == 48
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before


def test_behaviour_file_of_other_stimuli_is_one_line_naming_both_files(recording_and_ratings,
                                                                       tmp_path):
    root = recording_and_ratings
    with pytest.raises(InputError) as err:
        analyze(root / "rec.nwb", models=["pca"], target="behaviour",
                behaviour=root / "other.nwb", cache_dir=tmp_path / "cache")
    assert str(err.value) == (f"{root / 'other.nwb'}: behaviour: stimulus 'x0' (6 of 6) is not "
                              f"among the stimuli of {root / 'rec.nwb'}")


def test_behaviour_file_needs_target_behaviour_cli_names_the_flags(recording_and_ratings,
                                                                   tmp_path, capsys):
    from neurofacedis.cli import main

    root = recording_and_ratings
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(root / "rec.nwb"), "-m", "pca", "--behaviour",
              str(root / "ratings.nwb"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert err.strip() == (f"error: {root / 'ratings.nwb'}: --behaviour: is read with --target "
                           "behaviour; the target is neurons")
    assert not (tmp_path / "o").exists()


# --- encoding of mean ratings -----------------------------------------------------------------


def _rating_context(z, behaviour, seed=0):
    import xarray as xr

    from neurofacedis.specs import MetricContext

    n = len(z)
    lat = xr.DataArray(z, dims=("stimulus", "unit"),
                       coords={"stimulus": list(behaviour.stimulus_ids),
                               "unit": [f"u{i}" for i in range(z.shape[1])]})
    resp = xr.DataArray(np.zeros((n, 0, 0)), dims=("stimulus", "neuron", "repeat"))
    test = np.arange(0, n, 3)
    return MetricContext(responses=resp, latents=lat, train=np.setdiff1d(np.arange(n), test),
                         test=test, rng=np.random.default_rng(seed), behaviour=behaviour)


def test_rating_encoding_known_answer_generator_vs_shuffled_latents():
    """Raters rate a readout of G: G's held-out R^2 is near the raters' ceiling, p < 0.05;
    the same latents shuffled over stimuli explain nothing."""
    from nfd_behaviour import RatingEncodingMetric

    from neurofacedis.simulate._raters import simulate_raters

    rng = np.random.default_rng(0)
    g = rng.normal(size=(60, 4))
    b = simulate_raters(g, n_subjects=8, noise=0.5, seed=1).behaviour
    metric = RatingEncodingMetric(n_folds=4, n_permutations=199, n_splits=10)
    good = metric.compute(_rating_context(g, b)).attrs
    null = metric.compute(_rating_context(g[rng.permutation(60)], b)).attrs
    assert good["r2"] > 0.85 and good["p_value"] < 0.01
    assert 0.9 < good["ceiling"] <= 1.0  # 8 raters, noise 0.5 on a unit-sd value
    assert good["normalized"] == pytest.approx(good["r2"] / good["ceiling"])
    assert null["r2"] < 0.2 and null["p_value"] > 0.05
    assert good["n_test"] == 20 and good["n_train"] == 40 and good["n_subjects"] == 8


def test_rating_encoding_needs_ratings_and_enough_stimuli():
    from nfd_behaviour import RatingEncodingMetric

    from neurofacedis.simulate._raters import simulate_raters

    g = np.random.default_rng(0).normal(size=(12, 2))
    b = simulate_raters(g, n_subjects=3, seed=1).behaviour
    with pytest.raises(InputError, match="rating_encoding: need >= 10 rated training"):
        RatingEncodingMetric(n_permutations=0).compute(_rating_context(g, b))


def test_rating_encoding_end_to_end_factors_model(recording_and_ratings, tmp_path):
    root = recording_and_ratings
    res = analyze(root / "rec.nwb", models=["factors", "pca"], target="behaviour",
                  behaviour=root / "ratings.nwb", metrics=["rating_encoding"], params=CHEAP,
                  test_fraction=0.5, cache_dir=tmp_path / "cache", figures=False)
    assert res.ok, res.summary["errors"]
    scores = res.summary["metrics"]["rating_encoding"]
    factors, pca = scores["factors"], scores["pca"]
    assert factors["r2"] > 0.8 and factors["p_value"] < 0.05
    assert factors["normalized"] > 0.85  # the generating model reaches the raters' ceiling
    assert factors["r2"] > pca["r2"] + 0.1
