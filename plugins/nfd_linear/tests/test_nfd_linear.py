from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from nfd_linear import ICAModel, PCAModel, PixelsModel, neurofacedis_register_models

from neurofacedis.errors import InputError
from neurofacedis.testing import check_model, make_mock_recording, make_registry

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def rec():
    return make_mock_recording(n_stimuli=30, size=16, seed=3)


def _rows(images):
    return images.reshape(len(images), -1).astype(np.float64)


@pytest.mark.parametrize("whiten", [False, True])
def test_pca_equals_sklearn(rec, whiten):
    from sklearn.decomposition import PCA

    train = rec.images[rec.train]
    model = PCAModel(n_components=5, whiten=whiten)
    model.fit(train, None, seed=0, progress=lambda *a, **k: None)
    ref = PCA(n_components=5, whiten=whiten, random_state=0).fit(_rows(train))
    z = model.encode(rec.images)
    np.testing.assert_allclose(z, ref.transform(_rows(rec.images)), rtol=0, atol=1e-10)
    assert model.unit_names == ["pc0", "pc1", "pc2", "pc3", "pc4"]
    np.testing.assert_allclose(
        model.history["explained_variance_ratio"], ref.explained_variance_ratio_
    )
    back = model.decode(z)
    expect = np.clip(ref.inverse_transform(z), 0, 1).reshape(rec.images.shape)
    assert back.dtype == np.float32 and back.shape == rec.images.shape
    np.testing.assert_allclose(back, expect, atol=1e-6)


def test_pca_recovers_low_rank_structure():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(64, 2)))[0].T  # 2 orthonormal pixel patterns
    codes = rng.normal(size=(40, 2)) * [3.0, 1.0]
    images = (0.5 + 0.05 * codes @ basis + rng.normal(0, 1e-4, (40, 64))).reshape(40, 8, 8)
    model = PCAModel(n_components=2)
    model.fit(images, None, seed=0, progress=lambda *a, **k: None)
    assert model.history["explained_variance_ratio"].sum() > 0.999
    # the components span the true basis: projection of basis on components is a rotation
    overlap = basis @ model._arrays["components"].T
    np.testing.assert_allclose(np.abs(np.linalg.det(overlap)), 1.0, atol=1e-4)


def test_ica_equals_sklearn(rec):
    from sklearn.decomposition import FastICA

    train = rec.images[rec.train]
    model = ICAModel(n_components=4)
    model.fit(train, None, seed=7, progress=lambda *a, **k: None)
    ref = FastICA(
        n_components=4, whiten="unit-variance", max_iter=1000, random_state=7
    ).fit(_rows(train))
    z = model.encode(rec.images)
    np.testing.assert_allclose(z, ref.transform(_rows(rec.images)), rtol=0, atol=1e-10)
    assert model.unit_names == ["ic0", "ic1", "ic2", "ic3"]
    expect = np.clip(ref.inverse_transform(z), 0, 1).reshape(rec.images.shape)
    np.testing.assert_allclose(model.decode(z), expect, atol=1e-6)
    assert model.provenance_extra["n_iter"] == ref.n_iter_


def test_ica_recovers_independent_sources():
    # two non-Gaussian (uniform) sources mixed into 16 pixels: ICA unmixes them up to
    # order and sign (|correlation| ~ 1 on the matched pairs)
    rng = np.random.default_rng(1)
    sources = rng.uniform(-1, 1, size=(400, 2))
    mixing = rng.normal(size=(2, 16))
    images = (0.5 + 0.1 * sources @ mixing).reshape(400, 4, 4)
    model = ICAModel(n_components=2)
    model.fit(images, None, seed=0, progress=lambda *a, **k: None)
    z = model.encode(images)
    corr = np.abs(np.corrcoef(z.T, sources.T)[:2, 2:])
    assert sorted(corr.max(axis=1)) == pytest.approx([1, 1], abs=1e-3)


def test_ica_with_a_constant_first_pixel_equals_sklearn_with_that_pixel_moved():
    # a plain black background: the first pixel never changes. sklearn's whitening fixes signs
    # by it (u *= sign(u[0]) = 0), so FastICA on the pixels as they are gives NaN components;
    # the model moves the most variable pixel first, which is sklearn's fit up to that order.
    from sklearn.decomposition import FastICA

    rng = np.random.default_rng(2)
    sources = rng.uniform(-1, 1, size=(400, 3))
    images = np.zeros((400, 16, 16))
    inner = 0.5 + 0.05 * sources @ rng.normal(size=(3, 196))
    images[:, 1:-1, 1:-1] = inner.reshape(400, 14, 14)
    rows = _rows(images)
    with np.errstate(all="ignore"):
        try:  # scipy's pinv refuses the NaN components, or they come back
            components = FastICA(n_components=3, whiten="unit-variance",
                                 random_state=0).fit(rows).components_
        except ValueError:
            components = np.full(1, np.nan)
    assert not np.isfinite(components).all()
    model = ICAModel(n_components=3)
    model.fit(images, None, seed=0, progress=lambda *a, **k: None)
    j = int(np.argmax(rows.var(axis=0)))
    order = np.arange(256)
    order[[0, j]] = order[[j, 0]]
    ref = FastICA(n_components=3, whiten="unit-variance", max_iter=1000,
                  random_state=0).fit(rows[:, order])
    z = model.encode(images)
    np.testing.assert_allclose(z, ref.transform(rows[:, order]), rtol=0, atol=1e-10)
    back = model.decode(z)
    np.testing.assert_allclose(back[:, 0, 0], 0.0)
    np.testing.assert_allclose(back.reshape(400, -1)[:, order],
                               np.clip(ref.inverse_transform(z), 0, 1), atol=1e-6)
    corr = np.abs(np.corrcoef(z.T, sources.T)[:3, 3:])
    assert corr.max(axis=1).min() > 0.99


def test_ica_seed_changes_fit_and_same_seed_repeats(rec):
    train = rec.images[rec.train]
    fits = []
    for seed in (0, 0, 1):
        m = ICAModel(n_components=4, max_iter=50)
        m.fit(train, None, seed=seed, progress=lambda *a, **k: None)
        fits.append(m.encode(rec.images))
    np.testing.assert_array_equal(fits[0], fits[1])
    assert not np.allclose(fits[0], fits[2])


def test_pixels_equal_skimage_resize(rec):
    from skimage.transform import resize

    model = PixelsModel(size=4)
    model.fit(rec.images[rec.train], None, seed=0, progress=lambda *a, **k: None)
    z = model.encode(rec.images)
    expect = np.stack(
        [resize(im.astype(np.float64), (4, 4), order=1, anti_aliasing=True) for im in rec.images]
    ).reshape(len(rec.images), -1)
    np.testing.assert_allclose(z, expect, atol=1e-12)
    assert model.unit_names[:5] == ["px0_0", "px0_1", "px0_2", "px0_3", "px1_0"]


def test_pixels_rgb_names_and_inactive_constant_pixels():
    rec = make_mock_recording(n_stimuli=12, size=8, rgb=True, seed=0)
    images = rec.images.copy()
    images[:, 0, 0, :] = 0.25  # a pixel constant over stimuli is an inactive unit
    model = PixelsModel(size=8)  # no downsampling: units are the pixels themselves
    model.fit(images, None, seed=0, progress=lambda *a, **k: None)
    assert model.unit_names[:4] == ["px0_0_r", "px0_0_g", "px0_0_b", "px0_1_r"]
    np.testing.assert_allclose(model.encode(images), images.reshape(12, -1), atol=1e-7)
    active = model.active_units()
    assert active.shape == (8 * 8 * 3,) and not active[:3].any() and active[3:].all()
    assert model.decode(model.encode(images)).shape == images.shape


@pytest.mark.parametrize(
    "factory,params",
    [(PCAModel, {"n_components": 3, "whiten": True}), (ICAModel, {"n_components": 3}),
     (PixelsModel, {"size": 4})],
)
def test_save_load_round_trip(rec, tmp_path, factory, params):
    model = factory(**params)
    model.fit(rec.images[rec.train], None, seed=2, progress=lambda *a, **k: None)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "state.safetensors"]
    fresh = factory(**params)
    fresh.load(tmp_path)
    np.testing.assert_array_equal(fresh.encode(rec.images), model.encode(rec.images))
    assert fresh.unit_names == model.unit_names


def test_load_with_other_params_is_refused(rec, tmp_path):
    model = PCAModel(n_components=3)
    model.fit(rec.images[rec.train], None, seed=0, progress=lambda *a, **k: None)
    model.save(tmp_path)
    with pytest.raises(InputError, match="n_components"):
        PCAModel(n_components=4).load(tmp_path)


def test_bad_inputs_are_input_errors(rec):
    with pytest.raises(InputError, match="n_components=50"):
        PCAModel(n_components=50).fit(rec.images[:10], None, seed=0, progress=print)
    model = PixelsModel(size=4)
    model.fit(rec.images, None, seed=0, progress=lambda *a, **k: None)
    with pytest.raises(InputError, match="shape"):
        model.encode(rec.images[:, :8, :8])
    with pytest.raises(InputError, match="size=99"):
        PixelsModel(size=99).fit(rec.images, None, seed=0, progress=print)


@pytest.mark.parametrize("name", ["pca", "ica", "pixels"])
def test_conformance_kit(name):
    registry = make_registry(__import__("nfd_linear"))
    entry = registry.model(name)
    assert entry.spec.citation
    z = check_model(entry.spec)
    assert z.shape[0] == 24


def test_registered_names_and_defaults():
    specs = {s.name: s for s in neurofacedis_register_models()}
    assert set(specs) == {"pca", "ica", "pixels"}
    assert specs["pca"].defaults() == {"n_components": 10, "whiten": False}
    assert specs["ica"].defaults()["n_components"] == 10
    assert specs["pixels"].defaults() == {"size": 16}


def test_import_is_light():
    code = "import sys, nfd_linear; print('sklearn' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
