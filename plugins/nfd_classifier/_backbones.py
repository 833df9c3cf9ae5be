"""Build a backbone for ``arch=``, or fill one from a safetensors state dict (checked first).

Imported only when a model is built (it imports torch). A state dict is matched key by key
and shape by shape before anything is copied, so a file of another architecture is refused
in one line that names the problem (and the architecture it looks like), never half-loaded.
Accepted layouts:

- ``small``: the keys a fitted model saves (``backbone.conv1.0.weight`` ..., ``head.*``).
- ``alexnet`` / ``vgg*``: torchvision's own keys (``features.0.weight`` ...), or the same
  under ``backbone.`` as a fitted model saves them (with ``head.*``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurofacedis.errors import InputError

from ._archs import TorchvisionNet
from ._net import ConvBackbone

__all__ = ["new_backbone", "backbone_info", "backbone_from_state", "load_matching",
           "check_matching", "strip"]

_OBJ = "classifier.weights"


def new_backbone(arch: str, channels: int, width: int, attention: bool,
                 num_classes: int = 1000, init: bool = True) -> nn.Module:
    """Build a backbone, initialised under the caller's torch seed.

    ``init=False`` (AlexNet/VGG): memory only, for a state dict that fills every parameter.
    """
    if arch == "small":
        return ConvBackbone(channels, width, attention=bool(attention))
    if not init:
        return TorchvisionNet.uninitialised(arch, num_classes, attention=bool(attention))
    return TorchvisionNet(arch, num_classes, attention=bool(attention))


def backbone_info(backbone: nn.Module, gray_to_rgb: bool) -> dict[str, Any]:
    """Describe ``backbone`` for ``FaceClassifier.save`` (JSON-safe, enough to rebuild it)."""
    attention = getattr(backbone, "attention", None) is not None
    if isinstance(backbone, TorchvisionNet):
        return {"kind": "torchvision", "arch": backbone.arch, "attention": attention,
                "num_classes": int(backbone.classifier[6].out_features),
                "gray_to_rgb": bool(gray_to_rgb)}
    return {"kind": "builtin", "width": int(backbone.conv1[0].out_channels),
            "attention": attention}


def strip(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Return the entries of ``state`` under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def backbone_from_state(state: dict[str, Any], arch: str, channels: int, attention: bool,
                        finetune: bool, path: Path) -> nn.Module:
    """Build the ``arch`` backbone holding ``state``'s weights (checked); see the module doc.

    ``attention``: the backbone has the block; its weights must be in the file unless
    ``finetune`` (then a missing block is initialised and trained with the head).
    """
    if arch == "small":
        key = "backbone.conv1.0.weight"
        if key not in state:
            raise InputError(f"not a state dict of the built-in network (no {key}){_hint(state)}"
                             "; see docs/models/classifier.md", file=path, obj=_OBJ)
        width, in_ch = int(state[key].shape[0]), int(state[key].shape[1])
        if in_ch != channels:
            raise InputError(f"the network takes {in_ch} channels, the images have {channels}",
                             file=path, obj=_OBJ)
        own = strip(state, "backbone.")
        num_classes = 0
    else:
        saved = "backbone.features.0.weight" in state  # a fitted model's file
        own = strip(state, "backbone.") if saved else dict(state)
        weight = own.get("classifier.6.weight")
        num_classes = int(weight.shape[0]) if weight is not None and weight.ndim == 2 else 1000
        width = 0
    optional = ("attention.",) if attention and finetune else ()
    if arch != "small":  # check against a shape-only copy before allocating ~0.2-0.5 GB
        with torch.device("meta"):
            probe = TorchvisionNet(arch, num_classes, attention=attention)
        check_matching(probe.state_dict(), own, path, f"the {arch} network", optional)
    backbone = new_backbone(arch, channels, width, attention, num_classes, init=False)
    load_matching(backbone, own, path, f"the {arch} network", optional=optional)
    return backbone


def load_matching(module: nn.Module, state: dict[str, Any], path: Path, what: str,
                  optional: tuple[str, ...] = ()) -> None:
    """Copy ``state`` into ``module`` after :func:`check_matching` (one-line error).

    Keys starting with one of ``optional`` may be missing (they keep their initial values).
    """
    want = module.state_dict()
    check_matching(want, state, path, what, optional)
    module.load_state_dict({k: state[k] for k in want if k in state}, strict=False)


def check_matching(want: dict[str, Any], state: dict[str, Any], path: Path, what: str,
                   optional: tuple[str, ...] = ()) -> None:
    """Refuse ``state`` unless its keys and shapes are ``want``'s (``optional`` may miss)."""
    missing = [k for k in want if k not in state and not (optional and k.startswith(optional))]
    extra = [k for k in state if k not in want]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(want[k].shape)})"
             for k in want if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    problems = [f"{label} {_few(keys)}" for label, keys in
                (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)) if keys]
    if not problems:
        return
    hint = _hint(state)
    if any(k.startswith("attention.") for k in extra):
        hint += " (the file has an attention block: set attention=true)"
    elif any(k.startswith("attention.") for k in missing):
        hint += " (no attention block in the file: set finetune=true to train a new one)"
    raise InputError(f"not a state dict of {what}: {'; '.join(problems)}{hint}",
                     file=path, obj=_OBJ)


def _few(keys: list[str], n: int = 3) -> str:
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _hint(state: dict[str, Any]) -> str:
    """`` (it looks like arch=NAME)`` when the keys and shapes are one known backbone's."""
    if "backbone.conv1.0.weight" in state:
        return " (it looks like arch=small)"
    own = strip(state, "backbone.") if "backbone.features.0.weight" in state else state
    shapes = {k: tuple(v.shape) for k, v in own.items()
              if not k.startswith(("attention.", "classifier.6."))}
    for arch in ("alexnet", "vgg11", "vgg13", "vgg16"):
        with torch.device("meta"):
            ref = TorchvisionNet(arch).state_dict()
        if shapes == {k: tuple(v.shape) for k, v in ref.items()
                      if not k.startswith("classifier.6.")}:
            return f" (it looks like arch={arch})"
    return ""
