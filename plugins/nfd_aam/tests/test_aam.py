from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurofacedis.errors import InputError
from nfd_aam import neurofacedis_register_models
from nfd_aam._geometry import (
    MeanShapeFrame,
    align_to,
    generalized_procrustes,
    pose_to_image,
)
from nfd_aam._model import ActiveAppearanceModel

#: The simulator's factors that change landmark positions.
GEOMETRIC = [
    "face_width",
    "face_height",
    "eye_size",
    "eye_spacing",
    "brow_height",
    "nose_length",
    "mouth_width",
    "mouth_curvature",
    "pose",
]


def _noop(*args, **kwargs):
    return None


def _faces(n_identities: int, n_views: int, *, size: int = 64, rgb: bool = False, seed: int = 0):
    from neurofacedis.simulate import render_faces, sample_factors

    factors, identity = sample_factors(n_identities, n_views, seed=seed)
    images, landmarks = render_faces(factors, size=size, rgb=rgb)
    return images.astype(np.float32) / 255.0, landmarks, factors, identity


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


# -- registration -----------------------------------------------------------------------------
def test_registers_aam_with_citation_and_landmark_requirement():
    (spec,) = neurofacedis_register_models()
    assert spec.name == "aam"
    assert spec.requires == frozenset({"landmarks"})
    assert "Cootes" in spec.citation and "Tsao" in spec.citation
    assert spec.defaults() == {"n_shape": 25, "n_appearance": 25, "pose": False}
    model = spec.factory(**spec.defaults())
    assert isinstance(model, ActiveAppearanceModel)


# -- geometry: known answers ------------------------------------------------------------------
def _similar(base: np.ndarray, rng: np.random.Generator, n: int):
    angle = rng.uniform(-0.6, 0.6, n)
    scale = rng.uniform(5, 20, n)
    shift = rng.uniform(-30, 30, (n, 2))
    pose = np.column_stack([shift, scale, angle])
    centred = base - base.mean(0)
    centred /= np.sqrt((centred**2).sum())
    return pose_to_image(np.broadcast_to(centred, (n, *base.shape)), pose), pose, centred


def test_procrustes_removes_similarity_transforms_exactly():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(12, 2))
    shapes, pose, centred = _similar(base, rng, 30)
    aligned, mean, found = generalized_procrustes(shapes)
    # every copy aligns onto the same shape, which is the base up to one rotation
    np.testing.assert_allclose(aligned, np.broadcast_to(mean, aligned.shape), atol=1e-10)
    rot = np.linalg.lstsq(centred, mean, rcond=None)[0]
    np.testing.assert_allclose(centred @ rot, mean, atol=1e-10)
    np.testing.assert_allclose(rot @ rot.T, np.eye(2), atol=1e-10)
    # centroids and scales are recovered; pose_to_image inverts the alignment
    np.testing.assert_allclose(found[:, :3], pose[:, :3], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(pose_to_image(aligned, found), shapes, atol=1e-9)
    # and a new shape aligned to the fixed mean gives the same answer
    again, _ = align_to(shapes[:3], mean)
    np.testing.assert_allclose(again, aligned[:3], atol=1e-10)


def test_procrustes_mean_recovers_noisy_template_and_never_reflects():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(20, 2))
    shapes, _, centred = _similar(base, rng, 400)
    noisy = shapes + rng.normal(scale=0.02, size=shapes.shape) * shapes.std()
    aligned, mean, _ = generalized_procrustes(noisy)
    # mean equals the template up to a proper rotation (scipy's disparity ~ 0)
    from scipy.spatial import procrustes

    _, _, disparity = procrustes(centred, mean)
    assert disparity < 1e-3
    rot = np.linalg.lstsq(centred, mean, rcond=None)[0]
    assert np.linalg.det(rot) > 0
    # a mirrored face is not aligned onto the original
    mirrored = shapes[:1] * np.array([-1.0, 1.0])
    back, _ = align_to(mirrored, mean)
    assert np.abs(back[0] - mean).max() > 0.05


def test_vectorised_warp_equals_scikit_image_piecewise_affine():
    from skimage.transform import PiecewiseAffineTransform, warp

    images, landmarks, _, _ = _faces(2, 1, size=48)
    aligned, mean, pose = generalized_procrustes(landmarks)
    reference = mean * pose[:, 2].mean() + pose[:, :2].mean(0)
    frame = MeanShapeFrame.build(reference, (48, 48))
    mine = frame.to_mean_frame(images[..., None], landmarks)[..., 0]
    for i in range(len(images)):
        tform = PiecewiseAffineTransform.from_estimate(reference, landmarks[i])
        src = tform(frame.pixels.astype(float))
        valid = (src >= 0).all(axis=1)
        assert valid.mean() > 0.98
        theirs = warp(images[i], tform, order=1, mode="edge", preserve_range=True)
        expected = theirs[frame.pixels[:, 1], frame.pixels[:, 0]]
        np.testing.assert_allclose(mine[i][valid], expected[valid], atol=1e-5)


def test_inverse_warp_of_an_affine_shape_equals_the_affine_warp():
    from skimage.transform import AffineTransform, warp

    rng = np.random.default_rng(3)
    reference = np.array([[10, 12], [38, 10], [40, 36], [12, 40], [25, 24], [24, 8]], float)
    frame = MeanShapeFrame.build(reference, (48, 48))
    texture = rng.uniform(size=(1, len(frame.pixels), 1)).astype(np.float32)
    affine = AffineTransform(scale=(0.9, 1.05), rotation=0.1, translation=(3, -2))
    target = affine(reference)
    out = frame.from_mean_frame(texture, target[None], np.zeros((48, 48, 1), np.float32))[0, ..., 0]
    expected = warp(frame.texture_image(texture)[0, ..., 0], affine.inverse, order=1, mode="edge")
    inside = out > 0
    # every output pixel inside the warped mesh is one affine map of the texture away
    np.testing.assert_allclose(out[inside], expected[inside], atol=1e-5)
    assert inside.sum() > 0.9 * len(frame.pixels) * abs(np.linalg.det(affine.params[:2, :2]))


# -- the model on the virtual face patch ------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    images, landmarks, factors, identity = _faces(100, 8, seed=4)
    train = identity < 80  # test on identities the model never saw
    model = ActiveAppearanceModel()
    calls = []
    model.fit(
        images[train],
        None,
        seed=0,
        progress=lambda *a, **k: calls.append((a, k)),
        landmarks=landmarks[train],
    )
    return model, images, landmarks, factors, train, calls


def test_reconstructs_held_out_faces_and_shape_explains_geometry(fitted):
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import cross_val_score

    model, images, landmarks, factors, train, calls = fitted
    assert calls and calls[0][1].get("total") == 3
    z = model.encode(images, landmarks=landmarks)
    assert z.shape == (len(images), 50) and np.isfinite(z).all()
    assert model.unit_names[0] == "shape_00" and model.unit_names[25] == "appearance_00"
    test = ~train
    rec = model.decode(z[test])
    assert rec.shape == images[test].shape
    cos = _cosine(images[test], rec)
    assert cos.mean() >= 0.95, cos.mean()
    r2 = [
        cross_val_score(LinearRegression(), z[:, :25], factors[name], cv=5, scoring="r2").mean()
        for name in GEOMETRIC
    ]
    assert np.mean(r2) >= 0.9, dict(zip(GEOMETRIC, r2, strict=True))
    # brightness is appearance, not shape: the split of the latents means something
    bright = cross_val_score(
        LinearRegression(), z[:, 25:], factors["skin_brightness"], cv=5, scoring="r2"
    ).mean()
    shape_only = cross_val_score(
        LinearRegression(), z[:, :25], factors["skin_brightness"], cv=5, scoring="r2"
    ).mean()
    assert bright > 0.9 and shape_only < 0.3
    ratio = model.history["shape_explained_variance_ratio"]
    assert ratio.shape == (25,) and np.all(np.diff(ratio) <= 1e-12)


def test_save_load_roundtrip_and_same_seed_same_latents(fitted, tmp_path):
    model, images, landmarks, _, train, _ = fitted
    z = model.encode(images[:20], landmarks=landmarks[:20])
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aam.json", "aam.safetensors"]
    other = ActiveAppearanceModel(n_shape=3)
    other.load(tmp_path)
    assert other.unit_names == model.unit_names
    np.testing.assert_array_equal(other.encode(images[:20], landmarks=landmarks[:20]), z)
    np.testing.assert_array_equal(other.decode(z[:3]), model.decode(z[:3]))
    again = ActiveAppearanceModel()
    again.fit(images[train], None, seed=0, progress=_noop, landmarks=landmarks[train])
    np.testing.assert_allclose(again.encode(images[:20], landmarks=landmarks[:20]), z, atol=1e-9)


def test_rgb_pose_units_and_caps():
    images, landmarks, factors, _ = _faces(6, 2, size=32, rgb=True, seed=5)
    model = ActiveAppearanceModel(n_shape=25, n_appearance=25, pose=True)
    model.fit(images, None, seed=0, progress=_noop, landmarks=landmarks)
    # 12 faces cap both PCAs at 11 components; 4 pose units follow
    assert len(model.unit_names) == 11 + 11 + 4
    assert model.unit_names[-4:] == ["pose_x", "pose_y", "pose_log_scale", "pose_angle"]
    z = model.encode(images, landmarks=landmarks)
    rec = model.decode(z)
    assert rec.shape == images.shape
    # training faces are reproduced (all components kept) up to interpolation error
    assert _cosine(images, rec).mean() > 0.97
    shifted = landmarks + np.array([2.0, -1.0])
    dz = model.encode(images, landmarks=shifted) - z
    np.testing.assert_allclose(dz[:, -4:-2], np.broadcast_to([2.0, -1.0], (12, 2)), atol=1e-9)
    np.testing.assert_allclose(dz[:, :11], 0, atol=1e-9)


def test_missing_landmarks_say_how_to_get_them():
    images, landmarks, _, _ = _faces(2, 2, size=32)
    model = ActiveAppearanceModel()
    with pytest.raises(InputError) as err:
        model.fit(images, None, seed=0, progress=_noop, landmarks=None)
    text = str(err.value)
    assert "--landmarks" in text and "--detect-landmarks" in text and "\n" not in text
    lm = landmarks.copy()
    lm[1] = np.nan
    labels = pd.DataFrame({"stimulus_id": ["a", "b", "c", "d"]})
    with pytest.raises(InputError, match=r"1 stimuli: b"):
        model.fit(images, labels, seed=0, progress=_noop, landmarks=lm)
    with pytest.raises(InputError, match="not fitted"):
        model.encode(images, landmarks=landmarks)
    model.fit(images, labels, seed=0, progress=_noop, landmarks=landmarks)
    with pytest.raises(InputError, match="--detect-landmarks"):
        model.encode(images)
    with pytest.raises(InputError, match="points"):
        model.encode(images, landmarks=landmarks[:, :5])


def test_passes_the_conformance_kit():
    import nfd_aam
    from neurofacedis.testing import check_model, make_registry

    registry = make_registry(nfd_aam)
    z = check_model(registry.model("aam").spec, plugin="nfd_aam")
    assert z.shape[0] == 24 and np.isfinite(z).all()
