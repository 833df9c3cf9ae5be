"""Content-level safety of the one reader (issue 18, classes 9, 10 and 15).

- 9: object references, compound dtypes, a DynamicTableRegion out of its table and duplicate
  unit ids are refused with one line naming file and object (files written with plain
  pynwb / h5py, never the project's writer).
- 10: ``NEUROFACEDIS_MAX_BYTES`` bounds every read (truth, metadata...) and is parsed strictly.
- 15: the pixel rule (:mod:`neurofacedis._pixels`): 0-255 floats are read as such with a
  warning in summary.json; NaN pixels are refused naming the image.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import ImageReferences, Images
from pynwb.file import Subject
from pynwb.image import GrayscaleImage
from test_reliability_corpus import run_cli

from neurofacedis.errors import InputError

N_IMAGES = 12


def _plain(path, *, frames=None, unit_ids=None, region=None, keywords=None) -> None:
    """A plain-pynwb recording: Images + trials + Units (+ StimulusResponses over a region)."""
    rng = np.random.default_rng(0)
    if frames is None:
        frames = list(rng.integers(0, 256, size=(N_IMAGES, 8, 8)).astype(np.uint8))
    nwbfile = NWBFile(
        session_description="lab",
        identifier="lab",
        session_start_time=datetime(2023, 1, 1, tzinfo=timezone.utc),
        subject=Subject(subject_id="M1", species="Macaca mulatta", sex="M", age="P4Y"),
        keywords=keywords,
    )
    images = [GrayscaleImage(name=f"f{i}", data=fr) for i, fr in enumerate(frames)]
    nwbfile.add_stimulus_template(Images(
        name="faces", images=images, description="faces",
        order_of_images=ImageReferences(name="order_of_images", data=images)))
    nwbfile.add_trial_column(name="stimulus_index", description="image shown")
    n = len(frames)
    for i in range(3 * n):
        nwbfile.add_trial(start_time=1.0 + i, stop_time=1.5 + i, stimulus_index=i % n)
    ids = unit_ids if unit_ids is not None else [0, 1, 2]
    for u, uid in enumerate(ids):
        spikes = np.sort(rng.uniform(0.0, 3.0 * n + 2, 60 + 20 * u))
        nwbfile.add_unit(id=uid, spike_times=spikes)
    if region is not None:
        from hdmf.common import DynamicTableRegion
        from pynwb import get_class

        import neurofacedis.nwb  # noqa: F401 - loads the ndx-neurofacedis namespace

        responses = get_class("StimulusResponses", "ndx-neurofacedis")(
            name="responses", window_start=0.05, window_stop=0.35, unit="spikes",
            data=rng.poisson(3.0, size=(n, len(region), 2)).astype(np.float32),
            units=DynamicTableRegion(name="units", data=list(region), description="units",
                                     table=nwbfile.units))
        nwbfile.create_processing_module("neurofacedis", "analysis").add(responses)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def _swap(path, where: str, data=None, **kwargs) -> None:
    """Replace one HDF5 dataset (attributes kept), with h5py."""
    with h5py.File(path, "r+") as f:
        attrs = dict(f[where].attrs)
        ref = f["units"].ref
        shape = f[where].shape
        del f[where]
        if isinstance(data, str) and data == "refs":
            ds = f.create_dataset(where, shape=shape, dtype=h5py.ref_dtype)
            ds[...] = np.full(shape, ref, dtype=h5py.ref_dtype)
        elif isinstance(data, str) and data == "compound":
            ds = f.create_dataset(where, data=np.zeros(shape, dtype=[("a", "f8"), ("b", "i4")]))
        else:
            ds = f.create_dataset(where, data=data, **kwargs)
        for k, v in attrs.items():
            ds.attrs[k] = v




def _refused(path, obj: str, problem: str, capsys, tmp_path, *, analyze: bool = True) -> None:
    """``inspect`` and ``analyze`` exit 2 with one line naming the file, object and problem."""
    runs = [["inspect", str(path)]]
    if analyze:
        runs.append(["analyze", str(path), "--model", "pca", "--metric", "alignment",
                     "--out", str(tmp_path / "out"), "-q"])
    for argv in runs:
        code, err = run_cli(argv, capsys)
        lines = err.strip().splitlines()
        assert code == 2, (argv[0], code, err[-2000:])
        assert len(lines) == 1 and "Traceback" not in err, err
        assert str(path) in lines[0] and obj in lines[0] and problem in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


# ---- 9: references, compound values, regions, duplicate ids ---------------------------------


@pytest.mark.parametrize(
    ("where", "data", "obj", "problem"),
    [  # the HDF5 path (references are refused before hdmf reads) or the NWB object's name
        ("stimulus/templates/faces/f3", "refs", None, "object references"),
        ("stimulus/templates/faces/f3", "compound", "stimulus_template/faces/f3",
         "compound type (fields a, b)"),
        ("units/spike_times", "refs", None, "object references"),
        ("units/spike_times", "compound", None, "compound type"),
        ("units/id", "refs", None, "object references"),
        ("intervals/trials/stimulus_index", "refs", None, "object references"),
        ("intervals/trials/stimulus_index", "compound", None, "compound type"),
        ("intervals/trials/start_time", "compound", None, "compound type"),
    ],
)
def test_references_and_compound_values_are_refused_naming_the_object(
    tmp_path, capsys, where, data, obj, problem
):
    path = tmp_path / "lab.nwb"
    _plain(path)
    _swap(path, where, data)
    _refused(path, obj or where, problem, capsys, tmp_path)


@pytest.mark.parametrize(("region", "problem"), [
    ([0, 1, 3], "row index 3 (entry 2) is outside table 'units' of 3 rows"),
    ([0, -1, 2], "row index -1 (entry 1) is outside table 'units' of 3 rows"),
])
def test_region_outside_its_table_is_refused(tmp_path, capsys, region, problem):
    path = tmp_path / "lab.nwb"
    _plain(path, region=[0, 1, 2])  # pynwb refuses to write a bad region: h5py edits it
    _swap(path, "processing/neurofacedis/responses/units", np.array(region, np.int64))
    _refused(path, "processing/neurofacedis/responses/units", problem, capsys, tmp_path)


def test_region_inside_its_table_labels_neurons_by_unit_id(tmp_path):
    from neurofacedis.nwb import Recording

    path = tmp_path / "lab.nwb"
    _plain(path, unit_ids=[10, 11, 12], region=[2, 0])
    with Recording.open(path) as rec:
        assert rec.response_source == "processed"
        assert rec.neuron_ids.tolist() == [12, 10]


@pytest.mark.parametrize(("ids", "region", "obj"), [
    ([5, 7, 5], None, "units/id"),
    ([5, 7, 9], [1, 2, 1], "processing/neurofacedis/responses/units"),
])
def test_duplicate_unit_ids_are_refused(tmp_path, capsys, ids, region, obj):
    path = tmp_path / "lab.nwb"
    _plain(path, unit_ids=ids, region=region)
    dup = 5 if region is None else 7
    _refused(path, obj, f"duplicate unit id {dup} (neurons", capsys, tmp_path)


# ---- 10: one bounded reader, a strict setting ---------------------------------------------


def _huge(path, where: str, shape, dtype) -> None:
    with h5py.File(path, "r+") as f:
        attrs = dict(f[where].attrs)
        del f[where]
        ds = f.create_dataset(where, shape=shape, dtype=dtype,
                              chunks=(1,) * (len(shape) - 1) + (1024,))
        for k, v in attrs.items():
            ds.attrs[k] = v


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("sim") / "sim.nwb"
    write_session(path, simulate_session(seed=0, n_identities=4, n_views=2, n_neurons=5,
                                         n_repeats=2, image_size=16))
    return path


@pytest.mark.parametrize(("where", "shape", "dtype"), [
    ("processing/neurofacedis/truth/tuning_weights", (1 << 40, 1 << 10), "float64"),
    ("processing/neurofacedis/truth/baseline", (1 << 47,), "float64"),
    ("general/keywords", (1 << 47,), h5py.string_dtype()),
])
def test_declared_petabyte_in_truth_or_metadata_is_one_line(
    simulated, tmp_path, capsys, where, shape, dtype
):
    import shutil

    path = tmp_path / "huge.nwb"
    shutil.copy(simulated, path)
    with h5py.File(path, "r+") as f:  # the simulator writes keywords; make sure
        if where not in f:
            f.create_dataset(where, data=np.array(["face"], dtype=object), dtype=dtype)
    _huge(path, where, shape, dtype)
    assert path.stat().st_size < 4 << 20
    _refused(path, where, "declares shape", capsys, tmp_path, analyze=False)
    from neurofacedis.nwb import Recording

    with Recording.open(path) as rec, pytest.raises(InputError) as err:  # the reader itself
        rec.validate()
    assert err.value.obj == where and "declares shape" in err.value.problem


def test_declared_gigabyte_is_refused_under_a_64_mb_limit(simulated, tmp_path, monkeypatch):
    import shutil

    from neurofacedis.nwb import Recording

    path = tmp_path / "gb.nwb"
    shutil.copy(simulated, path)
    _huge(path, "processing/neurofacedis/truth/gain", (1 << 27,), "float64")  # 1 GiB
    monkeypatch.setenv("NEUROFACEDIS_MAX_BYTES", "64M")
    with Recording.open(path) as rec, pytest.raises(InputError) as err:
        rec.truth  # noqa: B018
    assert err.value.obj == "processing/neurofacedis/truth/gain"
    assert "declares shape (134217728,) (1.07e+09 bytes), more than the 6.71e+07" in str(err.value)
    monkeypatch.setenv("NEUROFACEDIS_MAX_BYTES", str(64 << 20))
    with Recording.open(simulated) as rec:
        assert rec.truth["gain"].shape == (5,)  # a small file reads under the same limit


@pytest.mark.parametrize("value", ["inf", "1e999", "nan", "-5", "0", "garbage", "1.5", "64e6",
                                   "-64M", "0x100", "12 apples"])
def test_bad_max_bytes_settings_are_one_line(simulated, capsys, monkeypatch, value):
    from neurofacedis.nwb._lazy import max_read_bytes

    monkeypatch.setenv("NEUROFACEDIS_MAX_BYTES", value)
    with pytest.raises(InputError) as err:
        max_read_bytes()
    assert err.value.obj == "NEUROFACEDIS_MAX_BYTES" and repr(value) in str(err.value)
    code, err_text = run_cli(["inspect", str(simulated)], capsys)
    lines = err_text.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "NEUROFACEDIS_MAX_BYTES" in lines[0], err_text


@pytest.mark.parametrize(("value", "expected"), [
    ("67108864", 64 << 20), ("64M", 64 << 20), ("64m", 64 << 20), ("1G", 1 << 30),
    ("512K", 512 << 10), (" 2GiB ", 2 << 30), ("100B", 100),
])
def test_good_max_bytes_settings(monkeypatch, value, expected):
    from neurofacedis.nwb._lazy import max_read_bytes

    monkeypatch.setenv("NEUROFACEDIS_MAX_BYTES", value)
    assert max_read_bytes() == expected


def test_every_dataset_read_of_the_reader_goes_through_read_dataset():
    """A source scan: no ``.data[...]`` / ``[:]`` read bypasses the bounded reader."""
    import ast
    import inspect as pyinspect

    from neurofacedis.nwb import _recording

    tree = ast.parse(pyinspect.getsource(_recording))
    datasets = (".data", ".timestamps", ".tuning_weights", ".baseline", ".gain", ".keywords",
                ".factor_names", ".code", ".unit_names", ".experimenter")
    direct = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Subscript):
            continue
        target = ast.unparse(node.value)
        whole = isinstance(node.slice, ast.Slice) and node.slice.lower is node.slice.upper is None
        if target.endswith(datasets) or (whole and "images" not in target):  # images: LazyImages
            direct.append(ast.unparse(node))
    assert direct == [], direct


# ---- 15: the pixel rule ------------------------------------------------------------------


def test_pixel_rule_table():
    from neurofacedis._pixels import to_uint8

    notes: list[str] = []
    kw = {"file": "f.npy", "obj": "images", "notes": notes}
    assert to_uint8(np.array([[0, 7, 255]], np.uint8), **kw).tolist() == [[0, 7, 255]]
    assert to_uint8(np.array([[0, 257, 65535]], np.uint16), **kw).tolist() == [[0, 1, 255]]
    assert to_uint8(np.array([[False, True]]), **kw).tolist() == [[0, 255]]
    assert to_uint8(np.array([[0.0, 0.5, 1.0]]), **kw).tolist() == [[0, 128, 255]]
    assert to_uint8(np.array([[0, 12, 255]], np.int64), **kw).tolist() == [[0, 12, 255]]
    assert notes == []
    with pytest.warns(UserWarning, match="float pixels reach 254.6, above 1"):
        out = to_uint8(np.array([[0.0, 2.4, 254.6]], np.float32), **kw)
    assert out.tolist() == [[0, 2, 255]] and len(notes) == 1 and "f.npy: images" in notes[0]
    with pytest.warns(UserWarning, match="nearly black"):
        to_uint8(np.array([[0, 200]], np.uint16), **kw)
    bad = [
        (np.array([[0.0, np.nan]]), "non-finite pixel values (1 NaN or inf)"),
        (np.array([[0.0, np.inf]]), "non-finite pixel values"),
        (np.array([[-0.1, 0.5]]), "negative pixel values"),
        (np.array([[-1.0, 200.0]]), "must lie in [0, 1] (or 0-255)"),
        (np.array([[0.0, 256.0]]), "must lie in [0, 1] (or 0-255), found 0 to 256"),
        (np.array([[-1, 4]], np.int16), "must lie in 0..255 (or be uint16)"),
        (np.array([[0, 70000]], np.int32), "must lie in 0..255"),
        (np.array([[1 + 1j]]), "pixels must be numbers, got dtype complex128"),
    ]
    for arr, problem in bad:
        with pytest.raises(InputError) as err:
            to_uint8(arr, **kw)
        assert problem in str(err.value) and err.value.obj == "images", (arr, str(err.value))


def test_lazy_reads_of_a_0_255_float_stack_agree_with_the_whole_read(tmp_path):
    """The rule is decided for the whole stack: an image read alone converts the same way."""
    from neurofacedis.nwb import Recording

    rng = np.random.default_rng(1)
    frames = [rng.uniform(0, 0.9, (8, 8)) for _ in range(N_IMAGES)]
    frames[5] = frames[5] * 250  # one image reaches 225: the stack is 0-255
    path = tmp_path / "floats.nwb"
    _plain(path, frames=frames)
    with Recording.open(path) as rec, pytest.warns(UserWarning, match="read as 0-255"):
        one = rec.images[0]
        whole = rec.images[:]
        assert np.array_equal(one, whole[0])
        assert np.array_equal(whole, np.rint(np.stack(frames)).astype(np.uint8))
        top = float(np.max(frames[5]))
        assert len(rec.warnings) == 1 and f"float pixels reach {top:g}, above 1" in rec.warnings[0]


def test_0_255_float_images_are_analysed_with_a_warning_in_the_summary(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(2)
    frames = [rng.uniform(0, 255, (8, 8)) for _ in range(40)]  # PCA's 10 units need > 10
    path = tmp_path / "floats.nwb"
    _plain(path, frames=frames)
    out = tmp_path / "out"
    code, err = run_cli(["analyze", str(path), "--model", "pca", "--metric", "alignment",
                      "--out", str(out), "-q"], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    said = [w for w in summary["warnings"] if "float pixels reach" in w]
    assert len(said) == 1 and "stimulus_template/faces" in said[0] and str(path) in said[0]
    assert summary["metrics"]["alignment"]  # the model fitted: images were not all white


def test_nan_pixels_are_refused_naming_the_image(tmp_path, capsys):
    frames = [np.full((8, 8), 0.5) for _ in range(N_IMAGES)]
    frames[4][2, 3] = np.nan
    path = tmp_path / "nan.nwb"
    _plain(path, frames=frames)
    _refused(path, "stimulus_template/faces/f4", "non-finite pixel values (1 NaN or inf)",
             capsys, tmp_path)


def test_importer_and_train_images_use_the_same_rule(tmp_path):
    from neurofacedis.importers import read_images
    from neurofacedis.runner import load_training_set

    rng = np.random.default_rng(3)
    stack = rng.uniform(0, 255, (4, 8, 8)).astype(np.float32)
    path = tmp_path / "imgs.npy"
    np.save(path, stack)
    expected = np.rint(stack).astype(np.uint8)
    with pytest.warns(UserWarning, match="read as 0-255"):
        images, _ = read_images(path)
    assert np.array_equal(images, expected)
    with pytest.warns(UserWarning, match="read as 0-255"):
        train = load_training_set(path)
    assert np.allclose(train.images, expected / 255.0, atol=1e-6)
    bad = tmp_path / "nan.npy"
    np.save(bad, np.where(stack > 250, np.nan, stack / 255.0))
    with pytest.raises(InputError, match="non-finite pixel"):
        read_images(bad)
    with pytest.raises(InputError, match="non-finite pixel"):
        load_training_set(bad)
