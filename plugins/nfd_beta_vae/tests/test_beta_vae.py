from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from nfd_beta_vae import neurofacedis_register_models

from neurofacedis.errors import InputError

FAST = {"steps": 6, "size": 32, "batch": 16, "threads": 1}


def make(name: str = "beta_vae", **params):
    spec = {s.name: s for s in neurofacedis_register_models()}[name]
    return spec.factory(**{**spec.defaults(), **FAST, **params})


def blobs(n: int = 40, size: int = 40, rgb: bool = False, seed: int = 0) -> np.ndarray:
    """Bright discs at random places: tiny images with two generative factors."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cx, cy = rng.uniform(10, size - 10, (2, n))
    img = np.exp(-((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2) / 30.0)
    img = img.astype(np.float32)
    return np.repeat(img[..., None], 3, -1) * [1.0, 0.8, 0.6] if rgb else img


def test_specs_and_defaults():
    specs = {s.name: s for s in neurofacedis_register_models()}
    assert set(specs) == {"beta_vae", "vae", "ae"}
    assert specs["beta_vae"].defaults()["beta"] == 4.0
    assert "beta" not in specs["vae"].defaults() and "denoise" in specs["ae"].defaults()
    assert all(s.citation for s in specs.values())
    d = specs["beta_vae"].defaults()
    assert (d["latents"], d["batch"], d["lr"], d["loss"], d["size"]) == (10, 64, 1e-4,
                                                                          "bernoulli", 64)
    assert make("vae").params["beta"] == 1.0
    ae = make("ae")
    assert ae.params["beta"] == 0.0 and not ae.params["variational"]


def test_import_is_light():
    code = ("import sys, nfd_beta_vae, nfd_disentanglement; "
            "nfd_beta_vae.neurofacedis_register_models(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'xarray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_shapes_layout_and_history():
    images = blobs()
    m = make()
    calls = []
    m.fit(images, None, seed=0, progress=lambda *a, **k: calls.append((a, k)))
    z = m.encode(images)
    assert z.shape == (40, 10) and z.dtype == np.float64 and np.isfinite(z).all()
    assert m.unit_names == [f"z{i}" for i in range(10)]
    rec = m.decode(z[:3])
    assert rec.shape == (3, 40, 40) and rec.dtype == np.float32  # input layout and size
    assert 0 <= rec.min() and rec.max() <= 1
    assert set(m.history) == {"loss", "recon", "kl"}
    assert all(len(v) == FAST["steps"] for v in m.history.values())
    np.testing.assert_allclose(m.history["loss"],
                               m.history["recon"] + 4.0 * m.history["kl"], rtol=1e-5)
    assert m.active_units().shape == (10,) and m.active_units().dtype == bool
    assert calls[0][1]["total"] == FAST["steps"]
    assert sum(a[0] for a, _ in calls) == FAST["steps"]
    assert "loss" in calls[-1][1]["description"]
    # feature maps of the encoder's convolutions (issue 25): after each ReLU, and conv4's
    # maps through the fully connected layers give the latents themselves
    import torch

    for layer, shape in (("conv1", (40, 32, 16, 16)), ("conv4", (40, 64, 2, 2))):
        maps = m.feature_maps(images, layer=layer)
        assert maps.shape == shape and maps.dtype == np.float32 and maps.min() >= 0
    enc = m._net.encoder
    with torch.inference_mode():
        mu = enc.head(enc.conv[8:](torch.from_numpy(maps)))[:, :10].numpy()
    np.testing.assert_allclose(mu, z, rtol=1e-4, atol=1e-5)
    with pytest.raises(InputError, match="unknown layer 'fc'"):
        m.feature_maps(images, layer="fc")


def test_gaussian_sigma_scales_the_reconstruction_term():
    import torch
    from nfd_beta_vae._model import _loss
    from nfd_beta_vae._net import VAENet

    torch.manual_seed(0)
    net = VAENet(1, 4, 32)
    x = torch.from_numpy(blobs(8, 32)[:, None])
    terms = {}
    for sigma in (0.5**0.5, 0.1):
        p = make(loss="gaussian", sigma=sigma, latents=4).params
        gen = torch.Generator().manual_seed(0)
        terms[sigma] = [t.item() for t in _loss(net, x, p, gen)]
    # sigma = 1/sqrt(2) is the plain sum of squared errors (disentanglement_lib's l2_loss)
    sse = terms[0.5**0.5][1]
    assert sse == pytest.approx(terms[0.1][1] * 2 * 0.1**2, rel=1e-5)
    assert terms[0.1][2] == pytest.approx(terms[0.5**0.5][2])  # same KL, same noise
    with pytest.raises(InputError, match="sigma"):
        make(loss="gaussian", sigma=0.0)


def test_capacity_schedule_and_objective():
    from nfd_beta_vae._model import capacity_at

    p = make(capacity=20.0, steps=100).params
    assert [capacity_at(s, p) for s in (0, 30, 75, 99)] == pytest.approx([0, 8, 20, 20])
    m = make(capacity=20.0, beta=10.0)
    m.fit(blobs(), None, seed=0, progress=lambda *a, **k: None)
    h = m.history
    c = np.array([capacity_at(s, m.params) for s in range(FAST["steps"])])
    np.testing.assert_allclose(h["loss"], h["recon"] + 10.0 * np.abs(h["kl"] - c), rtol=1e-5)
    assert make("ae", capacity=5.0).params["capacity"] == 0.0  # no KL in an AE
    with pytest.raises(InputError, match="capacity"):
        make(capacity=-1.0)


def test_rgb_layout():
    images = blobs(rgb=True).astype(np.float32)
    m = make("ae", latents=4)
    m.fit(images, None, seed=0, progress=lambda *a, **k: None)
    assert m.encode(images).shape == (40, 4)
    assert m.decode(np.zeros((2, 4))).shape == (2, 40, 40, 3)
    assert m.active_units().all()
    with pytest.raises(InputError):
        m.encode(images[..., 0])  # grayscale into an RGB model


def test_same_seed_same_latents():
    images = blobs()
    a, b, c = make(), make(), make()
    a.fit(images, None, seed=3, progress=lambda *x, **k: None)
    b.fit(images, None, seed=3, progress=lambda *x, **k: None)
    c.fit(images, None, seed=4, progress=lambda *x, **k: None)
    np.testing.assert_array_equal(a.encode(images), b.encode(images))
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    assert not np.array_equal(a.encode(images), c.encode(images))


def test_denoising_ae_is_deterministic_and_differs():
    images = blobs()
    plain, noisy, noisy2 = make("ae"), make("ae", denoise=0.2), make("ae", denoise=0.2)
    for m in (plain, noisy, noisy2):
        m.fit(images, None, seed=0, progress=lambda *x, **k: None)
    np.testing.assert_array_equal(noisy.encode(images), noisy2.encode(images))
    assert not np.array_equal(plain.encode(images), noisy.encode(images))
    np.testing.assert_array_equal(plain.history["kl"], 0.0)


def test_save_load_round_trip(tmp_path):
    images = blobs()
    m = make(loss="gaussian")
    m.fit(images, None, seed=1, progress=lambda *a, **k: None)
    m.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.safetensors", "model.json",
                                                          "weights.safetensors"]
    fresh = make()  # parameters come from the saved model
    fresh.load(tmp_path)
    assert fresh.params == m.params
    np.testing.assert_array_equal(fresh.encode(images), m.encode(images))
    np.testing.assert_array_equal(fresh.decode(m.encode(images[:2])),
                                  m.decode(m.encode(images[:2])))
    np.testing.assert_array_equal(fresh.active_units(), m.active_units())
    np.testing.assert_array_equal(fresh.history["loss"], m.history["loss"])
    with pytest.raises(InputError):
        make().load(tmp_path / "missing")


def test_interrupted_fit_resumes(tmp_path):
    images = blobs()
    steps = 12
    whole = make(steps=steps)
    whole.fit(images, None, seed=2, progress=lambda *a, **k: None)

    def interrupt_after(n):
        seen = [0]

        def progress(advance=1, total=None, description=None):
            seen[0] += advance
            if seen[0] >= n:
                raise KeyboardInterrupt

        return progress

    first = make(steps=steps, checkpoint_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        first.fit(images, None, seed=2, progress=interrupt_after(5))
    meta = json.loads((tmp_path / "checkpoint.json").read_text())
    assert meta["step"] == 5
    assert (tmp_path / meta["folder"] / "weights.safetensors").is_file()
    assert (tmp_path / meta["folder"] / "optimizer.safetensors").is_file()

    second = make(steps=steps)
    second.checkpoint_dir = tmp_path  # as the runner sets it
    totals = []
    second.fit(images, None, seed=2, progress=lambda a=1, total=None, description=None:
               totals.append(a))
    assert totals[1] == 5  # resumed: the bar starts at step 5
    np.testing.assert_array_equal(second.encode(images), whole.encode(images))
    np.testing.assert_array_equal(second.history["loss"], whole.history["loss"])
    assert not (tmp_path / "checkpoint.json").exists()  # cleared after a completed fit


def test_ctrl_c_finishes_the_step_and_checkpoints(tmp_path):
    import os
    import signal

    images = blobs()
    sent = [0]

    def progress(advance=1, total=None, description=None):
        sent[0] += advance
        if sent[0] == 3:  # a real SIGINT, as Ctrl-C sends
            os.kill(os.getpid(), signal.SIGINT)

    m = make(steps=10, checkpoint_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        m.fit(images, None, seed=5, progress=progress)
    assert json.loads((tmp_path / "checkpoint.json").read_text())["step"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    whole, resumed = make(steps=10), make(steps=10, checkpoint_dir=str(tmp_path))
    whole.fit(images, None, seed=5, progress=lambda *a, **k: None)
    resumed.fit(images, None, seed=5, progress=lambda *a, **k: None)
    np.testing.assert_array_equal(resumed.encode(images), whole.encode(images))


def test_checkpoint_for_other_seed_is_ignored(tmp_path):
    images = blobs()
    first = make(steps=8, checkpoint_dir=str(tmp_path))

    def stop(advance=1, total=None, description=None):
        if advance:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        first.fit(images, None, seed=0, progress=stop)
    ref, other = make(steps=8), make(steps=8, checkpoint_dir=str(tmp_path))
    ref.fit(images, None, seed=1, progress=lambda *a, **k: None)
    with pytest.warns(UserWarning, match="starting afresh"):
        other.fit(images, None, seed=1, progress=lambda *a, **k: None)
    np.testing.assert_array_equal(other.encode(images), ref.encode(images))


def test_bad_input_raises_input_error():
    m = make()
    with pytest.raises(InputError):
        m.encode(blobs())  # not fitted
    with pytest.raises(InputError):
        m.fit(np.full((4, 32, 32), 2.0, np.float32), None, seed=0,
              progress=lambda *a, **k: None)
    with pytest.raises(InputError):
        m.fit(np.zeros((4, 32)), None, seed=0, progress=lambda *a, **k: None)
    with pytest.raises(InputError):
        make(size=40)


def test_figures():
    from matplotlib.figure import Figure
    from nfd_beta_vae import figures
    from nfd_beta_vae._figures import traversal_grid

    images = blobs()
    m = make("ae", latents=3)
    m.fit(images, None, seed=0, progress=lambda *a, **k: None)
    figs = figures(m, images)
    assert set(figs) == {"traversals", "reconstructions"}
    assert all(isinstance(f, Figure) for f in figs.values())
    grid, units, offsets = traversal_grid(m, images)
    assert grid.shape == (3, 7, 40, 40)
    np.testing.assert_allclose(offsets, np.linspace(-3, 3, 7))
    # the middle column (0 sd) holds each unit at its mean
    z = m.encode(images)
    code = z[0].copy()
    code[units[0]] = z[:, units[0]].mean()
    np.testing.assert_allclose(grid[0, 3], m.decode(code[None])[0], atol=1e-6)
    assert set(m.figures(images)) == {"traversals", "reconstructions"}
