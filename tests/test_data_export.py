from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurofacedis.cli import main
from neurofacedis.data.export import export_zarr
from neurofacedis.errors import InputError


@pytest.fixture
def small_file(tmp_path):
    """A small simulated recording (known factors and truth), written as HDF5."""
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    data = simulate_session(n_identities=8, n_views=4, n_neurons=12, n_repeats=3,
                            image_size=16, seed=1)
    return write_session(tmp_path / "small.nwb", data)


def test_zarr_export_reads_back_identically(small_file, tmp_path):
    from neurofacedis.nwb import Recording

    out = export_zarr(small_file, tmp_path / "small.nwb.zarr")
    assert out.is_dir() and (out / ".zmetadata").is_file()
    # no pickle anywhere: object arrays use the JSON codec
    assert '"pickle"' not in (out / ".zmetadata").read_text()
    with Recording.open(small_file) as h5, Recording.open(out) as zr:
        assert zr.identifier == h5.identifier
        assert zr.stimulus_ids == h5.stimulus_ids
        pd.testing.assert_frame_equal(zr.stimuli, h5.stimuli)
        pd.testing.assert_frame_equal(zr.factors, h5.factors)
        np.testing.assert_array_equal(zr.images[:], h5.images[:])
        np.testing.assert_array_equal(zr.landmarks, h5.landmarks)
        assert zr.responses.dims == h5.responses.dims
        np.testing.assert_array_equal(zr.responses.values, h5.responses.values)
        for a, b in zip(zr.spike_times, h5.spike_times, strict=True):
            np.testing.assert_array_equal(a, b)
        pd.testing.assert_frame_equal(zr.presentations, h5.presentations)
        np.testing.assert_array_equal(zr.truth["tuning_weights"], h5.truth["tuning_weights"])


def test_export_refuses_overwrite_and_bad_sources(small_file, tmp_path):
    out = export_zarr(small_file, tmp_path / "a.zarr")
    with pytest.raises(InputError, match="already exists"):
        export_zarr(small_file, out)
    export_zarr(small_file, out, overwrite=True)
    with pytest.raises(InputError, match="no such"):
        export_zarr(tmp_path / "missing.nwb", tmp_path / "b.zarr")
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n garbage")
    with pytest.raises(InputError, match="not a readable NWB file"):
        export_zarr(bad, tmp_path / "c.zarr")
    assert not (tmp_path / "c.zarr").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr", "bad.nwb", "small.nwb"]


def test_cli_export(small_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "export", str(small_file), "--zarr", str(tmp_path / "x.nwb.zarr")])
    assert exc.value.code == 0 and (tmp_path / "x.nwb.zarr").is_dir()
    with pytest.raises(SystemExit) as exc:
        main(["data", "export", str(small_file), "--zarr", str(tmp_path / "x.nwb.zarr")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err


def test_zarr_export_analyses_to_the_same_numbers(small_file, tmp_path):
    from neurofacedis.runner import analyze

    out = export_zarr(small_file, tmp_path / "small.nwb.zarr")
    kw = dict(models=["pca"], metrics=["alignment"], figures=False, use_cache=False)
    a = analyze(small_file, **kw)
    b = analyze(out, **kw)
    assert a.summary["metrics"]["alignment"]["pca"]["alignment"] > 0
    assert b.summary["metrics"] == a.summary["metrics"]
    assert b.summary["recording"]["identifier"] == a.summary["recording"]["identifier"]
