"""The β-VAE science check on the virtual face patch, as an experiment (not a benchmark).

Simulates a session, fits β-VAE / AE seeds (on the training stimuli or on extra rendered
faces), and prints per model: active units, alignment with the neurons, alignment with a
rotated neural code, DCI (trees) against the known factors; the AE, PCA and ICA get as many
units as the β-VAE keeps; the true factors for reference. docs/models/beta_vae.md records
what it printed. Not collected by benchmarks/run.py (no ``bench_`` prefix).

By default the 3D world with the reproduce presets' six factors (yaw, pitch, light azimuth
and elevation, smile, face width; the opt-in science test's world):

    .venv/bin/python benchmarks/science_beta_vae_faces.py \\
        --views 1 --extra-faces 5000 --steps 30000 --beta 16 --seeds 0 1 2

The flat-world runs on the β-VAE page name their world and factors:

    .venv/bin/python benchmarks/science_beta_vae_faces.py --world flat \\
        --factors skin_brightness,lighting,hair,face_width,face_height,eye_spacing,pose \\
        --beta 4 --sigma 0.05 --steps 2500 --seeds 0 1 2

Framing factors (roll, shift_x, shift_y, scale; ``--world framed``) act nonlinearly on
pixels; the framing table on the β-VAE page used ``--views 1 --extra-faces 5000``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _science import print_scores


def _extra_faces(world: str, n: int, factors: list[str], size: int) -> np.ndarray:
    """``n`` more faces of the session's world and factors (seed 12345), float32 in [0, 1]."""
    from neurofacedis.simulate import render_faces, sample_factors, simulate_session

    if world == "3d":  # the science test's draw
        extra = simulate_session(n_identities=n, n_views=1, n_neurons=2, n_repeats=1,
                                 image_size=size, factors=factors, world=world, seed=12345)
        return (extra.images / 255).astype(np.float32)
    # the flat worlds: the draw the documented runs used
    f, _ = sample_factors(n, 1, seed=12345, framing=True)
    return (render_faces(f[factors], size=size)[0] / 255).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", default="3d", choices=["3d", "framed", "flat"],
                    help="the virtual face patch's world [3d]")
    ap.add_argument("--factors", default="",
                    help="comma-separated varying factors [3d and framed: the reproduce "
                         "presets' six; flat: all]")
    ap.add_argument("--beta", type=float, default=4.0)
    ap.add_argument("--sigma", type=float, default=0.05, help="gaussian likelihood sd")
    ap.add_argument("--loss", default="gaussian")
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--extra-faces", type=int, default=0,
                    help="train on this many extra rendered faces instead of the stimuli")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--views", type=int, default=8, help="views per identity (600 faces)")
    ap.add_argument("--no-baselines", action="store_true", help="fit the β-VAE only")
    ap.add_argument("--session-seed", type=int, default=0)
    args = ap.parse_args()

    from nfd_beta_vae._model import BetaVAE
    from sklearn.decomposition import PCA, FastICA

    from neurofacedis.simulate import simulate_session
    from neurofacedis.studies.higgins2021.presets import WORLD_FACTORS

    factors = ([f for f in args.factors.split(",") if f]
               or (list(WORLD_FACTORS[args.world]) if args.world in WORLD_FACTORS else None))
    s = simulate_session(n_identities=600 // args.views, n_views=args.views, n_neurons=100,
                         n_repeats=5, image_size=args.size, factors=factors,
                         world=args.world, seed=args.session_seed)
    images = s.images.astype(np.float32) / 255
    n = len(images)
    resp = s.responses.mean(-1)
    fac = s.factors.to_numpy()
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((resp.shape[1],) * 2))[0]
    rotated = resp @ q
    train = np.sort(np.random.default_rng(0).permutation(n)[: int(0.8 * n)])
    test = np.setdiff1d(np.arange(n), train)
    if args.extra_faces:
        fit_images = _extra_faces(args.world, args.extra_faces, list(s.factors.columns),
                                  args.size)
    else:
        fit_images = images[train]
    flat = fit_images.reshape(len(fit_images), -1)

    def report(name: str, z: np.ndarray) -> None:
        print_scores(name, z, resp, rotated, fac, train, test)

    report("true factors", fac)
    common = {"steps": args.steps, "lr": args.lr, "loss": args.loss, "sigma": args.sigma,
              "size": args.size, "batch": args.batch, "threads": 1}
    def fit(name: str, seed: int, **extra) -> np.ndarray:
        model = BetaVAE(name=name, **common, **extra)
        t0 = time.perf_counter()
        model.fit(fit_images, seed=seed)
        z = model.encode(images)[:, model.active_units()]
        print(f"  {name} seed {seed}: fit {time.perf_counter() - t0:.0f} s", flush=True)
        report(f"{name} seed {seed}", z)
        return z

    for seed in args.seeds:
        k = fit("beta_vae", seed, beta=args.beta).shape[1]
        if args.no_baselines:
            continue
        fit("ae", seed, variational=False, latents=max(1, k))  # as many units as the β-VAE
        if k >= 2:
            pca = PCA(k, random_state=0).fit(flat)
            report(f"pca {k} units", pca.transform(images.reshape(n, -1)))
            ica = FastICA(k, random_state=0, max_iter=1000).fit(flat)
            report(f"ica {k} units", ica.transform(images.reshape(n, -1)))

if __name__ == "__main__":
    main()
