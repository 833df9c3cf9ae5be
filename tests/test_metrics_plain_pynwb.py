"""Every registered metric through `neurofacedis analyze` on a *plain pynwb* recording.

The file is what a lab writes without neurofacedis: face images in ``stimulus_template``,
presentations as a trials table (or an IndexSeries), Units with spike times — no stimulus
table, factors, landmarks or processed responses. Faces come from the virtual face patch's
renderer and the spikes from its ramp-tuned neurons, so the numbers can be checked against
the simulation. Metrics the data cannot serve (known factors, labelled attributes, several
seeds) must be skipped with a reason, never crash; the rest must give finite values and
figures in the report.
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neurofacedis.cli import app

SIM = {"n_identities": 10, "n_views": 4, "n_neurons": 16, "n_repeats": 3, "image_size": 32,
       "seed": 7}
FIRST_PARTY = {"alignment", "decoding", "reconstruction", "encoding", "rsa", "dissection",
               "udr", "dci", "mig"}
#: metric -> words its skip reason must contain, on a plain recording with one seed
SKIPPED = {"dci": "known generative factors", "mig": "known generative factors",
           "udr": "several seeds", "dissection": "labelled stimulus attribute",
           # the behaviour metrics need human behaviour, which a neural recording lacks
           "agreement": "human choices", "error_consistency": "human choices",
           "behaviour_rsa": "behavioural RDMs", "rating_encoding": "human ratings"}
CHEAP = ["alignment.n_subsets=5", "alignment.n_rotations=2", "encoding.n_bootstrap=100",
         "rsa.n_permutations=50", "rsa.n_bootstrap=50", "dissection.n_permutations=20"]


def _write_plain(path: Path, sim, *, style: str) -> None:
    """Write ``sim``'s images, presentations and spikes the way plain pynwb users do."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.base import ImageReferences, Images
    from pynwb.file import Subject
    from pynwb.image import GrayscaleImage, IndexSeries

    nwb = NWBFile(session_description="AM recording, faces", identifier=f"plain-lab-{style}",
                  session_start_time=datetime(2023, 3, 3, tzinfo=timezone.utc),
                  subject=Subject(subject_id="M7", species="Macaca mulatta", sex="F",
                                  age="P5Y"))
    frames = [GrayscaleImage(name=sid, data=im, description="face")
              for sid, im in zip(sim.stimulus_ids, sim.images, strict=True)]
    faces = Images(name="faces", images=frames, description="face stimuli",
                   order_of_images=ImageReferences(name="order_of_images", data=frames))
    nwb.add_stimulus_template(faces)
    pres = sim.presentations
    if style == "index_series":
        nwb.add_stimulus(IndexSeries(name="faces_shown", indexed_images=faces, unit="N/A",
                                     data=pres["stimulus_index"].to_numpy(np.uint32),
                                     timestamps=pres["start_time"].to_numpy()))
    else:
        nwb.add_trial_column(name="image_index", description="index into the face images")
        for start, stop, k in zip(pres["start_time"], pres["stop_time"],
                                  pres["stimulus_index"], strict=True):
            nwb.add_trial(start_time=float(start), stop_time=float(stop), image_index=int(k))
    for st in sim.spike_times:
        nwb.add_unit(spike_times=st)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """(folder holding trials.nwb and index.nwb, the simulated session they were written from)."""
    from neurofacedis.simulate import simulate_session

    root = tmp_path_factory.mktemp("plain")
    sim = simulate_session(**SIM)
    _write_plain(root / "trials.nwb", sim, style="trials")
    _write_plain(root / "index.nwb", sim, style="index_series")
    return root, sim


def _analyze(args: list[str]) -> dict:
    res = CliRunner().invoke(app, ["analyze", *args, "-q"])
    out = Path(args[args.index("--out") + 1])
    summary = json.loads((out / "summary.json").read_text()) if out.is_dir() else {}
    assert res.exit_code == 0, (res.output, summary.get("errors"))
    return summary


def _first_party_metrics() -> set[str]:
    res = CliRunner().invoke(app, ["plugins", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    return {r["name"] for r in rows
            if r["kind"] == "metric" and r["distribution"] == "neurofacedis"}


def _assert_ran_with_figures(summary: dict, out: Path, metric: str, models=("pca", "ica")) -> None:
    report = (out / "report.html").read_text()
    for model in models:
        stats = summary["metrics"][metric][model]
        assert stats, (metric, model)
        assert all(np.isfinite(v) for v in stats.values()), (metric, model, stats)
        figs = [f for f in summary["figures"] if Path(f).name.startswith(f"{metric}__{model}__")]
        assert figs, f"no figure for {metric} on {model}"
        for f in figs:
            assert (out / f).stat().st_size > 1000  # a real PNG
            assert f"alt='{Path(f).stem}'" in report  # inlined in the report


def test_every_metric_on_a_plain_pynwb_recording(plain):
    root, sim = plain
    metrics = _first_party_metrics()
    assert FIRST_PARTY <= metrics
    rec = root / "trials.nwb"
    before = hashlib.sha256(rec.read_bytes()).hexdigest()
    out = root / "out"
    args = [str(rec), "--model", "pca", "--model", "ica", "--out", str(out),
            "--cache-dir", str(root / "cache")]
    for m in sorted(metrics):
        args += ["--metric", m]
    for p in CHEAP:
        args += ["-p", p]
    summary = _analyze(args)  # exit 0: nothing failed

    assert hashlib.sha256(rec.read_bytes()).hexdigest() == before  # input untouched
    assert summary["errors"] == []
    r = summary["recording"]
    assert r["response_source"] == "spike_times"
    n_stim = SIM["n_identities"] * SIM["n_views"]
    assert (r["n_stimuli"], r["n_neurons"], r["n_repeats"]) == (n_stim, SIM["n_neurons"],
                                                                SIM["n_repeats"])

    # what a plain recording cannot serve is skipped, with the reason, in summary and report
    report = html.unescape((out / "report.html").read_text())
    skipped = {(s["metric"], s["model"]): s["reason"] for s in summary["skipped"]}
    for metric, words in SKIPPED.items():
        for model in ("pca", "ica"):
            assert words in skipped[(metric, model)], skipped
            assert f"{metric} on {model}: {skipped[(metric, model)]}" in report
        assert metric not in summary["metrics"]
    assert {m for m, _ in skipped} == set(SKIPPED)

    # everything else ran, with finite headline values and at least one figure each
    for metric in metrics - set(SKIPPED):
        _assert_ran_with_figures(summary, out, metric)

    # known answers, cheap
    from neurofacedis.results import load_results

    res = load_results(out / "results.nc")
    mean = sim.responses.astype(np.float64).mean(axis=2)  # counted by the simulator
    iu = np.triu_indices(n_stim, 1)
    for model in ("pca", "ica"):
        # alignment = sum_j rho_j (1 - H_j) of its own importance matrix (METHODS.md)
        a = res[("alignment", model, 0)]
        assert 0.0 <= a.attrs["alignment"] <= 1.0
        imp = a["importance"].transpose("unit", "neuron").values
        col = imp.sum(axis=0)
        p = imp / np.where(col > 0, col, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=0) / np.log(imp.shape[0])
        assert a.attrs["alignment"] == pytest.approx(float((col / col.sum() * (1 - h)).sum()))
        # the RSA data RDM is the correlation distance of the spike counts the plain reader
        # made from the Units table: they equal the simulator's own counts
        rdm = res[("rsa", model, 0)]["data_rdm"].values
        np.testing.assert_allclose(rdm, (1.0 - np.corrcoef(mean))[iu], atol=1e-5)
        # encoding: per-neuron scores are finite and bounded
        e = res[("encoding", model, 0)]
        assert np.all(np.abs(e["r"].values) <= 1.0) and np.all(e["r2"].values <= 1.0)
        assert 0 < e.attrs["n_ceiled"] <= SIM["n_neurons"]
        # decoding: one-to-one matching (Hungarian) of the 10 units to distinct neurons
        d = res[("decoding", model, 0)]
        matched = d["matched_neuron"].values
        assert len(set(matched.tolist())) == len(matched) == 10
        # reconstruction: cosine distances and identification rates in range
        c = res[("reconstruction", model, 0)]
        assert np.all((c["cosine_distance"].values >= 0) & (c["cosine_distance"].values <= 2))
        assert np.all((c["identification"].values >= 0) & (c["identification"].values <= 1))


def test_udr_with_seeds_on_a_plain_pynwb_recording(plain):
    """UDR runs once the same model is fitted with several seeds (an IndexSeries file)."""
    root, _ = plain
    out = root / "out_udr"
    summary = _analyze([str(root / "index.nwb"), "--model", "pca", "--model", "ica",
                        "--metric", "udr", "--seeds", "3", "--out", str(out),
                        "--cache-dir", str(root / "cache")])
    assert summary["errors"] == [] and summary["skipped"] == []
    assert summary["recording"]["response_source"] == "spike_times"
    for model in ("pca", "ica"):
        per_seed = summary["per_seed"]["udr"][model]
        assert per_seed["seed"] == [0, 1, 2]
        assert all(0.0 <= v <= 1.0 for v in per_seed["udr"])
        assert per_seed["n_siblings"] == [2.0, 2.0, 2.0]
    _assert_ran_with_figures(summary, out, "udr")


def test_attributes_requirement():
    """``attributes``: a label column (not an ID, not constant, complete) or known factors."""
    from types import SimpleNamespace

    import pandas as pd

    from neurofacedis.runner import _unmet

    def unmet(stimuli, factors=None):
        rec = SimpleNamespace(stimuli=pd.DataFrame(stimuli), factors=factors)
        return _unmet(frozenset({"attributes"}), rec=rec, job=None, siblings=[], n_models=1)

    ids = ["a", "b", "c", "d"]
    plain_table = {"stimulus_id": ids, "identity": [""] * 4}  # what a plain file gives
    assert "labelled stimulus attribute" in unmet(plain_table)
    assert unmet(plain_table, factors=pd.DataFrame({"pose": [0.1, 0.2, 0.3, 0.4]})) is None
    assert unmet({**plain_table, "identity": [0, 0, 1, 1]}) is None
    assert unmet({**plain_table, "file": ["1.png", "2.png", "3.png", "4.png"]})  # an ID
    assert unmet({**plain_table, "view": ["l", "r", None, "l"]})  # incomplete
    assert unmet({**plain_table, "age": [3.0, 4.5, 6.0, 7.5]}) is None  # continuous
    # a repeated file name is still not a label: the runner and dissection share one rule
    assert unmet({**plain_table, "file": ["1.png", "1.png", "2.png", "2.png"]})
