"""The issue's science check on the virtual face patch (opt-in: ~65 min on 2 idle CPU cores).

World: the reproduce presets' 3D world (``WORLD_FACTORS["3d"]``): ray-cast heads whose pose
(yaw, pitch), light (azimuth, elevation), expression (smile) and face width vary, the rest
fixed at 0 — factors that act on pixels nonlinearly, as in the rendered 3D faces β-VAEs were
first shown to disentangle (docs/worlds.md), so PCA cannot recover them linearly. 600 faces
(one view each, 32x32), 100 model neurons (80 % axis-coded), 5 repeats, session seed 0.
Models train on 5,000 extra rendered faces of the same world and factors (seed 12345, as the
reference study trained on a large face set), 30,000 steps at lr 1e-3, Gaussian likelihood
sd 0.05, model seeds 0-2 — the budget at which the framed world's six factors separated; at
the quick reproduce budget (2,500 steps) the 3D β-VAE separated only light azimuth, pitch and
light elevation (docs/models/beta_vae.md). Compared with the same number of units as each
β-VAE keeps: ``ae`` (that many latents) and PCA of the training faces. The claims (Higgins et
al. 2021): the β-VAE's mean alignment with the neurons is above the AE's and PCA's, it drops
under a rotated neural code, and its DCI disentanglement on the known factors beats the AE's.
Set NEUROFACEDIS_SCIENCE=1 to run it; ``_world`` (its setup) is tested at a tiny size in the
suite.

Measured in the 3D world on 2026-12-05 (channels-last training; 130 CPU-min, i.e. ~65 min on
the 2 cores, run paused twice for timed benchmarks; seeds 0 / 1 / 2): β-VAE 4 active units each,
alignment 0.606 / 0.421 / 0.621 (mean 0.549); AE (4 latents) 0.133 / 0.143 / 0.170 (0.149);
PCA 4 0.451; β-VAE under the rotated code 0.161 / 0.174 / 0.161; DCI disentanglement β-VAE
0.447 / 0.338 / 0.469 (0.418) vs AE 0.173 / 0.134 / 0.192 (0.166), PCA 0.252. All four claims
hold. Measured 2026-11-26 in the framed world (hair, lighting,
roll, shift_x, shift_y, scale; 43 min on the 2-core machine; seeds 0 / 1 / 2): β-VAE 6 active
units each, alignment 0.378 / 0.377 / 0.386 (mean 0.380); AE (6 latents) 0.122 / 0.184 /
0.179 (0.162); PCA 6 0.311; β-VAE under the rotated code 0.157 / 0.168 / 0.156; DCI
disentanglement β-VAE 0.73 / 0.69 / 0.77 (0.73) vs AE 0.28 / 0.46 / 0.41 (0.38).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import pytest

from neurofacedis.studies.higgins2021.presets import WORLD_FACTORS

WORLD = "3d"  # the reproduce presets' default world, with its six factors

FIT = {"steps": 30_000, "lr": 1e-3, "loss": "gaussian", "sigma": 0.05, "size": 32,
       "threads": 1}
BETA = 16.0
SEEDS = (0, 1, 2)


def _world(n_faces: int = 600, n_train: int = 5000, n_neurons: int = 100,
           size: int = 32) -> tuple[object, np.ndarray]:
    """The session (``n_faces`` faces, one view each) and the models' training faces.

    Both of the 3D world with its six reproduce factors; the training faces are another
    draw (seed 12345), as float32 in [0, 1].
    """
    from neurofacedis.simulate import simulate_session

    world = {"world": WORLD, "factors": list(WORLD_FACTORS[WORLD]), "image_size": size}
    session = simulate_session(n_identities=n_faces, n_views=1, n_neurons=n_neurons,
                               n_repeats=5, seed=0, **world)
    train = simulate_session(n_identities=n_train, n_views=1, n_neurons=2, n_repeats=1,
                             seed=12345, **world)
    return session, (train.images / 255).astype(np.float32)


def _fit_encode(name: str, params: dict, seed: int, faces: np.ndarray,
                images: np.ndarray) -> np.ndarray:
    """Fit one model on ``faces``; latents of ``images`` on its active units."""
    from nfd_beta_vae._model import BetaVAE

    model = BetaVAE(name=name, **FIT, **params)
    model.fit(faces, seed=seed)
    return model.encode(images)[:, model.active_units()]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NEUROFACEDIS_SCIENCE") != "1",
                    reason="~65 min on 2 cores: set NEUROFACEDIS_SCIENCE=1")
def test_beta_vae_beats_ae_and_pca_on_the_virtual_face_patch():
    from nfd_alignment._score import alignment_score
    from nfd_disentanglement.dci import dci
    from sklearn.decomposition import PCA

    s, faces = _world()  # faces: rendered once, sent to each fit
    images = s.images.astype(np.float32) / 255
    n = len(images)
    resp = s.responses.mean(-1)
    factors = s.factors.to_numpy()
    rotated = resp @ np.linalg.qr(np.random.default_rng(0).standard_normal((100, 100)))[0]
    train = np.sort(np.random.default_rng(0).permutation(n)[:480])
    test = np.setdiff1d(np.arange(n), train)

    def scores(z: np.ndarray) -> tuple[float, float, float]:
        d = dci(z[train], factors[train], z[test], factors[test], "gbt", random_state=0)
        return (alignment_score(z, resp, train=train).alignment,
                alignment_score(z, rotated, train=train).alignment, d.disentanglement)

    with ProcessPoolExecutor(2) as pool:  # one model per core; an AE starts once its β-VAE
        # seed has told how many units it keeps
        pending = {pool.submit(_fit_encode, "beta_vae", {"beta": BETA}, seed, faces, images):
                   seed for seed in SEEDS}
        betas, aes = {}, {}
        for done in as_completed(pending):
            seed = pending[done]
            betas[seed] = done.result()
            ae = {"variational": False, "latents": max(1, betas[seed].shape[1])}
            aes[seed] = pool.submit(_fit_encode, "ae", ae, seed, faces, images)
        betas = [betas[seed] for seed in SEEDS]
        aes = [aes[seed].result() for seed in SEEDS]
    units = [z.shape[1] for z in betas]
    assert min(units) >= 2, units  # before scoring: a collapsed fit has nothing to score
    flat = faces.reshape(len(faces), -1)
    pcas = [PCA(k, random_state=0).fit(flat).transform(images.reshape(n, -1)) for k in units]
    got = {name: np.array([scores(z) for z in zs])
           for name, zs in (("beta_vae", betas), ("ae", aes), ("pca", pcas))}
    mean = {name: v.mean(0) for name, v in got.items()}
    print({name: np.round(v, 3).tolist() for name, v in got.items()}, "units", units)
    # alignment: β-VAE above AE and PCA with the same number of units
    assert mean["beta_vae"][0] > mean["ae"][0]
    assert mean["beta_vae"][0] > mean["pca"][0]
    # it drops under a rotated neural code
    assert mean["beta_vae"][1] < mean["beta_vae"][0] - 0.1
    # DCI disentanglement on the known factors beats the AE's
    assert mean["beta_vae"][2] > mean["ae"][2]


def test_the_science_check_sets_up_its_3d_world():
    """The opt-in check's setup at a tiny size: 3D session and training faces, six factors."""
    s, faces = _world(n_faces=6, n_train=4, n_neurons=3, size=16)
    assert s.images.shape == (6, 16, 16) and faces.shape == (4, 16, 16)
    assert faces.dtype == np.float32 and 0.0 <= faces.min() < faces.max() <= 1.0
    assert sorted(s.factors.columns) == sorted(WORLD_FACTORS["3d"])
    assert s.factors.to_numpy().std(0).min() > 0  # every factor varies
    assert s.responses.shape == (6, 3, 5)
