"""Outputs never remove what the project did not write (issue 18 classes 1-2, issue 26 item 3).

Every writer (analyze, --into, demo, reproduce, simulate, import, data export, data pack)
passes :mod:`neurofacedis._outputs`: an output is never, holds or lies inside an input; ``.``,
the home folder and ``/`` are refused; an existing folder is replaced only when it carries the
project's marker; replacing one is said on stderr. ``analyze --into`` from two processes keeps
both runs' latents (a file lock around the append).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurofacedis._outputs import MARKER, check_output_folder, read_marker, write_marker
from neurofacedis.errors import InputError

PROPERTY = settings(max_examples=24, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def tiny_session(seed: int = 1):
    from neurofacedis.simulate import simulate_session

    return simulate_session(n_identities=6, n_views=4, n_neurons=12, n_repeats=2, image_size=16,
                            seed=seed)


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session

    path = tmp_path_factory.mktemp("outputs-rec") / "rec.nwb"
    write_session(path, tiny_session())
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outputs-cache")


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root``: 'dir', 'link:TARGET' or the sha256 of a file."""
    out = {}
    for top, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            p = Path(top) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = f"link:{os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    from neurofacedis.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, capsys.readouterr().err


def analyze_fast(rec, out, cache, **kw):
    from neurofacedis.runner import analyze

    return analyze(rec, models=["pca"], metrics=["alignment"], out=out, cache_dir=cache,
                   figures=False, quiet=True, **kw)


# ------------------------------------------------------------------- the reported failures


def test_analyze_out_folder_holding_the_recording_is_refused_nothing_deleted(
        recording, cache, tmp_path, capsys):
    lab = tmp_path / "lab"
    lab.mkdir()
    rec = lab / "rec.nwb"
    shutil.copy(recording, rec)
    (lab / "notes.txt").write_text("three months of notes")
    before = snapshot(tmp_path)
    code, err = run_cli(["analyze", str(rec), "-m", "pca", "--metric", "alignment", "--out",
                         str(lab), "--cache-dir", str(cache), "--no-figures", "-q"], capsys)
    assert code == 2
    assert err.strip() == (f"error: {lab}: --out: holds the input {rec}: choose an output "
                           "outside the inputs")
    assert snapshot(tmp_path) == before


def test_analyze_out_dot_is_refused_nothing_deleted(recording, cache, tmp_path, capsys,
                                                    monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "thesis.tex").write_text("chapter 1")
    monkeypatch.chdir(work)
    before = snapshot(tmp_path)
    for out in (".", ".."):
        code, err = run_cli(["analyze", str(recording), "-m", "pca", "--metric", "alignment",
                             "--out", out, "--cache-dir", str(cache), "-q"], capsys)
        assert code == 2, err
        assert err.startswith(f"error: {out}: --out: ") and "current folder" in err
        assert len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before
    with pytest.raises(InputError, match="is the home folder"):
        check_output_folder(Path.home(), kind="analyze")
    with pytest.raises(InputError, match="filesystem root"):
        check_output_folder("/", kind="analyze")


def test_data_export_overwrite_into_the_folder_holding_the_source_is_refused(
        recording, tmp_path, capsys, monkeypatch):
    from neurofacedis.data.export import export_zarr

    d = tmp_path / "d"
    d.mkdir()
    src = d / "rec.nwb"
    shutil.copy(recording, src)
    (d / "other.txt").write_text("keep me")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="holds the input"):
        export_zarr(src, d, overwrite=True)
    monkeypatch.chdir(d)
    code, err = run_cli(["data", "export", "rec.nwb", "--zarr", ".", "--overwrite"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    # a foreign folder beside the source is not replaced either, even with --overwrite
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.bin").write_bytes(b"\x00" * 10)
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="not a neurofacedis output"):
        export_zarr(src, foreign, overwrite=True)
    assert snapshot(tmp_path) == before


def test_export_replaces_only_its_own_zarr_with_overwrite(recording, tmp_path):
    from neurofacedis.data.export import export_zarr
    from neurofacedis.nwb import Recording

    out = export_zarr(recording, tmp_path / "r.nwb.zarr")
    assert read_marker(out)["kind"] == "zarr-export"
    with Recording.open(out) as rec:  # the marker does not disturb the store
        assert rec.n_stimuli == 24
    with pytest.raises(InputError, match="pass --overwrite"):
        export_zarr(recording, out)
    export_zarr(recording, out, overwrite=True)
    (out / "mine.txt").write_text("x")
    with pytest.raises(InputError, match="mine.txt, not written by neurofacedis"):
        export_zarr(recording, out, overwrite=True)
    assert (out / "mine.txt").read_text() == "x"


def test_existing_folders_only_project_outputs_are_replaced_and_said_so(
        recording, cache, tmp_path, capfd):
    out = tmp_path / "shared-name"
    out.mkdir()  # an empty folder may be used
    analyze_fast(recording, out, cache)
    first = read_marker(out)
    assert first["kind"] == "analyze" and first["package_version"]
    assert {"analysis.nwb", "results.nc", "summary.json", "report.html"} <= set(first["contents"])
    capfd.readouterr()
    analyze_fast(recording, out, cache, split_seed=1)  # issue 26.3: said, not silent
    err = capfd.readouterr().err
    assert f"replacing earlier output {out} (analyze run {first['run_id'][:12]}, written " in err
    assert read_marker(out)["run_id"] != first["run_id"]
    # a file the user put into the output is never removed: the folder is refused
    (out / "figures" / "my-annotated.png").write_bytes(b"png")
    with pytest.raises(InputError, match="figures/my-annotated.png, not written"):
        analyze_fast(recording, out, cache)
    # a folder that is no neurofacedis output is refused before any work
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"jpg")
    with pytest.raises(InputError, match="not a neurofacedis output"):
        analyze_fast(recording, foreign, cache)
    assert (foreign / "cat.jpg").read_bytes() == b"jpg"
    # another kind of project output is not taken for an analysis folder
    zarr_like = tmp_path / "z"
    zarr_like.mkdir()
    (zarr_like / "x").write_text("1")
    write_marker(zarr_like, kind="zarr-export")
    with pytest.raises(InputError, match="zarr-export output, not analyze"):
        analyze_fast(recording, zarr_like, cache)


def test_single_file_outputs_never_replace_an_input_or_a_folder(recording, tmp_path, capsys):
    from neurofacedis.importers import import_recording
    from neurofacedis.nwb import write_session

    rng = np.random.default_rng(0)
    images = tmp_path / "images.npy"
    responses = tmp_path / "responses.npy"
    np.save(images, rng.integers(0, 255, (6, 8, 8), dtype=np.uint8))
    np.save(responses, rng.poisson(3, (6, 4, 2)).astype(np.float32))
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="is the input"):
        import_recording(images, responses, responses, overwrite=True)
    assert snapshot(tmp_path) == before
    folder = tmp_path / "folder.nwb"
    folder.mkdir()
    (folder / "keep.txt").write_text("k")
    with pytest.raises(InputError, match="is a folder"):
        write_session(folder, tiny_session(), overwrite=True)
    code, err = run_cli(["simulate", str(folder), "--identities", "2", "--views", "2",
                         "--neurons", "2", "--repeats", "1", "--size", "16", "--overwrite"],
                        capsys)
    assert code == 2 and "--overwrite replaces only a file" in err
    assert (folder / "keep.txt").read_text() == "k"
    # a file the user named is replaced with --overwrite
    named = tmp_path / "named.nwb"
    named.write_text("old")
    import_recording(images, responses, named, overwrite=True)
    assert named.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


def test_pack_manifest_is_never_one_of_the_packed_files(recording, tmp_path):
    from neurofacedis.data.pack import pack_files

    src = tmp_path / "rec.nwb"
    shutil.copy(recording, src)
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="is the input"):
        pack_files([src], name="x", manifest=src, validate=False)
    assert snapshot(tmp_path) == before


INTO = r"""
import sys
from neurofacedis.runner import analyze
analyze(sys.argv[1], models=[sys.argv[2]], metrics=["alignment"], into=True,
        cache_dir=sys.argv[3], figures=False)
"""


def test_two_processes_into_the_same_recording_keep_both_latents(recording, tmp_path):
    """Class 2: read-copy-append-replace under a lock; both runs' latents end in the file."""
    from neurofacedis.nwb import Recording

    rec = tmp_path / "rec.nwb"
    shutil.copy(recording, rec)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "NEUROFACEDIS_CACHE": str(tmp_path / "user-cache")}
    procs = [subprocess.Popen([sys.executable, "-c", INTO, str(rec), model,
                               str(tmp_path / f"cache-{model}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for model in ("pca", "ica")]
    for p in procs:
        _, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-2000:]
    with Recording.open(rec) as r:
        names = sorted(r.latents)
    assert any(n.startswith("latents_pca") for n in names), names
    assert any(n.startswith("latents_ica") for n in names), names
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_into_waits_at_most_the_lock_timeout(recording, tmp_path, monkeypatch):
    from neurofacedis._outputs import output_lock
    from neurofacedis.nwb import LatentsData, add_latents

    rec = tmp_path / "rec.nwb"
    shutil.copy(recording, rec)
    monkeypatch.setenv("NEUROFACEDIS_LOCK_TIMEOUT", "0.2")
    item = LatentsData("latents_x", np.zeros((24, 2)), ["a", "b"], {"model": "x"})
    before = snapshot(tmp_path)
    with output_lock(rec):
        with pytest.raises(InputError, match="another neurofacedis run is adding latents to it"):
            add_latents(rec, [item])
    assert snapshot(tmp_path) == before
    monkeypatch.setenv("NEUROFACEDIS_LOCK_TIMEOUT", "inf")
    with pytest.raises(InputError, match="NEUROFACEDIS_LOCK_TIMEOUT"):
        add_latents(rec, [item])


# ------------------------------------------------ property: every writer, generated layouts

PLACES = ("inside", "beside", "above", "is")
STATES = ("absent", "empty", "foreign", "earlier", "earlier+extra", "file")
SPELLINGS = ("absolute", "relative", "dot")


@contextmanager
def scratch() -> Iterator[Path]:
    d = tempfile.mkdtemp(prefix="nfd-outputs-")
    try:
        yield Path(d).resolve()
    finally:
        shutil.rmtree(d, ignore_errors=True)


class _Stop(Exception):
    """Raised by a patched step once a slow writer has made its output decisions."""


def _write_analyze(inputs, out, overwrite, cache):
    train = inputs.get("folder")
    analyze_fast(inputs["file"], out, cache, train_images=train)


def _write_into(inputs, out, overwrite, cache):
    from neurofacedis.runner import analyze

    analyze(inputs["file"], models=["pca"], metrics=["alignment"], out=out, into=True,
            cache_dir=cache, figures=False, quiet=True)


def _write_demo(inputs, out, overwrite, cache):
    from neurofacedis.demo import run_demo

    run_demo(out, models=["pca"], metrics=["alignment"], cache_dir=cache, quiet=True)


def _write_reproduce(inputs, out, overwrite, cache):
    from neurofacedis.reproduce import reproduce

    reproduce(recording=inputs["file"], train_images=inputs.get("folder"), out=out,
              scale="test", workers=None, cache_dir=cache)


def _write_simulate(inputs, out, overwrite, cache):
    from neurofacedis.cli import main

    argv = ["simulate", str(out), "--identities", "2", "--views", "2", "--neurons", "2",
            "--repeats", "1", "--size", "16"] + (["--overwrite"] if overwrite else [])
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code == 2:
            raise InputError("refused") from None
        assert exc.code == 0


def _write_import(inputs, out, overwrite, cache):
    from neurofacedis.importers import import_recording

    import_recording(inputs.get("folder") or inputs["images"], inputs["file"], out,
                     overwrite=overwrite)


def _write_export(inputs, out, overwrite, cache):
    from neurofacedis.data.export import export_zarr

    export_zarr(inputs["file"], out, overwrite=overwrite)


def _write_pack(inputs, out, overwrite, cache):
    from neurofacedis.data.pack import pack_files

    pack_files([inputs["file"]], name="x", manifest=Path(out) / "manifest.yaml"
               if Path(out).is_dir() else out, dandi_dir=out if Path(out).is_dir() else None,
               subject="m1" if Path(out).is_dir() else None,
               sessions=["s1"] if Path(out).is_dir() else (), validate=False)


#: writer -> (function, kind of output, output is a folder, input file kind)
WRITERS: dict[str, tuple[Callable, str, bool, str]] = {
    "analyze": (_write_analyze, "analyze", True, "nwb"),
    "into": (_write_into, "analyze", True, "nwb"),
    "demo": (_write_demo, "demo", True, "nwb"),
    "reproduce": (_write_reproduce, "reproduce", True, "nwb"),
    "simulate": (_write_simulate, "file", False, "nwb"),
    "import": (_write_import, "file", False, "responses"),
    "export": (_write_export, "zarr-export", True, "nwb"),
    "pack": (_write_pack, "pack", False, "nwb"),
}


def _layout(root: Path, recording: Path, writer: str, place: str, state: str,
            extra: list[str]) -> tuple[dict[str, Path], Path]:
    """Lay out inputs and the output; return (inputs, output path)."""
    _, kind, is_folder, file_kind = WRITERS[writer]
    for i, name in enumerate(extra):  # the user's own files, here and there
        (root / name).write_text(f"user file {i}")
    out = root / "o" if place != "above" else root / "inputs" / "o"
    inputs: dict[str, Path] = {}
    home = {"inside": out, "beside": root, "above": root / "inputs", "is": root}[place]
    home.mkdir(parents=True, exist_ok=True)
    name = "rec.nwb" if file_kind == "nwb" else "responses.npy"
    inputs["file"] = home / name
    if file_kind == "nwb":
        shutil.copy(recording, inputs["file"])
    else:
        np.save(inputs["file"], np.random.default_rng(0).poisson(3, (24, 4, 2)).astype(float))
        np.save(root / "images.npy", tiny_session().images[:24])
        inputs["images"] = root / "images.npy"
    if place == "above" and writer in ("analyze", "reproduce", "import"):
        folder = root / "inputs"  # a folder input (training images, --images) holding OUT
        for i, img in enumerate(tiny_session().images[:24]):
            from skimage.io import imsave

            imsave(folder / f"{i}.png", img, check_contrast=False)
        inputs["folder"] = folder
    if place == "is":
        return inputs, inputs["file"]
    if place == "inside" or state in ("empty", "foreign") or (is_folder and
                                                              state.startswith("earlier")):
        out.mkdir(parents=True, exist_ok=True)
    if state == "foreign":
        (out / "thesis.pdf").write_text("years of work")
    if state.startswith("earlier") and out.is_dir():
        (out / "summary.json").write_text("{}")
        write_marker(out, kind=kind)
        if state == "earlier+extra":
            (out / "mine.txt").write_text("mine")
    elif state != "absent" and not out.exists():
        out.write_text("an earlier output file" if state.startswith("earlier") else "a file")
    return inputs, out


def _may_change(root: Path, writer: str, inputs, out: Path, before_marker, was_file: bool,
                overwrite: bool) -> set:
    """Paths (relative to root) a successful run may legitimately replace."""
    rel = out.relative_to(root).as_posix()
    allowed = set()
    if before_marker is not None:  # an earlier project output of this kind: what it lists
        allowed |= {rel, f"{rel}/{MARKER}"} | {f"{rel}/{c}" for c in before_marker["contents"]}
    if was_file and (overwrite or writer == "pack"):
        allowed.add(rel)  # the file the user named (--overwrite; pack's --manifest)
    if writer == "into":
        allowed.add(inputs["file"].relative_to(root).as_posix())
    return allowed


def _must_refuse(writer: str, place: str, state: str, inputs) -> bool:
    """Layouts where the output is, holds or lies inside an input (or is a foreign folder)."""
    if writer == "simulate":  # no inputs: only a folder at OUT is refused
        return place == "inside"
    if writer == "demo":  # no inputs: a file, or a folder that is no earlier demo, is refused
        return place == "is" or place == "inside" and not state.startswith("earlier")
    if place == "is" or "folder" in inputs:
        return True
    return place == "inside" and writer != "pack"  # pack only adds files to a DANDI folder


@pytest.mark.parametrize("writer", list(WRITERS))
def test_no_writer_removes_or_changes_what_it_did_not_write(writer, recording, cache,
                                                            monkeypatch):
    """Property: for generated layouts (input inside, beside, above or equal to the output;
    the output absent, empty, foreign, an earlier output, a file; spelled absolute, relative or
    '.'), a writer either refuses with one InputError line and changes nothing, or succeeds;
    either way no path that existed before and was not a project output disappears or changes."""
    import neurofacedis.simulate as simulate_mod
    import neurofacedis.studies.higgins2021.run as reproduce_mod

    monkeypatch.setattr(simulate_mod, "demo_session",
                        lambda seed=0, world="3d": tiny_session(seed + 1))

    def stop(*a, **k):
        raise _Stop

    monkeypatch.setattr(reproduce_mod, "plan_models", stop)
    import neurofacedis.runner as runner_mod

    full = runner_mod.analyze  # the demo's analysis without figures (the slow part here)
    monkeypatch.setattr(runner_mod, "analyze", lambda *a, **k: full(*a, **{**k, "figures": False}))
    home = Path.cwd()
    outcomes: list[str] = []

    @PROPERTY
    @given(place=st.sampled_from(PLACES), state=st.sampled_from(STATES),
           spelling=st.sampled_from(SPELLINGS), overwrite=st.booleans(),
           extra=st.lists(st.sampled_from(["a.txt", "data.csv", ".hidden", "notes.md"]),
                          max_size=3, unique=True))
    def check(place, state, spelling, overwrite, extra):
        with scratch() as root:
            inputs, out = _layout(root, recording, writer, place, state, extra)
            marker = read_marker(out) if out.is_dir() else None
            if marker is not None and marker.get("kind") != WRITERS[writer][1]:
                marker = None
            was_file = out.is_file()
            before = snapshot(root)
            os.chdir(out if spelling == "dot" and out.is_dir() else out.parent)
            given_out = ("." if spelling == "dot" and out.is_dir()
                         else out.name if spelling != "absolute" else out)
            try:
                WRITERS[writer][0](inputs, given_out, overwrite, cache)
                ok = True
            except _Stop:
                ok = True
            except InputError as exc:
                assert "\n" not in str(exc)
                ok = False
            finally:
                os.chdir(home)
            after = snapshot(root)
            outcomes.append("written" if ok else "refused")
            if not ok:
                assert after == before
                return
            assert not _must_refuse(writer, place, state, inputs), (place, state, spelling)
            allowed = _may_change(root, writer, inputs, out, marker, was_file, overwrite)
            for path, value in before.items():
                if path not in allowed:
                    assert after.get(path) == value, (path, place, state, spelling)
            rel = out.relative_to(root).as_posix()
            for path in set(after) - set(before):  # no temporary litter outside the output
                if not (path == rel or path.startswith(rel + "/")):
                    assert not path.rsplit("/", 1)[-1].startswith("."), path
            if WRITERS[writer][2]:
                assert read_marker(out)["kind"] == WRITERS[writer][1]

    check()
    assert set(outcomes) == {"written", "refused"}, outcomes  # both sides were exercised
