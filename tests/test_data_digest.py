"""The content digest of generated NWB files, and regenerating a ``generated`` entry."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import pytest

from neurofacedis.data.digest import content_sha256
from neurofacedis.data.fetch import fetch_dataset
from neurofacedis.data.manifest import parse_manifest
from neurofacedis.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _bytes_sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_content_digest_ignores_uuids_and_write_time_but_not_data(tmp_path, make_session):
    from neurofacedis.nwb import write_session

    data = make_session()
    a = write_session(tmp_path / "a.nwb", data)
    b = write_session(tmp_path / "b.nwb", data)
    assert _bytes_sha(a) != _bytes_sha(b)  # object ids and file_create_date differ
    assert content_sha256(a) == content_sha256(b)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert fa.attrs["object_id"] != fb.attrs["object_id"]
    # one response value, the identifier or an attribute changes the digest
    with h5py.File(b, "r+") as f:
        f["processing/neurofacedis/responses/data"][0, 0, 0] += 1
    assert content_sha256(a) != content_sha256(b)
    c = write_session(tmp_path / "c.nwb",
                      replace(data, metadata=replace(data.metadata, identifier="other")))
    assert content_sha256(c) != content_sha256(a)
    d = write_session(tmp_path / "d.nwb", replace(data, window=(0.05, 0.3)))
    assert content_sha256(d) != content_sha256(a)


def test_content_digest_of_non_hdf5_is_an_input_error(tmp_path):
    p = tmp_path / "x.nwb"
    p.write_text("nope")
    with pytest.raises(InputError, match="not a readable HDF5"):
        content_sha256(p)


def _generated(params: dict, sha: str | None):
    f = {"path": "virtual_face_patch.nwb", "digest": "content"}
    f.update({"sha256": sha} if sha else {"unverified": True})
    return parse_manifest({"schema_version": 2, "datasets": [{
        "name": "gen", "description": "d", "kind": "generated", "license": "CC0-1.0",
        "citation": "c", "generate": {"dataset": "virtual_face_patch", "params": params},
        "files": [f]}]})


CMD = {"seed": 3, "identities": 2, "views": 2, "neurons": 3, "repeats": 2, "size": 16}


def test_generated_entry_is_regenerated_and_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(tmp_path / "cache"))
    first = fetch_dataset("gen", dest=tmp_path / "a", manifest=_generated(CMD, None),
                          allow_unverified=True, progress=False)
    sha = first.files[0].sha256
    res = fetch_dataset("gen", dest=tmp_path / "b", manifest=_generated(CMD, sha), progress=False)
    assert res.files[0].verified and res.files[0].sha256 == sha
    assert res.files[0].path.read_bytes() != first.files[0].path.read_bytes()  # new bytes
    # a manifest hash that the regenerated content does not match: refused and removed
    with pytest.raises(InputError, match="differs from the manifest"):
        fetch_dataset("gen", dest=tmp_path / "c", manifest=_generated(CMD, "0" * 64),
                      progress=False)
    assert not (tmp_path / "c" / "virtual_face_patch.nwb").exists()


def test_generator_commands_are_refused():
    with pytest.raises(InputError, match="'generate.command' was replaced"):
        parse_manifest({"schema_version": 1, "datasets": [{
            "name": "gen", "description": "d", "kind": "generated", "license": "CC0-1.0",
            "citation": "c", "generate": {"command": "python -c 'import os'", "seed": 3},
            "files": [{"path": "gen.nwb", "unverified": True}]}]})


@pytest.mark.slow
def test_shipped_demo_entry_regenerates_to_its_digest(tmp_path, monkeypatch):
    from neurofacedis.data.manifest import load_manifest

    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(tmp_path / "cache"))
    m = load_manifest(ROOT / "data_manifest.yaml")
    res = fetch_dataset("virtual-face-patch", dest=tmp_path, manifest=m, progress=False)
    (f,) = res.files
    assert f.verified and f.sha256 == m.get("virtual-face-patch").files[0].sha256


def test_importing_the_cli_stays_light():
    code = ("import sys, neurofacedis.cli; "
            "print(sorted(m for m in ('torch', 'pynwb', 'xarray', 'pydantic', 'pooch', 'h5py') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_generate_command_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(tmp_path / "cache"))
    m = _generated({**CMD, "no_such_option": 1}, None)
    with pytest.raises(InputError, match="unknown parameter 'no_such_option'"):
        fetch_dataset("gen", dest=tmp_path / "a", manifest=m, allow_unverified=True,
                      progress=False)
