from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from neurofacedis.cli import main
from neurofacedis.data.validate import validate_files
from neurofacedis.errors import InputError

SHA = "b" * 64


def _statuses(report, check):
    return [f.status for f in report.findings if f.check == check]


def test_clean_file_passes_with_every_project_check(session_file):
    path, data = session_file
    report = validate_files([path])
    assert report.ok, report.failures
    checks = {f.check: f for f in report.findings if f.source == "neurofacedis"}
    assert checks["schema"].message.startswith("ndx-neurofacedis ")
    assert checks["stimulus count = response rows"].message == (
        f"{data.n_stimuli} stimuli, {data.n_stimuli} response rows"
    )
    assert checks["responses finite"].status == "ok"
    # nwbinspector ran (its suggestions are warnings, not failures)
    assert any(f.source == "nwbinspector" for f in report.findings)
    assert all(f.status in {"ok", "warn"} for f in report.findings)


def test_infinite_responses_fail(session_file):
    path, _ = session_file
    with h5py.File(path, "r+") as f:
        f["processing/neurofacedis/responses/data"][0, 0, 0] = np.inf
    report = validate_files([path])
    assert not report.ok
    assert _statuses(report, "responses finite") == ["fail"]
    assert "1 infinite" in next(f.message for f in report.failures)


def test_neuron_without_any_repeat_fails_but_missing_repeats_are_fine(session_file):
    path, _ = session_file
    with h5py.File(path, "r+") as f:
        f["processing/neurofacedis/responses/data"][1, 2, 0] = np.nan  # one missing repeat
    assert validate_files([path]).ok
    with h5py.File(path, "r+") as f:
        f["processing/neurofacedis/responses/data"][1, 2, :] = np.nan
    report = validate_files([path])
    assert _statuses(report, "responses finite") == ["fail"]


def test_missing_cached_schema_fails(session_file):
    path, _ = session_file
    with h5py.File(path, "r+") as f:
        del f["specifications/ndx-neurofacedis"]
    report = validate_files([path])
    assert _statuses(report, "schema") == ["fail"]


def test_latents_provenance(session_file):
    from neurofacedis.nwb import LatentsData, add_latents

    path, data = session_file
    n = data.n_stimuli
    z = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    add_latents(path, [LatentsData("latents_pca_seed0", z, ["u0", "u1"], {
        "model": "pca", "plugin": "nfd_linear", "plugin_version": "1.0",
        "parameters": {"n_components": 2}, "seed": 0, "training_images_sha256": SHA})])
    report = validate_files([path])
    assert report.ok, report.failures
    (prov,) = [f for f in report.findings if f.check == "latents provenance"]
    assert prov.status == "ok" and "pca by nfd_linear 1.0, seed 0" in prov.message
    assert _statuses(report, "stimulus count = latent rows") == ["ok"]
    # incomplete provenance (only the model name) fails and says what is missing
    add_latents(path, [LatentsData("latents_bare", z, ["u0", "u1"], {"model": "bare"})])
    report = validate_files([path])
    bad = [f for f in report.failures if f.check == "latents provenance"]
    assert len(bad) == 1 and bad[0].location.endswith("latents_bare")
    for missing in ("plugin missing", "plugin_version missing", "training_images_sha256 missing",
                    "seed missing"):
        assert missing in bad[0].message


def test_zarr_is_validated_too(session_file, tmp_path):
    from neurofacedis.data.export import export_zarr

    path, _ = session_file
    z = export_zarr(path, tmp_path / "s.nwb.zarr")
    report = validate_files([z])
    assert report.ok, report.failures
    assert _statuses(report, "stimulus count = response rows") == ["ok"]


def test_cli_exit_codes_and_json(session_file, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    path, _ = session_file
    with pytest.raises(SystemExit) as exc:
        main(["data", "validate", str(path), "--json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["findings"]
    with h5py.File(path, "r+") as f:
        f["processing/neurofacedis/responses/data"][0, 0, 0] = -np.inf
    with pytest.raises(SystemExit) as exc:
        main(["data", "validate", str(path)])
    assert exc.value.code == 1
    assert "responses finite" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["data", "validate", str(path.with_name("missing.nwb"))])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.nwb: no such file" in err


def test_not_nwb_is_a_finding_not_a_crash(tmp_path):
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not hdf5")
    report = validate_files([bad])
    assert not report.ok
    with pytest.raises(InputError):
        validate_files([tmp_path / "nope.nwb"])
