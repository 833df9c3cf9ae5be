from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurofacedis.cli import main
from neurofacedis.data.manifest import load_manifest
from neurofacedis.data.pack import dandi_path, pack_files
from neurofacedis.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def manifest(tmp_path):
    p = tmp_path / "data_manifest.yaml"
    shutil.copy(ROOT / "data_manifest.yaml", p)
    return p


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pack_hashes_and_adds_the_entry_keeping_the_rest(session_file, manifest):
    path, _ = session_file
    before = manifest.read_text()
    res = pack_files([path], name="tiny", manifest=manifest, citation="Doe 2024",
                     base_url="https://example.org/tiny/")
    assert res.report.ok
    (f,) = res.entry.files
    assert f.path == "tiny.nwb" and f.sha256 == _sha(path) and f.size == path.stat().st_size
    assert manifest.read_text().startswith(before)
    m = load_manifest(manifest)
    assert m.names()[:2] == ["virtual-face-patch", "higgins2021-face-images"]
    entry = m.get("tiny")
    assert entry.kind == "nwb" and entry.citation == "Doe 2024"
    assert entry.url_for(entry.files[0]) == "https://example.org/tiny/tiny.nwb"
    # packing again under the same name updates the entry instead of adding one
    with h5py.File(path, "r+") as h5:
        h5["processing/neurofacedis/responses/data"][0, 0, 0] += 1
    res2 = pack_files([path], name="tiny", manifest=manifest)
    m2 = load_manifest(manifest)
    assert m2.names() == m.names()
    assert m2.get("tiny").files[0].sha256 == _sha(path) != f.sha256
    assert res2.entry.citation == ""


def test_dandi_layout(session_file, manifest, tmp_path):
    path, _ = session_file
    dandi = tmp_path / "000123"
    res = pack_files([path], name="tiny", manifest=manifest, dandi_dir=dandi,
                     subject="M1", sessions=["20240501"])
    target = dandi / "sub-M1" / "sub-M1_ses-20240501.nwb"
    assert res.files == ((path, target.resolve()),)
    assert target.read_bytes() == path.read_bytes()
    assert res.entry.files[0].path == "sub-M1/sub-M1_ses-20240501.nwb"
    assert not res.notes  # the file's subject_id is M1
    res = pack_files([path], name="tiny", manifest=manifest, dandi_dir=dandi,
                     subject="M2", sessions=["1"])
    assert res.notes and "'M1'" in res.notes[0]  # the file says M1, packed as M2
    assert sorted(p.relative_to(dandi).as_posix() for p in dandi.rglob("*.nwb")) == [
        "sub-M1/sub-M1_ses-20240501.nwb", "sub-M2/sub-M2_ses-1.nwb"]


@pytest.mark.parametrize("subject,session", [("a_b", "1"), ("../x", "1"), ("M1", "a/b"),
                                             ("", "1")])
def test_dandi_labels_are_checked(subject, session):
    with pytest.raises(InputError, match="may only hold"):
        dandi_path(subject, session)


def test_dandi_layout_needs_one_session_per_file(session_file, manifest, tmp_path):
    path, _ = session_file
    with pytest.raises(InputError, match="one `sessions` per file"):
        pack_files([path], name="t", manifest=manifest, dandi_dir=tmp_path / "d", subject="M1")
    with pytest.raises(InputError, match="needs `subject`"):
        pack_files([path], name="t", manifest=manifest, dandi_dir=tmp_path / "d", sessions=["1"])


def test_invalid_files_are_refused_and_the_manifest_is_untouched(session_file, manifest):
    path, _ = session_file
    with h5py.File(path, "r+") as h5:
        h5["processing/neurofacedis/responses/data"][0, 0, 0] = np.inf
    before = manifest.read_text()
    with pytest.raises(InputError, match="validation failed") as exc:
        pack_files([path], name="tiny", manifest=manifest)
    assert "responses finite" in str(exc.value) and "\n" not in str(exc.value)
    assert manifest.read_text() == before
    with pytest.raises(InputError, match="name"):
        pack_files([path], name="../evil", manifest=manifest, validate=False)
    assert manifest.read_text() == before


def test_cli_pack(session_file, manifest, capsys):
    path, _ = session_file
    with pytest.raises(SystemExit) as exc:
        main(["data", "pack", str(path), "--name", "tiny", "--manifest", str(manifest),
              "--license", "CC0-1.0", "--json"])
    assert exc.value.code == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["files"][0]["sha256"] == _sha(path) and entry["license"] == "CC0-1.0"
    with pytest.raises(SystemExit) as exc:
        main(["data", "pack", str(path.with_name("nope.nwb")), "--name", "x",
              "--manifest", str(manifest)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
