"""β-VAE plugin speed against a plain PyTorch loop of the same architecture, side by side.

Prints the plugin's training-step time and encoding throughput at batch 64 as ratios to the
plain loop (goal: <= 1.1x), and the plugin's encoding images/s (goal: >= 3,000 on 2 cores).

    .venv/bin/python benchmarks/bench_beta_vae.py [--steps 60] [--repeats 3] [--threads 1]

Run it on a quiet machine; timings of both sides are interleaved so load affects both.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from nfd_beta_vae import BetaVAE
from torch import nn


def plain_nets(channels: int = 1, k: int = 10) -> tuple[nn.Module, nn.Module]:
    """The Burgess et al. (2018) encoder/decoder written out as nn.Sequential."""
    enc = nn.Sequential(
        nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 2 * k),
    )
    dec = nn.Sequential(
        nn.Linear(k, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(),
        nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, channels, 4, 2, 1),
    )
    return enc, dec


def plain_train(x: torch.Tensor, steps: int, beta: float = 4.0, k: int = 10) -> float:
    """Seconds per step of a textbook β-VAE loop (batch 64, Adam 1e-4, Bernoulli + β·KL)."""
    torch.manual_seed(0)
    enc, dec = plain_nets(x.shape[1], k)
    enc, dec = enc.to(x.device), dec.to(x.device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-4)

    def step() -> None:
        xb = x[torch.randint(0, x.shape[0], (64,), device=x.device)]
        h = enc(xb)
        mu, lv = h[:, :k], h[:, k:]
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        recon = nn.functional.binary_cross_entropy_with_logits(dec(z), xb, reduction="sum") / 64
        kl = (0.5 * (mu.pow(2) + lv.exp() - lv - 1)).sum(1).mean()
        loss = recon + beta * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(x.device)
    return (time.perf_counter() - t) / steps


def plain_encode(x: torch.Tensor, enc: nn.Module, batch: int = 64) -> float:
    """Images/s of the plain encoder (posterior means) in batches of ``batch``."""
    with torch.inference_mode():
        enc(x[:batch])
        t = time.perf_counter()
        out = [enc(x[i:i + batch])[:, :10].cpu() for i in range(0, x.shape[0], batch)]
        _sync(x.device)
    del out
    return x.shape[0] / (time.perf_counter() - t)


def plugin_train(images: np.ndarray, steps: int, device: str, threads: int) -> float:
    """Seconds per step of BetaVAE.fit: (fit(steps) - fit(0)) / steps (setup cancels out)."""
    def fit(n: int) -> float:
        m = BetaVAE(steps=n, device=device, threads=threads, augment=True)
        t = time.perf_counter()
        m.fit(images, None, seed=0)
        return time.perf_counter() - t

    fit(3)  # warm-up
    return (fit(steps) - fit(0)) / steps


def plugin_encode(model: BetaVAE, images: np.ndarray) -> float:
    """Images/s of BetaVAE.encode on float32 64x64 images (numpy in, numpy out)."""
    model.encode(images[:64])
    t = time.perf_counter()
    model.encode(images)
    return len(images) / (time.perf_counter() - t)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--images", type=int, default=4096, help="images to encode")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for both sides (the plugin's default is 1)")
    args = ap.parse_args()
    threads = args.threads
    torch.set_num_threads(threads)
    dev = torch.device(args.device)
    rng = np.random.default_rng(0)
    images = rng.random((args.images, 64, 64), dtype=np.float32)
    train_images = images[:600]
    x = torch.from_numpy(images[:, None]).to(dev)
    enc, _ = plain_nets()
    enc = enc.to(dev).eval()
    model = BetaVAE(steps=0, device=args.device, threads=threads)
    model.fit(train_images, None, seed=0)

    rows: dict[str, list[float]] = {k: [] for k in ("p_step", "n_step", "p_enc", "n_enc")}
    for _ in range(args.repeats):  # interleaved, so machine load hits both sides alike
        rows["p_step"].append(plain_train(x[:600], args.steps))
        rows["n_step"].append(plugin_train(train_images, args.steps, args.device, threads))
        rows["p_enc"].append(plain_encode(x, enc))
        rows["n_enc"].append(plugin_encode(model, images))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"device {args.device}, torch threads {threads}, torch {torch.__version__}")
    print(f"train step (batch 64): plugin {med['n_step'] * 1e3:.1f} ms, plain "
          f"{med['p_step'] * 1e3:.1f} ms, ratio {med['n_step'] / med['p_step']:.2f}x "
          "(goal <= 1.1x)")
    print(f"encode: plugin {med['n_enc']:.0f} images/s, plain (batch 64) {med['p_enc']:.0f} "
          f"images/s, time ratio {med['p_enc'] / med['n_enc']:.2f}x (goal <= 1.1x; "
          "plugin goal >= 3000 images/s on 2 cores)")


if __name__ == "__main__":
    main()
