"""Generator of the bad-input corpus: files a lab (or a stranger) might hand neurofacedis.

:func:`build_corpus` writes every bad input under ``root/in`` from one seeded, valid tiny
session (mutated one way per case: bytes, HDF5 edits, NWB objects built without the writer's
validation, lab-format arrays, manifests) and returns one :class:`Case` per input: the CLI
arguments that feed it to ``inspect``, ``analyze``, ``import``, ``data validate`` or
``data fetch``, and what the one-line error must name (file, object, problem). Outputs the
commands would write go under ``root/out``; nothing may appear there.

Run ``python tests/reliability_corpus.py DIR`` to write the corpus for a look by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "Case",
    "build_corpus",
    "base_session",
    "write_unvalidated",
    "pickle_bomb",
    "tiny_png",
    "MARKER_NAME",
]

#: Bad only for what `inspect` reads (stored latents); `analyze` never reads them.
INSPECT_ONLY = frozenset({"latent_rows_mismatch"})
#: Valid NWB files that lack what analysis needs: `analyze` refuses them in one line, while
#: `inspect` describes them (what they hold, what is missing; tests/test_inspect.py).
ANALYZE_ONLY = frozenset({"no_stimuli_at_all", "zero_stimuli"})

#: File a malicious payload (pickle, YAML tag) would create if it were ever executed.
MARKER_NAME = "PWNED"


@dataclass(frozen=True)
class Case:
    """One bad input and how the CLI must refuse it.

    ``argv`` follows ``neurofacedis``; ``file`` is the path the error line must name,
    ``obj`` (optional) a word of the object, ``problem`` words of the problem (lower case).
    """

    name: str
    category: str
    argv: tuple[str, ...]
    file: str
    problem: str
    obj: str | None = None


# --------------------------------------------------------------------------- valid base data


def base_session(
    *,
    n_stimuli: int = 6,
    n_units: int = 4,
    n_repeats: int = 3,
    size: int = 8,
    spikes: bool = True,
    processed: bool = True,
    seed: int = 0,
):
    """A tiny seeded valid session (SessionData) whose responses are counted spikes."""
    from neurofacedis.nwb.session import DEFAULT_WINDOW, SessionData, SessionMetadata

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n_stimuli, size, size), dtype=np.uint8)
    order = np.concatenate([rng.permutation(n_stimuli) for _ in range(n_repeats)])
    onsets = 1.0 + 0.5 * np.arange(order.size)
    pres = pd.DataFrame(
        {"start_time": onsets, "stop_time": onsets + 0.3, "stimulus_index": order.astype(np.int64)}
    )
    end = onsets[-1] + 1.0
    trains = [np.sort(rng.uniform(0, end, 30 + 10 * u)) for u in range(n_units)]
    w0, w1 = DEFAULT_WINDOW
    resp = np.full((n_stimuli, n_units, n_repeats), np.nan, dtype=np.float32)
    seen = np.zeros(n_stimuli, dtype=int)
    for onset, s in zip(onsets, order, strict=True):
        for u, st in enumerate(trains):
            resp[s, u, seen[s]] = np.sum((st >= onset + w0) & (st < onset + w1))
        seen[s] += 1
    return SessionData(
        images=images,
        stimulus_ids=[f"face{i:03d}" for i in range(n_stimuli)],
        metadata=SessionMetadata(
            identifier=f"corpus-{seed}",
            session_start_time=datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc),
            subject_id="M1",
            species="Macaca mulatta",
            sex="M",
            age="P6Y",
            lab="Face Lab",
            institution="Test University",
            experimenter=["Doe, Jane"],
            brain_region="AM",
        ),
        identity=np.arange(n_stimuli) % 3,
        factors=pd.DataFrame({"face_width": rng.normal(size=n_stimuli)}),
        landmarks=rng.uniform(0, size, size=(n_stimuli, 5, 2)).astype(np.float32),
        responses=resp if processed else None,
        spike_times=trains if spikes else None,
        presentations=pres if spikes else None,
    )


def write_unvalidated(path: Path, data) -> Path:
    """Write ``data`` as NWB *without* the writer's validation (to make broken files)."""
    from neurofacedis.nwb._write import build_nwbfile, write_nwbfile

    write_nwbfile(path, build_nwbfile(data))
    return path


def _replace_dataset(path: Path, where: str, data: np.ndarray, **kwargs) -> None:
    """Swap one dataset of an HDF5 file for ``data`` (its attributes kept)."""
    import h5py

    with h5py.File(path, "r+") as f:
        attrs = dict(f[where].attrs)
        del f[where]
        ds = f.create_dataset(where, data=data, **kwargs)
        for k, v in attrs.items():
            ds.attrs[k] = v


def _huge_dataset(path: Path, where: str, shape: tuple[int, ...], dtype: str) -> None:
    """Declare an enormous chunked dataset that holds no data (the file stays tiny)."""
    import h5py

    with h5py.File(path, "r+") as f:
        attrs = dict(f[where].attrs)
        del f[where]
        chunks = (1,) * (len(shape) - 1) + (min(shape[-1], 1024),)
        ds = f.create_dataset(where, shape=shape, dtype=dtype, chunks=chunks)
        for k, v in attrs.items():
            ds.attrs[k] = v


def _plain_nwb(path: Path, frames: list[np.ndarray]) -> None:
    """A plain-pynwb recording: Images in stimulus_template, trials, Units."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.base import ImageReferences, Images
    from pynwb.file import Subject
    from pynwb.image import GrayscaleImage

    nwbfile = NWBFile(
        session_description="lab",
        identifier="lab",
        session_start_time=datetime(2023, 1, 1, tzinfo=timezone.utc),
        subject=Subject(subject_id="M1", species="Macaca mulatta", sex="M", age="P4Y"),
    )
    images = [GrayscaleImage(name=f"f{i}", data=fr) for i, fr in enumerate(frames)]
    nwbfile.add_stimulus_template(
        Images(
            name="faces",
            images=images,
            description="faces",
            order_of_images=ImageReferences(name="order_of_images", data=images),
        )
    )
    nwbfile.add_trial_column(name="stimulus_index", description="image shown")
    for i in range(2 * len(frames)):
        nwbfile.add_trial(start_time=1.0 + i, stop_time=1.5 + i, stimulus_index=i % len(frames))
    for u in range(2):
        nwbfile.add_unit(spike_times=np.linspace(0.1, 2.0 * len(frames) + 1, 40 + u))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def _plain_external(path: Path, names: list[str], *, stack_too: bool = False) -> None:
    """A plain-pynwb recording whose stimuli are external image files (plus a stack)."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.image import ImageSeries

    nwbfile = NWBFile(session_description="lab", identifier="lab-external",
                      session_start_time=datetime(2023, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_stimulus_template(ImageSeries(
        name="faces", external_file=names, starting_frame=list(range(len(names))),
        format="external", rate=1.0, unit="n.a.", num_samples=len(names)))
    if stack_too:
        nwbfile.add_stimulus_template(ImageSeries(
            name="objects", data=np.zeros((2, 4, 4), np.uint8), rate=1.0, unit="n.a."))
    nwbfile.add_trial_column(name="stimulus_index", description="image shown")
    for i in range(4):
        nwbfile.add_trial(start_time=1.0 + i, stop_time=1.5 + i, stimulus_index=0)
    nwbfile.add_unit(spike_times=np.linspace(0.1, 5.0, 40))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


# --------------------------------------------------------------------------------- payloads


def pickle_bomb(marker: Path) -> bytes:
    """Pickle opcodes that would run ``open(marker, "w")`` if unpickled (hand-assembled)."""
    return b"cbuiltins\nopen\n(V" + str(marker).encode() + b"\nVw\ntR."


def npy_object_array(payload: bytes) -> bytes:
    """An ``.npy`` file of dtype object whose body is ``payload`` (numpy pickles those)."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }"
    return _npy(header, payload)


def _npy(header: str, body: bytes) -> bytes:
    pad = 64 - (10 + len(header) + 1) % 64
    text = (header + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body


def tiny_png(width: int, height: int, *, pixels: bool = True) -> bytes:
    """A grey 8-bit PNG declaring ``width`` x ``height`` (real pixels only when ``pixels``)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(width) for _ in range(height)) if pixels else b"\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _png_file(path: Path, image: np.ndarray) -> None:
    from skimage import io

    io.imsave(str(path), image, check_contrast=False)


# ---------------------------------------------------------------------------------- corpus


def build_corpus(root: str | Path) -> list[Case]:
    """Write every bad input under ``root/in`` and return the cases (outputs go to ``root/out``).

    Deterministic: the same call writes the same inputs (seeded), apart from NWB object ids.
    """
    root = Path(root)
    src, out = root / "in", root / "out"
    src.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    rng = np.random.default_rng(20240501)

    good = base_session()
    good_nwb = src / "good.nwb"
    from neurofacedis.nwb import write_session

    write_session(good_nwb, good)
    spikes_only = src / "good_spikes_only.nwb"
    write_session(spikes_only, base_session(processed=False))
    processed_only = src / "good_processed_only.nwb"
    write_session(processed_only, base_session(spikes=False))

    # ---- NWB recordings, each fed to inspect and to analyze ---------------------------------
    nwb_cases: list[tuple[str, Path, str, str | None]] = []

    def nwb(name: str, problem: str, obj: str | None = None, *, suffix: str = ".nwb"):
        def deco(make: Callable[[Path], None]) -> None:
            path = src / f"{name}{suffix}"
            make(path)
            nwb_cases.append((name, path, problem, obj))

        return deco

    @nwb("text_bytes", "not an hdf5 file")
    def _(p):
        p.write_text("session,neuron,rate\n1,2,3\n")

    @nwb("random_bytes", "not an hdf5 file")
    def _(p):
        p.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())

    @nwb("empty_file", "not an hdf5 file")
    def _(p):
        p.write_bytes(b"")

    @nwb("truncated_half", "truncated or damaged")
    def _(p):
        raw = good_nwb.read_bytes()
        p.write_bytes(raw[: len(raw) // 2])

    @nwb("truncated_superblock", "truncated or damaged")
    def _(p):
        p.write_bytes(good_nwb.read_bytes()[:2048])

    @nwb("hdf5_not_nwb", "not a readable nwb file")
    def _(p):
        import h5py

        with h5py.File(p, "w") as f:
            f["responses"] = np.zeros((3, 3))

    @nwb("no_stimuli_at_all", "no stimuli", "stimulus_template")
    def _(p):
        from pynwb import NWBFile

        from neurofacedis.nwb._write import write_nwbfile

        plain = NWBFile(
            session_description="units only",
            identifier="units-only",
            session_start_time=datetime(2023, 1, 1, tzinfo=timezone.utc),
        )
        for st in base_session().spike_times:
            plain.add_unit(spike_times=st)
        write_nwbfile(p, plain)

    @nwb("zero_stimuli", "no stimuli", "images")
    def _(p):
        shutil.copy(good_nwb, p)
        _replace_dataset(
            p, "processing/neurofacedis/stimulus_set/images", np.zeros((0, 8, 8), np.uint8)
        )

    @nwb("zero_neurons", "no neurons", "responses")
    def _(p):
        shutil.copy(processed_only, p)
        _replace_dataset(
            p, "processing/neurofacedis/responses/data", np.zeros((6, 0, 3), np.float32)
        )

    @nwb("zero_units_spikes_only", "empty units table", "units")
    def _(p):
        d = base_session(processed=False)
        d.spike_times = []
        write_unvalidated(p, d)

    @nwb("inf_responses", "infinite", "responses")
    def _(p):
        d = base_session(spikes=False)
        d.responses[2, 1, 0] = np.inf
        write_unvalidated(p, d)

    @nwb("nan_cell_responses", "every repeat is nan", "responses")
    def _(p):
        d = base_session(spikes=False)
        d.responses[3, 2, :] = np.nan
        write_unvalidated(p, d)

    @nwb("all_nan_responses", "every repeat is nan", "responses")
    def _(p):
        d = base_session(spikes=False)
        d.responses[:] = np.nan
        write_unvalidated(p, d)

    @nwb("string_responses", "must be numeric", "responses")
    def _(p):
        shutil.copy(processed_only, p)
        _replace_dataset(
            p, "processing/neurofacedis/responses/data", np.full((6, 4, 3), b"1.5", dtype="S3")
        )

    @nwb("complex_responses", "must be numeric", "responses")
    def _(p):
        shutil.copy(processed_only, p)
        _replace_dataset(
            p, "processing/neurofacedis/responses/data", np.ones((6, 4, 3), np.complex64)
        )

    @nwb("string_images", "must be numeric", "images")
    def _(p):
        shutil.copy(good_nwb, p)
        _replace_dataset(
            p, "processing/neurofacedis/stimulus_set/images", np.full((6, 8, 8), b"x", "S1")
        )

    @nwb("two_d_responses", "incorrect shape", "responses")
    def _(p):
        shutil.copy(processed_only, p)
        _replace_dataset(
            p, "processing/neurofacedis/responses/data", np.ones((6, 4), np.float32)
        )

    @nwb("response_rows_mismatch", "response rows but 6 images", "responses")
    def _(p):
        d = base_session(spikes=False)
        d.responses = d.responses[:5]
        write_unvalidated(p, d)

    @nwb("response_columns_vs_units", "4 units for 5 response columns", "responses/units")
    def _(p):
        shutil.copy(processed_only, p)
        _replace_dataset(
            p, "processing/neurofacedis/responses/data", np.ones((6, 5, 3), np.float32)
        )

    @nwb("stimulus_index_out_of_range", "out of range", "stimulus_index")
    def _(p):
        d = base_session(processed=False)
        d.presentations.loc[4, "stimulus_index"] = 6
        write_unvalidated(p, d)

    @nwb("stimulus_index_negative", "out of range", "stimulus_index")
    def _(p):
        d = base_session(processed=False)
        d.presentations.loc[0, "stimulus_index"] = -1
        write_unvalidated(p, d)

    @nwb("stimulus_index_fractional", "not integer", "stimulus_index")
    def _(p):
        shutil.copy(spikes_only, p)
        idx = np.arange(18, dtype=np.float64) % 6
        idx[3] = 2.5
        _replace_dataset(p, "intervals/presentations/stimulus_index", idx)

    @nwb("duplicate_stimulus_ids", "duplicate stimulus id", "stimulus_id")
    def _(p):
        d = base_session()
        d.stimulus_ids[4] = d.stimulus_ids[1]
        write_unvalidated(p, d)

    @nwb("presentations_out_of_order", "not in increasing order", "start_time")
    def _(p):
        shutil.copy(spikes_only, p)
        onsets = 1.0 + 0.5 * np.arange(18)
        onsets[[5, 9]] = onsets[[9, 5]]
        _replace_dataset(p, "intervals/presentations/start_time", onsets)

    @nwb("presentation_stop_before_start", "before its start", "stop_time")
    def _(p):
        shutil.copy(spikes_only, p)
        stops = 1.0 + 0.5 * np.arange(18) + 0.3
        stops[7] = 0.5
        _replace_dataset(p, "intervals/presentations/stop_time", stops)

    @nwb("nan_presentation_onset", "non-finite presentation onsets", "presentations")
    def _(p):
        shutil.copy(spikes_only, p)
        onsets = 1.0 + 0.5 * np.arange(18)
        onsets[-1] = np.nan
        _replace_dataset(p, "intervals/presentations/start_time", onsets)

    @nwb("unit_without_spikes", "no unit left to analyse", "units")  # one silent unit is dropped
    def _(p):
        d = base_session(processed=False)
        d.spike_times = [np.array([], dtype=np.float64) for _ in d.spike_times]
        write_unvalidated(p, d)

    @nwb("infinite_spike_times", "non-finite spike times", "spike_times")
    def _(p):
        d = base_session(processed=False)
        d.spike_times[1] = np.append(d.spike_times[1], np.inf)
        write_unvalidated(p, d)

    @nwb("huge_declared_images", "declares", "images")
    def _(p):
        shutil.copy(good_nwb, p)
        _huge_dataset(
            p, "processing/neurofacedis/stimulus_set/images", (6, 1 << 24, 1 << 24), "uint8"
        )

    @nwb("huge_declared_responses", "declares", "responses")
    def _(p):
        shutil.copy(processed_only, p)
        _huge_dataset(p, "processing/neurofacedis/responses/data", (6, 1 << 40, 3), "float32")

    @nwb("huge_declared_spike_times", "declares", "spike_times")
    def _(p):
        shutil.copy(spikes_only, p)
        _huge_dataset(p, "units/spike_times", (1 << 45,), "float64")

    @nwb("non_utf8_stimulus_id", "not valid utf-8", "stimulus_id")
    def _(p):
        import h5py

        shutil.copy(good_nwb, p)
        where = "processing/neurofacedis/stimulus_set/stimulus_table/stimulus_id"
        with h5py.File(p, "r+") as f:
            ds = f[where]
            raw = ds.asstr()[:].tolist()
            attrs = dict(ds.attrs)
            del f[where]
            vals = [s.encode() for s in raw]
            vals[2] = b"face\xff\xfe"
            new = f.create_dataset(where, data=np.array(vals, dtype=object),
                                   dtype=h5py.string_dtype("utf-8"))
            for k, v in attrs.items():
                new.attrs[k] = v

    @nwb("mixed_image_dtypes", "images differ in dtype", "stimulus_template")
    def _(p):  # mixed sizes are resized to a common size (issue 20); mixed dtypes are not
        _plain_nwb(p, [np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint16)])

    @nwb("external_file_outside_folder", "lies outside the recording's folder", "external_file")
    def _(p):  # issue 20: an ImageSeries' external_file may not leave the file's folder
        (root / "elsewhere.png").write_bytes(tiny_png(4, 4))
        _plain_external(p, ["../elsewhere.png", "../elsewhere.png"])

    @nwb("external_file_not_an_image", "not an image pillow reads", "external_file")
    def _(p):
        (src / "not_an_image.png").write_bytes(b"GIF89a? no")
        _plain_external(p, ["not_an_image.png"])

    @nwb("several_stimulus_sets", "several stimulus sets", "stimulus_template")
    def _(p):
        (src / "one_face.png").write_bytes(tiny_png(4, 4))
        _plain_external(p, ["one_face.png"], stack_too=True)

    @nwb("latent_rows_mismatch", "latent rows but 6 images", "latents")
    def _(p):
        from neurofacedis.nwb import LatentsData, add_latents

        shutil.copy(good_nwb, p)
        add_latents(p, [LatentsData("latents_x", np.zeros((6, 2)), ["a", "b"], {"model": "x"})])
        # then a writer loses a row
        _replace_dataset(p, "processing/neurofacedis/latents_x/data", np.ones((5, 2), np.float32))

    @nwb("nan_landmarks", "non-finite landmark", "landmarks")
    def _(p):
        d = base_session()
        d.landmarks[1, 2, 0] = np.nan
        write_unvalidated(p, d)

    @nwb("nan_factors", "non-finite factor", "face_width")
    def _(p):
        d = base_session()
        d.factors.loc[2, "face_width"] = np.nan
        write_unvalidated(p, d)

    @nwb("inverted_window", "window", "responses")
    def _(p):
        d = base_session(spikes=False)
        d.window = (0.35, 0.05)
        write_unvalidated(p, d)

    @nwb("truncated_unicode_path", "truncated or damaged", suffix=".nwb")
    def _(p):
        raw = good_nwb.read_bytes()
        p.write_bytes(raw[: len(raw) // 3])

    @nwb("zarr_folder_garbage", "not a readable nwb zarr store", suffix=".nwb.zarr")
    def _(p):
        p.mkdir()
        (p / ".zgroup").write_text("{not json")
        (p / "data").write_bytes(b"\x00\x01")

    # the unicode one lives in a unicode folder under a unicode name
    name, path, problem, obj = nwb_cases[-2]
    uni_dir = src / "données 顔"
    uni_dir.mkdir()
    uni_path = uni_dir / "記録 😀 séance.nwb"
    path.rename(uni_path)
    nwb_cases[-2] = (name, uni_path, problem, obj)

    for name, path, problem, obj in nwb_cases:
        if name not in ANALYZE_ONLY:
            cases.append(Case(f"inspect-{name}", "nwb", ("inspect", str(path)), str(path),
                              problem, obj))
        if name in INSPECT_ONLY:
            continue
        cases.append(
            Case(
                f"analyze-{name}",
                "nwb",
                ("analyze", str(path), "--model", "pca", "--metric", "alignment",
                 "--out", str(out / f"analysis-{name}"), "-q"),
                str(path),
                problem,
                obj,
            )
        )

    # ---- names the file system refuses ------------------------------------------------------
    long_component = src / ("x" * 300 + ".nwb")
    cases.append(Case("inspect-name-too-long", "names", ("inspect", str(long_component)),
                      str(long_component), "file name too long"))
    deep = src / "/".join(["d" * 200] * 25) / "rec.nwb"
    cases.append(Case("inspect-path-too-long", "names", ("inspect", str(deep)), str(deep),
                      "file name too long"))

    # ---- lab files through `import` ---------------------------------------------------------
    imgs_npy = src / "images.npy"
    np.save(imgs_npy, good.images)
    resp_npy = src / "responses.npy"
    np.save(resp_npy, np.nanmean(good.responses, axis=2))
    img_dir = src / "image_folder"
    img_dir.mkdir()
    for i, im in enumerate(good.images):
        _png_file(img_dir / f"face{i:03d}.png", im)

    def imp(name: str, problem: str, obj: str | None = None, *, images: Path = imgs_npy,
            responses: Path = resp_npy, extra: tuple[str, ...] = (), file: Path | None = None,
            out_path: Path | None = None) -> None:
        target = out_path or out / f"{name}.nwb"
        argv = ("import", "--images", str(images), "--responses", str(responses), "--out",
                str(target), *extra)
        bad = file if file is not None else (responses if responses != resp_npy else images)
        cases.append(Case(f"import-{name}", "import", argv, str(bad), problem, obj))

    def npy(name: str, array: np.ndarray) -> Path:
        p = src / f"{name}.npy"
        np.save(p, array)
        return p

    def raw(name: str, data: bytes | str) -> Path:
        p = src / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return p

    mean = np.nanmean(good.responses, axis=2)
    imp("responses-not-npy", "not a readable .npy", responses=raw("garbage.npy", b"\x00" * 64))
    imp("responses-pickled-object-array", "not a readable .npy",
        responses=raw("pickled.npy", npy_object_array(pickle_bomb(root / MARKER_NAME))))
    imp("responses-inf", "infinite", responses=npy("resp_inf", np.where(mean > 1, np.inf, mean)))
    nan_cell = good.responses.copy()
    nan_cell[1, 3, :] = np.nan
    imp("responses-nan-cell", "every repeat is nan", responses=npy("resp_nan_cell", nan_cell))
    imp("responses-all-nan", "every repeat is nan",
        responses=npy("resp_all_nan", np.full_like(mean, np.nan)))
    imp("responses-complex", "must be numeric", responses=npy("resp_complex", mean + 1j))
    imp("responses-strings", "must be numeric",
        responses=npy("resp_str", mean.astype(str)))
    imp("responses-4d", "expected stimuli x neurons", responses=npy("resp_4d", mean[..., None,
                                                                                    None]))
    imp("responses-zero-neurons", "no neurons", responses=npy("resp_zero_neurons", mean[:, :0]))
    imp("responses-zero-stimuli", "0 response rows", responses=npy("resp_zero_stim", mean[:0]))
    imp("responses-extra-row", "7 response rows",
        responses=npy("resp_extra_row", np.vstack([mean, mean[:1]])))
    huge_hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000, 1000000), }"
    imp("responses-huge-declared-shape", "declares",
        responses=raw("resp_huge.npy", _npy(huge_hdr, b"\x00" * 64)))
    imp("responses-csv-non-numeric", "non-numeric value",
        responses=raw("resp_text.csv", "1,2,3,4\n5,x,7,8\n" * 3))
    imp("responses-csv-non-utf8", "not a readable csv",
        responses=raw("resp_latin1.csv", b"caf\xe9,1\n\xff\xfe,2\n"))
    imp("responses-csv-empty", "not a readable csv", responses=raw("resp_empty.csv", ""))
    imp("responses-mat-garbage", "not a readable .mat",
        responses=raw("resp_garbage.mat", b"MATLAB 5.0 MAT-file" + b"\x07" * 200))
    imp("responses-unsupported-suffix", "unsupported responses format",
        responses=raw("resp.txt", "1 2 3\n"))
    imp("responses-missing-file", "no such file", responses=src / "nope.npy")

    empty_dir = src / "empty_folder"
    empty_dir.mkdir()
    imp("images-empty-folder", "no stimuli", images=empty_dir)
    mixed = src / "mixed_sizes"
    mixed.mkdir()
    _png_file(mixed / "a.png", np.zeros((8, 8), np.uint8))
    _png_file(mixed / "b.png", np.zeros((9, 8), np.uint8))
    imp("images-mixed-sizes", "images differ in size", images=mixed)
    corrupt = src / "corrupt_png"
    corrupt.mkdir()
    _png_file(corrupt / "a.png", np.zeros((8, 8), np.uint8))
    (corrupt / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    imp("images-corrupt-png", "cannot read image", images=corrupt, file=corrupt / "b.png")
    bomb = src / "png_bomb"
    bomb.mkdir()
    (bomb / "a.png").write_bytes(tiny_png(40000, 40000, pixels=False))
    imp("images-decompression-bomb", "cannot read image", images=bomb, file=bomb / "a.png")
    non_utf8 = src / "non_utf8_names"
    non_utf8.mkdir()
    for i, im in enumerate(good.images):
        stem = b"face\xff\xfe" if i == 3 else f"face{i:03d}".encode()
        _png_file(Path(os.fsdecode(os.fsencode(non_utf8) + b"/" + stem + b".png")), im)
    imp("images-non-utf8-name", "not valid utf-8", images=non_utf8, file=non_utf8)
    imp("images-nan-pixels", "non-finite pixel",
        images=npy("img_nan", np.where(good.images > 200, np.nan, good.images / 255.0)))
    imp("images-negative-int", "must lie in 0..255",
        images=npy("img_neg", good.images.astype(np.int16) - 10))
    imp("images-float-over-255", "must lie in [0, 1] (or 0-255)",  # 0-255 floats: read, warned
        images=npy("img_float", good.images * 4.0))
    imp("images-2d", "expected (n, h, w)", images=npy("img_2d", good.images[0]))
    imp("images-zero", "no stimuli", images=npy("img_zero", good.images[:0]))
    imp("images-five-channels", "expected (n, h, w)",
        images=npy("img_5ch", np.zeros((6, 8, 8, 5), np.uint8)))
    imp("images-pickled-object-array", "not a readable .npy",
        images=raw("img_pickled.npy", npy_object_array(pickle_bomb(root / MARKER_NAME))))
    uni_imgs = src / "visages é 顔"
    uni_imgs.mkdir()
    _png_file(uni_imgs / "a.png", np.zeros((8, 8), np.uint8))
    _png_file(uni_imgs / "ß.png", np.zeros((8, 9), np.uint8))
    imp("images-unicode-folder-mixed", "images differ in size", images=uni_imgs)

    lm = good.landmarks
    imp("landmarks-wrong-shape", "expected (n, l, 2)",
        extra=("--landmarks", str(npy("lm_3d", np.zeros((6, 5, 3))))),
        file=src / "lm_3d.npy")
    imp("landmarks-nan", "non-finite landmark",
        extra=("--landmarks", str(npy("lm_nan", np.where(lm > 7, np.nan, lm)))),
        file=src / "lm_nan.npy")
    imp("landmarks-row-mismatch", "landmark rows",
        extra=("--landmarks", str(npy("lm_rows", lm[:4]))), file=src / "lm_rows.npy")
    ids = [f"stim{i:04d}" for i in range(6)]
    dup = raw("labels_dup.csv", "stimulus_id,identity\n" + "".join(
        f"{s},{i}\n" for i, s in enumerate(ids + ids[:1])))
    imp("labels-duplicate-ids", "duplicate stimulus ids", extra=("--labels", str(dup)), file=dup)
    miss = raw("labels_missing.csv", "stimulus_id,identity\n" + "".join(
        f"{s},{i}\n" for i, s in enumerate(ids[:5])))
    imp("labels-missing-row", "no row for stimulus", extra=("--labels", str(miss)), file=miss)
    count = raw("labels_count.csv", "identity\n1\n2\n")
    imp("labels-row-count", "2 label rows but 6 images", extra=("--labels", str(count)),
        file=count)
    clash = raw("labels_clash.csv", "landmarks\n" + "1\n" * 6)
    imp("labels-reserved-column", "column names clash", extra=("--labels", str(clash)),
        file=out / "labels-reserved-column.nwb")
    imp("out-folder-missing", "folder does not exist", out_path=out / "no" / "such" / "x.nwb",
        file=out / "no" / "such")
    long_out = out / ("o" * 300 + ".nwb")
    imp("out-name-too-long", "file name too long", out_path=long_out, file=long_out)
    existing = src / "existing.nwb"
    shutil.copy(good_nwb, existing)
    imp("out-exists", "already exists", out_path=existing, file=existing)

    # ---- manifests through `data fetch` -----------------------------------------------------
    payload = src / "payload.nwb"
    payload.write_bytes(b"shared file contents\n")

    def entry(**over) -> dict:
        base = {
            "name": "shared",
            "description": "x",
            "kind": "nwb",
            "license": "CC0-1.0",
            "citation": "x",
            "files": [{"path": "rec.nwb", "url": payload.as_uri(),
                       "sha256": "0" * 64}],
        }
        base.update(over)
        return base

    def manifest(name: str, text: str | bytes, problem: str, obj: str | None = None,
                 *, extra: tuple[str, ...] = ()) -> None:
        p = src / f"manifest_{name}.yaml"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        argv = ("data", "fetch", "shared", "--manifest", str(p), "--dest",
                str(out / f"fetch-{name}"), "-q", *extra)
        cases.append(Case(f"fetch-{name}", "manifest", argv, str(p), problem, obj))

    def doc(**over) -> str:
        return json.dumps({"schema_version": 1, "datasets": [entry(**over)]})

    manifest("bad-yaml", "schema_version: 1\ndatasets: [\n  - name: x\n", "invalid yaml")
    manifest("yaml-python-tag",
             f"!!python/object/apply:builtins.open ['{root / MARKER_NAME}', 'w']\n",
             "invalid yaml")
    manifest("not-a-mapping", "- a\n- b\n", "must be a mapping")
    manifest("missing-schema-version", json.dumps({"datasets": [entry()]}),
             "missing schema_version")
    manifest("missing-files-field", doc(files=None), "files")
    manifest("file-missing-path",
             doc(files=[{"url": payload.as_uri(), "sha256": "0" * 64}]), "field required",
             "path")
    manifest("dataset-missing-license",
             json.dumps({"schema_version": 1, "datasets": [
                 {k: v for k, v in entry().items() if k != "license"}]}),
             "field required", "license")
    manifest("ftp-url", doc(files=[{"path": "a.nwb", "url": "ftp://example.org/a.nwb",
                                    "sha256": "0" * 64}]), "not allowed", "url")
    manifest("javascript-url", doc(files=[{"path": "a.nwb", "url": "javascript:alert(1)",
                                           "sha256": "0" * 64}]), "not allowed", "url")
    manifest("relative-file-url", doc(files=[{"path": "a.nwb", "url": "file:a.nwb",
                                              "sha256": "0" * 64}]), "must be absolute", "url")
    manifest("path-traversal", doc(files=[{"path": "../../escape.nwb", "url": payload.as_uri(),
                                           "sha256": "0" * 64}]), "'..'", "path")
    manifest("absolute-path", doc(files=[{"path": "/etc/passwd", "url": payload.as_uri(),
                                          "sha256": "0" * 64}]), "absolute", "path")
    manifest("bad-sha256", doc(files=[{"path": "a.nwb", "url": payload.as_uri(),
                                       "sha256": "abc"}]), "64 hexadecimal", "sha256")
    manifest("unknown-key", doc(licence="CC0"), "extra inputs are not permitted", "licence")
    manifest("schema-from-future", json.dumps({"schema_version": 99, "datasets": []}),
             "newer than this neurofacedis reads")
    # issue 18 class 3: generation is a registered dataset and checked parameters, never a
    # command line, and the manifest never says where anything is written
    manifest("generator-runs-shell",
             doc(kind="generated", files=[{"path": "a.nwb", "sha256": "0" * 64}],
                 generate={"command": "rm -rf /", "seed": 0}),
             "'generate.command' was replaced", "generate")
    manifest("generator-nbsp-smuggled-command",
             doc(kind="generated", files=[{"path": "a.nwb", "sha256": "0" * 64}],
                 generate={"command": "neurofacedis simulate\u00a0x data export {dest} --zarr"
                                      " {dest} --overwrite", "seed": 0}),
             "'generate.command' was replaced", "generate")
    manifest("generator-unknown-dataset",
             doc(kind="generated", files=[{"path": "a.nwb", "sha256": "0" * 64}],
                 generate={"dataset": "simulate", "params": {"seed": 0}}),
             "unknown dataset 'simulate'", "generate.dataset")
    manifest("generator-output-param",
             doc(kind="generated", files=[{"path": "a.nwb", "sha256": "0" * 64}],
                 generate={"dataset": "virtual_face_patch", "params": {"out": "/tmp/x.nwb"}}),
             "unknown parameter 'out'", "generate.params.out")
    manifest("generator-param-type",
             doc(kind="generated", files=[{"path": "a.nwb", "sha256": "0" * 64}],
                 generate={"dataset": "virtual_face_patch", "params": {"seed": "0; rm -rf ~"}}),
             "expected int, got str", "generate.params.seed")
    # issue 18 class 4: files of this machine only with --allow-local-urls; a host never ignored
    manifest("file-url-without-allow-local-urls", doc(), "reads a file of this machine", "url")
    manifest("file-url-with-host",
             doc(files=[{"path": "a.nwb", "url": "file://evil.example" + payload.as_posix(),
                         "sha256": "0" * 64}]),
             "has a host", "url", extra=("--allow-local-urls",))
    # issue 18 class 5: a declared size over the cap is refused before anything is requested
    manifest("declared-size-over-cap",
             doc(files=[{"path": "a.nwb", "url": "https://example.invalid/a.nwb",
                         "sha256": "0" * 64, "size": 1 << 50}]),
             "over the 1073741824-byte cap", "size")
    manifest("non-utf8", b"schema_version: 1\ndatasets:\n  - name: \xff\xfe\n",
             "cannot read manifest")
    manifest("duplicate-names", json.dumps({"schema_version": 1, "datasets": [entry(),
                                                                            entry()]}),
             "duplicate dataset names")
    # a well-formed manifest whose file does not match its hash: refused before use
    manifest("hash-mismatch", doc(), "sha256 mismatch", "rec.nwb",
             extra=("--allow-local-urls",))
    cases[-1] = replace(cases[-1], file=payload.as_uri())
    manifest("base-url-ftp", doc(), "not allowed", extra=("--base-url", "ftp://example.org/"))
    cases[-1] = replace(cases[-1], file="--base-url")

    # ---- analyze's other inputs ---------------------------------------------------------------
    cases.append(Case(
        "analyze-train-images-corrupt", "analyze",
        ("analyze", str(good_nwb), "--model", "pca", "--metric", "alignment",
         "--train-images", str(corrupt), "--out", str(out / "analysis-train-corrupt"), "-q"),
        str(corrupt / "b.png"), "cannot read image"))
    cases.append(Case(
        "analyze-train-images-pickled", "analyze",
        ("analyze", str(good_nwb), "--model", "pca", "--metric", "alignment",
         "--train-images", str(src / "img_pickled.npy"), "--out",
         str(out / "analysis-train-pickled"), "-q"),
        str(src / "img_pickled.npy"), "not a readable .npy"))
    out_file = src / "out_is_a_file"
    out_file.write_text("keep me\n")
    cases.append(Case(
        "analyze-out-is-a-file", "analyze",
        ("analyze", str(good_nwb), "--model", "pca", "--metric", "alignment", "--out",
         str(out_file), "-q"),
        str(out_file), "not a folder"))

    cases.extend(input_safety_cases(src, out, good_nwb))  # issue 18: classes 7, 8, 11-13
    cases.extend(content_safety_cases(src, out, good_nwb))  # issue 18: classes 9, 10, 15

    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise RuntimeError(f"duplicate case names: {sorted(dupes)}")
    return cases


# =========================================================================================
# Issue 18, file-level input safety (classes 7, 8, 11, 12, 13): special files, paths that are
# not UTF-8, links to other files, pickle codecs in Zarr, damaged compressed chunks. Each
# refused by the input gate (neurofacedis/_inputs.py) in one line, exit 2.
# =========================================================================================


def input_safety_cases(src: Path, out: Path, good_nwb: Path) -> list[Case]:
    """Write the special-file, link, codec and damaged-chunk inputs; return their cases."""
    import h5py

    from neurofacedis.data.export import export_zarr

    cases: list[Case] = []
    base = src / "input_safety"
    base.mkdir()

    def both(name: str, path: Path, problem: str, obj: str | None = None,
             file: str | None = None) -> None:
        shown = file if file is not None else str(path)
        cases.append(Case(f"inspect-{name}", "input-safety", ("inspect", str(path)), shown,
                          problem, obj))
        cases.append(Case(f"analyze-{name}", "input-safety",
                          ("analyze", str(path), "--model", "pca", "--metric", "alignment",
                           "--out", str(out / f"analysis-{name}"), "-q"), shown, problem, obj))

    def pack(name: str, path: Path, problem: str, obj: str | None = None) -> None:
        cases.append(Case(f"pack-{name}", "input-safety",
                          ("data", "pack", str(path), "--name", "shared", "--manifest",
                           str(out / f"manifest-{name}.yaml")), str(path), problem, obj))

    # 12. special files: refused from os.stat alone, never opened
    fifo = base / "fifo.nwb"
    os.mkfifo(fifo)
    both("fifo", fifo, "a named pipe (fifo), not a regular file")
    pack("fifo", fifo, "a named pipe (fifo)")
    zero = base / "dev_zero.nwb"
    zero.symlink_to("/dev/zero")
    both("symlink-to-dev-zero", zero, "a character device (through a symbolic link")
    folder = base / "images_with_fifo"
    folder.mkdir()
    for i in range(2):
        (folder / f"{i}.png").write_bytes(tiny_png(4, 4))
    os.mkfifo(folder / "2.png")
    np.save(base / "resp3.npy", np.ones((3, 4), np.float32))
    cases.append(Case("import-images-folder-fifo-png", "input-safety",
                      ("import", "--images", str(folder), "--responses", str(base / "resp3.npy"),
                       "--out", str(out / "fifo-import.nwb")),
                      str(folder / "2.png"), "a named pipe (fifo)", "--images"))
    # 13. a path whose bytes are not UTF-8: refused before any work, shown with escapes
    raw_name = os.fsdecode(os.fsencode(base) + b"/rec-\xff\xfe.nwb")
    shutil.copy(good_nwb, raw_name)
    both("non-utf8-path", Path(raw_name), "not valid utf-8",
         file=os.fsencode(raw_name).decode("utf-8", "backslashreplace"))
    # 7. an HDF5 external link: refused without --follow-links; never packed
    linked, other = base / "external_link.nwb", base / "linked_images.h5"
    shutil.copy(good_nwb, linked)
    where = "processing/neurofacedis/stimulus_set/images"
    with h5py.File(linked, "r+") as f, h5py.File(other, "w") as g:
        f.copy(f[where], g, "images")
        del f[where]
        f[where] = h5py.ExternalLink(other.name, "/images")
    both("external-link", linked, "external link to linked_images.h5:/images", f"/{where}")
    pack("external-link", linked, "never shares a file that links to others", f"/{where}")
    # 11. one damaged gzip chunk of the image stack
    damaged = base / "damaged_chunk.nwb"
    shutil.copy(good_nwb, damaged)
    with h5py.File(damaged, "r") as f:
        info = f[where].id.get_chunk_info(3)
    with open(damaged, "r+b") as fh:
        fh.seek(info.byte_offset + 2)
        body = fh.read(info.size - 4)
        fh.seek(info.byte_offset + 2)
        fh.write(bytes(b ^ 0x5A for b in body))
    both("damaged-chunk", damaged, "chunk is damaged", f"/{where}")
    pack("damaged-chunk", damaged, "validation failed", f"/{where}")
    # 8. a Zarr array whose filter is the pickle codec; a Zarr link to another store
    store = export_zarr(good_nwb, base / "pickle_codec.nwb.zarr")
    meta_file = store / "units/spike_times/.zarray"
    meta = json.loads(meta_file.read_text())
    meta["filters"] = [{"id": "pickle", "protocol": 5}]
    meta_file.write_text(json.dumps(meta, sort_keys=True))
    both("zarr-pickle-codec", store, "uses the pickle codec (filter)", "/units/spike_times")
    store = export_zarr(good_nwb, base / "zarr_link.nwb.zarr")
    attrs_file = store / "general/extracellular_ephys/recording_site/.zattrs"
    attrs = json.loads(attrs_file.read_text())
    attrs["zarr_link"][0]["source"] = "../elsewhere.nwb.zarr"
    attrs_file.write_text(json.dumps(attrs, sort_keys=True))
    both("zarr-link", store, "zarr link to ../elsewhere.nwb.zarr", "recording_site/device")
    return cases


# ---- issue 18, classes 9, 10, 15: content the one reader refuses (separate block) -----------


def content_safety_cases(src: Path, out: Path, good_nwb: Path) -> list[Case]:
    """Write references, compound values, bad regions, duplicate unit ids, declared petabytes
    in truth and metadata, and NaN / out-of-range float pixels; return their cases."""
    import h5py

    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    cases: list[Case] = []
    base = src / "content_safety"
    base.mkdir()
    spikes = base / "spikes.nwb"
    write_session(spikes, base_session(processed=False))
    processed = base / "processed.nwb"
    write_session(processed, base_session(spikes=False))
    truth = base / "truth.nwb"
    write_session(truth, simulate_session(seed=0, n_identities=3, n_views=2, n_neurons=4,
                                          n_repeats=2, image_size=16))

    def case(name: str, source: Path, edit: Callable[[Path], None], problem: str, obj: str,
             *, analyze: bool = True) -> None:
        path = base / f"{name}.nwb"
        shutil.copy(source, path)
        edit(path)
        cases.append(Case(f"inspect-{name}", "content", ("inspect", str(path)), str(path),
                          problem, obj))
        if analyze:
            cases.append(Case(f"analyze-{name}", "content",
                              ("analyze", str(path), "--model", "pca", "--metric", "alignment",
                               "--out", str(out / f"analysis-{name}"), "-q"), str(path),
                              problem, obj))

    def refs(where: str) -> Callable[[Path], None]:
        def edit(p: Path) -> None:
            with h5py.File(p, "r") as f:
                shape, ref = f[where].shape, f["units"].ref
            _replace_dataset(p, where, np.full(shape, ref, dtype=h5py.ref_dtype),
                             dtype=h5py.ref_dtype)
        return edit

    def compound(where: str) -> Callable[[Path], None]:
        def edit(p: Path) -> None:
            with h5py.File(p, "r") as f:
                shape = f[where].shape
            _replace_dataset(p, where, np.zeros(shape, dtype=[("a", "f8"), ("b", "i4")]))
        return edit

    def values(where: str, data: np.ndarray) -> Callable[[Path], None]:
        return lambda p: _replace_dataset(p, where, data)

    def huge(where: str, shape: tuple[int, ...], dtype: str) -> Callable[[Path], None]:
        def edit(p: Path) -> None:
            with h5py.File(p, "r+") as f:
                if where not in f:
                    f.create_dataset(where, data=np.array(["face"], dtype=object),
                                     dtype=h5py.string_dtype())
            _huge_dataset(p, where, shape, dtype)
        return edit

    # 9. references / compound values where numbers are expected; regions; duplicate ids
    case("object_refs_unit_ids", spikes, refs("units/id"), "object references", "units/id")
    case("object_refs_spike_times", spikes, refs("units/spike_times"), "object references",
         "units/spike_times")
    case("compound_images", good_nwb, compound("processing/neurofacedis/stimulus_set/images"),
         "compound type", "stimulus_set/images")
    case("compound_start_time", spikes, compound("intervals/presentations/start_time"),
         "compound type", "intervals/presentations/start_time")
    region = "processing/neurofacedis/responses/units"
    case("region_past_table", processed, values(region, np.array([0, 1, 2, 9])),
         "row index 9 (entry 3) is outside table", region)
    case("region_negative_index", processed, values(region, np.array([0, -1, 2, 3])),
         "row index -1 (entry 1) is outside table", region)
    case("duplicate_unit_ids", spikes, values("units/id", np.array([3, 5, 3, 7])),
         "duplicate unit id 3", "units/id")
    # 10. declared petabytes in the simulator's truth and in metadata (inspect reads them)
    case("huge_declared_truth", truth,
         huge("processing/neurofacedis/truth/tuning_weights", (1 << 40, 1 << 10), "float64"),
         "declares shape", "truth/tuning_weights", analyze=False)
    case("huge_declared_keywords", good_nwb, huge("general/keywords", (1 << 47,), "S8"),
         "declares shape", "general/keywords", analyze=False)
    # 15. the pixel rule: NaN pixels and floats above 255 are refused
    nan_frames = [np.full((4, 4), 0.5) for _ in range(3)]
    nan_frames[1][0, 0] = np.nan
    nan_path = base / "nan_pixels_src.nwb"
    _plain_nwb(nan_path, nan_frames)
    case("nan_pixels", nan_path, lambda p: None, "non-finite pixel values",
         "stimulus_template/faces/f1")
    big_path = base / "float_pixels_src.nwb"
    _plain_nwb(big_path, [np.full((4, 4), 300.0 * i) for i in range(3)])
    case("float_pixels_over_255", big_path, lambda p: None, "must lie in [0, 1] (or 0-255)",
         "stimulus_template/faces")
    return cases


if __name__ == "__main__":  # python tests/reliability_corpus.py DIR
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "reliability-corpus")
    for c in build_corpus(target):
        print(f"{c.name:45s} neurofacedis {' '.join(c.argv)[:110]}")
