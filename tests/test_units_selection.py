"""Unit selection (issue 20): a few silent or drifting units are selected out, never refused."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from lab_nwb import N_STIM, add_units, new_file, pixels, schedule, spike_trains, write
from pynwb.base import Images
from pynwb.image import GrayscaleImage

from neurofacedis.errors import InputError
from neurofacedis.nwb import Recording
from neurofacedis.nwb._units import select_rows


def _lab_file(path, trains=None, **columns):
    """Images container + trials table with image_index; units from ``trains``."""
    images = pixels()
    shown, onsets = schedule()
    nwbfile = new_file("units")
    frames = [GrayscaleImage(name=f"face{i:02d}", data=im) for i, im in enumerate(images)]
    nwbfile.add_stimulus_template(Images(name="faces", images=frames, description="faces"))
    nwbfile.add_trial_column(name="image_index", description="which image")
    for k, t in zip(shown, onsets, strict=True):
        nwbfile.add_trial(start_time=t, stop_time=t + 0.4, image_index=int(k))
    if trains is None:
        trains = spike_trains(images, shown, onsets)
    add_units(nwbfile, trains, **columns)
    write(nwbfile, path)
    return shown, onsets, trains


def _open(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = Recording.open(path, **kw)
        _ = rec.selection
    return rec, [str(w.message) for w in caught]


def test_a_silent_unit_is_dropped_with_a_warning_naming_it(tmp_path):
    shown, onsets, trains = _lab_file(tmp_path / "a.nwb")
    trains[2] = np.array([0.1, 0.2])  # fires before the first stimulus only: silent in windows
    _lab_file(tmp_path / "b.nwb", trains)
    rec, caught = _open(tmp_path / "b.nwb")
    with rec:
        assert rec.neuron_ids.tolist() == [0, 1, 3]
        assert rec.selection.dropped == {2: "silent: no spike in any response window"}
        assert rec.responses.shape == (N_STIM, 3, 3)
        assert rec.units.index.tolist() == [0, 1, 3]
        assert any("unit 2 dropped: silent" in m for m in caught)
        assert "unit 2 dropped: silent: no spike in any response window" in rec.warnings[-1]
        record = rec.selection.as_dict()
        assert json.loads(json.dumps(record))["dropped"] == {"2": record["dropped"]["2"]}


def test_a_unit_with_no_spikes_at_all_is_dropped_not_refused(tmp_path):
    _, _, trains = _lab_file(tmp_path / "a.nwb")
    trains[0] = np.zeros(0)
    _lab_file(tmp_path / "b.nwb", trains)
    rec, _ = _open(tmp_path / "b.nwb")
    with rec:
        assert rec.neuron_ids.tolist() == [1, 2, 3] and 0 in rec.selection.dropped


def test_every_unit_silent_is_one_line(tmp_path):
    _lab_file(tmp_path / "s.nwb", [np.zeros(0)] * 3)
    with pytest.raises(InputError, match=r"no unit left to analyse \(3 dropped; unit 0: silent"):
        Recording.open(tmp_path / "s.nwb").selection  # noqa: B018


def test_units_expression_selects_by_columns(tmp_path):
    path = tmp_path / "q.nwb"
    _lab_file(path, quality=["good", "mua", "good", "noise"], depth=[100.0, 900.0, 1500.0, 50.0])
    rec, _ = _open(path, units="quality == 'good'")
    with rec:
        assert rec.neuron_ids.tolist() == [0, 2]
        assert rec.selection.dropped[1] == "not selected by units=\"quality == 'good'\""
    for expr, kept in [
        ("quality == 'good' and depth > 500", [2]),
        ("(quality in ['good', 'mua']) & ~(depth < 200)", [1, 2]),
        ("depth >= 100 or id == 3", [0, 1, 2, 3]),
        ("not quality != 'noise'", [3]),
        ("-1 < depth <= 900", [0, 1, 3]),
    ]:
        with Recording.open(path, units=expr) as rec:
            assert rec.neuron_ids.tolist() == kept, expr


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("__import__('os').system('touch PWNED')", "call not allowed"),
        ("quality.upper() == 'GOOD'", "call not allowed"),
        ("depth.__class__", "attribute not allowed"),
        ("depth + 1 > 3", "binop not allowed"),
        ("colour == 'red'", "no Units column 'colour' (have: quality, depth, id)"),
        ("depth >", "not a selection expression"),
        ("depth", "must be a condition"),
        ("[x for x in depth]", "listcomp not allowed"),
        ("quality > 3", "cannot compare text with numbers"),
    ],
)
def test_units_expression_is_never_executed(tmp_path, monkeypatch, expr, words):
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"quality": ["good", "mua"], "depth": [1.0, 2.0]},
                         index=pd.Index([0, 1], name="id"))
    with pytest.raises(InputError) as err:
        select_rows(frame, expr, file="x.nwb")
    line = str(err.value)
    assert words in line and "\n" not in line and line.startswith("x.nwb: units: ")
    assert not (tmp_path / "PWNED").exists()


def test_min_rate_drops_slow_units(tmp_path):
    shown, onsets = schedule()
    fast = [np.sort(np.concatenate([t + np.linspace(0.1, 0.3, 6) for t in onsets]))]
    slow = [np.sort(np.concatenate([t + np.array([0.2]) for t in onsets[::3]]))]
    _lab_file(tmp_path / "r.nwb", fast + slow)
    rec, _ = _open(tmp_path / "r.nwb", min_rate=2.0)
    with rec:  # fast: 6 spikes / 0.3 s = 20 Hz; slow: 10 spikes over 30 windows = 1.11 Hz
        assert rec.neuron_ids.tolist() == [0]
        assert rec.selection.dropped[1] == (
            "mean rate 1.11 Hz in the response windows < 2"
        )
    with pytest.raises(InputError, match="min_rate: must be a rate in Hz >= 0, got -1"):
        Recording.open(tmp_path / "r.nwb", min_rate=-1)


def test_outside_obs_intervals_is_nan_not_zero(tmp_path):
    shown, onsets = schedule()
    rates = [np.sort(np.concatenate([t + np.linspace(0.1, 0.3, 3) for t in onsets]))] * 2
    half = onsets[len(onsets) // 2]
    obs = [[[0.0, 100.0]], [[0.0, 100.0]]]
    _lab_file(tmp_path / "o.nwb", rates, obs_intervals=obs)
    first = (onsets < half).sum()
    # unit 1 observed only in the first half: every stimulus still seen at least once?
    seen_first = set(shown[:first].tolist())
    assert seen_first == set(range(N_STIM))  # the schedule shows every image in its first third
    obs = [[[0.0, 100.0]], [[0.0, float(half) - 0.01]]]
    _lab_file(tmp_path / "o2.nwb", rates, obs_intervals=obs)
    rec, _ = _open(tmp_path / "o2.nwb")
    with rec:
        resp = rec.responses.values
        assert np.isnan(resp[:, 1]).sum() == len(onsets) - first
        assert not np.isnan(resp[:, 0]).any() and np.nanmax(resp) == 3
        assert rec.selection.kept == [0, 1]


def test_a_unit_never_observed_for_a_stimulus_is_dropped(tmp_path):
    shown, onsets = schedule()
    trains = [np.sort(np.concatenate([t + np.array([0.2]) for t in onsets]))] * 2
    _lab_file(tmp_path / "d.nwb", trains, obs_intervals=[[[0.0, 100.0]], [[0.0, 2.0]]])
    rec, _ = _open(tmp_path / "d.nwb")
    with rec:
        assert rec.neuron_ids.tolist() == [0]
        assert rec.selection.dropped[1].startswith("not observed for stimulus 'face")


def test_a_unit_that_stops_firing_is_flagged_and_kept(tmp_path):
    shown, onsets = schedule()
    steady = np.sort(np.concatenate([t + np.array([0.1, 0.2, 0.3]) for t in onsets]))
    stops = np.sort(np.concatenate([t + np.array([0.1, 0.2, 0.3]) for t in onsets[:12]]))
    _lab_file(tmp_path / "f.nwb", [steady, stops])
    rec, caught = _open(tmp_path / "f.nwb")
    with rec:
        assert rec.selection.kept == [0, 1]
        assert rec.selection.flagged == {
            1: "stopped firing: 18 consecutive observed presentations without a spike "
            "(mean 1.2 spikes per window)"
        }
        assert any("unit 1 flagged: stopped firing" in m for m in caught)


def test_read_session_copies_every_unit_silent_ones_included(tmp_path):
    from neurofacedis.nwb import read_session, write_session

    _, _, trains = _lab_file(tmp_path / "a.nwb", quality=["good", "mua", "good", "noise"])
    trains[1] = np.zeros(0)
    _lab_file(tmp_path / "b.nwb", trains, quality=["good", "mua", "good", "noise"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_session(tmp_path / "b.nwb")
        assert len(data.spike_times) == 4 and data.units["quality"].tolist()[1] == "mua"
        write_session(tmp_path / "copy.nwb", data)  # a silent unit is written as it is
        with Recording.open(tmp_path / "copy.nwb") as rec:
            assert rec.neuron_ids.tolist() == [0, 2, 3]
            assert rec.selection.dropped == {1: "silent: no spike in any response window"}
