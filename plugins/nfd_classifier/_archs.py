"""AlexNet and VGG 11/13/16 as plain torch modules with torchvision's parameter names.

Imported only when a model is built (it imports torch); torchvision is never imported. The
modules reproduce torchvision's ``AlexNet`` (torchvision/models/alexnet.py) and ``VGG``
without batch norm (vgg.py, configurations "A", "B", "D") attribute by attribute, so the
state dict of a user's torchvision model, saved as safetensors, loads unchanged::

    features.{i}.weight/bias       the conv layers, at torchvision's indices
    classifier.{1,4,6} (alexnet)   fc6, fc7, the class layer (Dropout first)
    classifier.{0,3,6} (vgg)       fc6, fc7, the class layer (Dropout after each ReLU)
    attention.*                    only with ``attention=True`` (not a torchvision layer)

:class:`SpatialSelfAttention` is the optional block after the last conv layer (the FE-AlexNet
idea): multi-head self-attention over the spatial positions of a feature map, added back
through a learned gate that starts at zero (so a pretrained network is unchanged until the
block has learnt something).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._layers import VGG_CFGS, vgg_conv_names

__all__ = ["SpatialSelfAttention", "TorchvisionNet"]

#: ImageNet channel statistics torchvision's pretrained weights expect (inputs in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _alexnet_features() -> tuple[list[nn.Module], dict[str, int]]:
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
    ]
    return layers, {"conv1": 1, "conv2": 4, "conv3": 7, "conv4": 9, "conv5": 11}


def _vgg_features(cfg: list[int | str]) -> tuple[list[nn.Module], dict[str, int]]:
    """Build torchvision's ``make_layers`` without batch norm; taps named conv{block}_{k}."""
    layers: list[nn.Module] = []
    relus: list[int] = []
    c_in = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, int(v), kernel_size=3, padding=1), nn.ReLU()]
            relus.append(len(layers) - 1)
            c_in = int(v)
    return layers, dict(zip(vgg_conv_names(cfg), relus, strict=True))


def _features(arch: str) -> tuple[list[nn.Module], dict[str, int]]:
    if arch == "alexnet":
        return _alexnet_features()
    if arch in VGG_CFGS:
        return _vgg_features(VGG_CFGS[arch])
    raise ValueError(f"arch {arch!r} is not alexnet, vgg11, vgg13 or vgg16")


class SpatialSelfAttention(nn.Module):
    """Multi-head self-attention over the H x W positions of a feature map, residual and gated.

    Each position's C-vector is a token; ``qkv`` (one linear map) gives queries, keys and
    values split into ``heads`` heads of C/heads dimensions; every position attends to every
    position (softmax of scaled dot products), ``proj`` mixes the heads, and the result is
    added to the input scaled by ``gamma`` (initialised to 0, as in SAGAN, Zhang et al. 2019):
    ``y = x + gamma * proj(attention(x))``. Like a non-local block (Wang et al. 2018) it has
    no position encoding: it relates features by content, wherever they are.
    """

    def __init__(self, channels: int, heads: int = 8):
        super().__init__()
        while channels % heads:
            heads //= 2
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + gamma * attended(x)``, same shape (n, C, H, W)."""
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (n, HW, C)
        q, k, v = self.qkv(self.norm(tokens)).chunk(3, dim=-1)
        split = (n, h * w, self.heads, c // self.heads)
        q, k, v = (t.reshape(split).transpose(1, 2) for t in (q, k, v))  # (n, heads, HW, d)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(c // self.heads), dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(n, h * w, c)
        out = self.proj(mixed).transpose(1, 2).reshape(n, c, h, w)
        return x + self.gamma * out


class TorchvisionNet(nn.Module):
    """torchvision's AlexNet or VGG (no batch norm), same names; optional attention block.

    Inputs are RGB in [0, 1]; they are normalised with ImageNet's channel statistics inside
    (what torchvision's weights expect; non-persistent buffers, so the state dict holds
    torchvision's keys only). ``forward(x, upto)`` returns one layer's activations: a conv
    layer (after its ReLU) or ``attention`` averaged over space, ``fc6`` / ``fc7`` (after
    ReLU) as they are. ``fc7`` (4096 values) is the backbone output a label head sees.
    """

    def __init__(self, arch: str, num_classes: int = 1000, attention: bool = False):
        super().__init__()
        layers, taps = _features(arch)
        self.arch = arch
        self.features = nn.Sequential(*layers)
        pool = 6 if arch == "alexnet" else 7
        self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
        flat = (256 if arch == "alexnet" else 512) * pool * pool
        if arch == "alexnet":
            fcs: list[nn.Module] = [nn.Dropout(), nn.Linear(flat, 4096), nn.ReLU(), nn.Dropout(),
                                    nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes)]
            self._fc = {"fc6": 3, "fc7": 6}  # classifier[:n] ends after the ReLU
        else:
            fcs = [nn.Linear(flat, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096),
                   nn.ReLU(), nn.Dropout(), nn.Linear(4096, num_classes)]
            self._fc = {"fc6": 2, "fc7": 5}
            _vgg_init(self.features, fcs)
        self.classifier = nn.Sequential(*fcs)
        self._taps = taps
        self._last = max(taps.values())  # the last conv layer's ReLU
        channels = 256 if arch == "alexnet" else 512
        self.attention = SpatialSelfAttention(channels) if attention else None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1),
                             persistent=False)
        self.out_features = 4096

    @classmethod
    def uninitialised(cls, arch: str, num_classes: int = 1000,
                      attention: bool = False) -> TorchvisionNet:
        """Allocate the network without initialising it, for a state dict to fill.

        Saves the seconds random initialisation of ~60-140 M parameters takes. Every
        parameter must then be loaded; an attention block is built (initialised) normally.
        """
        with torch.device("meta"):
            net = cls(arch, num_classes, attention=False)
        net = net.to_empty(device="cpu")
        net.mean.copy_(torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1))
        net.std.copy_(torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1))
        if attention:
            net.attention = SpatialSelfAttention(256 if arch == "alexnet" else 512)
        return net

    def before_attention(self, x: torch.Tensor, upto: str = "") -> torch.Tensor:
        """Normalised input through the conv layers up to the last ReLU (or to tap ``upto``)."""
        x = (x - self.mean) / self.std
        return self.features[:self._taps.get(upto, self._last) + 1](x)

    def after_attention(self, maps: torch.Tensor, upto: str = "fc7") -> torch.Tensor:
        """From the last conv layer's maps: attention, last pool, fc6 and fc7 (or ``upto``)."""
        if self.attention is not None:
            maps = self.attention(maps)
        if upto == "attention":
            return maps.mean(dim=(2, 3))
        x = self.features[self._last + 1:](maps)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier[:self._fc["fc7" if upto == "backbone" else upto]](x)

    def forward(self, x: torch.Tensor, upto: str = "fc7") -> torch.Tensor:
        """Activations of layer ``upto`` (n, d): conv layers averaged over space."""
        if upto in self._taps:
            return self.before_attention(x, upto).mean(dim=(2, 3))
        return self.after_attention(self.before_attention(x), upto)


def _vgg_init(features: nn.Sequential, fcs: list[nn.Module]) -> None:
    """Apply torchvision's VGG initialisation (``_initialize_weights``), as from scratch."""
    if features[0].weight.is_meta:  # shapes only: nothing to initialise (and meta init is slow)
        return
    for m in [*features, *fcs]:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)
