"""Bad input gives one line naming the file, the object and the problem; the CLI exits 2
with no traceback and writes nothing."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import ImageReferences, Images
from pynwb.file import Subject
from pynwb.image import GrayscaleImage
from pynwb.misc import Units

from neurofacedis.cli import main
from neurofacedis.errors import InputError
from neurofacedis.nwb import Recording, write_session


def _one_line(exc: InputError, file, obj: str | None, problem: str) -> None:
    text = str(exc)
    assert "\n" not in text
    assert str(file) in text and problem in text
    if obj is not None:
        assert exc.obj is not None and obj in exc.obj


def _plain(path, *, images: bool = True, index=(0, 1, 0, 1), units: int = 2) -> None:
    nwbfile = NWBFile(
        session_description="lab",
        identifier="lab",
        session_start_time=datetime(2023, 1, 1, tzinfo=timezone.utc),
        subject=Subject(subject_id="M1", species="Macaca mulatta", sex="M", age="P4Y"),
    )
    if images:
        frames = [GrayscaleImage(name=f"f{i}", data=np.full((4, 4), i, np.uint8)) for i in range(2)]
        nwbfile.add_stimulus_template(
            Images(
                name="faces",
                images=frames,
                description="faces",
                order_of_images=ImageReferences(name="order_of_images", data=frames),
            )
        )
    nwbfile.add_trial_column(name="stimulus_index", description="image shown")
    for i, k in enumerate(index):
        nwbfile.add_trial(start_time=1.0 + i, stop_time=1.5 + i, stimulus_index=k)
    if units:
        for u in range(units):
            nwbfile.add_unit(spike_times=np.linspace(0.1, 5, 20 + u))
    else:
        nwbfile.units = Units(name="units", description="none")
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def test_not_hdf5(tmp_path):
    path = tmp_path / "notes.nwb"
    path.write_text("this is not HDF5\n")
    with pytest.raises(InputError) as err:
        Recording.open(path)
    _one_line(err.value, path, None, "not an HDF5 file")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        Recording.open(tmp_path / "nope.nwb")


def test_truncated(session_file):
    path, _ = session_file
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError) as err:
        Recording.open(path)
    _one_line(err.value, path, None, "truncated or damaged HDF5 file")


def test_no_stimuli(tmp_path):
    path = tmp_path / "noimages.nwb"
    _plain(path, images=False)
    with pytest.raises(InputError) as err:
        Recording.open(path)
    _one_line(err.value, path, "stimulus_template", "no stimuli")


def test_stimulus_index_out_of_range(tmp_path):
    path = tmp_path / "range.nwb"
    _plain(path, index=(0, 1, 7, 1))
    with pytest.raises(InputError) as err:
        Recording.open(path)
    _one_line(err.value, path, "intervals/trials/stimulus_index", "index 7 out of range for 2")


def test_empty_units(tmp_path):
    path = tmp_path / "empty.nwb"
    _plain(path, units=0)
    with pytest.raises(InputError) as err:
        Recording.open(path)
    _one_line(err.value, path, "units", "empty Units table")


def _replace_responses(path, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as fh:
        group = fh["processing/neurofacedis/responses"]
        attrs = dict(group["data"].attrs)
        del group["data"]
        group.create_dataset("data", data=data)
        group["data"].attrs.update(attrs)


def test_image_count_differs_from_response_rows(session_file):
    path, data = session_file
    _replace_responses(path, np.zeros((7, 4, 3), np.float32))
    with pytest.raises(InputError) as err:
        Recording.open(path)
    _one_line(err.value, path, "processing/neurofacedis/responses", "7 response rows but 6 images")


def test_non_finite_responses(session_file):
    path, data = session_file
    bad = data.responses.copy()
    bad[2, 1, 0] = np.inf
    _replace_responses(path, bad)
    with Recording.open(path) as rec, pytest.raises(InputError) as err:
        rec.responses  # noqa: B018
    _one_line(err.value, path, "responses/data", "non-finite")


@pytest.mark.parametrize(
    ("change", "obj", "problem"),
    [
        (lambda d: setattr(d, "images", d.images[:0]), "images", "no stimuli"),
        (lambda d: setattr(d, "responses", d.responses[:5]), "responses", "5 response rows"),
        (lambda d: d.responses.__setitem__((0, 0, 0), np.inf), "responses", "non-finite"),
        (
            lambda d: d.presentations.loc.__setitem__((0, "stimulus_index"), 9),
            "presentations",
            "out of range",
        ),
        (lambda d: setattr(d, "spike_times", []), "units", "empty Units"),
        (lambda d: setattr(d, "images", d.images.astype(float)), "images", "uint8"),
    ],
)
def test_write_session_rejects_and_writes_nothing(tmp_path, make_session, change, obj, problem):
    data = make_session()
    change(data)
    out = tmp_path / "out.nwb"
    with pytest.raises(InputError) as err:
        write_session(out, data)
    _one_line(err.value, out, obj, problem)
    assert list(tmp_path.iterdir()) == []


def test_cli_inspect_bad_file_exit_2_no_traceback(tmp_path, capsys):
    path = tmp_path / "bad.nwb"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(SystemExit) as exit_info:
        main(["inspect", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and str(path) in err


def test_cli_subprocess_exit_2_and_import_writes_nothing(tmp_path):
    faces = tmp_path / "faces.npy"
    np.save(faces, np.zeros((3, 4, 4), np.uint8))
    resp = tmp_path / "resp.npy"
    np.save(resp, np.array([[1.0, np.inf], [0, 1], [2, 2]]))
    out = tmp_path / "out.nwb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "neurofacedis",
            "import",
            "--images",
            str(faces),
            "--responses",
            str(resp),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "non-finite" in proc.stderr
    assert str(resp) in proc.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "faces.npy",
        "resp.npy",
    ]
    np.save(resp, np.ones((2, 2)))  # 2 rows for 3 images
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "neurofacedis",
            "import",
            "--images",
            str(faces),
            "--responses",
            str(resp),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "2 response rows but 3 images" in proc.stderr
    assert not out.exists()
