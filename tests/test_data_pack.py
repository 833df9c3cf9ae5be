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
    # the file's subject_id is M1: the only note is the dandiset.yaml stub written beside
    assert res.notes == (f"wrote {dandi / 'dandiset.yaml'} (a stub: edit the contributors)",)
    res = pack_files([path], name="tiny", manifest=manifest, dandi_dir=dandi,
                     subject="M2", sessions=["1"])
    assert "'M1'" in res.notes[0]  # the file says M1, packed as M2
    assert res.notes[1] == f"kept the existing {dandi / 'dandiset.yaml'}"
    assert sorted(p.relative_to(dandi).as_posix() for p in dandi.rglob("*.nwb")) == [
        "sub-M1/sub-M1_ses-20240501.nwb", "sub-M2/sub-M2_ses-1.nwb"]


@pytest.mark.parametrize("subject,session", [("a_b", "1"), ("../x", "1"), ("M1", "a/b"),
                                             ("", "1")])
def test_dandi_labels_are_checked(subject, session):
    with pytest.raises(InputError, match="may only hold"):
        dandi_path(subject, session)


def _subject_file(tmp_path, make_session, name, subject_id):
    from dataclasses import replace

    from neurofacedis.nwb import write_session

    data = make_session()
    data.metadata = replace(data.metadata, identifier=name, subject_id=subject_id)
    return write_session(tmp_path / f"{name}.nwb", data)


def test_dandi_labels_come_from_each_file_and_flags_override(make_session, manifest, tmp_path):
    """As `dandi organize`: subject_id and session id (else identifier), sanitised."""
    import yaml

    a = _subject_file(tmp_path, make_session, "day_1", "mouse_01")
    b = _subject_file(tmp_path, make_session, "day 2", "M2")
    dandi = tmp_path / "layout"
    res = pack_files([a, b], name="two", manifest=manifest, dandi_dir=dandi,
                     description="two sessions")
    assert [f.path for f in res.entry.files] == ["sub-mouse-01/sub-mouse-01_ses-day-1.nwb",
                                                 "sub-M2/sub-M2_ses-day-2.nwb"]
    stub = yaml.safe_load((dandi / "dandiset.yaml").read_text())
    assert stub["name"] == "two" and stub["description"] == "two sessions"
    assert stub["license"] == ["spdx:CC-BY-4.0"] and stub["identifier"] == "DANDI:000000"
    assert stub["contributor"][0]["roleName"] == ["dcite:ContactPerson"]
    # the flags override: one subject for all, one session per file
    res = pack_files([a, b], name="two", manifest=manifest, dandi_dir=tmp_path / "o",
                     subject="M9", sessions=["1", "2"])
    assert [f.path for f in res.entry.files] == ["sub-M9/sub-M9_ses-1.nwb",
                                                 "sub-M9/sub-M9_ses-2.nwb"]
    with pytest.raises(InputError, match="one `sessions` per file when given"):
        pack_files([a, b], name="t", manifest=manifest, dandi_dir=tmp_path / "d",
                   sessions=["1"])


def test_a_file_without_subject_is_named_and_nothing_is_written(make_session, manifest,
                                                                 tmp_path):
    from datetime import datetime, timezone

    from lab_nwb import write
    from pynwb import NWBFile

    bare = tmp_path / "bare.nwb"  # a plain pynwb file: no Subject at all
    write(NWBFile(session_description="d", identifier="bare",
                  session_start_time=datetime(2024, 5, 6, tzinfo=timezone.utc)), bare)
    before = manifest.read_bytes()
    with pytest.raises(InputError, match=r"bare\.nwb: subject: has no subject id"):
        pack_files([bare], name="t", manifest=manifest, dandi_dir=tmp_path / "d")
    assert manifest.read_bytes() == before and not (tmp_path / "d").exists()
    from neurofacedis.data.pack import _relative_paths

    # the flag supplies it (the file's own identifier names the session)
    assert _relative_paths([bare], "t", "M1", ()) == ["sub-M1/sub-M1_ses-bare.nwb"]


def test_dandi_validate_accepts_the_layout(session_file, manifest, tmp_path):
    """The layout with its dandiset.yaml stub passes `dandi validate` (when dandi is here)."""
    pytest.importorskip("dandi", reason="the dandi client is not installed")
    import subprocess
    import sys

    path, _ = session_file
    pack_files([path], name="tiny", manifest=manifest, dandi_dir=tmp_path / "layout")
    done = subprocess.run([sys.executable, "-m", "dandi.cli.command", "validate",
                           str(tmp_path / "layout")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


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
