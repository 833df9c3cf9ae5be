"""write_session -> Recording / read_session is exact; spike counts equal processed responses;
analysis files and appended latents are valid and never touch their source."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pandas as pd
import pytest

from neurofacedis.errors import InputError
from neurofacedis.inspection import serious_findings
from neurofacedis.nwb import (
    DEFAULT_WINDOW,
    LatentsData,
    Recording,
    add_latents,
    count_responses,
    file_sha256,
    read_session,
    write_analysis,
    write_session,
)


def _assert_same_session(a, b):
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.dtype == b.images.dtype == np.uint8
    assert list(a.stimulus_ids) == list(b.stimulus_ids)
    assert [str(v) for v in a.identity] == [str(v) for v in b.identity]
    pd.testing.assert_frame_equal(a.factors, b.factors)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    pd.testing.assert_frame_equal(a.labels, b.labels, check_dtype=False)
    assert a.labels["age_group"].dtype.kind == b.labels["age_group"].dtype.kind == "i"
    np.testing.assert_array_equal(a.responses, b.responses)  # NaNs compare equal
    assert a.window == b.window and a.response_unit == b.response_unit
    assert len(a.spike_times) == len(b.spike_times)
    for x, y in zip(a.spike_times, b.spike_times, strict=True):
        np.testing.assert_array_equal(x, y)
    pres_a = a.presentations.sort_values("start_time", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        pres_a[["start_time", "stop_time", "stimulus_index"]],
        b.presentations[["start_time", "stop_time", "stimulus_index"]],
    )
    pd.testing.assert_frame_equal(
        a.units.reset_index(drop=True), b.units.reset_index(drop=True), check_dtype=False
    )
    for key in ("tuning_weights", "baseline", "gain"):
        np.testing.assert_array_equal(a.truth[key], b.truth[key])
    assert list(a.truth["code"]) == b.truth["code"]
    assert a.truth["factor_names"] == b.truth["factor_names"]
    assert a.truth["params"] == b.truth["params"]
    assert a.metadata == b.metadata


def test_round_trip_is_exact(session_file):
    path, data = session_file
    _assert_same_session(data, read_session(path))


def test_round_trip_rgb_and_processed_only(tmp_path, make_session):
    data = make_session(rgb=True, spikes=False, seed=3)
    path = write_session(tmp_path / "rgb.nwb", data)
    with Recording.open(path) as rec:
        assert rec.image_shape == (8, 8, 3)
        assert not rec.has_spike_times and rec.has_processed
        np.testing.assert_array_equal(rec.images[:], data.images)
        np.testing.assert_array_equal(rec.responses.values, data.responses)
        pd.testing.assert_frame_equal(rec.units, data.units.rename_axis("id"), check_dtype=False)
        assert rec.metadata.brain_region == "AM"
    assert not serious_findings(path)


def test_responses_from_spike_times_equal_processed(session_file):
    path, data = session_file
    with Recording.open(path) as rec:
        processed = rec.responses
        assert processed.attrs["source"] == "processed"
    with Recording.open(path, window=DEFAULT_WINDOW) as rec:
        counted = rec.responses
        assert counted.attrs["source"] == "spike_times"
        assert counted.attrs["window"] == DEFAULT_WINDOW
    np.testing.assert_array_equal(counted.values, processed.values)
    assert counted.dtype == np.float32
    assert list(counted.coords["stimulus"].values) == data.stimulus_ids
    np.testing.assert_array_equal(counted.coords["neuron"].values, np.arange(4))


def test_spike_only_session_counts_and_other_window(tmp_path, make_session):
    data = make_session(processed=False, seed=5, n_repeats=4)
    path = write_session(tmp_path / "spikes.nwb", data)
    reference = make_session(seed=5, n_repeats=4).responses  # same seed: the counted truth
    with Recording.open(path) as rec:
        assert rec.response_source == "spike_times" and rec.n_repeats == 4
        np.testing.assert_array_equal(rec.responses.values, reference)
    window = (0.0, 0.1)
    with Recording.open(path, window=window) as rec:
        got = rec.responses.values
    pres = data.presentations
    for row, (onset, stim) in enumerate(zip(pres.start_time, pres.stimulus_index, strict=True)):
        rep = int((pres.stimulus_index.to_numpy()[:row] == stim).sum())
        for u, st in enumerate(data.spike_times):
            expected = np.sum((st >= onset + window[0]) & (st < onset + window[1]))
            assert got[stim, u, rep] == expected


def test_count_responses_known_answer():
    onsets = np.array([1.0, 2.0, 3.0])
    stim = np.array([1, 0, 1])
    # unit 0: spikes exactly at onset+w0 (counted) and onset+w1 (not counted)
    spikes = [np.array([1.05, 1.35, 2.1, 2.2, 3.3499]), np.array([])]
    got = count_responses(spikes, onsets, stim, n_stimuli=3, window=(0.05, 0.35))
    assert got.shape == (3, 2, 2)
    np.testing.assert_array_equal(got[1, 0], [1, 1])
    np.testing.assert_array_equal(got[0, 0], [2, np.nan])
    np.testing.assert_array_equal(got[2], np.full((2, 2), np.nan))
    np.testing.assert_array_equal(got[:2, 1], [[0, np.nan], [0, 0]])


def test_lazy_images_and_partial_reads(session_file):
    path, data = session_file
    with Recording.open(path) as rec:
        imgs = rec.images
        assert imgs.shape == data.images.shape and len(imgs) == 6
        np.testing.assert_array_equal(imgs[[4, 1, 4]], data.images[[4, 1, 4]])
        np.testing.assert_array_equal(imgs[2], data.images[2])
        np.testing.assert_array_equal(imgs[1:5:2, 0], data.images[1:5:2, 0])
        loaded = rec.load_images([0, 5])
        assert loaded.dtype == np.float32 and loaded.max() <= 1.0
        np.testing.assert_allclose(loaded, data.images[[0, 5]] / 255.0, rtol=1e-6)
        block = rec.read_responses(stimuli=[5, 0], neurons=[3, 1])
        np.testing.assert_array_equal(block.values, data.responses[[5, 0]][:, [3, 1]])
        np.testing.assert_array_equal(
            rec.read_responses(neurons=slice(1, 3)).values, data.responses[:, 1:3]
        )
        assert rec.stimuli.columns.tolist() == ["stimulus_id", "identity", "view", "age_group"]
        assert rec.factors.columns.tolist() == ["face_width", "eye_size"]
    with h5py.File(path, "r") as fh:
        images = fh["processing/neurofacedis/stimulus_set/images"]
        assert images.chunks == (1, 8, 8) and images.compression == "gzip"
        resp = fh["processing/neurofacedis/responses/data"]
        assert resp.compression is None and resp.chunks is not None


def test_zarr_store_reads_the_same(session_file, tmp_path):
    import numcodecs
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO

    path, data = session_file
    zpath = tmp_path / "tiny.nwb.zarr"
    with (
        NWBHDF5IO(str(path), "r") as src,
        NWBZarrIO(str(zpath), mode="w", object_codec_class=numcodecs.JSON) as dst,
    ):
        dst.export(src_io=src, write_args={"link_data": False})
    with Recording.open(zpath) as rec:
        np.testing.assert_array_equal(rec.images[[3, 0]], data.images[[3, 0]])
        np.testing.assert_array_equal(rec.responses.values, data.responses)
        np.testing.assert_array_equal(
            rec.read_responses(stimuli=[2, 1], neurons=[3, 0]).values,
            data.responses[[2, 1]][:, [3, 0]],
        )
        assert rec.stimulus_ids == data.stimulus_ids
        assert len(rec.sha256()) == 64
    with Recording.open(zpath, window=DEFAULT_WINDOW) as rec:
        np.testing.assert_array_equal(rec.responses.values, data.responses)


def test_atomic_write_and_overwrite(tmp_path, make_session, monkeypatch):
    import neurofacedis.nwb._write as writer

    data = make_session()
    path = write_session(tmp_path / "a.nwb", data)
    before = file_sha256(path)
    with pytest.raises(InputError, match="already exists"):
        write_session(path, data)

    def broken(tmp, nwbfile):
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "write_nwbfile", broken)
    with pytest.raises(RuntimeError):
        write_session(path, data, overwrite=True)
    assert file_sha256(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nwb"]


def test_file_sha256_matches_hashlib(session_file):
    path, _ = session_file
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    with Recording.open(path) as rec:
        assert rec.sha256() == file_sha256(path)


def _latents(n: int, name: str = "latents_pca_seed0", seed: int = 0) -> LatentsData:
    rng = np.random.default_rng(seed)
    return LatentsData(
        name=name,
        data=rng.normal(size=(n, 3)),
        unit_names=["pc0", "pc1", "pc2"],
        provenance={
            "model": "pca",
            "plugin": "nfd_linear",
            "plugin_version": "1.0",
            "parameters": {"k": 3},
            "seed": seed,
            "training_images_sha256": "f" * 64,
            "fold": 2,
        },
    )


def test_write_analysis(session_file, tmp_path):
    path, data = session_file
    before = file_sha256(path)
    table = pd.DataFrame({"model": ["pca"], "alignment": [0.42], "significant": [True]})
    out = tmp_path / "out" / "analysis.nwb"
    out.parent.mkdir()
    with Recording.open(path) as rec:
        write_analysis(out, recording=rec, latents=[_latents(6)], tables={"alignment": table})
    assert file_sha256(path) == before
    assert not serious_findings(out)
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        assert before in f.notes and "tiny-0" in f.notes
        stimuli = f.processing["neurofacedis"]["stimuli"]
        assert list(stimuli["stimulus_id"].data[:]) == data.stimulus_ids
        assert before in stimuli.source
        lat = f.processing["neurofacedis"]["latents_pca_seed0"]
        np.testing.assert_allclose(lat.data[:], _latents(6).data.astype(np.float32))
        assert lat.model == "pca" and lat.seed == 0 and before in lat.source
        got = f.processing["neurofacedis_results"]["alignment"].to_dataframe()
        assert got["alignment"].tolist() == [0.42] and got["model"].tolist() == ["pca"]
    with Recording.open(path) as rec, pytest.raises(InputError, match="source recording"):
        write_analysis(path, recording=rec, latents=[])


def test_add_latents_appends_and_failure_keeps_original(session_file):
    path, _ = session_file
    add_latents(path, [_latents(6)])
    with Recording.open(path) as rec:
        lat = rec.latents["latents_pca_seed0"]
        assert lat.dims == ("stimulus", "unit") and lat.shape == (6, 3)
        assert lat.attrs["model"] == "pca" and lat.attrs["seed"] == 0
        assert lat.attrs["parameters"] == '{"k": 3}'
        assert '"fold": 2' in lat.attrs["extra"]
        assert len(lat.attrs["created"]) >= 19 and lat.attrs["package_version"]
        np.testing.assert_array_equal(lat.coords["unit"].values, ["pc0", "pc1", "pc2"])
    assert not serious_findings(path)
    before = file_sha256(path)
    with pytest.raises(InputError, match="already"):
        add_latents(path, [_latents(6)])
    with pytest.raises(InputError, match="5 rows but 6 stimuli"):
        add_latents(path, [_latents(5, name="latents_ica_seed0")])
    assert file_sha256(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_written_files_pass_nwbinspector(session_file, tmp_path, make_session):
    path, _ = session_file
    assert not serious_findings(path)
    spikes_only = write_session(tmp_path / "s.nwb", make_session(processed=False, seed=2))
    assert not serious_findings(spikes_only)
