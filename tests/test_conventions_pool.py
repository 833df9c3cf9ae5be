"""Pooled sessions (issue 20, item 3): neurons of several files over images matched by content."""

from __future__ import annotations

import numpy as np
import pytest
from lab_nwb import add_units, new_file, pixels, schedule, spike_trains, write
from pynwb.base import Images
from pynwb.image import GrayscaleImage

from neurofacedis.errors import InputError
from neurofacedis.nwb import Recording
from neurofacedis.nwb._pool import PooledRecording

IMAGES = pixels(n=6)
SHOWN, ONSETS = schedule(n=6)
TRAINS = spike_trains(IMAGES, SHOWN, ONSETS, n_units=4)


def _session(path, units, *, order=None, prefix="img", drop=None):
    """Units ``units`` of TRAINS; images stored in ``order`` under other names."""
    order = list(range(6)) if order is None else order
    where = {k: i for i, k in enumerate(order)}  # original image -> stored row
    nwbfile = new_file(path.stem)
    keep = [k for k in order if k != drop]
    frames = [GrayscaleImage(name=f"{prefix}{where[k]}", data=IMAGES[k]) for k in keep]
    nwbfile.add_stimulus_template(Images(name="faces", images=frames, description="faces"))
    rows = {f.name: i for i, f in enumerate(sorted(frames, key=lambda f: f.name))}
    nwbfile.add_trial_column(name="image_index", description="which image")
    for k, t in zip(SHOWN, ONSETS, strict=True):
        if k != drop:
            nwbfile.add_trial(start_time=t, stop_time=t + 0.4,
                              image_index=rows[f"{prefix}{where[k]}"])
    add_units(nwbfile, [TRAINS[u] for u in units])
    write(nwbfile, path)
    return path


def test_pooling_two_files_equals_one_file_holding_both(tmp_path):
    both = _session(tmp_path / "both.nwb", [0, 1, 2, 3])
    a = _session(tmp_path / "a.nwb", [0, 1])
    b = _session(tmp_path / "b.nwb", [2, 3], order=[3, 5, 0, 1, 4, 2], prefix="pic")
    with Recording.open(both) as one, PooledRecording.open([a, b]) as pooled:
        np.testing.assert_array_equal(pooled.responses.values, one.responses.values)
        np.testing.assert_array_equal(pooled.images, one.images[:])
        assert pooled.stimulus_ids == one.stimulus_ids  # names of the first session
        assert pooled.responses.coords["session"].values.tolist() == ["a", "a", "b", "b"]
        assert pooled.responses.coords["unit_id"].values.tolist() == [0, 1, 0, 1]
        assert [f["path"] for f in pooled.files] == [str(a), str(b)]
        with Recording.open(b) as rb:
            assert pooled.files[1]["sha256"] == rb.sha256()
    with PooledRecording.open([tmp_path]) as folder:  # a folder of NWB files: sorted
        assert [f["identifier"] for f in folder.files] == ["a", "b", "both"]


def test_images_seen_in_some_sessions_intersect_or_union(tmp_path):
    a = _session(tmp_path / "a.nwb", [0, 1])
    b = _session(tmp_path / "b.nwb", [2], drop=4)
    with PooledRecording.open([a, b]) as pooled:
        assert pooled.n_stimuli == 5 and "img4" not in pooled.stimulus_ids
    with PooledRecording.open([a, b], match="union") as pooled:
        resp = pooled.responses.values
        assert pooled.n_stimuli == 6 and pooled.stimulus_ids[4] == "img4"
        assert np.isnan(resp[4, 2]).all() and not np.isnan(resp[4, :2]).any()
    with pytest.raises(InputError, match="stimuli_match: must be one of intersect, union"):
        PooledRecording.open([a, b], match="all")
