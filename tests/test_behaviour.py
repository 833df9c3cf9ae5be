"""Behaviour as a target: simulated raters give the known answers; NWB behaviour is read.

Known answers (issue 23): on simulated raters the generating model tops agreement and error
consistency; a model as accurate as the humans but with errors on other images has kappa near
0; the behavioural RSA noise ceiling equals rsatoolbox's for the same subjects' RDMs; a
plain-pynwb file is read by ``read_behaviour``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from nfd_behaviour import (
    AgreementMetric,
    BehaviourRSAMetric,
    ErrorConsistencyMetric,
    error_kappa,
    kappa_matrix,
    model_rdm,
    permuted_similarity,
)

from neurofacedis.errors import InputError
from neurofacedis.nwb._behaviour import (
    behaviour_from_table,
    read_behaviour,
    read_ratings,
    write_behaviour,
)
from neurofacedis.simulate._raters import simulate_raters
from neurofacedis.specs import MetricContext

N, K, SUBJECTS = 96, 5, 10
INDEPENDENT = 5  # models with errors independent of the humans'


@dataclasses.dataclass
class BehaviourContext(MetricContext):
    """The context with the ``behaviour`` field the runner will pass (issue 23 wiring)."""

    behaviour: Any = None


def _context(z: np.ndarray, behaviour: Any, seed: int = 0) -> BehaviourContext:
    lat = xr.DataArray(z, dims=("stimulus", "unit"),
                       coords={"stimulus": list(behaviour.stimulus_ids),
                               "unit": [f"u{i}" for i in range(z.shape[1])]})
    resp = xr.DataArray(z[:, :, None], dims=("stimulus", "neuron", "repeat"))
    return BehaviourContext(responses=resp, latents=lat, train=np.arange(len(z)),
                            test=np.arange(len(z)), rng=np.random.default_rng(seed),
                            behaviour=behaviour)


@pytest.fixture(scope="module")
def experiment():
    """Raters read valence out of G; the true valence differs from G's readout (errors)."""
    rng = np.random.default_rng(0)
    g = rng.normal(size=(N, K))
    truth = g @ rng.normal(size=K)
    truth = truth / truth.std() + rng.normal(0, 0.6, N)
    sim = simulate_raters(g, truth=truth, n_subjects=SUBJECTS, noise=0.4, seed=1)
    b = sim.behaviour
    human_error = float(np.mean(b.subject_choices() != b.targets))
    models = {
        "generator": g,
        "random": rng.normal(size=(N, K)),
        "truth_plus_noise": np.c_[truth + rng.normal(0, 0.7, N), rng.normal(size=(N, 2))],
    }
    for i in range(INDEPENDENT):  # as many errors as the humans, on images drawn at random
        flip = rng.permutation(N) < round(human_error * N)
        feature = np.where(flip, 1 - b.targets, b.targets) + rng.normal(0, 0.05, N)
        models[f"independent_errors_{i}"] = np.c_[feature, rng.normal(size=N)]
    return sim, models


def _scores(metric: Any, experiment) -> dict[str, dict[str, float]]:
    sim, models = experiment
    return {name: metric.compute(_context(z, sim.behaviour)).attrs for name, z in models.items()}


@pytest.fixture(scope="module")
def consistency(experiment):
    return _scores(ErrorConsistencyMetric(n_permutations=200), experiment)


def test_generating_model_tops_agreement(experiment):
    got = _scores(AgreementMetric(n_permutations=200), experiment)
    gen = got.pop("generator")
    assert gen["agreement"] > 0.9 and gen["p_value"] < 0.01
    assert 0.75 < gen["ceiling"] < 0.9  # a noisy subject against the others' majority
    assert all(gen["agreement"] > other["agreement"] + 0.1 for other in got.values())
    assert got["random"]["p_value"] > 0.05


def test_generating_model_tops_error_consistency(consistency):
    got = dict(consistency)
    gen = got.pop("generator")
    assert gen["kappa"] > 0.45 and gen["p_value"] < 0.01
    assert gen["ceiling"] > 0.3  # subjects share their errors (the generating model's)
    assert all(gen["kappa"] > other["kappa"] + 0.25 for other in got.values())


def test_equal_accuracy_other_errors_has_kappa_near_zero(consistency):
    got = [consistency[f"independent_errors_{i}"] for i in range(INDEPENDENT)]
    assert all(abs(g["model_accuracy"] - g["human_accuracy"]) < 0.06 for g in got)
    # one draw of 96 images has kappa's sampling SD ~0.1; the mean of 5 draws ~0.045
    assert abs(np.mean([g["kappa"] for g in got])) < 0.06
    assert all(abs(g["kappa"]) < 0.25 for g in got)


def test_kappa_formula_known_values():
    # c_exp = p1 p2 + (1-p1)(1-p2) = 0.5, c_obs = 0.5 -> 0; identical errors -> 1
    assert error_kappa([1, 1, 0, 0], [1, 0, 1, 0]) == (0.0, 0.5, 0.5)
    assert error_kappa([1, 1, 0, 1], [1, 1, 0, 1])[0] == pytest.approx(1.0)
    # p1 = 0.75, p2 = 0.5: c_exp = 0.5, c_obs = 0.75 -> 0.5
    assert error_kappa([1, 1, 1, 0], [1, 1, 0, 0])[0] == pytest.approx(0.5)
    rng = np.random.default_rng(3)
    human = rng.random((4, 30)) < 0.7
    mask = rng.random((4, 30)) < 0.9
    model = rng.random(30) < 0.6
    loop = [error_kappa(human[s, mask[s]], model[mask[s]])[0] for s in range(4)]
    assert np.allclose(kappa_matrix(human, mask, model), loop)


@pytest.mark.parametrize("method", ["spearman", "pearson", "cosine"])
def test_rsa_noise_ceiling_and_similarity_equal_rsatoolbox(method):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs

    rng = np.random.default_rng(5)
    g = rng.normal(size=(24, 4))
    b = simulate_raters(g, n_subjects=6, rdm_noise=0.4, seed=2).behaviour
    z = g + rng.normal(0, 0.5, g.shape)
    got = BehaviourRSAMetric(comparison=method, n_permutations=20).compute(_context(z, b))
    iu = np.triu_indices(24, 1)
    vectors = b.rdms[:, iu[0], iu[1]]
    name = {"pearson": "corr"}.get(method, method)
    low, up = boot_noise_ceiling(RDMs(vectors), method=name)
    assert got.attrs["ceiling_lower"] == pytest.approx(low, abs=1e-10)
    assert got.attrs["ceiling_upper"] == pytest.approx(up, abs=1e-10)
    ref_model = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(z), method="correlation")
    assert np.allclose(model_rdm(z, "correlation")[iu], ref_model.get_vectors()[0])
    ref = rsatoolbox.rdm.compare(ref_model, RDMs(vectors), method=name).mean()
    assert got.attrs["similarity"] == pytest.approx(ref, abs=1e-10)
    # the permutation shortcut gives the observed value at the identity permutation
    same = permuted_similarity(model_rdm(z, "correlation"), vectors, method, [np.arange(24)])
    assert same[0] == pytest.approx(ref, abs=1e-10)


def test_rsa_generating_model_beats_others(experiment):
    sim, models = experiment
    metric = BehaviourRSAMetric(model_rdm="euclidean", n_permutations=100)
    got = {n: metric.compute(_context(z, sim.behaviour)).attrs for n, z in models.items()}
    gen = got.pop("generator")
    assert gen["similarity"] > 0.5 and gen["p_value"] < 0.02
    assert gen["similarity"] <= gen["ceiling_upper"] + 1e-9
    assert all(gen["similarity"] > o["similarity"] + 0.3 for o in got.values())


def test_conformance_kit_with_behaviour(experiment):
    from neurofacedis.registry import get_registry
    from neurofacedis.testing import check_metric

    sim, models = experiment
    ctx = _context(models["generator"], sim.behaviour)
    registry = get_registry()
    for name in ("agreement", "error_consistency", "behaviour_rsa"):
        result = check_metric(registry.metric(name).spec, ctx=ctx)
        assert np.isfinite(result.attrs["p_value"])


def test_metrics_without_behaviour_say_so(experiment):
    from nfd_behaviour import neurofacedis_register_requirements

    sim, models = experiment
    ctx = dataclasses.replace(_context(models["generator"], sim.behaviour), behaviour=None)
    with pytest.raises(InputError, match="no human behaviour"):
        AgreementMetric().compute(ctx)
    for spec in neurofacedis_register_requirements():
        assert spec.check(ctx) == ""  # unmet: the runner skips with the description
        assert spec.check(_context(models["generator"], sim.behaviour)) is None


# --- NWB ------------------------------------------------------------------------------------


def _plain_file(path, *, symmetric: bool = True):
    """A lab's file, plain pynwb: stimuli + similarity tables in 'behavior', timed trials."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="valence ratings", identifier="beh-1",
                  session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    for col, text in (("stimulus_index", "row of behavior/stimuli"), ("subject_id", "subject"),
                      ("choice", "answer"), ("rating", "1-7"), ("reaction_time", "s")):
        nwb.add_trial_column(col, text)
    rows = [(0, "a", "pos", 6.0), (1, "a", "neg", 2.0), (2, "a", "neg", 3.0),
            (0, "b", "pos", 5.0), (1, "b", "neg", 1.0), (2, "b", "pos", 5.0),
            (0, "c", "neg", 4.0), (1, "c", "neg", 2.0), (2, "c", "pos", 6.0)]
    for i, (s, subj, choice, rating) in enumerate(rows):
        nwb.add_trial(start_time=2.0 * i, stop_time=2.0 * i + 1.5, stimulus_index=s,
                      subject_id=subj, choice=choice, rating=rating, reaction_time=0.5 + i / 10)
    module = nwb.create_processing_module("behavior", "human behaviour")
    module.add(DynamicTable(name="stimuli", description="stimuli", columns=[
        VectorData(name="stimulus_id", description="image", data=["f1", "f2", "f3"]),
        VectorData(name="target", description="correct", data=["pos", "neg", "neg"])]))
    rdm = np.array([[[0, 1, 2], [1, 0, 3], [2, 3, 0]],
                    [[0, 2, 2], [2, 0, 1], [2, 1, 0]]], dtype=float)
    if not symmetric:
        rdm[0, 0, 1] = 5
    module.add(DynamicTable(name="similarity", description="RDMs", columns=[
        VectorData(name="subject_id", description="subject", data=["a", "b"]),
        VectorData(name="rdm", description="dissimilarity", data=rdm)]))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_plain_pynwb_file_is_read(tmp_path):
    b = read_behaviour(_plain_file(tmp_path / "beh.nwb"))
    assert b.stimulus_ids == ("f1", "f2", "f3") and b.subjects == ("a", "b", "c")
    assert b.choice_labels == ("neg", "pos")
    assert b.subject_choices().tolist() == [[1, 0, 0], [1, 0, 1], [0, 0, 1]]
    assert b.majority().tolist() == [1, 0, 1]
    assert b.targets.tolist() == [1, 0, 0]
    assert np.allclose(b.mean_rating, [5.0, 5 / 3, 14 / 3])
    assert np.allclose(b.subject_ratings()[0], [6, 2, 3])
    assert b.rdms.shape == (2, 3, 3) and b.rdm_subjects == ("a", "b")
    assert np.allclose(b.trials["reaction_time"], 0.5 + np.arange(9) / 10)
    assert b.where == {"trials": "intervals/trials", "stimuli": "processing/behavior/stimuli",
                       "similarity": "processing/behavior/similarity"}


def test_bad_behaviour_file_is_one_line(tmp_path):
    with pytest.raises(InputError) as err:
        read_behaviour(_plain_file(tmp_path / "bad.nwb", symmetric=False))
    assert str(err.value) == (f"{tmp_path / 'bad.nwb'}: processing/behavior/similarity/rdm: "
                              "an RDM is not symmetric")


def test_ratings_csv_round_trip(tmp_path):
    csv = tmp_path / "ratings.csv"
    pd.DataFrame({"stimulus": ["x", "y", "x", "y", "z"], "subject": [1, 1, 2, 2, 2],
                  "rating": [1.5, 6.0, 2.5, 5.0, 4.0], "choice": ["n", "p", "n", "p", ""],
                  "rt": [0.4, 0.5, 0.6, 0.7, 0.8]}).to_csv(csv, index=False)
    before = csv.read_bytes()
    b = read_ratings(csv)
    out = write_behaviour(tmp_path / "beh.nwb", b, identifier="r1",
                          session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    back = read_behaviour(out)
    assert csv.read_bytes() == before
    assert back.stimulus_ids == ("x", "y", "z") and back.subjects == ("1", "2")
    assert back.subject_choices().tolist() == [[0, 1, -1], [0, 1, -1]]
    assert np.allclose(back.mean_rating, [2.0, 5.5, 4.0])
    assert np.allclose(back.trials["reaction_time"], [0.4, 0.5, 0.6, 0.7, 0.8])
    assert back.to_table().equals(b.to_table())


def test_ratings_table_errors_name_file_and_column(tmp_path):
    csv = tmp_path / "r.csv"
    pd.DataFrame({"stimulus": ["x"], "rating": [1.0]}).to_csv(csv, index=False)
    with pytest.raises(InputError, match=r"r\.csv: no subject column"):
        read_ratings(csv)
    frame = pd.DataFrame({"stimulus": ["x", "x"], "subject": ["a", "b"],
                          "choice": ["p", "n"], "target": ["p", "n"]})
    with pytest.raises(InputError, match="target: row 1: stimulus has two different targets"):
        behaviour_from_table(frame)


def test_indices_into_the_files_images_and_behaviour_beside_neurons(tmp_path, make_session):
    """Integer indices name images of a plain Images set; behaviour sits beside a recording."""
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    from neurofacedis.nwb import Recording
    from neurofacedis.nwb._behaviour import add_behaviour
    from neurofacedis.nwb._write import build_nwbfile

    nwb = NWBFile(session_description="s", identifier="img",
                  session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwb.add_stimulus_template(Images(name="faces", images=[
        GrayscaleImage(name=f"im{i}", data=np.full((4, 4), i, np.uint8)) for i in range(3)]))
    module = nwb.create_processing_module("behavior", "human behaviour")
    module.add(DynamicTable(name="trials", description="ratings", columns=[
        VectorData(name="stimulus_index", description="image", data=[2, 0, 2]),
        VectorData(name="subject_id", description="subject", data=["a", "a", "b"]),
        VectorData(name="rating", description="valence", data=[1.0, 3.0, 2.0])]))
    with NWBHDF5IO(str(tmp_path / "img.nwb"), "w") as io:
        io.write(nwb)
    b = read_behaviour(tmp_path / "img.nwb")
    assert b.stimulus_ids == ("im0", "im1", "im2") and not b.has_choices
    assert np.allclose(b.mean_rating, [3.0, np.nan, 1.5], equal_nan=True)

    data = make_session(n_stimuli=4, seed=1)
    rec_nwb = build_nwbfile(data)
    frame = pd.DataFrame({"stimulus_id": ["face003", "face001", "face003"],
                          "subject_id": ["p1", "p2", "p2"], "choice": ["x", "y", "x"]})
    add_behaviour(rec_nwb, behaviour_from_table(frame, stimulus_ids=data.stimulus_ids))
    with NWBHDF5IO(str(tmp_path / "rec.nwb"), "w") as io:
        io.write(rec_nwb)
    with Recording.open(tmp_path / "rec.nwb") as rec:  # the neural reading is unchanged
        assert rec.n_stimuli == 4 and rec.responses.shape[0] == 4
    got = read_behaviour(tmp_path / "rec.nwb")
    assert got.stimulus_ids == tuple(data.stimulus_ids)
    assert got.majority().tolist() == [-1, 1, -1, 0]


def test_several_trials_tables_are_named(tmp_path):
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBFile

    nwb = NWBFile(session_description="s", identifier="two",
                  session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwb.add_trial_column("stimulus_id", "image")
    nwb.add_trial_column("choice", "answer")
    nwb.add_trial(start_time=0.0, stop_time=1.0, stimulus_id="f1", choice="p")
    module = nwb.create_processing_module("behavior", "human behaviour")
    module.add(DynamicTable(name="trials", description="ratings", columns=[
        VectorData(name="stimulus_id", description="image", data=["f2"]),
        VectorData(name="subject_id", description="subject", data=["a"]),
        VectorData(name="choice", description="answer", data=["q"])]))
    with pytest.raises(InputError, match=r"several trials tables \(processing/behavior/trials, "
                       r"intervals/trials\); choose one with `trials`"):
        read_behaviour(nwb)
    b = read_behaviour(nwb, trials="intervals/trials")  # an in-memory NWBFile
    assert b.stimulus_ids == ("f1",) and b.subjects == ("subject",)
    assert b.where["trials"] == "intervals/trials"


def test_data_model_snippet_runs_and_reads(tmp_path, monkeypatch):
    """The plain-pynwb snippet of docs/data-model.md ("Behaviour") writes a file we read."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "data-model.md").read_text()
    section = text.split("## Behaviour", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "data-model.md", "exec"), scope)  # noqa: S102 - our own docs
    b = scope["b"]
    assert b.stimulus_ids == ("face01", "face02") and b.subjects == ("p1", "p2")
    assert b.majority().tolist() == [1, -1] and b.targets.tolist() == [1, 0]
    assert np.allclose(b.mean_rating, [5.5, 3.0]) and b.rdms.shape == (2, 2, 2)
