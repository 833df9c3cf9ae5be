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
         "error_consistency": {"n_permutations": [50], "n_folds": [3]}}
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
                  metrics=["agreement", "error_consistency", "alignment", "encoding"],
                  out=tmp_path / "out", cache_dir=tmp_path / "cache", figures=False)
    assert behaviour_file.read_bytes() == before
    assert res.ok, res.summary["errors"]
    metrics = res.summary["metrics"]
    assert 0.5 < metrics["agreement"]["pca"]["agreement"] <= 1.0
    assert "error_consistency" in metrics
    assert "alignment" not in metrics and "encoding" not in metrics
    reasons = {s["metric"]: s["reason"] for s in res.summary["skipped"]}
    assert set(reasons) == {"alignment", "encoding"}
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
    data = simulate_session(n_identities=6, n_views=4, n_neurons=4, n_repeats=2,
                            image_size=16, seed=1)
    write_session(root / "rec.nwb", data)
    raters = simulate_raters(data.factors.to_numpy(), n_subjects=6, noise=0.8,
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
    assert target["n_subjects"] == 6 and target["n_stimuli"] == 24
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
