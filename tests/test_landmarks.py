from __future__ import annotations

import sys

import numpy as np
import pytest

from neurofacedis.errors import InputError
from neurofacedis.landmarks import N_LANDMARKS, detect_landmarks, predictor_path


def test_missing_extra_is_a_one_line_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError
    with pytest.raises(InputError, match=r"neurofacedis\[landmarks\]"):
        detect_landmarks(np.zeros((1, 8, 8), np.uint8))


@pytest.fixture(scope="module")
def astronaut():
    pytest.importorskip("dlib")
    from skimage import data

    return data.astronaut()


def test_astronaut_68_points_equal_dlib_and_sit_on_the_face(astronaut):
    import dlib

    found = detect_landmarks(astronaut[None])
    assert found.failed.size == 0 and found.n_faces[0] == 2  # the face and the flag patch
    pts = found.landmarks[0]
    assert pts.shape == (N_LANDMARKS, 2)
    # the same as calling dlib directly on the most confident face
    rects, scores, _ = dlib.get_frontal_face_detector().run(astronaut, 1, 0.0)
    best = rects[int(np.argmax(scores))]
    ref = dlib.shape_predictor(str(predictor_path()))(astronaut, best)
    np.testing.assert_array_equal(pts, [[p.x, p.y] for p in ref.parts()])
    assert found.scores[0] == pytest.approx(max(scores))
    # anatomy of the iBUG layout: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67
    left_eye, right_eye = pts[36:42].mean(0), pts[42:48].mean(0)
    nose_tip, mouth, chin = pts[30], pts[48:68].mean(0), pts[8]
    assert left_eye[0] < nose_tip[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose_tip[1] < mouth[1] < chin[1]
    assert (pts >= [150, 60]).all() and (pts <= [290, 200]).all()  # the face, top left


def test_small_images_are_enlarged_and_points_mapped_back(astronaut):
    from skimage.transform import resize

    full = detect_landmarks(astronaut[None]).landmarks[0]
    crop = astronaut[40:232, 130:322]  # 192 x 192 around the face
    small = (resize(crop, (64, 64), anti_aliasing=True) * 255).round().astype(np.uint8)
    found = detect_landmarks(small[None], min_size=192)
    expected = (full - [130, 40] + 0.5) * (64 / 192) - 0.5
    err = np.linalg.norm(found.landmarks[0] - expected, axis=1)
    assert np.median(err) < 1.0  # pixels of the 64 x 64 image


def test_failures_are_listed_never_dropped():
    pytest.importorskip("dlib")
    from skimage.data import lfw_subset

    faces = lfw_subset()[:100]  # 25 x 25 grey faces; [100:] are non-faces
    images = np.concatenate([faces, np.full((1, 25, 25), 0.5)])
    ticks = []
    found = detect_landmarks(images, progress=lambda *a, **k: ticks.append(a))
    assert found.landmarks.shape == (101, N_LANDMARKS, 2)
    assert len(ticks) == 102
    assert 100 in found.failed  # the blank image
    hit = found.n_faces > 0
    assert hit[:100].mean() >= 0.85
    assert np.isnan(found.landmarks[~hit]).all() and np.isfinite(found.landmarks[hit]).all()
    centre = found.landmarks[hit].mean(axis=1)
    assert np.all((centre > 5) & (centre < 20))  # faces fill these crops
    ids = [f"lfw{i}" for i in range(101)]
    msg = found.failure_message(ids, limit=200)
    assert msg.startswith(f"no face found in {found.failed.size} of 101 images: ")
    assert "lfw100" in msg and "more" not in msg
    assert "\n" not in msg


def test_import_helper_names_failures(astronaut):
    from neurofacedis.landmarks import landmarks_for_import

    blank = np.full((1, *astronaut.shape), 128, np.uint8)
    lm = landmarks_for_import(astronaut[None], ["astronaut"])
    assert lm.shape == (1, 68, 2) and np.isfinite(lm).all()
    with pytest.raises(InputError, match=r"no face found in 1 of 2 images: grey;.*`landmarks`"):
        landmarks_for_import(np.concatenate([astronaut[None], blank]), ["astronaut", "grey"])


def test_cli_import_detect_landmarks(tmp_path, astronaut, capsys):
    from neurofacedis.cli import main
    from neurofacedis.nwb import Recording

    faces = np.stack([astronaut, astronaut[:, ::-1]])  # the photo and its mirror image
    np.save(tmp_path / "faces.npy", faces)
    np.save(tmp_path / "r.npy", np.random.default_rng(0).poisson(5, (2, 3, 2)).astype(float))
    out = tmp_path / "det.nwb"
    args = ["import", "--images", str(tmp_path / "faces.npy"), "--responses",
            str(tmp_path / "r.npy"), "--out", str(out), "--detect-landmarks"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0, capsys.readouterr().err
    expected = detect_landmarks(faces).landmarks
    with Recording.open(out) as rec:
        np.testing.assert_allclose(rec.landmarks, expected)
    assert np.isfinite(expected).all()

    faces[1] = 128  # no face in the second image: the import names it and writes nothing
    np.save(tmp_path / "faces.npy", faces)
    with pytest.raises(SystemExit) as exit_info:
        main([*args[:-2], str(tmp_path / "bad.nwb"), "--detect-landmarks"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--detect-landmarks: no face found in 1 of 2 images: stim0001;" in err
    assert not (tmp_path / "bad.nwb").exists()
