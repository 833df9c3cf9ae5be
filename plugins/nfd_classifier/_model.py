"""A face classifier CNN whose penultimate layer, reduced by PCA, gives the latents.

The deep identity-classifier baseline of Higgins et al. (2021): a CNN trained with
cross-entropy to tell identities apart (or any label columns of the stimulus table, several
at once, with classification and regression heads); its penultimate activations on every
stimulus, reduced by PCA to K units, are compared with neurons. A lab's own pretrained
network (safetensors state dict of the built-in architecture, or any TorchScript module) can
replace the trained backbone, used as is or with a new head trained on top (``finetune``).
``arch=alexnet|vgg11|vgg13|vgg16`` swaps the small built-in network for torchvision's
architectures (:mod:`._archs`, same parameter names, so a user's torchvision weights saved as
safetensors load unchanged); ``attention=true`` adds a self-attention block after the last
conv layer.

A TorchScript file is a program, not weights: loading it runs code it carries (its
``__setstate__`` can memory-map and overwrite any file the user can write). The format of
``weights`` is read from the file's first bytes, never from its name; anything but safetensors
is refused before it is opened by torch unless ``trust_code=true``. The path passes the input
gate first (a regular file: a FIFO or a device is refused without being opened).

Choices not fixed by the paper: four 3x3 conv-BN-ReLU-maxpool blocks with global average
pooling, a 128-unit penultimate layer, Adam (lr 1e-3, weight decay 1e-4), batch 64, 600
steps, light augmentation (random shifts up to 2 px, brightness/contrast jitter), regression
targets standardised and trained with mean squared error; 20 % of the training images are
held out (stratified by the first class label) to report accuracy / RMSE per label.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError

from ._layers import ALL_LAYERS, ARCHS, DEFAULT_SIZE, MIN_SIZE, arch_layers

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from neurofacedis.specs import ProgressCallback

__all__ = ["FaceClassifier", "LAYERS"]

#: Layers whose activations can become the latents (``layer=``), over all ``arch`` values;
#: :func:`._layers.arch_layers` tells which one backbone accepts.
LAYERS = ALL_LAYERS

_FORMAT = "nfd_classifier/1"
_OBJ = "classifier"


@dataclass
class _Target:
    """One label column the network learns."""

    name: str
    kind: str  # "classification" | "regression"
    classes: list[Any] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0

    @property
    def outputs(self) -> int:
        return len(self.classes) if self.kind == "classification" else 1


def _parse_label(label: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for item in str(label).split(","):
        item = item.strip()
        if not item:
            continue
        name, _, kind = item.partition(":")
        kind = kind.strip().lower() or None
        if kind not in (None, "class", "reg"):
            raise InputError(
                f"label {item!r}: the suffix must be :class or :reg", obj=f"{_OBJ}.label"
            )
        out.append((name.strip(), {"class": "classification", "reg": "regression"}.get(kind)))
    return out


def _missing(values: np.ndarray) -> np.ndarray:
    """Unknown labels: NaN, None, "" and -1 (the NWB stimulus table's 'unknown')."""
    miss = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and v == ""):
            miss[i] = True
        elif isinstance(v, (float, np.floating)) and np.isnan(v):
            miss[i] = True
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v == -1:
            miss[i] = True
    return miss


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FaceClassifier:
    """CNN classifier / regressor of face labels; latents = PCA of one layer's activations.

    Parameters
    ----------
    label
        Label column(s) of the stimulus table, comma-separated (e.g. ``identity,gender,age``).
        Float columns with non-integer values are regression targets, others classes; force
        it with ``:class`` / ``:reg`` (``valence:reg``).
    n_components
        K, PCA components of the chosen layer's activations (capped by the data).
    layer
        ``penultimate`` (default: ``fc``, or ``backbone`` for a pretrained net used as is),
        ``fc``, ``backbone`` (globally pooled last conv block, AlexNet/VGG's ``fc7``, or the
        TorchScript output), or one of the arch's own layers (``conv1`` .. ``conv4`` for
        small; ``conv1`` .. ``conv5``, ``fc6``, ``fc7`` for alexnet; ``conv1_1`` ..,
        ``fc6``, ``fc7`` for VGG; ``attention`` with the block), conv layers averaged over
        space.
    steps, batch_size, lr
        Adam training schedule: mini-batch steps (batches cycle through reshuffled epochs).
    width, hidden
        Channels of the first conv block (then 2w, 4w, 4w) and units of ``fc``.
    size
        Images are resized to size x size before the network (0: keep their size; -1: the
        arch's default, 64 for small and 224 for AlexNet/VGG). Sides below the arch's minimum
        (64 for AlexNet, 32 for VGG) are raised to it.
    holdout
        Fraction of the training images kept out of training to report accuracy / RMSE.
    weights
        A pretrained network: ``.safetensors`` state dict of the built-in architecture, or
        (with ``trust_code``) a TorchScript file (``torch.jit.save``). Empty: train from
        scratch.
    trust_code
        Allow ``weights`` (and a saved model's backbone) to be TorchScript, a program that
        runs with the user's permissions when loaded. Off: such files are refused.
    finetune
        With ``weights``: freeze the network and train a new head (``fc`` + outputs) on the
        labels. Without it the pretrained network is used as is.
    augment
        Random shifts (up to 2 px) and brightness/contrast jitter while training.
    device
        ``auto`` (CUDA when present), ``cpu`` or ``cuda``. Same seed, same latents on CPU.
    threads
        torch CPU threads (sets ``torch.set_num_threads``); 0 leaves torch's default.
    arch
        ``small`` (the built-in network), ``alexnet``, ``vgg11``, ``vgg13`` or ``vgg16``
        (torchvision's architectures and parameter names; grey images are repeated to RGB and
        ImageNet-normalised inside the network).
    attention
        Add a self-attention block over the spatial positions after the last conv layer
        (trained with the head when ``finetune``).
    """

    def __init__(
        self,
        label: str = "identity",
        n_components: int = 10,
        layer: str = "penultimate",
        steps: int = 600,
        batch_size: int = 64,
        lr: float = 1e-3,
        width: int = 16,
        hidden: int = 128,
        size: int = -1,
        holdout: float = 0.2,
        weights: str = "",
        trust_code: bool = False,
        finetune: bool = False,
        augment: bool = True,
        device: str = "auto",
        threads: int = 0,
        arch: str = "small",
        attention: bool = False,
    ):
        if arch not in ARCHS:
            raise InputError(f"arch {arch!r} is not one of {list(ARCHS)}", obj=f"{_OBJ}.arch")
        if layer not in arch_layers(arch, bool(attention)):
            raise InputError(f"layer {layer!r} is not one of {list(arch_layers(arch, attention))}"
                             f" (arch={arch}, attention={bool(attention)})", obj=f"{_OBJ}.layer")
        if int(size) < -1:
            raise InputError("size must be -1 (auto), 0 (keep) or a side in pixels",
                             obj=f"{_OBJ}.size")
        if not 0.0 <= float(holdout) < 1.0:
            raise InputError("holdout must be in [0, 1)", obj=f"{_OBJ}.holdout")
        if device not in ("auto", "cpu", "cuda"):
            raise InputError(f"device {device!r} is not auto, cpu or cuda", obj=f"{_OBJ}.device")
        if finetune and not weights:
            raise InputError("finetune needs weights= (a pretrained network)", obj=_OBJ)
        for name, value in (("n_components", n_components), ("steps", steps),
                            ("batch_size", batch_size), ("width", width), ("hidden", hidden)):
            if int(value) < 1:
                raise InputError(f"{name} must be >= 1", obj=f"{_OBJ}.{name}")
        self.params: dict[str, Any] = {
            "label": str(label), "n_components": int(n_components), "layer": layer,
            "steps": int(steps), "batch_size": int(batch_size), "lr": float(lr),
            "width": int(width), "hidden": int(hidden), "size": int(size),
            "holdout": float(holdout), "weights": str(weights), "trust_code": bool(trust_code),
            "finetune": bool(finetune),
            "augment": bool(augment), "device": device, "threads": int(threads),
            "arch": arch, "attention": bool(attention),
        }
        self.unit_names: list[str] = []
        self.history: dict[str, np.ndarray] = {}
        #: What the runner stores with the latents' provenance (JSON-safe): the layer used,
        #: how the network was trained, and held-out accuracy / RMSE per label.
        self.provenance_extra: dict[str, Any] = {}
        self._net: Any = None
        self._targets: list[_Target] = []
        self._layer = ""
        self._channels = 0
        self._gray_to_rgb = False
        self._backbone: dict[str, Any] = {}
        self._pca: dict[str, np.ndarray] = {}

    # -- preprocessing ------------------------------------------------------------------------
    def _tensor(self, images: np.ndarray) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        arr = np.asarray(images, dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[:, None]
        elif arr.ndim == 4 and arr.shape[-1] in (1, 3):
            arr = arr.transpose(0, 3, 1, 2)
        else:
            raise InputError(f"images must be (n, H, W) or (n, H, W, 3), got {arr.shape}",
                             obj=_OBJ)
        if self._channels and arr.shape[1] != self._channels:
            raise InputError(f"images have {arr.shape[1]} channels, the model was fitted on "
                             f"{self._channels}", obj=_OBJ)
        x = torch.from_numpy(np.ascontiguousarray(arr))
        side = self._input_side(tuple(x.shape[2:]))
        if tuple(x.shape[2:]) != side:
            x = F.interpolate(x, size=side, mode="bilinear", align_corners=False,
                              antialias=True)
        if self._gray_to_rgb:
            x = x.expand(-1, 3, -1, -1)
        return x.contiguous()

    def _input_side(self, hw: tuple[int, ...]) -> tuple[int, int]:
        """Return the (H, W) the network sees.

        ``size`` (-1: the arch's default, 0: the images'), at least the arch's minimum side.
        """
        arch = self.params.get("arch", "small")
        size = self.params["size"]
        size = DEFAULT_SIZE[arch] if size < 0 else size
        h, w = (size, size) if size else (int(hw[0]), int(hw[1]))
        low = MIN_SIZE[arch]
        return max(h, low), max(w, low)

    def _device(self) -> torch.device:
        import torch

        if self.params.get("threads", 0) > 0 and torch.get_num_threads() != self.params["threads"]:
            torch.set_num_threads(self.params["threads"])
        want = self.params.get("device", "auto")
        if want == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if want == "cuda" and not torch.cuda.is_available():
            raise InputError("device 'cuda' requested but CUDA is not available",
                             obj=f"{_OBJ}.device")
        return torch.device(want)

    # -- building the network -----------------------------------------------------------------
    def _build(self, x_probe: torch.Tensor, n_outputs: list[int] | None) -> None:
        """Build the network; ``n_outputs`` None: no new head (pretrained net used as is)."""
        from ._backbones import backbone_from_state, backbone_info, load_matching, new_backbone
        from ._backbones import strip as _strip
        from ._net import FaceNet, LabelHead

        p = self.params
        weights = p["weights"]
        channels = int(x_probe.shape[1])
        arch = p.get("arch", "small")
        self._gray_to_rgb = arch != "small" and channels == 1
        if not weights:
            backbone = new_backbone(arch, channels, p["width"], p["attention"])
            head = LabelHead(backbone.out_features, p["hidden"], n_outputs or [])
            self._backbone = backbone_info(backbone, self._gray_to_rgb)
            self._net = FaceNet(backbone, head)
            return
        path = _code_gate(Path(weights).expanduser(), bool(p["trust_code"]))
        sha = _sha256(path)
        if _weights_format(path) == "safetensors":
            state = _load_safetensors(path)
            backbone = backbone_from_state(state, arch, channels, p["attention"],
                                           p["finetune"], path)
            head = None
            if n_outputs is not None:
                head = LabelHead(backbone.out_features, p["hidden"], n_outputs)
            elif "head.fc.0.weight" in state:
                head = LabelHead(backbone.out_features, int(state["head.fc.0.weight"].shape[0]),
                                 [])
                load_matching(head.fc, _strip(state, "head.fc."), path, "the head fc")
            self._backbone = {**backbone_info(backbone, self._gray_to_rgb), "path": str(path),
                              "sha256": sha}
        else:
            if arch != "small":
                raise InputError(f"arch={arch} reads a safetensors state dict; a TorchScript "
                                 "file brings its own network: leave arch=small", file=path,
                                 obj=f"{_OBJ}.arch")
            backbone = _load_torchscript(path, bool(p["trust_code"]), x_probe.device)
            self._gray_to_rgb = False
            out_dim = self._probe(backbone, x_probe[:2], path)
            head = LabelHead(out_dim, p["hidden"], n_outputs) if n_outputs is not None else None
            self._backbone = {"kind": "torchscript", "path": str(path), "sha256": sha,
                              "out_features": out_dim, "gray_to_rgb": self._gray_to_rgb}
        backbone.eval()
        for param in backbone.parameters():
            param.requires_grad_(False)
        if p["finetune"] and getattr(backbone, "attention", None) is not None:
            backbone.attention.requires_grad_(True)  # the new block trains with the head
        self._net = FaceNet(backbone, head)

    def _probe(self, backbone: Any, x: torch.Tensor, path: Path) -> int:
        """Output size of a TorchScript net; grey images are repeated to RGB if it needs 3."""
        import torch

        tries = [False, True] if x.shape[1] == 1 else [False]
        last = ""
        for rgb in tries:
            try:
                with torch.no_grad():
                    out = backbone(x.expand(-1, 3, -1, -1) if rgb else x)
                if isinstance(out, (tuple, list)):
                    out = out[0]
                self._gray_to_rgb = rgb
                return int(out.reshape(len(x), -1).shape[1])
            except Exception as exc:  # the user's network rejected the input
                last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"the TorchScript network fails on {tuple(x.shape[1:])} images: "
                         f"{last}", file=path, obj=f"{_OBJ}.weights")

    def _resolve_layer(self) -> str:
        layer = self.params["layer"]
        head = self._net.head
        builtin = self._backbone["kind"] != "torchscript"
        if layer == "penultimate":
            return "fc" if head is not None else "backbone"
        if layer == "fc" and head is None:
            raise InputError("layer fc needs a trained head: set finetune=true or use "
                             "layer=backbone", obj=f"{_OBJ}.layer")
        if layer not in ("fc", "backbone") and not builtin:
            raise InputError(f"layer {layer} exists only in the built-in network; use "
                             "layer=backbone for a TorchScript one", obj=f"{_OBJ}.layer")
        return layer

    def _activations(self, x: torch.Tensor, layer: str, batch: int = 256) -> np.ndarray:
        import torch

        net = self._net
        net.eval()
        device = _net_device(net)
        outs = []
        with torch.no_grad():
            for start in range(0, len(x), batch):
                xb = x[start:start + batch].to(device)
                if layer not in ("backbone", "fc"):
                    h = net.backbone(xb, upto=layer)
                elif layer == "backbone":
                    h = net.features(xb)
                else:
                    h = net.head.fc(net.features(xb))
                outs.append(h.double().cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, 0))

    # -- labels -------------------------------------------------------------------------------
    def _targets_from(self, labels: pd.DataFrame | None) -> tuple[list[_Target], list[np.ndarray]]:
        wanted = _parse_label(self.params["label"])
        if not wanted:
            raise InputError("label names no column", obj=f"{_OBJ}.label")
        if labels is None:
            raise InputError("training the classifier needs a stimulus table with the label "
                             f"column(s) {[w[0] for w in wanted]}", obj=_OBJ)
        targets, encoded = [], []
        for name, kind in wanted:
            if name not in labels.columns:
                raise InputError(f"no label column {name!r}; the stimulus table has "
                                 f"{[str(c) for c in labels.columns]}", obj=f"{_OBJ}.label")
            values = labels[name].to_numpy()
            miss = _missing(values)
            if miss.all():
                raise InputError(f"label column {name!r} is empty", obj=f"{_OBJ}.label")
            known = values[~miss]
            if kind is None:
                numeric = np.issubdtype(np.asarray(known).dtype, np.floating)
                integral = numeric and np.all(np.mod(known.astype(float), 1) == 0)
                kind = "regression" if numeric and not integral else "classification"
            if kind == "classification":
                classes = sorted({_py(v) for v in known}, key=lambda v: (str(type(v)), v))
                if len(classes) < 2:
                    raise InputError(f"label column {name!r} has a single class",
                                     obj=f"{_OBJ}.label")
                index = {c: i for i, c in enumerate(classes)}
                y = np.array([-1 if m else index[_py(v)]
                              for v, m in zip(values, miss, strict=True)])
                targets.append(_Target(name, kind, classes=classes))
                encoded.append(y.astype(np.int64))
            else:
                try:
                    y = np.where(miss, np.nan, values).astype(np.float64)
                except (TypeError, ValueError):
                    raise InputError(f"label column {name!r} is not numeric; use :class",
                                     obj=f"{_OBJ}.label") from None
                mean, std = float(np.nanmean(y)), float(np.nanstd(y))
                std = std if std > 0 else 1.0
                targets.append(_Target(name, kind, mean=mean, std=std))
                encoded.append(((y - mean) / std).astype(np.float32))
        return targets, encoded

    def _split(self, n: int, encoded: list[np.ndarray], seed: int) -> tuple[np.ndarray, ...]:
        from sklearn.model_selection import train_test_split

        idx = np.arange(n)
        frac = self.params["holdout"]
        if frac <= 0 or n < 10:
            return idx, idx[:0]
        strat = next((y for t, y in zip(self._targets, encoded, strict=True)
                      if t.kind == "classification"), None)
        try:
            tr, te = train_test_split(idx, test_size=frac, random_state=seed, stratify=strat)
        except ValueError:  # a class too small to stratify
            tr, te = train_test_split(idx, test_size=frac, random_state=seed)
        return np.sort(tr), np.sort(te)

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        images: np.ndarray,
        labels: pd.DataFrame | None,
        *,
        seed: int,
        progress: ProgressCallback,
        landmarks: np.ndarray | None = None,
    ) -> None:
        """Train on the labels (unless a pretrained net is used as is), then fit the PCA."""
        import torch

        self._channels = 0
        self._gray_to_rgb = False
        device = self._device()
        x = self._tensor(images).to(device)
        if len(x) < 2:
            raise InputError("the classifier needs at least 2 training images", obj=_OBJ)
        self._channels = int(np.asarray(images).shape[-1]) if np.ndim(images) == 4 else 1
        p = self.params
        train_labels = not p["weights"] or p["finetune"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if train_labels:
                self._targets, encoded = self._targets_from(labels)
                self._build(x, [t.outputs for t in self._targets])
            else:
                self._targets, encoded = [], []
                self._build(x, None)
            if self._gray_to_rgb:  # AlexNet/VGG, or a TorchScript net that needs RGB
                x = x.expand(-1, 3, -1, -1).contiguous()
            self._net.to(device)
            self._layer = self._resolve_layer()
            report: dict[str, Any] = {}
            if train_labels:
                tr, te = self._split(len(x), encoded, seed)
                self._train(x[tr], [y[tr] for y in encoded], seed, progress)
                report = self._evaluate(x[te], [y[te] for y in encoded])
                report["n_train"], report["n_heldout"] = int(len(tr)), int(len(te))
            feats = self._activations(x, self._layer)
        from sklearn.decomposition import PCA

        k = min(p["n_components"], feats.shape[0], feats.shape[1])
        pca = PCA(n_components=k, random_state=seed).fit(feats)
        self._pca = {
            "mean": np.ascontiguousarray(pca.mean_, dtype=np.float64),
            "components": np.ascontiguousarray(pca.components_, dtype=np.float64),
            "explained_variance_ratio": np.ascontiguousarray(pca.explained_variance_ratio_),
        }
        self.unit_names = [f"pc_{i:02d}" for i in range(k)]
        self.provenance_extra = {
            "arch": "torchscript" if self._backbone["kind"] == "torchscript" else p["arch"],
            "attention": p["attention"],
            "input_size": [int(v) for v in x.shape[2:]],
            "layer": self._layer,
            "trained": ("head" if p["finetune"] else "all") if train_labels else "none",
            "weights": p["weights"],
            "weights_sha256": self._backbone.get("sha256", ""),
            "device": device.type,
            "pca_explained_variance": float(pca.explained_variance_ratio_.sum()),
            **report,
        }

    def _loss(self, outs: list[torch.Tensor], ys: list[torch.Tensor]) -> torch.Tensor:
        import torch.nn.functional as F

        total = outs[0].new_zeros(())
        for target, out, y in zip(self._targets, outs, ys, strict=True):
            if target.kind == "classification":
                known = y >= 0
                if known.any():
                    total = total + F.cross_entropy(out[known], y[known])
            else:
                known = ~y.isnan()
                if known.any():
                    total = total + F.mse_loss(out[known, 0], y[known])
        return total

    def _train(self, x: torch.Tensor, ys: list[np.ndarray], seed: int,
               progress: ProgressCallback) -> None:
        import torch

        p = self.params
        net = self._net
        frozen = bool(p["weights"])
        gen = torch.Generator().manual_seed(seed)  # on the CPU: same draws on any device
        y_t = [torch.from_numpy(y).to(x.device) for y in ys]
        if frozen:  # the backbone never changes: compute its features once
            net.backbone.eval()
            with torch.no_grad():
                source = torch.cat([net.frozen_input(x[i:i + 256])
                                    for i in range(0, len(x), 256)])
        else:
            source = x
        params = [q for q in net.parameters() if q.requires_grad]
        opt = torch.optim.Adam(params, lr=p["lr"], weight_decay=1e-4)
        n, steps = len(source), p["steps"]
        batch = min(p["batch_size"], n)
        losses = np.zeros(steps)
        tick = max(1, steps // 100)
        progress(0, total=steps, description="classifier: training")
        net.train()
        if frozen:
            net.backbone.eval()
        order, pos = torch.randperm(n, generator=gen), 0
        for step in range(steps):
            if pos + batch > n:  # next epoch: reshuffle
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + batch].to(x.device)
            pos += batch
            if frozen:
                _, outs = net.from_frozen(source[idx])
            else:
                xb = _augment(source[idx], gen) if p["augment"] else source[idx]
                _, outs = net(xb)
            loss = self._loss(outs, [y[idx] for y in y_t])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[step] = float(loss.detach())
            if (step + 1) % tick == 0 or step + 1 == steps:
                done = (step + 1) % tick or tick
                progress(done, description=f"classifier: loss {losses[step]:.3f}")
        net.eval()
        self.history = {"loss": losses}

    def _evaluate(self, x: torch.Tensor, ys: list[np.ndarray]) -> dict[str, Any]:
        if len(x) == 0:
            return {"labels": {t.name: {"kind": t.kind} for t in self._targets}}
        preds = self._predict_tensor(x)
        out: dict[str, Any] = {}
        for target, y in zip(self._targets, ys, strict=True):
            pred = preds[target.name]
            if target.kind == "classification":
                known = y >= 0
                truth = np.asarray(target.classes, dtype=object)[y[known]]
                acc = float(np.mean(pred[known].astype(object) == truth)) if known.any() else None
                out[target.name] = {"kind": target.kind, "n_classes": len(target.classes),
                                    "heldout_accuracy": acc,
                                    "chance": float(1.0 / len(target.classes))}
            else:
                true = y.astype(np.float64) * target.std + target.mean
                known = np.isfinite(true)
                err = pred[known] - true[known]
                rmse = float(np.sqrt(np.mean(err**2))) if known.any() else None
                r2 = (float(1 - np.sum(err**2) / np.sum((true[known] - true[known].mean())**2))
                      if known.sum() > 1 and np.ptp(true[known]) > 0 else None)
                out[target.name] = {"kind": target.kind, "heldout_rmse": rmse,
                                    "heldout_r2": r2}
        return {"labels": out}

    # -- using the fitted model ---------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self._net is None:
            raise InputError("the classifier is not fitted (call fit or load first)", obj=_OBJ)

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        """PCA scores (n, K) of the chosen layer's activations."""
        self._require_fitted()
        feats = self._activations(self._tensor(images), self._layer)
        return (feats - self._pca["mean"]) @ self._pca["components"].T

    def map_layers(self) -> tuple[str, ...]:
        """Return the ``layer=`` values :meth:`feature_maps` accepts (the conv layers).

        ``small``: conv1..conv4; ``alexnet``: conv1..conv5; VGG: conv{block}_{k}; with the
        attention block also ``attention`` (the last conv layer's maps after it). A user's
        TorchScript backbone has none (its layers are not known).
        """
        if self._backbone.get("kind") == "torchscript":
            return ()
        arch = self.params.get("arch", "small")
        convs = tuple(n for n in arch_layers(arch) if n.startswith("conv"))
        return convs + (("attention",) if self.params.get("attention") else ())

    def feature_maps(self, images: np.ndarray, *, layer: str = "conv2") -> np.ndarray:
        """Activation maps of one conv layer after its ReLU, float32 (n, C, h, w).

        For spatial dissection (local concepts). ``layer`` is one of :meth:`map_layers`; the
        maps are the network's own (ImageNet normalisation inside for AlexNet/VGG).
        Latents are unchanged.
        """
        import torch

        self._require_fitted()
        layers = self.map_layers()
        if layer not in layers:
            have = ", ".join(layers) if layers else "none (a TorchScript backbone)"
            raise InputError(f"unknown feature-map layer {layer!r}; this classifier has: "
                             f"{have}", obj=f"{_OBJ}.layer")
        x = self._tensor(images)
        backbone = self._net.backbone
        device = _net_device(self._net)
        parts = []
        with torch.no_grad():
            for start in range(0, len(x), 256):
                xb = x[start:start + 256].to(device)
                if layer == "attention":
                    maps = backbone.attention(backbone.before_attention(xb))
                else:
                    maps = backbone.before_attention(xb, layer)
                parts.append(maps.float().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, 0, 0, 0), np.float32)

    def _predict_tensor(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        import torch

        net = self._net
        net.eval()
        device = _net_device(net)
        outs: list[list[np.ndarray]] = [[] for _ in self._targets]
        with torch.no_grad():
            for start in range(0, len(x), 256):
                _, heads = net(x[start:start + 256].to(device))
                for i, h in enumerate(heads):
                    outs[i].append(h.double().cpu().numpy())
        result = {}
        for target, chunks in zip(self._targets, outs, strict=True):
            z = np.concatenate(chunks)
            if target.kind == "classification":
                result[target.name] = np.asarray(target.classes)[z.argmax(axis=1)]
            else:
                result[target.name] = z[:, 0] * target.std + target.mean
        return result

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Predicted value of each trained label column: classes, or regression values."""
        self._require_fitted()
        if not self._targets:
            raise InputError("this classifier has no trained labels (pretrained network used "
                             "as is)", obj=_OBJ)
        return self._predict_tensor(self._tensor(images))

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write ``classifier.safetensors``, ``pca.safetensors`` and ``classifier.json``.

        A TorchScript backbone is referenced by path and sha256, not copied.
        """
        from safetensors.numpy import save_file as save_numpy
        from safetensors.torch import save_file

        self._require_fitted()
        directory = Path(directory)
        state = self._net.state_dict()
        if self._backbone["kind"] == "torchscript":
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()},
                  str(directory / "classifier.safetensors"))
        save_numpy(self._pca, str(directory / "pca.safetensors"))
        head = self._net.head
        config = {
            "format": _FORMAT,
            "params": self.params,
            "layer": self._layer,
            "channels": self._channels,
            "backbone": self._backbone,
            "head": None if head is None else {
                "in_features": int(head.fc[0].in_features),
                "hidden": int(head.fc[0].out_features),
                "outputs": [int(o.out_features) for o in head.outputs],
            },
            "targets": [asdict(t) for t in self._targets],
            "provenance_extra": self.provenance_extra,
            "history": {k: v.tolist() for k, v in self.history.items()},
        }
        (directory / "classifier.json").write_text(json.dumps(config, indent=1))

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote (re-reading a TorchScript backbone, hash-checked)."""
        from safetensors.numpy import load_file as load_numpy
        from safetensors.torch import load_file

        from neurofacedis._util import read_saved

        from ._backbones import new_backbone
        from ._net import FaceNet, LabelHead

        config, files = read_saved(
            directory, "classifier.json",
            {"classifier.safetensors": load_file, "pca.safetensors": load_numpy},
            fmt=_FORMAT, what="a saved classifier")
        state, pca = files["classifier.safetensors"], files["pca.safetensors"]
        # where this process computes, not where the model was fitted (cuda -> a CPU machine)
        here = {k: self.params[k] for k in ("device", "threads", "trust_code")
                if k in self.params}
        self.params = {"arch": "small", "attention": False, **config["params"], **here}
        self._channels = int(config["channels"])
        info = config["backbone"]
        self._backbone = info
        self._gray_to_rgb = bool(info.get("gray_to_rgb", False))
        if info["kind"] == "torchscript":
            path = _code_gate(Path(info["path"]), bool(self.params.get("trust_code")))
            if _sha256(path) != info["sha256"]:
                raise InputError("the TorchScript network this classifier was fitted on is "
                                 "missing or changed", file=path, obj=f"{_OBJ}.weights")
            backbone = _load_torchscript(path, bool(self.params.get("trust_code")), "cpu")
        else:
            backbone = new_backbone(info.get("arch", "small"), self._channels,
                                    int(info.get("width", 0)), info.get("attention", False),
                                    int(info.get("num_classes", 1000)), init=False)
        h = config["head"]
        head = None if h is None else LabelHead(h["in_features"], h["hidden"], h["outputs"])
        net = FaceNet(backbone, head)
        if info["kind"] != "torchscript":
            net.load_state_dict(state)
        elif head is not None:
            head.load_state_dict({k[len("head."):]: v for k, v in state.items()})
        net.eval()
        self._net = net.to(self._device())
        self._layer = config["layer"]
        self._targets = [_Target(**t) for t in config["targets"]]
        self._pca = {k: np.ascontiguousarray(v) for k, v in pca.items()}
        self.unit_names = [f"pc_{i:02d}" for i in range(len(self._pca["components"]))]
        self.provenance_extra = dict(config["provenance_extra"])
        self.history = {k: np.asarray(v, dtype=np.float64) for k, v in config["history"].items()}


def _net_device(net: Any) -> torch.device:
    """Return where a network computes (CPU for one without parameters or buffers)."""
    import torch

    first = next(iter(net.state_dict().values()), None)
    return first.device if first is not None else torch.device("cpu")


def _weights_format(path: Path) -> str:
    """Tell what a weights file holds, from its first bytes (never its name).

    ``safetensors`` (an 8-byte little-endian header length, then a JSON header that fits in
    the file), ``zip archive`` (TorchScript, or ``torch.save``'s default), ``pickle`` (older
    ``torch.save``) or ``unknown``.
    """
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) == 9 and head[8:9] == b"{":
        if 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size:
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "zip archive"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    return "unknown"


def _code_gate(path: Path, trust_code: bool) -> Path:
    """Gate a weights path: a regular file, and code-carrying formats only with trust_code.

    Why: TorchScript (and pickle) files are programs; ``torch.jit.load`` runs what they
    carry. The check reads 9 bytes with plain ``open`` after the input gate, nothing else.
    """
    from neurofacedis._inputs import check_input_path

    path = check_input_path(path, what=f"{_OBJ}.weights")
    kind = _weights_format(path)
    if kind == "safetensors" or trust_code:
        return path
    what = "not a safetensors file" if kind == "unknown" else f"a {kind}, not a safetensors file"
    raise InputError(
        f"{what}: a TorchScript or pickle file is a program that runs when loaded, so it is "
        "refused; load it only if you trust its author, with trust_code=true "
        "(--param classifier.trust_code=true)",
        file=path,
        obj=f"{_OBJ}.weights",
    )


def _load_torchscript(path: Path, trust_code: bool, device: Any) -> Any:
    """Load a TorchScript program: the one place it happens, only when the user opted in.

    ``path`` has passed :func:`_code_gate`; the opt-in is checked again here so that no
    caller can reach ``torch.jit.load`` without it.
    """
    import torch

    path = _code_gate(path, trust_code)
    if not trust_code:  # _code_gate let a safetensors file through: that is not TorchScript
        raise InputError("a safetensors file, not a TorchScript network", file=path,
                         obj=f"{_OBJ}.weights")
    try:
        return torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError / ValueError variously
        raise InputError(f"not a TorchScript file ({type(exc).__name__})", file=path,
                         obj=f"{_OBJ}.weights") from None


def _load_safetensors(path: Path) -> dict[str, Any]:
    """Read a safetensors state dict (plain tensors, no code); a damaged one is one line."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - SafetensorError and OSError variants
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise InputError(f"not a readable safetensors file ({first})", file=path,
                         obj=f"{_OBJ}.weights") from None


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random sub-pixel shifts (up to 2 px) and brightness/contrast jitter, per image."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 2.0
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = shift[:, 0] * 2.0 / w
    theta[:, 1, 2] = shift[:, 1] * 2.0 / h
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gain = 1.0 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * 0.2
    bias = (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * 0.1
    return (out * gain.to(x.device) + bias.to(x.device)).clamp(0.0, 1.0)
