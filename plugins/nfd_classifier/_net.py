"""The classifier's networks, in PyTorch: a small convolutional backbone and a label head.

Imported only when a model is built (it imports torch). State-dict keys of the built-in
network, for users who bring their own weights (safetensors)::

    backbone.conv{1..4}.0.weight/bias    3x3 convolutions (width, 2w, 4w, 4w channels)
    backbone.conv{1..4}.1.*              batch norms
    head.fc.0.weight/bias                the penultimate layer (hidden units, ReLU)
    head.outputs.{i}.weight/bias         one linear output per label column
    backbone.attention.*                 with attention=true (see _archs.SpatialSelfAttention)

The AlexNet / VGG backbones (torchvision's names) live in :mod:`._archs`.
"""

from __future__ import annotations

import torch
from torch import nn

from ._archs import SpatialSelfAttention

__all__ = ["ConvBackbone", "LabelHead", "FaceNet", "CONV_LAYERS"]

#: Layers of the built-in backbone whose (globally averaged) activations can be latents.
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class ConvBackbone(nn.Module):
    """Four conv-BN-ReLU-maxpool blocks (w, 2w, 4w, 4w channels), then a global average.

    Global averaging makes the features independent of image size and the pooled output
    (``4w`` values) is what the head sees. With ``attention`` a :class:`SpatialSelfAttention`
    block works on conv4's maps before the average.
    """

    def __init__(self, channels: int, width: int = 32, attention: bool = False):
        super().__init__()
        self.conv1 = _block(channels, width)
        self.conv2 = _block(width, 2 * width)
        self.conv3 = _block(2 * width, 4 * width)
        self.conv4 = _block(4 * width, 4 * width)
        self.attention = SpatialSelfAttention(4 * width) if attention else None
        self.out_features = 4 * width

    def before_attention(self, x: torch.Tensor, upto: str = "conv4") -> torch.Tensor:
        """Return the maps of layer ``upto`` (n, C, H, W), before any attention."""
        for name in CONV_LAYERS:
            x = getattr(self, name)(x)
            if name == upto:
                break
        return x

    def after_attention(self, maps: torch.Tensor, upto: str = "backbone") -> torch.Tensor:
        """conv4's maps through the attention block (if any), averaged over space."""
        if self.attention is not None:
            maps = self.attention(maps)
        return maps.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor, upto: str = "backbone") -> torch.Tensor:
        """Globally averaged activations of layer ``upto`` (n, channels)."""
        if upto in CONV_LAYERS:
            return self.before_attention(x, upto).mean(dim=(2, 3))
        return self.after_attention(self.before_attention(x))


class LabelHead(nn.Module):
    """The penultimate layer ``fc`` (Linear + ReLU) and one linear output per label."""

    def __init__(self, in_features: int, hidden: int, outputs: list[int]):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.outputs = nn.ModuleList([nn.Linear(hidden, k) for k in outputs])

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Penultimate activations and the per-label outputs (logits or standardised values)."""
        h = self.fc(features)
        return h, [out(h) for out in self.outputs]


class FaceNet(nn.Module):
    """Backbone (built-in, or a user's TorchScript module) followed by a :class:`LabelHead`.

    ``head`` is None for a pretrained network used as is (no labels trained).
    """

    def __init__(self, backbone: nn.Module, head: LabelHead | None):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the backbone's output, flattened to (n, d)."""
        out = self.backbone(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.reshape(len(x), -1)

    @property
    def trains_attention(self) -> bool:
        """A trainable attention block sits inside a frozen backbone (finetune + attention)."""
        block = getattr(self.backbone, "attention", None)
        return block is not None and any(p.requires_grad for p in block.parameters())

    def frozen_input(self, x: torch.Tensor) -> torch.Tensor:
        """Compute what a finetune needs once: the backbone output, or the attention's input."""
        if self.trains_attention:
            return self.backbone.before_attention(x)
        return self.features(x)

    def from_frozen(self, f: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Penultimate activations and outputs from :meth:`frozen_input`'s result."""
        if self.trains_attention:
            f = self.backbone.after_attention(f)
        return self.head(f)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Penultimate activations and per-label outputs."""
        if self.head is None:
            raise RuntimeError("this network has no label head")
        return self.head(self.features(x))
