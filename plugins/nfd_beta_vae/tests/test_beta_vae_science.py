"""Science check: on images with known independent factors, β-VAE (β = 4) finds one unit per
factor where an AE spreads them.

Data: a dSprites-like renderer (a disc at x, y with a radius; three independent uniform
factors; x and y ranges differ so the two translations are not interchangeable). The virtual
face patch (neurofacedis.simulate) was tried first: at CPU budgets (<= 2,500 steps) its
low-contrast 64x64 faces leave β = 4 with ~3 active units that mix brightness-like factors,
and its DCI disentanglement stayed below the AE's (see docs/models/beta_vae.md). On these
discs, over seeds 0-2 (800 steps, lr 1e-3), β-VAE kept exactly 3 active units, MIG
0.49/0.47/0.19 vs AE 0.10/0.11/0.06 and DCI completeness 0.86/0.81/0.52 vs 0.57/0.68/0.70;
DCI disentanglement (GBT) was 0.86/0.80/0.52 vs 0.78/0.93/0.89, so it is reported, not
asserted (those per-seed numbers were measured before training went channels-last). Seed 0
(the test, channels-last, 2026-12-05): MIG 0.514 vs 0.145, completeness 0.890 vs 0.592,
informativeness 0.995 / 0.989 (margins over the asserted bounds: 0.22, 0.20, 0.09; NCHW had
given 0.515 vs 0.122, 0.893 vs 0.604). At 600 steps the β-VAE kept
6 units, at batch 32 it kept 5, at 32x32 -> 16x16 none: the budget is not cut. The two fits run
in two processes at once (one torch thread each, as before: same numbers), so the test takes
one fit's time on CI's two cores.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest
from nfd_beta_vae import neurofacedis_register_models
from nfd_disentanglement.dci import dci
from nfd_disentanglement.mig import mutual_information_gap


def discs(n: int = 1000, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased white discs on black; factors x, y, radius uniform in [-1, 1]."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(-1, 1, (n, 3))
    yy, xx = np.mgrid[:size, :size] + 0.5
    cx = size / 2 + f[:, 0] * size * 0.30
    cy = size / 2 + f[:, 1] * size * 0.12
    r = size * (0.12 + 0.05 * f[:, 2])
    d = np.hypot(xx - cx[:, None, None], yy - cy[:, None, None])
    return np.clip(r[:, None, None] - d + 0.5, 0, 1).astype(np.float32), f


FAST = {"steps": 800, "size": 32, "lr": 1e-3, "augment": False, "threads": 1}


def _fit_encode(name: str, extra: dict, train: np.ndarray,
                images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``name`` on ``train`` (seed 0): (active-unit mask, latents of ``images``)."""
    specs = {s.name: s for s in neurofacedis_register_models()}
    model = specs[name].factory(**{**specs[name].defaults(), **FAST, **extra})
    model.fit(train, None, seed=0, progress=lambda *a, **k: None)
    return model.active_units(), model.encode(images)


@pytest.mark.slow
def test_beta_vae_finds_one_unit_per_factor_unlike_ae():
    images, factors = discs()
    train, test = np.arange(800), np.arange(800, 1000)
    runs = (("beta_vae", {"beta": 4.0}), ("ae", {}))
    # one process per model (spawned: no torch state forked), both fits at once
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        fits = {name: pool.submit(_fit_encode, name, extra, images[train], images)
                for name, extra in runs}
        fitted = {name: f.result() for name, f in fits.items()}
    scores, active = {}, {}
    for name, (act, latents) in fitted.items():
        z = latents[:, act]
        active[name] = int(act.sum())
        scores[name] = (
            dci(z[train], factors[train], z[test], factors[test], "gbt", random_state=0),
            mutual_information_gap(z, factors).mig,
        )
    (d_beta, mig_beta), (d_ae, mig_ae) = scores["beta_vae"], scores["ae"]
    # KL pruning recovers the number of generative factors; the AE keeps all 10 units
    assert active == {"beta_vae": 3, "ae": 10}
    # both encode the factors ...
    assert d_beta.informativeness_test > 0.9 and d_ae.informativeness_test > 0.9
    # ... but only the β-VAE puts each factor in one unit
    assert mig_beta > mig_ae + 0.15
    assert d_beta.completeness > d_ae.completeness + 0.1
