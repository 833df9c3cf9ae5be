"""Hypothesis fuzzers over every reader and importer: any input gives a result or an InputError.

Each fuzzer is bounded (a few dozen examples, seconds) and derandomized, so CI runs the same
examples every time; no example database is written. The property is the same everywhere:
the reader returns a value that satisfies its contract, or raises
:class:`~neurofacedis.errors.InputError` rendered as one line naming the file -- never any
other exception.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from reliability_corpus import base_session

from neurofacedis.errors import InputError
from neurofacedis.importers import read_images, read_labels, read_landmarks, read_responses

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
FUZZ_SLOW = settings(FUZZ, max_examples=25)

DTYPES = st.sampled_from(
    [np.uint8, np.int16, np.int64, np.float32, np.float64, np.bool_, np.complex64, "U3", "S2"]
)


def any_array(max_dims: int = 5, max_side: int = 5) -> st.SearchStrategy[np.ndarray]:
    """Arrays of any listed dtype (NaN and inf included) and 0..max_dims dimensions."""
    return DTYPES.flatmap(
        lambda dt: arrays(
            dt, array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side)
        )
    )


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per example (hypothesis reuses function-scoped fixtures)."""
    d = tempfile.mkdtemp(prefix="nfd-fuzz-")
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def one_line(exc: InputError, file: Path | str) -> None:
    text = str(exc)
    assert "\n" not in text and exc.problem
    assert exc.file is not None and str(exc.file).startswith(str(file)), (exc.file, file)


# ----------------------------------------------------------------------------- lab formats


@FUZZ
@given(arr=any_array())
def test_fuzz_read_images_npy(arr):
    with scratch() as d:
        path = d / "images.npy"
        np.save(path, arr)
        try:
            images, ids = read_images(path)
        except InputError as exc:
            one_line(exc, path)
            return
    assert images.dtype == np.uint8 and images.ndim in (3, 4)
    assert images.ndim == 3 or images.shape[-1] == 3
    assert len(ids) == images.shape[0] == arr.shape[0] and len(set(ids)) == len(ids)


@FUZZ
@given(arr=any_array(max_dims=4))
def test_fuzz_read_responses_npy(arr):
    with scratch() as d:
        path = d / "responses.npy"
        np.save(path, arr)
        try:
            out = read_responses(path)
        except InputError as exc:
            one_line(exc, path)
            return
    assert out.dtype == np.float32 and out.ndim == 3 and out.shape[1] > 0
    assert not np.isinf(out).any() and not np.isnan(out).all(axis=2).any()
    np.testing.assert_array_equal(out, arr.reshape(out.shape).astype(np.float32))


CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.integers(-5, 300).map(str),
    st.text(alphabet='abc ,;"\n\t\x00é', max_size=4),
    st.just(""),
)
CSV = st.lists(st.lists(CELL, max_size=4), max_size=5).map(
    lambda rows: "\n".join(",".join(r) for r in rows)
)


@FUZZ
@given(text=st.one_of(CSV, st.binary(max_size=60).map(lambda b: b.decode("latin-1"))))
def test_fuzz_read_responses_csv(text):
    with scratch() as d:
        path = d / "responses.csv"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        try:
            out = read_responses(path)
        except InputError as exc:
            one_line(exc, path)
            return
    assert out.dtype == np.float32 and out.ndim == 3 and not np.isinf(out).any()


@FUZZ
@given(
    payload=st.one_of(
        st.binary(max_size=300).map(lambda b: b"MATLAB 5.0 MAT-file" + b),
        st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
            arrays(np.float64, array_shapes(max_dims=3, max_side=4)),
            max_size=3,
        ),
    )
)
def test_fuzz_read_responses_mat(payload):
    import scipy.io

    with scratch() as d:
        path = d / "responses.mat"
        if isinstance(payload, bytes):
            path.write_bytes(payload)
        else:
            scipy.io.savemat(path, payload)
        try:
            out = read_responses(path)
        except InputError as exc:
            one_line(exc, path)
            return
    assert out.ndim == 3 and out.dtype == np.float32


@FUZZ
@given(arr=any_array(max_dims=4))
def test_fuzz_read_landmarks(arr):
    with scratch() as d:
        path = d / "landmarks.npy"
        np.save(path, arr)
        try:
            out = read_landmarks(path)
        except InputError as exc:
            one_line(exc, path)
            return
    assert out.ndim == 3 and out.shape[2] == 2 and np.isfinite(out).all()


@FUZZ
@given(
    header=st.lists(st.sampled_from(["stimulus_id", "identity", "view", "a b", ""]), max_size=3),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=3), max_size=5),
)
def test_fuzz_read_labels(header, rows):
    ids = [f"stim{i:04d}" for i in range(3)]
    with scratch() as d:
        path = d / "labels.csv"
        path.write_text("\n".join([",".join(header), *(",".join(r) for r in rows)]))
        try:
            frame = read_labels(path, ids)
        except InputError as exc:
            one_line(exc, path)
            return
    assert len(frame) == len(ids)


PNG = b"\x89PNG\r\n\x1a\n"


@FUZZ
@given(files=st.lists(st.binary(max_size=80), min_size=1, max_size=3), png=st.booleans())
def test_fuzz_read_images_folder(files, png):
    with scratch() as d:
        folder = d / "faces"
        folder.mkdir()
        for i, raw in enumerate(files):
            (folder / f"f{i}.png").write_bytes((PNG + raw) if png else raw)
        try:
            images, _ = read_images(folder)
        except InputError as exc:
            one_line(exc, folder)
            return
    assert images.dtype == np.uint8


# ----------------------------------------------------------------------- manifest and lock

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
MANIFEST_KEYS = st.sampled_from(
    ["name", "description", "kind", "license", "citation", "files", "path", "url", "sha256",
     "generate", "command", "seed", "access", "unverified", "base_url", "digest", "size"]
)
MANIFESTISH = st.fixed_dictionaries(
    {"schema_version": st.one_of(st.just(1), st.integers(-1, 3), st.text(max_size=2))},
    optional={
        "datasets": st.lists(
            st.dictionaries(MANIFEST_KEYS, st.one_of(JSON, st.lists(
                st.dictionaries(MANIFEST_KEYS, JSON, max_size=4), max_size=2)), max_size=7),
            max_size=2,
        )
    },
)


@FUZZ
@given(doc=st.one_of(MANIFESTISH, JSON, st.text(max_size=80)))
def test_fuzz_load_manifest(doc):
    from neurofacedis.data.manifest import Manifest, load_manifest

    with scratch() as d:
        path = d / "manifest.yaml"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        try:
            m = load_manifest(path)
        except InputError as exc:
            one_line(exc, path)
            return
    assert isinstance(m, Manifest)


@FUZZ
@given(doc=st.one_of(JSON, st.binary(max_size=40)))
def test_fuzz_read_lock(doc):
    from neurofacedis.data.fetch import LOCK_NAME, read_lock

    with scratch() as d:
        path = d / LOCK_NAME
        path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
        try:
            lock = read_lock(d)
        except InputError as exc:
            one_line(exc, path)
            return
    for entry in lock["datasets"].values():
        assert isinstance(entry["files"], dict)
        assert all(isinstance(v, dict) for v in entry["files"].values())


# -------------------------------------------------------------------------------- NWB files


@pytest.fixture(scope="module")
def good_nwb(tmp_path_factory) -> bytes:
    from neurofacedis.nwb import write_session

    path = tmp_path_factory.mktemp("fuzz") / "good.nwb"
    write_session(path, base_session(n_stimuli=4, n_units=3, n_repeats=2))
    return path.read_bytes()


def read_everything(path: Path) -> None:
    """Open, validate and read images and responses, as inspect and analyze do."""
    from neurofacedis.nwb import Recording

    with Recording.open(path) as rec:
        rec.validate()
        _ = rec.images[:], rec.responses, rec.metadata, rec.presentations, rec.units


@FUZZ_SLOW
@given(raw=st.one_of(st.binary(max_size=200), st.binary(max_size=100).map(
    lambda b: b"\x89HDF\r\n\x1a\n" + b)))
def test_fuzz_recording_random_bytes(raw):
    with scratch() as d:
        path = d / "rec.nwb"
        path.write_bytes(raw)
        with pytest.raises(InputError) as err:
            read_everything(path)
        one_line(err.value, path)


@pytest.mark.filterwarnings("ignore:Path to Group altered")
@FUZZ_SLOW
@given(data=st.data())
def test_fuzz_recording_damaged_bytes(good_nwb, data):
    """Flip bytes anywhere in a valid file, or cut it short: only InputError may come out."""
    raw = bytearray(good_nwb)
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            at = data.draw(st.integers(0, len(raw) - 1), label="offset")
            raw[at] = data.draw(st.integers(0, 255), label="byte")
    with scratch() as d:
        path = d / "rec.nwb"
        path.write_bytes(bytes(raw))
        try:
            read_everything(path)
        except InputError as exc:
            one_line(exc, path)


@FUZZ_SLOW
@given(
    responses=arrays(
        np.float32, st.tuples(st.just(4), st.integers(0, 3), st.integers(1, 3)),
        elements=st.one_of(st.floats(0, 50, width=32), st.just(np.nan), st.just(np.inf)),
    ),
    order=st.permutations(range(8)),
    silent=st.booleans(),
)
def test_fuzz_write_then_read_round_trip(responses, order, silent):
    """Whatever write_session accepts, Recording reads back unchanged (else InputError)."""
    import pandas as pd

    from neurofacedis.nwb import Recording, write_session

    data = base_session(n_stimuli=4, n_units=max(responses.shape[1], 1), n_repeats=2)
    data.responses = responses
    if responses.shape[1] != len(data.spike_times):
        data.spike_times = None
        data.presentations = None
    else:
        onsets = 1.0 + 0.5 * np.asarray(order, dtype=float)
        data.presentations = pd.DataFrame({
            "start_time": onsets, "stop_time": onsets + 0.3,
            "stimulus_index": np.arange(8, dtype=np.int64) % 4,
        })
        if silent:
            data.spike_times[0] = np.empty(0)
    with scratch() as d:
        path = d / "rec.nwb"
        try:
            write_session(path, data)
        except InputError as exc:
            assert not path.exists()
            one_line(exc, path)
            return
        read_everything(path)  # what the writer accepts, the reader accepts
        # a silent unit is written as it is (issue 20): the reader selects units, never refuses
        with Recording.open(path) as rec:
            np.testing.assert_array_equal(rec.read_responses().values, responses)


@FUZZ
@given(raw=st.binary(max_size=120))
def test_fuzz_content_digest(raw):
    from neurofacedis.data.digest import content_sha256

    with scratch() as d:
        path = d / "rec.nwb"
        path.write_bytes(raw)
        with pytest.raises(InputError) as err:
            content_sha256(path)
        one_line(err.value, path)
