"""Lead for the β-VAE science check: virtual faces with *nonlinear* view factors.

The virtual face patch's factors act almost linearly on pixels, so PCA/ICA find them (see
docs/models/beta_vae.md). This experiment renders 64x64 faces with a few identity factors,
then applies in-plane tilt (±25°), horizontal shift (±10 px) and scale (±15%) as extra known
factors, downsamples to 32x32, simulates 100 axis-tuned Poisson neurons on all factors, and
compares β-VAE / AE with PCA / ICA on alignment (and the rotated code) and DCI. What it
printed on 2026-11-26 is in docs/models/beta_vae.md. Usage (JSON config):

    .venv/bin/python benchmarks/science_nonlinear_faces.py \\
        '{"extra": 5000, "models": [["bvae48", {"beta": 48, "loss": "gaussian", "sigma": 0.05}]]}'
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from _science import print_scores

BASE = ["skin_brightness", "hair", "lighting", "face_width"]
EXTRA = ["tilt", "shift_x", "scale"]


def make_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 32, 32) float32 faces and their (n, 7) factors in [-1, 1]."""
    from skimage.transform import AffineTransform, resize, warp

    from neurofacedis.simulate import render_faces, sample_factors

    f, _ = sample_factors(n, 1, seed=seed)
    f = f[BASE]
    img = render_faces(f, 64)[0].astype(np.float32) / 255
    e = np.random.default_rng(seed + 1).uniform(-1, 1, (n, len(EXTRA)))
    out = np.empty((n, 32, 32), np.float32)
    c = 31.5
    for i in range(n):
        tilt, shift, scale = e[i]
        t = (AffineTransform(translation=(-c, -c))
             + AffineTransform(rotation=np.deg2rad(25) * tilt, scale=1 + 0.15 * scale)
             + AffineTransform(translation=(c + 10 * shift, c)))
        out[i] = resize(warp(img[i], t.inverse, mode="edge", order=1), (32, 32),
                        anti_aliasing=True)
    return out, np.c_[f.to_numpy(), e]


def main() -> None:
    from nfd_beta_vae._model import BetaVAE
    from sklearn.decomposition import PCA, FastICA

    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {
        "extra": 5000, "models": [["beta_vae", {"beta": 48, "loss": "gaussian", "sigma": 0.05}]]}
    images, factors = make_faces(600, 7)
    rng = np.random.default_rng(0)
    n_f, n_u = factors.shape[1], 100
    w = np.zeros((n_u, n_f))
    w[np.arange(n_u), rng.permutation(np.arange(n_u) % n_f)] = rng.choice([-1, 1], n_u)
    base = rng.uniform(20, 40, n_u)
    gain = base * rng.uniform(0.5, 0.9, n_u)
    rates = np.maximum(base + gain * (factors @ w.T), 0) * 0.3  # spikes in a 300 ms window
    resp = rng.poisson(rates[..., None] * np.ones(5)).mean(-1)
    rotated = resp @ np.linalg.qr(rng.standard_normal((n_u, n_u)))[0]
    train = np.sort(np.random.default_rng(0).permutation(600)[:480])
    test = np.setdiff1d(np.arange(600), train)
    fit_images = make_faces(cfg["extra"], 99)[0] if cfg.get("extra") else images[train]
    flat, all_flat = fit_images.reshape(len(fit_images), -1), images.reshape(600, -1)

    def report(name: str, z: np.ndarray) -> None:
        print_scores(name, z, resp, rotated, factors, train, test)

    report("true factors", factors)
    for k in (n_f, 10):
        report(f"pca {k}", PCA(k, random_state=0).fit(flat).transform(all_flat))
        report(f"ica {k}", FastICA(k, random_state=0, max_iter=1000).fit(flat).transform(all_flat))
    for name, params in cfg["models"]:
        for seed in cfg.get("seeds", [0]):
            model = BetaVAE(size=32, threads=1, steps=cfg.get("steps", 2500), lr=1e-3, **params)
            t0 = time.perf_counter()
            model.fit(fit_images, seed=seed)
            print(f"  fit {time.perf_counter() - t0:.0f} s", flush=True)
            report(f"{name} seed {seed}", model.encode(images)[:, model.active_units()])


if __name__ == "__main__":
    main()
