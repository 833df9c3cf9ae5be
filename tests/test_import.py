"""`neurofacedis import` on real face photographs (LFW crops bundled with scikit-image) with
simulated responses, from every supported format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io
from skimage import io as skio
from skimage.data import lfw_subset
from skimage.util import img_as_ubyte

from neurofacedis.cli import main
from neurofacedis.errors import InputError
from neurofacedis.importers import import_recording, read_images, read_responses
from neurofacedis.inspection import serious_findings
from neurofacedis.nwb import Recording, SessionMetadata


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return img_as_ubyte(lfw_subset())  # (200, 25, 25): 100 faces then 100 non-faces


def _simulated_responses(images: np.ndarray, n_units: int = 12, n_repeats: int = 3) -> np.ndarray:
    """Poisson counts of linear-nonlinear neurons driven by the pixels (seeded)."""
    rng = np.random.default_rng(42)
    pixels = images.reshape(len(images), -1).astype(np.float64) / 255.0
    pixels -= pixels.mean(0)
    weights = rng.normal(scale=0.05, size=(pixels.shape[1], n_units))
    rate = np.exp(1.5 + pixels @ weights)
    counts = rng.poisson(rate[:, :, None], size=(*rate.shape, n_repeats)).astype(np.float32)
    counts[::17, :, -1] = np.nan  # a missing repeat now and then
    return counts


def test_import_png_folder_with_labels_and_landmarks(tmp_path, faces):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, img in enumerate(faces):
        skio.imsave(folder / f"lfw_{i:03d}.png", img, check_contrast=False)
    (folder / "README.txt").write_text("not an image")
    responses = _simulated_responses(faces)
    np.save(tmp_path / "r.npy", responses)
    landmarks = np.random.default_rng(0).uniform(0, 25, (200, 5, 2)).astype(np.float32)
    np.save(tmp_path / "lm.npy", landmarks)
    ids = [f"lfw_{i:03d}" for i in range(200)]
    labels = pd.DataFrame(
        {
            "stimulus_id": ids,
            "identity": [f"p{i % 7}" for i in range(200)],
            "is_face": [i < 100 for i in range(200)],
        }
    ).sample(frac=1.0, random_state=1)  # rows in another order, matched by stimulus_id
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "lfw.nwb"
    with pytest.warns(
        UserWarning, match="left at defaults: session_start_time, subject_id, species"
    ):
        import_recording(
            folder,
            tmp_path / "r.npy",
            out,
            landmarks=tmp_path / "lm.npy",
            labels=tmp_path / "labels.csv",
        )
    with Recording.open(out) as rec:
        assert rec.stimulus_ids == ids
        np.testing.assert_array_equal(rec.images[:], faces)
        np.testing.assert_array_equal(rec.responses.values, responses)
        np.testing.assert_array_equal(rec.landmarks, landmarks)
        assert rec.stimuli["identity"].tolist() == [f"p{i % 7}" for i in range(200)]
        assert rec.stimuli["is_face"].tolist() == [i < 100 for i in range(200)]
        assert rec.n_repeats == 3 and rec.identifier == "lfw"
    assert not serious_findings(out)


def test_import_npy_stack_with_csv_and_mat_responses(tmp_path, faces):
    stack = tmp_path / "faces.npy"
    np.save(stack, lfw_subset())  # float in [0, 1] is converted to uint8
    imgs, ids = read_images(stack)
    np.testing.assert_array_equal(imgs, faces)
    assert ids[:2] == ["stim0000", "stim0001"]
    mean = np.nanmean(_simulated_responses(faces), axis=2)
    csv = tmp_path / "r.csv"
    frame = pd.DataFrame(mean, columns=[f"n{j}" for j in range(12)], index=ids)
    frame.to_csv(csv)  # header row and a row-name column, as spreadsheets have
    np.testing.assert_allclose(read_responses(csv)[:, :, 0], mean, rtol=1e-6)
    mat = tmp_path / "r.mat"
    scipy.io.savemat(mat, {"resp": mean, "other": np.arange(3.0)})
    with pytest.raises(InputError, match="choose one with `mat_var`"):
        read_responses(mat)
    np.testing.assert_allclose(read_responses(mat, mat_var="resp")[:, :, 0], mean, rtol=1e-6)
    out = tmp_path / "mat.nwb"
    meta = SessionMetadata(
        identifier="mat-import",
        subject_id="M2",
        species="Macaca mulatta",
        sex="F",
        age="P7Y",
        lab="L",
        institution="I",
        experimenter=["Doe, J"],
        brain_region="ML",
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only session_start_time is missing
        with pytest.raises(UserWarning, match="left at defaults: session_start_time$"):
            import_recording(stack, mat, out, metadata=meta, mat_var="resp")
    assert not out.exists()  # the warning was raised as an error before writing
    with pytest.warns(UserWarning, match="session_start_time"):
        import_recording(stack, mat, out, metadata=meta, mat_var="resp")
    with Recording.open(out) as rec:
        np.testing.assert_allclose(rec.responses.values[:, :, 0], mean, rtol=1e-6)
        assert rec.metadata.brain_region == "ML" and rec.metadata.subject_id == "M2"


def test_cli_import(tmp_path, faces, capsys):
    stack = tmp_path / "faces.npy"
    np.save(stack, faces[:40])
    responses = _simulated_responses(faces[:40], n_units=5, n_repeats=2)
    np.save(tmp_path / "r.npy", responses)
    out = tmp_path / "cli.nwb"
    args = [
        "import",
        "--images",
        str(stack),
        "--responses",
        str(tmp_path / "r.npy"),
        "--out",
        str(out),
        "--subject-id",
        "M3",
        "--species",
        "Macaca mulatta",
        "--age",
        "P8Y",
        "--sex",
        "M",
        "--brain-region",
        "AM",
        "--identifier",
        "cli-test",
        "--session-start-time",
        "2024-02-03T10:00:00+00:00",
        "--window",
        "0.06",
        "0.3",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out
    assert "left at defaults: lab, institution, experimenter" in captured.err
    with Recording.open(out) as rec:
        assert rec.identifier == "cli-test" and rec.window == (0.06, 0.3)
        assert str(rec.session_start_time.date()) == "2024-02-03"
        np.testing.assert_array_equal(rec.responses.values, responses)
    with pytest.raises(SystemExit) as exit_info:
        main(args)  # exists: refuses without --overwrite
    assert exit_info.value.code == 2


def _save_faces(folder, faces, names) -> None:
    folder.mkdir()
    for name, img in zip(names, faces, strict=True):
        skio.imsave(folder / name, img, check_contrast=False)


def test_unpadded_numbers_pair_rows_with_the_right_faces(tmp_path, faces, capsys):
    """1.png, 2.png ... 12.png: row k of the responses belongs to face k+1, not to '10.png'."""
    names = [f"{i}.png" for i in range(1, 13)]  # written in numeric order: face i-1 is i.png
    _save_faces(tmp_path / "images", faces[:12], names)
    responses = np.arange(1, 13, dtype=np.float32)[:, None, None] * np.ones((1, 3, 2), np.float32)
    np.save(tmp_path / "r.npy", responses)  # response row k = the number in the file name
    out = tmp_path / "unpadded.nwb"
    args = ["import", "--images", str(tmp_path / "images"), "--responses",
            str(tmp_path / "r.npy"), "--out", str(out)]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    err = capsys.readouterr().err
    assert "12 images in natural name order (numbers as numbers): 1.png, 2.png, 3.png" in err
    assert "10.png, 11.png, 12.png" in err
    with Recording.open(out) as rec:
        assert rec.stimulus_ids == [str(i) for i in range(1, 13)]
        for k in range(12):
            np.testing.assert_array_equal(rec.images[k], faces[k])  # face k is (k+1).png
            assert rec.responses.values[k, 0, 0] == k + 1


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["1.png", "01.png", "2.png"], "'01.png' and '1.png' both number 1"),
        (["face1.png", "Face1.jpg"], "'Face1.jpg' and 'face1.png' both number 1"),
        (["01.png", "02.png", "3.png"], "'01.png' is zero-padded to 2 digits but '3.png' is not"),
        (["01.png", "002.png"], "padded to 3 digits but '01.png' to 2"),
        (["face1.png", "face2.png", "img3.png", "face4.png"],
         "mix prefixes in one numbering: 'img3.png' would come after 'face4.png'"),
    ],
)
def test_ambiguous_image_names_are_refused_in_one_line(tmp_path, faces, names, message):
    _save_faces(tmp_path / "images", faces[: len(names)], names)
    with pytest.raises(InputError, match="ambiguous image order") as info:
        read_images(tmp_path / "images")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_natural_order_groups_prefixes_and_keeps_padded_names(tmp_path, faces):
    """Each prefix numbered on its own (face1 and house1) is grouped by prefix, then number."""
    names = ["house2.png", "face10.png", "house1.png", "face9.png", "face1.png", "lfw_099.png",
             "lfw_100.png"]
    _save_faces(tmp_path / "images", faces[:7], names)
    _, ids = read_images(tmp_path / "images")
    assert ids == ["face1", "face9", "face10", "house1", "house2", "lfw_099", "lfw_100"]


def _stub_detector(monkeypatch) -> None:
    """dlib stand-in: a face wherever the image is not flat; 68 points at (index, index)."""
    import neurofacedis.landmarks as lmk

    def detect(images, **kwargs):
        n = len(images)
        n_faces = np.array([int(np.asarray(im).std() > 0) for im in images])
        points = np.repeat(np.arange(n, dtype=float)[:, None, None], 68, axis=1)
        points = np.repeat(points, 2, axis=2)
        points[n_faces == 0] = np.nan
        return lmk.LandmarkDetection(points, np.where(n_faces > 0, 1.0, np.nan), n_faces)

    monkeypatch.setattr(lmk, "detect_landmarks", detect)


def test_skip_undetected_drops_faces_with_their_rows_and_lists_them(tmp_path, faces, capsys,
                                                                    monkeypatch):
    _stub_detector(monkeypatch)
    images = faces[:5].copy()
    images[[1, 3]] = 128  # 2.png and 4.png: no face to find
    _save_faces(tmp_path / "images", images, [f"{i}.png" for i in range(1, 6)])
    np.save(tmp_path / "r.npy", np.arange(1, 6, dtype=np.float32)[:, None, None] * np.ones(
        (1, 2, 2), np.float32))
    pd.DataFrame({"identity": ["a", "b", "c", "d", "e"]}).to_csv(tmp_path / "l.csv", index=False)
    args = ["import", "--images", str(tmp_path / "images"), "--responses",
            str(tmp_path / "r.npy"), "--labels", str(tmp_path / "l.csv"), "--detect-landmarks"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "all.nwb")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: --detect-landmarks: no face found in 2 of 5 images: 2, 4;")
    assert "--skip-undetected" in err and not (tmp_path / "all.nwb").exists()

    out = tmp_path / "found.nwb"
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(out), "--skip-undetected"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert ("left out 2 of 5 images where no face was found (--skip-undetected), with their "
            "response rows: 2, 4") in captured.err
    with Recording.open(out) as rec:
        assert rec.stimulus_ids == ["1", "3", "5"]
        np.testing.assert_array_equal(rec.images[:], faces[[0, 2, 4]])
        assert rec.responses.values[:, 0, 0].tolist() == [1.0, 3.0, 5.0]
        assert rec.stimuli["identity"].tolist() == ["a", "c", "e"]
        np.testing.assert_array_equal(rec.landmarks[:, 0, 0], [0.0, 2.0, 4.0])
        assert rec.metadata.session_description.endswith(
            "left out at import, no face found (--skip-undetected): 2, 4")

    with pytest.raises(SystemExit) as exit_info:
        main([*args[:-1], "--out", str(tmp_path / "x.nwb"), "--skip-undetected"])
    assert exit_info.value.code == 2
    assert "--skip-undetected: needs --detect-landmarks" in capsys.readouterr().err
