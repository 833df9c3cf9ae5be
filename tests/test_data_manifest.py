from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from neurofacedis.data.manifest import (
    SCHEMA_VERSION,
    DatasetEntry,
    FileEntry,
    load_manifest,
    parse_manifest,
    safe_join,
    update_manifest,
)
from neurofacedis.errors import InputError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
SHA = "a" * 64


def _doc(**file_fields):
    f = {"path": "x.nwb", "sha256": SHA, **file_fields}
    return {
        "schema_version": 1,
        "datasets": [
            {
                "name": "ds",
                "description": "d",
                "kind": "nwb",
                "license": "CC0-1.0",
                "citation": "c",
                "files": [f],
            }
        ],
    }


def test_shipped_manifest_is_valid_and_cites_the_reference_study():
    m = load_manifest(ROOT / "data_manifest.yaml")
    assert m.schema_version == SCHEMA_VERSION
    faces = m.get("higgins2021-face-images")
    assert faces.kind == "images"
    assert faces.doi == "10.1038/s41467-021-26751-5"
    assert "Higgins" in faces.citation and "12:6456" in faces.citation
    assert faces.unverified and faces.access == "request"
    assert all(s.url.startswith("https://") for s in faces.sources)


def test_shipped_manifest_has_the_generated_demo_with_a_hash():
    m = load_manifest(ROOT / "data_manifest.yaml")
    demo = [d for d in m.datasets if d.kind == "generated"]
    assert len(demo) == 1
    (d,) = demo
    assert d.generate is not None and d.generate.dataset == "virtual_face_patch"
    assert d.generate.params == {"seed": 0, "identities": 75, "views": 8, "neurons": 100,
                                 "repeats": 5}
    assert d.files and all(f.sha256 and len(f.sha256) == 64 for f in d.files)


def _generated(generate) -> dict:
    doc = _doc(digest="content")
    doc["datasets"][0].update(kind="generated", generate=generate)
    return doc


def test_generate_is_structured_and_checked_by_the_schema():
    g = parse_manifest(_generated({"dataset": "virtual_face_patch",
                                   "params": {"seed": 3, "axis_fraction": 0.5, "rgb": True}}))
    assert g.datasets[0].generate.params == {"seed": 3, "axis_fraction": 0.5, "rgb": True}
    for bad, where in [
        ({"dataset": "../x"}, "generate.dataset"),
        ({"dataset": "virtual_face_patch", "params": {"seed": [1, 2]}}, "generate.params.seed"),
        ({"dataset": "virtual_face_patch", "params": {"out": {"path": "/etc"}}},
         "generate.params.out"),
        ({"dataset": "virtual_face_patch", "output": "/tmp/x.nwb"}, "generate.output"),
        ({"params": {"seed": 0}}, "generate.dataset"),
    ]:
        with pytest.raises(InputError) as exc:
            parse_manifest(_generated(bad), file="m.yaml")
        assert "\n" not in str(exc.value) and where in str(exc.value), (bad, str(exc.value))


def test_old_generate_command_says_what_replaced_it():
    old = {"command": "neurofacedis simulate {dest}/x.nwb --seed 0 --overwrite", "seed": 0}
    with pytest.raises(InputError) as exc:
        parse_manifest(_generated(old), file="m.yaml")
    text = str(exc.value)
    assert "\n" not in text and text.startswith("m.yaml: datasets[0].generate (ds): ")
    assert "'generate.command' was replaced" in text
    assert "generate: {dataset: virtual_face_patch, params: {seed: 0" in text


@pytest.mark.parametrize(
    "bad",
    ["../x.nwb", "/etc/passwd", "a/../../b.nwb", "C:\\x.nwb", "C:/x.nwb", "~/.bashrc",
     "a//b.nwb", "./a.nwb", "a/./b", "", "sub\\..\\x"],
)
def test_unsafe_paths_are_refused(bad):
    with pytest.raises(InputError) as exc:
        parse_manifest(_doc(path=bad), file="m.yaml")
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith("m.yaml: datasets[0].files[0].path (ds): ")


@pytest.mark.parametrize("name", ["../evil", "a/b", ".hidden", "..", "", "x" * 200])
def test_unsafe_names_are_refused(name):
    doc = _doc()
    doc["datasets"][0]["name"] = name
    with pytest.raises(InputError, match=r"datasets\[0\]\.name"):
        parse_manifest(doc)


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "javascript:alert(1)", "s3://bucket/x", "file:relative/x", "http:///x",
            "x.nwb"],
)
def test_url_schemes_are_limited(url):
    with pytest.raises(InputError, match="url"):
        parse_manifest(_doc(url=url))


@pytest.mark.parametrize("url", ["https://h/x.nwb", "http://127.0.0.1:8000/x", "file:///tmp/x"])
def test_allowed_urls(url):
    assert parse_manifest(_doc(url=url)).datasets[0].files[0].url == url


@pytest.mark.parametrize("url", ["file://host/etc/passwd", "file://localhost/etc/passwd",
                                 "file://evil.example/x.nwb"])
def test_file_urls_with_a_host_are_refused(url):
    with pytest.raises(InputError, match="has a host"):
        parse_manifest(_doc(url=url))


def test_hash_or_unverified():
    doc = _doc()
    del doc["datasets"][0]["files"][0]["sha256"]
    with pytest.raises(InputError, match="unverified"):
        parse_manifest(doc)
    doc["datasets"][0]["unverified"] = True  # dataset level marks its unhashed files
    f = parse_manifest(doc).datasets[0].files[0]
    assert f.unverified and f.sha256 is None
    with pytest.raises(InputError, match="cannot be 'unverified'"):
        parse_manifest(_doc(unverified=True))


def test_sha256_is_normalised_and_checked():
    assert parse_manifest(_doc(sha256="sha256:" + "AB" * 32)).datasets[0].files[0].sha256 == (
        "ab" * 32
    )
    with pytest.raises(InputError, match="64 hexadecimal"):
        parse_manifest(_doc(sha256="xyz"))


def test_schema_version_checks():
    doc = _doc()
    doc["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(InputError, match="newer than this neurofacedis"):
        parse_manifest(doc)
    del doc["schema_version"]
    with pytest.raises(InputError, match="missing schema_version"):
        parse_manifest(doc)


def test_unknown_keys_generated_rules_and_duplicates():
    doc = _doc()
    doc["datasets"][0]["licence"] = "typo"
    with pytest.raises(InputError, match="licence"):
        parse_manifest(doc)
    doc = _doc()
    doc["datasets"][0]["kind"] = "generated"
    with pytest.raises(InputError, match="needs 'generate'"):
        parse_manifest(doc)
    doc["datasets"][0]["generate"] = {"command": "rm -rf /", "seed": 0}
    with pytest.raises(InputError, match="'generate.command' was replaced"):
        parse_manifest(doc)
    doc = _doc()
    doc["datasets"].append(dict(doc["datasets"][0]))
    with pytest.raises(InputError, match="duplicate dataset names"):
        parse_manifest(doc)


def test_unknown_dataset_suggests_close_names():
    m = parse_manifest(_doc())
    with pytest.raises(UnknownNameError, match="did you mean ds"):
        m.get("dss")


def test_bad_yaml_is_one_line(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("schema_version: 1\ndatasets: [\n")
    with pytest.raises(InputError) as exc:
        load_manifest(p)
    assert "\n" not in str(exc.value) and str(p) in str(exc.value)


def test_safe_join_refuses_symlink_escape(tmp_path):
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    os.symlink(outside, dest / "link")
    assert safe_join(dest, "a/b.nwb") == (dest / "a" / "b.nwb").resolve()
    with pytest.raises(InputError, match="escapes"):
        safe_join(dest, "link/x.nwb")
    with pytest.raises(InputError):
        safe_join(dest, "../x.nwb")


def test_update_manifest_keeps_the_rest_of_the_file(tmp_path):
    p = tmp_path / "data_manifest.yaml"
    original = (ROOT / "data_manifest.yaml").read_text()
    p.write_text(original)
    entry = DatasetEntry(
        name="my-session",
        description="one session",
        kind="nwb",
        license="CC-BY-4.0",
        citation="me",
        files=(FileEntry(path="sub-1/sub-1_ses-1.nwb", sha256=SHA, size=10),),
    )
    m = update_manifest(p, entry)
    text = p.read_text()
    assert text.startswith(original)  # comments, order and quoting untouched
    assert m.get("my-session").files[0].size == 10
    # replacing the entry keeps its position and everything else
    entry2 = entry.model_copy(update={"description": "updated"})
    m2 = update_manifest(p, entry2)
    assert m2.names() == m.names()
    assert m2.get("my-session").description == "updated"
    assert p.read_text().startswith(original)
    assert yaml.safe_load(p.read_text())["datasets"][-1]["files"][0]["path"] == (
        "sub-1/sub-1_ses-1.nwb"
    )


def test_update_manifest_creates_a_new_file(tmp_path):
    p = tmp_path / "new.yaml"
    entry = DatasetEntry(name="a", description="d", kind="nwb", license="l", citation="c",
                         files=(FileEntry(path="a.nwb", sha256=SHA),))
    m = update_manifest(p, entry)
    assert m.names() == ["a"] and load_manifest(p).schema_version == SCHEMA_VERSION


def test_every_schema_field_is_documented():
    from neurofacedis.data.manifest import Generator, Manifest, Source

    text = (ROOT / "docs" / "sharing.md").read_text()
    for model in (Manifest, DatasetEntry, FileEntry, Generator, Source):
        for name in model.model_fields:
            assert f"`{name}`" in text, (model.__name__, name)
    assert f"schema version {SCHEMA_VERSION}" in text
