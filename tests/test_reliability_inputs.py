"""File-level input safety (issue 18, classes 7, 8, 11, 12, 13, 14).

One gate (:mod:`neurofacedis._inputs`) for every input path: special files refused at once,
paths that are not UTF-8 refused before any work, links to other files refused unless
``--follow-links`` (then recorded with their sha256), Zarr arrays with a pickle codec refused
before any read, damaged chunks named (file and object) in one line, and a file locked by
another program called "in use", not "damaged".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurofacedis.cli import main
from neurofacedis.errors import InputError

IMAGES = "processing/neurofacedis/stimulus_set/images"
EXE = [sys.executable, "-m", "neurofacedis"]


@pytest.fixture
def rec(tmp_path, make_session):
    """A valid tiny recording (12 stimuli of 16 x 16, one gzip chunk per image)."""
    from neurofacedis.nwb import write_session

    return write_session(tmp_path / "rec.nwb", make_session(n_stimuli=12, size=16))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "250")


def cli(argv: list[str], capsys) -> tuple[object, str, str]:
    """Run ``main(argv)`` in-process: (exit code or the exception, stdout, stderr)."""
    capsys.readouterr()
    try:
        main([str(a) for a in argv])
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException as exc:  # noqa: BLE001 - a traceback is what we look for
        code = exc
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: object, err: str, *words: str) -> str:
    """Assert exit 2 and one stderr line holding every word; return the line."""
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err.strip()


def run(argv: list[str], *, timeout: float = 60, env: dict | None = None):
    """Run the CLI in a real process with a deadline (a hang fails the test, not the suite)."""
    return subprocess.run([*EXE, *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def analyze_argv(recording: Path, out: Path, *extra: str) -> list[str]:
    return ["analyze", recording, "--model", "pca", "--param", "pca.n_components=3", "--metric",
            "alignment", "--out", out, "-q", "--no-figures", *extra]


# --- 12. special files: one gate, refused at once ----------------------------------------


def test_fifo_is_refused_at_once_in_one_line(tmp_path):
    fifo = tmp_path / "rec.nwb"
    os.mkfifo(fifo)
    for argv in (["data", "validate", fifo], ["inspect", fifo],
                 analyze_argv(fifo, tmp_path / "out"), ["data", "pack", fifo, "--name", "x",
                                                       "--manifest", tmp_path / "m.yaml"]):
        start = time.monotonic()
        proc = run(argv, timeout=60)  # before the gate, `data validate` blocked forever here
        assert time.monotonic() - start < 60
        assert proc.returncode == 2, (argv, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert f"{fifo}: a named pipe (FIFO), not a regular file" in proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.yaml").exists()


def test_import_images_folder_with_a_fifo_named_png_is_refused(tmp_path, make_session):
    from skimage import io

    data = make_session(n_stimuli=3)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        io.imsave(folder / f"{i}.png", data.images[i], check_contrast=False)
    os.mkfifo(folder / "2.png")
    np.save(tmp_path / "resp.npy", np.ones((3, 4), np.float32))
    proc = run(["import", "--images", folder, "--responses", tmp_path / "resp.npy", "--out",
                tmp_path / "out.nwb"], timeout=120)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]  # the order is printed first, then the error
    assert line == f"error: {folder / '2.png'}: --images: a named pipe (FIFO), not a regular " \
                   "file: refused"
    assert not (tmp_path / "out.nwb").exists()


def test_symlink_to_dev_zero_is_refused_naming_the_target(tmp_path, rec, capsys):
    link = tmp_path / "zero.nwb"
    link.symlink_to("/dev/zero")
    code, _, err = cli(["inspect", link], capsys)
    one_line_error(code, err, str(link), "a character device (through a symbolic link to "
                   "/dev/zero)")
    resp = tmp_path / "resp.npy"
    resp.symlink_to("/dev/zero")
    code, _, err = cli(["import", "--images", tmp_path / "none.npy", "--responses", resp,
                        "--out", tmp_path / "o.nwb"], capsys)
    assert code == 2 and "Traceback" not in err
    with pytest.raises(InputError, match="character device"):
        from neurofacedis.importers import read_responses

        read_responses(resp)
    code, _, err = cli(analyze_argv(rec, tmp_path / "out", "--train-images", resp), capsys)
    one_line_error(code, err, str(resp), "--train-images", "character device")
    assert not (tmp_path / "out").exists() and not (tmp_path / "o.nwb").exists()
    # control: a symbolic link to a regular recording is fine
    good = tmp_path / "good-link.nwb"
    good.symlink_to(rec)
    assert cli(["inspect", "--json", good], capsys)[0] == 0


# --- 13. paths whose bytes are not UTF-8 -------------------------------------------------


def test_non_utf8_path_is_refused_before_any_work(tmp_path, rec, capsys):
    bad = os.fsdecode(os.fsencode(tmp_path) + b"/rec-\xff\xfe.nwb")
    shutil.copy(rec, bad)
    out = tmp_path / "out"
    before = sorted(os.listdir(tmp_path))
    code, _, err = cli(analyze_argv(Path(bad), out), capsys)
    one_line_error(code, err, "rec-\\xff\\xfe.nwb", "not valid UTF-8", "rename it")
    assert sorted(os.listdir(tmp_path)) == before  # nothing written: no output, no cache
    for argv in (["inspect", bad], ["data", "validate", bad]):
        one_line_error(*cli(argv, capsys)[::2], "rec-\\xff\\xfe.nwb", "not valid UTF-8")
    # the same gate for a lab file
    resp = os.fsdecode(os.fsencode(tmp_path) + b"/resp-\xff.npy")
    np.save(resp, np.ones((12, 4), np.float32))
    with pytest.raises(InputError, match=r"resp-\\xff\.npy.*not valid UTF-8"):
        from neurofacedis.importers import read_responses

        read_responses(resp)


# --- 7. links to other files ---------------------------------------------------------------


def _move_images_out(rec: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Copy ``rec`` to main.nwb whose image stack is an external link into images.h5."""
    main_file, other = tmp_path / "main.nwb", tmp_path / "images.h5"
    shutil.copy(rec, main_file)
    with h5py.File(main_file, "r+") as f, h5py.File(other, "w") as g:
        f.copy(f[IMAGES], g, "images")
        del f[IMAGES]
        f[IMAGES] = h5py.ExternalLink("images.h5", "/images")
    return main_file, other


def test_external_link_is_refused_unless_followed_and_then_recorded(tmp_path, rec, capsys):
    from neurofacedis.nwb import Recording, file_sha256

    main_file, other = _move_images_out(rec, tmp_path)
    want = ("/processing/neurofacedis/stimulus_set/images", "external link to images.h5:/images",
            "--follow-links")
    code, _, err = cli(analyze_argv(main_file, tmp_path / "out"), capsys)
    one_line_error(code, err, str(main_file), *want)
    assert not (tmp_path / "out").exists()
    one_line_error(*cli(["inspect", main_file], capsys)[::2], *want)
    code, out, _ = cli(["data", "validate", "--json", main_file], capsys)
    links = [f for f in json.loads(out)["findings"] if f["check"] == "links"]
    assert code == 1 and [f["status"] for f in links] == ["fail"]
    code, _, err = cli(["data", "pack", main_file, "--name", "x", "--manifest",
                        tmp_path / "m.yaml"], capsys)
    one_line_error(code, err, "never shares a file that links to others")
    assert not (tmp_path / "m.yaml").exists()

    # followed: the analysis reads it and the provenance names the linked file and its hash
    code, _, err = cli(analyze_argv(main_file, tmp_path / "out", "--follow-links"), capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    [linked] = summary["recording"]["linked_files"]
    assert linked["path"] == str(other.resolve())
    assert linked["sha256"] == file_sha256(other)
    assert linked["links"] == [f"{main_file}:/{IMAGES} -> images.h5:/images"]
    with Recording.open(main_file, follow_links=True) as r, Recording.open(rec) as ref:
        assert np.array_equal(r.load_images(), ref.load_images())
    code, out, _ = cli(["inspect", "--json", "--follow-links", main_file], capsys)
    assert code == 0 and json.loads(out)["linked_files"][0]["sha256"] == file_sha256(other)
    code, out, _ = cli(["data", "validate", "--json", "--follow-links", main_file], capsys)
    links = [f for f in json.loads(out)["findings"] if f["check"] == "links"]
    assert [f["status"] for f in links] == ["ok"] and file_sha256(other) in links[0]["message"]


def test_external_storage_and_virtual_sources_are_links_too(tmp_path, rec):
    from neurofacedis._inputs import check_links, find_links

    raw = tmp_path / "raw.bin"
    raw.write_bytes(bytes(range(12)))
    ext, vds = tmp_path / "ext.nwb", tmp_path / "vds.nwb"
    for path in (ext, vds):
        shutil.copy(rec, path)
    with h5py.File(ext, "r+") as f:
        f.create_dataset("acquisition/raw", shape=(12,), dtype="u1",
                         external=[(str(raw), 0, 12)])
    with h5py.File(vds, "r+") as f:
        layout = h5py.VirtualLayout(shape=(12,), dtype="u1")
        layout[:] = h5py.VirtualSource("ext.nwb", "acquisition/raw", shape=(12,))
        f.create_virtual_dataset("acquisition/virtual", layout)
    assert [(lk.obj, lk.kind, lk.file) for lk in find_links(ext)] == [
        ("/acquisition/raw", "external storage", raw)]
    assert [(lk.obj, lk.kind, lk.file) for lk in find_links(vds)] == [
        ("/acquisition/virtual", "virtual dataset source", ext)]
    with pytest.raises(InputError, match="external storage to .*raw.bin"):
        check_links(ext)
    # followed transitively: vds -> ext.nwb -> raw.bin, each with its sha256
    from neurofacedis.nwb import file_sha256

    got = {e["path"]: e["sha256"] for e in check_links(vds, follow_links=True)}
    assert got == {str(ext.resolve()): file_sha256(ext), str(raw.resolve()): file_sha256(raw)}
    # a link to a device is refused even when links are followed
    with h5py.File(ext, "r+") as f:
        f.create_dataset("acquisition/zero", shape=(4,), dtype="u1",
                         external=[("/dev/zero", 0, 4)])
    with pytest.raises(InputError, match="character device"):
        check_links(ext, follow_links=True)


def _zarr_copy(rec: Path, tmp_path: Path, name: str = "rec.nwb.zarr") -> Path:
    from neurofacedis.data.export import export_zarr

    return export_zarr(rec, tmp_path / name)


def test_zarr_links_to_other_stores_are_refused(tmp_path, rec, capsys):
    store = _zarr_copy(rec, tmp_path)
    attrs_file = store / "general/extracellular_ephys/recording_site/.zattrs"
    attrs = json.loads(attrs_file.read_text())
    attrs["zarr_link"][0]["source"] = "../other.nwb.zarr"
    attrs_file.write_text(json.dumps(attrs))
    code, _, err = cli(["inspect", store], capsys)
    one_line_error(code, err, str(store), "/general/extracellular_ephys/recording_site/device",
                   "zarr link to ../other.nwb.zarr")
    # a symbolic link inside the store that leaves it
    store2 = _zarr_copy(rec, tmp_path, "rec2.nwb.zarr")
    secret = tmp_path / "secret"
    secret.write_text("x")
    (store2 / "acquisition_secret").symlink_to(secret)
    code, _, err = cli(analyze_argv(store2, tmp_path / "out"), capsys)
    one_line_error(code, err, "/acquisition_secret", "symbolic link to", "secret")


# --- 8. Zarr arrays with a pickle codec ------------------------------------------------------


@pytest.mark.parametrize("role", ["filters", "compressor"])
def test_zarr_pickle_codec_is_refused_before_any_read(tmp_path, rec, capsys, monkeypatch, role):
    import numcodecs

    store = _zarr_copy(rec, tmp_path)
    meta_file = store / "units/unit_name/.zarray"
    meta = json.loads(meta_file.read_text())
    if role == "filters":
        meta["filters"] = [{"id": "pickle", "protocol": 5}]
    else:
        meta["compressor"] = {"id": "pickle", "protocol": 5}
    meta_file.write_text(json.dumps(meta))
    decoded = []
    monkeypatch.setattr(numcodecs.Pickle, "decode",
                        lambda self, buf, out=None: decoded.append(buf))
    code, _, err = cli(analyze_argv(store, tmp_path / "out"), capsys)
    one_line_error(code, err, str(store), "/units/unit_name",
                   f"uses the pickle codec ({role.rstrip('s')})")
    for argv in (["inspect", store], ["data", "validate", store]):
        code, out, err = cli(argv, capsys)
        assert code in (1, 2) and "Traceback" not in err
    assert decoded == []  # refused from the metadata: no chunk ever reached the codec
    assert not (tmp_path / "out").exists()


def test_numcodecs_is_pinned_to_versions_that_refuse_pickle():
    import numcodecs
    import tomllib
    from numcodecs.errors import UnsafeDecodeError

    deps = tomllib.loads(Path(__file__).parents[1].joinpath("pyproject.toml").read_text())
    pins = [d for d in deps["project"]["dependencies"] if d.startswith("numcodecs")]
    assert pins == ["numcodecs>=0.15.2,<0.16"]
    codec = numcodecs.Pickle()
    with pytest.raises(UnsafeDecodeError):
        codec.decode(codec.encode(np.array(["a"], dtype=object)))


# --- 11. damaged compressed chunks -----------------------------------------------------------


def _damage_chunk(path: Path, dataset: str, index: int) -> None:
    """Flip the middle bytes of one gzip chunk of ``dataset`` (found with get_chunk_info)."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(index)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + 2)
        body = fh.read(info.size - 4)
        fh.seek(info.byte_offset + 2)
        fh.write(bytes(b ^ 0x5A for b in body))


def test_damaged_chunk_is_named_by_analyze_validate_and_pack(tmp_path, rec, capsys):
    bad = tmp_path / "bad.nwb"
    shutil.copy(rec, bad)
    _damage_chunk(bad, IMAGES, 3)
    code, _, err = cli(analyze_argv(bad, tmp_path / "out"), capsys)
    one_line_error(code, err, str(bad), f"/{IMAGES}", "chunk is damaged")
    assert not (tmp_path / "out").exists()
    one_line_error(*cli(["inspect", bad], capsys)[::2], f"/{IMAGES}", "chunk is damaged")
    code, out, _ = cli(["data", "validate", "--json", bad], capsys)
    chunks = [f for f in json.loads(out)["findings"] if f["check"] == "chunks"]
    assert code == 1
    assert [(f["status"], f["location"]) for f in chunks] == [("fail", f"/{IMAGES}")]
    code, out, _ = cli(["data", "validate", "--json", "--quick", bad], capsys)
    assert not [f for f in json.loads(out)["findings"] if f["check"] == "chunks"]
    code, _, err = cli(["data", "pack", bad, "--name", "x", "--manifest", tmp_path / "m.yaml"],
                       capsys)
    one_line_error(code, err, "chunks", f"/{IMAGES}")
    assert not (tmp_path / "m.yaml").exists()
    # control: the undamaged file reads every chunk and passes that check
    code, out, _ = cli(["data", "validate", "--json", rec], capsys)
    chunks = [f for f in json.loads(out)["findings"] if f["check"] == "chunks"]
    assert [f["status"] for f in chunks] == ["ok"]


def test_damaged_zarr_chunk_is_one_line_naming_the_object(tmp_path, rec, capsys):
    store = _zarr_copy(rec, tmp_path)
    chunk = store / IMAGES / "3.0.0"
    raw = bytearray(chunk.read_bytes())
    raw[16:] = bytes(b ^ 0x5A for b in raw[16:])
    chunk.write_bytes(bytes(raw))
    code, _, err = cli(analyze_argv(store, tmp_path / "out"), capsys)
    one_line_error(code, err, str(store), f"/{IMAGES}", "chunk is damaged")
    from neurofacedis._inputs import damaged_objects

    assert [obj for obj, _ in damaged_objects(store)] == [f"/{IMAGES}"]


# --- 14. a file held open for writing by another program ----------------------------------


def test_file_locked_by_another_program_is_called_in_use(tmp_path, rec):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import h5py, sys, time; f = h5py.File(sys.argv[1], 'a'); "
         "print('held', flush=True); time.sleep(120)", str(rec)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for argv in (["inspect", rec], analyze_argv(rec, tmp_path / "out"),
                     ["data", "validate", rec]):
            proc = run(argv, timeout=120)
            assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, proc.stderr
            said = proc.stderr + proc.stdout
            assert "in use by another program" in said and "HDF5_USE_FILE_LOCKING=FALSE" in said
            assert "damaged" not in said
        proc = run(["inspect", "--json", rec], env={"HDF5_USE_FILE_LOCKING": "FALSE"},
                   timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["stimuli"] == 12
    finally:
        holder.kill()
        holder.wait()
