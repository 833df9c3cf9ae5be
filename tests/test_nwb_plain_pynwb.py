"""Interop both ways: our files open with plain pynwb (neurofacedis not importable), and
recordings a lab writes with plain pynwb are read with no conversion."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import ImageReferences, Images
from pynwb.file import Subject
from pynwb.image import GrayscaleImage, IndexSeries, RGBImage

from neurofacedis.errors import InputError
from neurofacedis.nwb import DEFAULT_WINDOW, LatentsData, Recording, add_latents

PLAIN_READER = r"""
import sys, json
sys.modules["neurofacedis"] = None  # the package must not be importable
import numpy as np
from pynwb import NWBHDF5IO
with NWBHDF5IO(sys.argv[1], "r") as io:
    f = io.read()
    m = f.processing["neurofacedis"]
    stim = m["stimulus_set"]
    table = stim.stimulus_table.to_dataframe()
    out = {
        "types": sorted(type(o).__name__ for o in m.data_interfaces.values()),
        "images_sum": int(np.asarray(stim.images[:], dtype=np.int64).sum()),
        "stimulus_id": table["stimulus_id"].tolist(),
        "responses_nansum": float(np.nansum(m["responses"].data[:])),
        "window": [m["responses"].window_start, m["responses"].window_stop],
        "latents_model": m["latents_pca_seed0"].model,
        "latents_shape": list(m["latents_pca_seed0"].data.shape),
        "truth_code": list(m["truth"].code[:]),
        "n_spikes": int(len(f.units["spike_times"].target.data)),
        "presentations": len(f.intervals["presentations"]),
    }
print(json.dumps(out))
"""


def test_our_file_opens_with_plain_pynwb(session_file):
    path, data = session_file
    add_latents(
        path,
        [
            LatentsData(
                "latents_pca_seed0",
                np.zeros((6, 2)),
                ["pc0", "pc1"],
                {"model": "pca", "plugin": "nfd_linear", "seed": 0},
            )
        ],
    )
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_READER, str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["types"] == [
        "FaceStimulusSet",
        "ModelLatents",
        "SimulationTruth",
        "StimulusResponses",
    ]
    assert got["images_sum"] == int(data.images.astype(np.int64).sum())
    assert got["stimulus_id"] == data.stimulus_ids
    assert got["responses_nansum"] == pytest.approx(float(np.nansum(data.responses)))
    assert got["window"] == list(DEFAULT_WINDOW)
    assert got["latents_model"] == "pca" and got["latents_shape"] == [6, 2]
    assert got["truth_code"] == list(data.truth["code"])
    assert got["n_spikes"] == sum(len(s) for s in data.spike_times)
    assert got["presentations"] == len(data.presentations)


# --- a lab's own file, written with plain pynwb ----------------------------------------------

NAMES = ["zeta", "alpha", "mid", "beta"]  # shown order differs from alphabetical order


def _lab_file(path, *, style: str, rgb: bool = False, index_column: str = "image_index"):
    rng = np.random.default_rng(11)
    nwbfile = NWBFile(
        session_description="AM recording",
        identifier=f"lab-{style}",
        session_start_time=datetime(2023, 3, 3, tzinfo=timezone.utc),
        subject=Subject(subject_id="M7", species="Macaca mulatta", sex="F", age="P5Y"),
    )
    shape = (6, 5, 3) if rgb else (6, 5)
    pixels = rng.integers(0, 256, (len(NAMES), *shape), dtype=np.uint8)
    cls = RGBImage if rgb else GrayscaleImage
    frames = [cls(name=n, data=pixels[i], description=f"face {n}") for i, n in enumerate(NAMES)]
    container = Images(
        name="faces",
        images=frames,
        description="face stimuli",
        order_of_images=ImageReferences(name="order_of_images", data=frames),
    )
    nwbfile.add_stimulus_template(container)
    shown = np.array([2, 0, 3, 1, 0, 2, 1, 3, 0], dtype=np.uint32)
    onsets = 0.5 + 0.6 * np.arange(shown.size)
    if style == "index_series":
        nwbfile.add_stimulus(
            IndexSeries(
                name="presentations_series",
                data=shown,
                indexed_images=container,
                unit="N/A",
                timestamps=onsets,
            )
        )
    else:
        nwbfile.add_trial_column(name=index_column, description="which image")
        for onset, k in zip(onsets, shown, strict=True):
            value = NAMES[k] if index_column == "image_name" else int(k)
            nwbfile.add_trial(start_time=onset, stop_time=onset + 0.4, **{index_column: value})
    spikes = [np.sort(rng.uniform(0, onsets[-1] + 1, 60)) for _ in range(3)]
    for st in spikes:
        nwbfile.add_unit(spike_times=st)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return pixels, shown, onsets, spikes


def _expected(shown, onsets, spikes, window=DEFAULT_WINDOW):
    out = np.full((len(NAMES), len(spikes), 3), np.nan, dtype=np.float32)
    seen = np.zeros(len(NAMES), dtype=int)
    for onset, k in zip(onsets, shown, strict=True):
        for u, st in enumerate(spikes):
            out[k, u, seen[k]] = np.sum((st >= onset + window[0]) & (st < onset + window[1]))
        seen[k] += 1
    return out


@pytest.mark.parametrize("style", ["index_series", "trials"])
def test_plain_lab_file_is_read(tmp_path, style):
    path = tmp_path / f"{style}.nwb"
    pixels, shown, onsets, spikes = _lab_file(path, style=style)
    with Recording.open(path) as rec:
        assert rec.stimulus_ids == NAMES
        np.testing.assert_array_equal(rec.images[:], pixels)
        np.testing.assert_array_equal(rec.images[[3, 1]], pixels[[3, 1]])
        assert rec.response_source == "spike_times" and not rec.has_processed
        assert rec.n_neurons == 3 and rec.n_repeats == 3
        np.testing.assert_array_equal(rec.responses.values, _expected(shown, onsets, spikes))
        assert rec.stimuli["stimulus_id"].tolist() == NAMES
        assert rec.factors is None and rec.landmarks is None and rec.latents == {}
        assert rec.metadata.subject_id == "M7"
    window = (0.0, 0.2)
    with Recording.open(path, window=window) as rec:
        np.testing.assert_array_equal(
            rec.responses.values, _expected(shown, onsets, spikes, window)
        )


def test_plain_rgb_and_text_and_custom_index_columns(tmp_path):
    path = tmp_path / "rgb.nwb"
    pixels, shown, onsets, spikes = _lab_file(
        path, style="trials", rgb=True, index_column="image_name"
    )
    with Recording.open(path) as rec:
        assert rec.image_shape == (6, 5, 3)
        np.testing.assert_array_equal(rec.images[:], pixels)
        np.testing.assert_array_equal(rec.responses.values, _expected(shown, onsets, spikes))
    path = tmp_path / "custom.nwb"
    _, shown, onsets, spikes = _lab_file(path, style="trials", index_column="picture")
    with pytest.raises(InputError, match="no presentation times"):
        Recording.open(path)
    with Recording.open(path, index_column="picture") as rec:
        np.testing.assert_array_equal(rec.responses.values, _expected(shown, onsets, spikes))
    with pytest.raises(InputError, match="no presentation table has this column"):
        Recording.open(path, index_column="nope")


def test_lab_file_passes_our_reader_without_changes(tmp_path):
    path = tmp_path / "lab.nwb"
    _lab_file(path, style="index_series")
    before = path.read_bytes()
    with Recording.open(path) as rec:
        rec.validate()
    assert path.read_bytes() == before
