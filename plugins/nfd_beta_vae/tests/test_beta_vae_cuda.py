"""The torch models on CUDA: skipped without a GPU (the suite needs none).

On a GPU machine: ``.venv/bin/python -m pytest plugins/nfd_beta_vae/tests/test_beta_vae_cuda.py``.
A fit on CUDA is not bit-reproducible (cuDNN), so CUDA results are compared with tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurofacedis.errors import InputError

torch = pytest.importorskip("torch")
HAS_CUDA = torch.cuda.is_available()
cuda = pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")


def _noop(*args, **kwargs):
    return None


def _beta_vae(**params):
    from nfd_beta_vae import neurofacedis_register_models

    spec = {s.name: s for s in neurofacedis_register_models()}["beta_vae"]
    return spec.factory(**{**spec.defaults(), "size": 32, "batch": 16, "threads": 1,
                           **params})


def _faces(n: int = 64) -> np.ndarray:
    from neurofacedis.simulate import render_faces, sample_factors

    factors, _ = sample_factors(n, 1, seed=0, framing=True)
    return (render_faces(factors, size=32)[0] / 255).astype(np.float32)


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error():
    from nfd_classifier import neurofacedis_register_models as classifier_specs

    with pytest.raises(InputError, match="CUDA is not available"):
        _beta_vae(device="cuda", steps=2).fit(_faces(8), None, seed=0, progress=_noop)
    (spec,) = classifier_specs()
    model = spec.factory(**{**spec.defaults(), "device": "cuda", "steps": 2})
    with pytest.raises(InputError, match="CUDA is not available"):
        model.fit(_faces(8), None, seed=0, progress=_noop)


@cuda
def test_beta_vae_trains_on_cuda_and_its_save_loads_on_the_cpu(tmp_path):
    images = _faces()
    model = _beta_vae(device="cuda", steps=300, lr=1e-3, loss="gaussian", sigma=0.05)
    model.fit(images, None, seed=0, progress=_noop)
    assert next(model._net.parameters()).device.type == "cuda"
    loss = model.history["loss"]
    assert loss.shape == (300,) and loss[-20:].mean() < 0.5 * loss[:20].mean()
    z = model.encode(images)
    assert z.shape == (64, 10) and np.isfinite(z).all() and model.active_units().sum() >= 1
    assert model.decode(z[:4]).shape == (4, 32, 32)
    model.save(tmp_path)
    cpu = _beta_vae(device="cpu")
    cpu.load(tmp_path)
    np.testing.assert_allclose(cpu.encode(images), z, atol=1e-4)


@cuda
def test_interrupted_cuda_fit_resumes(tmp_path):
    images = _faces()
    whole = _beta_vae(device="cuda", steps=12)
    whole.fit(images, None, seed=2, progress=_noop)

    def stop_at_5(advance=1, total=None, description=None, seen=[0]):  # noqa: B006
        seen[0] += advance
        if seen[0] >= 5:
            raise KeyboardInterrupt

    first = _beta_vae(device="cuda", steps=12, checkpoint_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        first.fit(images, None, seed=2, progress=stop_at_5)
    resumed = _beta_vae(device="cuda", steps=12, checkpoint_dir=str(tmp_path))
    resumed.fit(images, None, seed=2, progress=_noop)
    assert len(resumed.history["loss"]) == 12
    np.testing.assert_allclose(resumed.history["loss"], whole.history["loss"], rtol=1e-3)
    np.testing.assert_allclose(resumed.encode(images), whole.encode(images), atol=1e-3)


@cuda
def test_classifier_trains_on_cuda_and_its_save_loads_on_the_cpu(tmp_path):
    import pandas as pd
    from nfd_classifier import neurofacedis_register_models as classifier_specs

    from neurofacedis.simulate import render_faces, sample_factors

    factors, identity = sample_factors(6, 10, seed=1)
    images = (render_faces(factors, size=32)[0] / 255).astype(np.float32)
    labels = pd.DataFrame({"identity": identity})
    (spec,) = classifier_specs()
    tiny = {"steps": 50, "size": 32, "width": 8, "hidden": 16, "n_components": 6}
    model = spec.factory(**{**spec.defaults(), **tiny, "device": "cuda"})
    model.fit(images, labels, seed=0, progress=_noop)
    assert model.provenance_extra["device"] == "cuda"
    z = model.encode(images)
    assert z.shape == (60, 6) and np.isfinite(z).all()
    model.save(tmp_path)
    cpu = spec.factory(**{**spec.defaults(), "device": "cpu"})
    cpu.load(tmp_path)
    np.testing.assert_allclose(cpu.encode(images), z, atol=1e-3)
