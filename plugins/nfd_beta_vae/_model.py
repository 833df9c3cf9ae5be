"""One implementation of the β-VAE family: β-VAE, VAE (β = 1) and (denoising) AE.

torch is imported inside methods, so importing this module stays light.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["BetaVAE", "ACTIVE_KL", "FORMAT_VERSION"]

#: A unit is active when its mean KL over the data exceeds this (Duan et al. 2020).
ACTIVE_KL = 0.01
#: Version of the saved/checkpoint layout; bump when it changes.
FORMAT_VERSION = 1

_CHECKPOINT_JSON = "checkpoint.json"
_WEIGHTS = "weights.safetensors"
_OPTIMIZER = "optimizer.safetensors"
_HISTORY = "history.safetensors"
_MODEL_JSON = "model.json"
#: Memory layout the network trains in: part of the checkpoint key, so a fit never resumes
#: from a checkpoint of the NCHW layout (same weights' meaning, other rounding).
_LAYOUT = "channels_last"
_ENCODE_BATCH = 64  # 256 ran 2x slower on one CPU thread (cache)
#: Encoder layers :meth:`BetaVAE.feature_maps` returns (each convolution after its ReLU).
LAYERS: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4")
# Parameters that change what a fit produces (a checkpoint resumes only when these match).
_TRAINING_KEYS = ("beta", "latents", "steps", "batch", "lr", "loss", "sigma", "capacity",
                  "size", "augment", "denoise", "variational")


class BetaVAE:
    """β-VAE / VAE / AE on face images (Burgess et al. 2018 architecture).

    Parameters
    ----------
    beta
        Weight of the KL term (ignored when ``variational`` is False).
    latents
        Number of latent units K.
    steps
        Optimiser steps (mini-batches) per fit.
    batch
        Mini-batch size (clipped to the number of training images).
    lr
        Adam learning rate.
    loss
        Reconstruction likelihood: ``"bernoulli"`` (binary cross-entropy on logits, summed over
        pixels) or ``"gaussian"`` (``Σ (x - sigmoid(logits))² / (2 sigma²)``, the negative
        log-likelihood of pixel noise with sd ``sigma`` up to a constant).
    sigma
        Pixel noise sd of the Gaussian likelihood. It sets how much reconstruction is worth
        against β·KL: the default 1/√2 is disentanglement_lib's ``l2_loss``; low-contrast
        images (the virtual face patch) need a smaller sigma for β > 1 to keep any unit.
    capacity
        > 0 trains with Burgess et al. (2018)'s controlled capacity increase: the loss is
        reconstruction + β·|KL − C| with C rising linearly from 0 to ``capacity`` nats over the
        first 3/4 of the steps, so units switch on one at a time in order of how much
        reconstruction they buy, even in short runs. 0 = the plain β-VAE objective.
    size
        Images are resized (scikit-image) to ``size`` x ``size``; a multiple of 16.
    augment
        Light augmentation: each training image is mirrored left-right with probability 1/2
        (faces are near-symmetric; mirroring keeps every factor inside its range).
    denoise
        Standard deviation of Gaussian pixel noise added to the encoder input only (clipped to
        [0, 1]); > 0 makes a denoising autoencoder (Vincent et al. 2008).
    variational
        False gives the deterministic AE: z = encoder mean, no sampling, no KL.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    threads
        torch CPU threads; 0 = ``OMP_NUM_THREADS`` when set, else 1. One thread is reproducible
        on any machine (results change in the last bits with the thread count) and never
        oversubscribes a shared machine, where 2 threads on 2 busy cores ran 5-10x slower than
        1; the runner's workers give parallelism across fits. Raise it on a quiet machine.
    checkpoint_dir
        Folder for the Ctrl-C checkpoint ("" = none). The runner may set the attribute instead.
    name
        Model name shown in progress and errors.
    """

    def __init__(
        self,
        *,
        beta: float = 4.0,
        latents: int = 10,
        steps: int = 1000,
        batch: int = 64,
        lr: float = 1e-4,
        loss: str = "bernoulli",
        sigma: float = 0.5**0.5,
        capacity: float = 0.0,
        size: int = 64,
        augment: bool = True,
        denoise: float = 0.0,
        variational: bool = True,
        device: str = "auto",
        threads: int = 0,
        checkpoint_dir: str = "",
        name: str = "beta_vae",
    ):
        self.name = name
        self.params: dict[str, Any] = {
            "beta": float(beta) if variational else 0.0,
            "latents": int(latents),
            "steps": int(steps),
            "batch": int(batch),
            "lr": float(lr),
            "loss": str(loss),
            "sigma": float(sigma),
            "capacity": float(capacity) if variational else 0.0,
            "size": int(size),
            "augment": bool(augment),
            "denoise": float(denoise),
            "variational": bool(variational),
        }
        self._check_params()
        self.device = device
        self.threads = int(threads)
        self.checkpoint_dir: str | Path | None = checkpoint_dir or None
        self.unit_names: list[str] = [f"z{i}" for i in range(self.params["latents"])]
        self.history: dict[str, np.ndarray] = {}
        self.kl_per_unit: np.ndarray | None = None
        self.seed: int | None = None
        self._net: Any = None
        self._channels: int | None = None
        self._shape: tuple[int, int] | None = None

    # --- validation and image preparation ------------------------------------------------

    def _check_params(self) -> None:
        p = self.params
        problems = []
        if p["latents"] < 1:
            problems.append("latents must be >= 1")
        if p["size"] < 16 or p["size"] % 16:
            problems.append("size must be a positive multiple of 16")
        if p["steps"] < 0 or p["batch"] < 1 or p["lr"] <= 0:
            problems.append("steps >= 0, batch >= 1 and lr > 0 are required")
        if p["loss"] not in ("bernoulli", "gaussian"):
            problems.append("loss must be 'bernoulli' or 'gaussian'")
        if not p["capacity"] >= 0:
            problems.append("capacity must be >= 0")
        if not p["sigma"] > 0:
            problems.append("sigma must be > 0")
        if p["beta"] < 0 or p["denoise"] < 0:
            problems.append("beta and denoise must be >= 0")
        if problems:
            raise InputError("; ".join(problems), obj=self.name)

    def _prepare(self, images: np.ndarray, *, fitting: bool) -> np.ndarray:
        """Check layout and range, resize to size x size; return float32 (n, C, size, size)."""
        x = np.asarray(images)
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3)) or x.shape[0] == 0:
            raise InputError(
                f"images must be (n, H, W) or (n, H, W, 3) with n > 0, got {x.shape}",
                obj=self.name,
            )
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255.0
        x = x.astype(np.float32, copy=False)
        lo, hi = x.min(), x.max()
        if not (lo >= -1e-6 and hi <= 1 + 1e-6):  # also false for NaN
            raise InputError("images must be finite floats in [0, 1]", obj=self.name)
        channels = 1 if x.ndim == 3 else 3
        if fitting:
            self._channels, self._shape = channels, (int(x.shape[1]), int(x.shape[2]))
        elif self._channels is None:
            raise InputError("model is not fitted (call fit or load first)", obj=self.name)
        elif channels != self._channels:
            raise InputError(
                f"images have {channels} channel(s), the model was fitted on {self._channels}",
                obj=self.name,
            )
        s = self.params["size"]
        if x.shape[1:3] != (s, s):
            from skimage.transform import resize

            x = resize(x, (x.shape[0], s, s, *x.shape[3:]), order=1, anti_aliasing=True,
                       preserve_range=True).astype(np.float32)
        if x.min() < 0 or x.max() > 1:
            x = np.clip(x, 0.0, 1.0)
        x = x[:, None] if channels == 1 else np.moveaxis(x, -1, 1)
        return np.ascontiguousarray(x)

    # --- torch plumbing ------------------------------------------------------------------

    def _torch_device(self) -> Any:
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise InputError("device 'cuda' requested but CUDA is not available", obj=self.name)
        return torch.device(self.device)

    def _set_threads(self) -> None:
        import torch

        n = self.threads
        if n <= 0:
            env = os.environ.get("OMP_NUM_THREADS", "")
            n = int(env) if env.isdigit() and int(env) > 0 else 1
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)

    def _build(self, seed: int, device: Any) -> Any:
        import torch

        from nfd_beta_vae._net import VAENet

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = VAENet(self._channels or 1, self.params["latents"], self.params["size"])
        # channels-last convolutions: 5-12 % less CPU per training step than NCHW on one thread
        # on rendered faces (docs/models/beta_vae.md); the saved files are the same
        return net.to(device, memory_format=torch.channels_last)

    # --- the Model protocol --------------------------------------------------------------

    def fit(
        self,
        images: np.ndarray,
        labels: pd.DataFrame | None = None,
        *,
        seed: int = 0,
        progress: Callable[..., None] = lambda *a, **k: None,
        landmarks: np.ndarray | None = None,
    ) -> None:
        """Train on ``images`` (float32 in [0, 1]); labels and landmarks are not used.

        Deterministic for a seed on CPU: weights are initialised from ``seed``, mini-batches and
        flips come from ``numpy.random.default_rng(seed)`` and the reparameterisation noise from
        a ``torch.Generator`` seeded with ``seed``. Ctrl-C (or a KeyboardInterrupt raised by
        ``progress``) finishes the current step, writes a checkpoint into ``checkpoint_dir``
        and re-raises; fitting again with the same folder, seed, parameters and images resumes
        from it and gives exactly the latents an uninterrupted fit gives.
        """
        import torch

        x_np = self._prepare(images, fitting=True)
        self.seed = int(seed)
        self._set_threads()
        device = self._torch_device()
        p = self.params
        n = x_np.shape[0]
        batch = min(p["batch"], n)
        net = self._build(seed, device)
        opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
        rng = np.random.default_rng(seed)
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
        x = torch.from_numpy(x_np).to(device).contiguous(memory_format=torch.channels_last)
        data_sha = hashlib.sha256(x_np.tobytes()).hexdigest()
        hist = {"loss": [], "recon": [], "kl": []}
        key = {"format": FORMAT_VERSION, "seed": int(seed), "data_sha256": data_sha,
               "device": device.type, "layout": _LAYOUT, **{k: p[k] for k in _TRAINING_KEYS}}
        ckdir = Path(self.checkpoint_dir) if self.checkpoint_dir else None
        start = 0
        if ckdir is not None:
            start = _load_checkpoint(ckdir, key, net, opt, rng, gen, hist, device)

        steps = p["steps"]
        every = max(1, steps // 200)
        progress(0, total=steps, description=f"{self.name}: training")
        if start:
            progress(start, description=f"{self.name}: resumed at step {start}")
        done = reported = start
        pending: list[Any] = []  # per-step (loss, recon, kl) tensors, read at each report

        def flush() -> None:
            if pending:
                for k, column in zip(("loss", "recon", "kl"),
                                     torch.stack(pending).cpu().T.tolist(), strict=True):
                    hist[k].extend(column)
                pending.clear()

        prev_det = torch.are_deterministic_algorithms_enabled()
        if device.type == "cpu":  # CUDA would need CUBLAS_WORKSPACE_CONFIG and run slower
            torch.use_deterministic_algorithms(True, warn_only=True)
        net.train()
        try:
            with _deferred_sigint() as stop:
                for _ in range(start, steps):
                    if stop():
                        raise KeyboardInterrupt
                    idx = torch.from_numpy(rng.choice(n, size=batch, replace=False)).to(device)
                    xb = x.index_select(0, idx)
                    if p["augment"]:
                        flip = torch.from_numpy(rng.random(batch) < 0.5).to(device)
                        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                    loss, recon, kl = _loss(net, xb, p, gen, done)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    done += 1
                    pending.append(torch.stack([loss.detach(), recon.detach(), kl.detach()]))
                    if done % every == 0 or done == steps:
                        flush()
                        progress(done - reported,
                                 description=f"{self.name}: loss {hist['loss'][-1]:.1f}")
                        reported = done
        except KeyboardInterrupt:
            flush()
            if ckdir is not None:
                _save_checkpoint(ckdir, key, done, net, opt, rng, gen, hist)
            raise
        finally:
            torch.use_deterministic_algorithms(prev_det)
        net.eval()
        self._net = net
        self.history = {k: np.asarray(v, dtype=np.float32) for k, v in hist.items()}
        self.kl_per_unit = self._mean_kl(x) if p["variational"] else None
        if ckdir is not None:
            _clear_checkpoint(ckdir)

    def _forward_batches(self, x: Any) -> Iterator[tuple[Any, Any]]:
        import torch

        with torch.inference_mode():
            for i in range(0, x.shape[0], _ENCODE_BATCH):
                yield self._net.encoder(x[i : i + _ENCODE_BATCH])

    def _mean_kl(self, x: Any) -> np.ndarray:
        """Mean KL(q(z|x) || N(0, 1)) per unit over the images (for active units)."""
        total = None
        for mu, lv in self._forward_batches(x):
            kl = (0.5 * (mu.pow(2) + lv.exp() - lv - 1.0)).sum(0).double().cpu().numpy()
            total = kl if total is None else total + kl
        return total / x.shape[0]

    def _require_fitted(self) -> None:
        if self._net is None:
            raise InputError("model is not fitted (call fit or load first)", obj=self.name)

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Posterior means, float64 (n, K)."""
        import torch

        self._require_fitted()
        self._set_threads()
        x_np = self._prepare(images, fitting=False)
        device = next(self._net.parameters()).device
        out = np.empty((x_np.shape[0], self.params["latents"]), dtype=np.float64)
        x = torch.from_numpy(x_np).to(device)
        i = 0
        for mu, _ in self._forward_batches(x):
            out[i : i + mu.shape[0]] = mu.cpu().numpy()
            i += mu.shape[0]
        return out

    def feature_maps(self, images: np.ndarray, *, layer: str = "conv2") -> np.ndarray:
        """Activation maps of one encoder convolution after its ReLU, float32 (n, C, h, w).

        ``layer`` is one of :data:`LAYERS` (``conv1``: 32 channels at size/2, ``conv2``: 32
        at size/4, ``conv3``: 64 at size/8, ``conv4``: 64 at size/16). Reads the fitted
        network only; latents are unchanged.
        """
        import torch

        self._require_fitted()
        if layer not in LAYERS:
            raise InputError(f"unknown layer {layer!r}; choose one of {', '.join(LAYERS)}",
                             obj=self.name)
        self._set_threads()
        x_np = self._prepare(images, fitting=False)
        device = next(self._net.parameters()).device
        head = self._net.encoder.conv[: 2 * (LAYERS.index(layer) + 1)]
        parts = []
        with torch.inference_mode():
            for i in range(0, x_np.shape[0], _ENCODE_BATCH):
                xb = torch.from_numpy(x_np[i : i + _ENCODE_BATCH]).to(device)
                parts.append(head(xb).float().cpu().numpy())
        return np.concatenate(parts)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images from latents (n, K): float32 in [0, 1], in the fitted images' layout and size."""
        import torch

        self._require_fitted()
        z = np.asarray(latents, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.params["latents"]:
            raise InputError(
                f"latents must be (n, {self.params['latents']}), got {z.shape}", obj=self.name
            )
        self._set_threads()
        device = next(self._net.parameters()).device
        parts = []
        with torch.inference_mode():
            for i in range(0, z.shape[0], _ENCODE_BATCH):
                zb = torch.from_numpy(z[i : i + _ENCODE_BATCH]).to(device)
                parts.append(torch.sigmoid(self._net.decoder(zb)).cpu().numpy())
        img = np.concatenate(parts) if parts else np.zeros((0, self._channels or 1,
                                                            self.params["size"],
                                                            self.params["size"]), np.float32)
        img = img[:, 0] if self._channels == 1 else np.moveaxis(img, 1, -1)
        if self._shape is not None and img.shape[1:3] != self._shape:
            from skimage.transform import resize

            img = resize(img, (img.shape[0], *self._shape, *img.shape[3:]), order=1,
                         anti_aliasing=True, preserve_range=True)
        return np.clip(img, 0.0, 1.0).astype(np.float32)

    def active_units(self) -> np.ndarray:
        """Bool (K,): mean KL over the training images > 0.01; all True for the AE."""
        self._require_fitted()
        if self.kl_per_unit is None:
            return np.ones(self.params["latents"], dtype=bool)
        return np.asarray(self.kl_per_unit) > ACTIVE_KL

    @property
    def provenance_extra(self) -> dict[str, Any]:
        """Facts about the fit the runner stores with the provenance (device, final loss)."""
        if self._net is None:
            return {}
        return {
            "device": str(next(self._net.parameters()).device),
            "threads": self.threads,
            "final_loss": float(self.history["loss"][-1]) if len(self.history.get("loss", []))
            else None,
            "active_units": int(self.active_units().sum()),
        }

    def figures(self, images: np.ndarray) -> dict[str, Figure]:
        """Latent traversals and reconstructions (see :func:`nfd_beta_vae.figures`)."""
        from nfd_beta_vae._figures import figures

        return figures(self, images)

    def save(self, directory: Path) -> None:
        """Write weights (safetensors), loss history (safetensors) and model.json."""
        from safetensors.numpy import save_file as save_numpy
        from safetensors.torch import save_file

        self._require_fitted()
        directory = Path(directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self._net.state_dict().items()}
        save_file(state, str(directory / _WEIGHTS))
        if self.history:
            save_numpy({k: np.ascontiguousarray(v) for k, v in self.history.items()},
                        str(directory / _HISTORY))
        meta = {
            "format": FORMAT_VERSION,
            "name": self.name,
            "params": self.params,
            "seed": self.seed,
            "channels": self._channels,
            "shape": list(self._shape) if self._shape else None,
            "kl_per_unit": None if self.kl_per_unit is None else
            [float(v) for v in self.kl_per_unit],
        }
        (directory / _MODEL_JSON).write_text(json.dumps(meta, indent=1))

    def load(self, directory: Path) -> None:
        """Restore a model written by :meth:`save` (parameters come from model.json)."""
        from safetensors.numpy import load_file as load_numpy
        from safetensors.torch import load_file

        directory = Path(directory)
        path = directory / _MODEL_JSON
        if not path.is_file() or not (directory / _WEIGHTS).is_file():
            raise InputError("no saved β-VAE here (model.json/weights missing)", file=directory,
                             obj=self.name)
        meta = json.loads(path.read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise InputError(f"saved format {meta.get('format')} is not {FORMAT_VERSION}",
                             file=path, obj=self.name)
        self.params = dict(meta["params"])
        self.unit_names = [f"z{i}" for i in range(self.params["latents"])]
        self.seed = meta["seed"]
        self._channels = int(meta["channels"])
        self._shape = tuple(meta["shape"]) if meta["shape"] else None
        kl = meta["kl_per_unit"]
        self.kl_per_unit = None if kl is None else np.asarray(kl, dtype=np.float64)
        self._set_threads()
        device = self._torch_device()
        net = self._build(0, device)
        net.load_state_dict(load_file(str(directory / _WEIGHTS), device=str(device)))
        net.eval()
        self._net = net
        hist_path = directory / _HISTORY
        self.history = dict(load_numpy(str(hist_path))) if hist_path.is_file() else {}


def capacity_at(step: int, p: dict[str, Any]) -> float:
    """Burgess et al. (2018) KL target C at ``step``.

    C rises linearly from 0 to ``capacity`` nats over the first 3/4 of the steps, then holds.
    """
    ramp = max(1.0, 0.75 * p["steps"])
    return float(p["capacity"]) * min(1.0, step / ramp)


def _loss(net: Any, xb: Any, p: dict[str, Any], gen: Any,
          step: int = 0) -> tuple[Any, Any, Any]:
    """Loss per image, its reconstruction term and KL.

    The loss is reconstruction + β·KL (the negative ELBO at β = 1), or with ``capacity`` > 0
    reconstruction + β·|KL − C(step)| (Burgess et al. 2018's controlled capacity increase).
    """
    import torch
    import torch.nn.functional as F

    inp = xb
    if p["denoise"] > 0:
        noise = torch.randn(xb.shape, generator=gen, device=xb.device, dtype=xb.dtype)
        inp = (xb + p["denoise"] * noise).clamp(0.0, 1.0)
    mu, logvar = net.encoder(inp)
    if p["variational"]:
        eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)).sum(1).mean()
    else:
        z = mu
        kl = torch.zeros((), device=mu.device)
    logits = net.decoder(z)
    n = xb.shape[0]
    if p["loss"] == "bernoulli":
        recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") / n
    else:
        recon = (torch.sigmoid(logits) - xb).pow(2).sum() / (2.0 * p["sigma"] ** 2 * n)
    if p["variational"] and p["capacity"] > 0:
        return recon + p["beta"] * (kl - capacity_at(step, p)).abs(), recon, kl
    return recon + p["beta"] * kl, recon, kl


@contextmanager
def _deferred_sigint() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C into a flag checked between steps (a second one interrupts now).

    Only in the main thread (Python delivers signals there); elsewhere nothing changes.
    """
    hits = [0]
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum: int, frame: Any) -> None:
        hits[0] += 1
        if hits[0] > 1:
            raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # signals unavailable here
        yield lambda: False
        return
    try:
        yield lambda: hits[0] > 0
    finally:
        signal.signal(signal.SIGINT, old)


def _save_checkpoint(ckdir: Path, key: dict[str, Any], step: int, net: Any, opt: Any,
                     rng: np.random.Generator, gen: Any, hist: dict[str, list[float]]) -> None:
    """Write a checkpoint: weights + optimizer state (safetensors) in a new step folder.

    checkpoint.json then points at it (atomic rename) and older step folders are dropped.
    """
    from safetensors.torch import save_file

    ckdir.mkdir(parents=True, exist_ok=True)
    sub = ckdir / f"step-{step:08d}"
    if sub.exists():
        shutil.rmtree(sub)
    sub.mkdir()
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
              str(sub / _WEIGHTS))
    tensors = {"rng.torch": gen.get_state().cpu()}
    for idx, st in opt.state_dict()["state"].items():
        for name, value in st.items():
            tensors[f"state.{idx}.{name}"] = value.detach().cpu().contiguous()
    save_file(tensors, str(sub / _OPTIMIZER))
    meta = {"key": key, "step": step, "folder": sub.name, "rng_numpy": rng.bit_generator.state,
            "history": hist}
    tmp = ckdir / (_CHECKPOINT_JSON + ".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, ckdir / _CHECKPOINT_JSON)
    for old in ckdir.glob("step-*"):
        if old.name != sub.name:
            shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(ckdir: Path, key: dict[str, Any], net: Any, opt: Any,
                     rng: np.random.Generator, gen: Any, hist: dict[str, list[float]],
                     device: Any) -> int:
    """Restore a matching checkpoint in place and return its step (0 when none matches)."""
    from safetensors.torch import load_file

    path = ckdir / _CHECKPOINT_JSON
    if not path.is_file():
        return 0
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        warnings.warn(f"{path}: unreadable checkpoint ignored", stacklevel=3)
        return 0
    if meta.get("key") != key:
        warnings.warn(f"{path}: checkpoint is for other data/parameters/seed; starting afresh",
                      stacklevel=3)
        return 0
    sub = ckdir / meta["folder"]
    net.load_state_dict(load_file(str(sub / _WEIGHTS), device=str(device)))
    tensors = load_file(str(sub / _OPTIMIZER))
    gen.set_state(tensors.pop("rng.torch"))
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, idx, field = name.split(".", 2)
        state.setdefault(int(idx), {})[field] = value if field == "step" else value.to(device)
    opt_state = opt.state_dict()
    opt_state["state"] = state
    opt.load_state_dict(opt_state)
    rng.bit_generator.state = meta["rng_numpy"]
    for k in hist:
        hist[k][:] = meta["history"][k]
    return int(meta["step"])


def _clear_checkpoint(ckdir: Path) -> None:
    """Remove this model's checkpoint files after a completed fit (other files stay)."""
    (ckdir / _CHECKPOINT_JSON).unlink(missing_ok=True)
    for sub in ckdir.glob("step-*"):
        shutil.rmtree(sub, ignore_errors=True)
