"""The backbones ``arch=`` offers and the layers ``layer=`` accepts for each (no torch here).

Kept apart from the networks (:mod:`._archs`, :mod:`._net`) so that registering the plugin
and checking parameters import no torch.
"""

from __future__ import annotations

__all__ = ["ARCHS", "VGG_CFGS", "DEFAULT_SIZE", "MIN_SIZE", "ALL_LAYERS", "arch_layers"]

#: The backbones ``arch=`` accepts; ``small`` is the built-in network (the default).
ARCHS = ("small", "alexnet", "vgg11", "vgg13", "vgg16")

#: torchvision's VGG feature configurations (vgg.py ``cfgs`` "A", "B", "D"): conv widths,
#: "M" = 2x2 max pool.
VGG_CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
}

#: Input side used when ``size=-1`` (auto): ImageNet networks were trained at 224.
DEFAULT_SIZE = {"small": 64, "alexnet": 224, "vgg11": 224, "vgg13": 224, "vgg16": 224}
#: Smallest input side the network takes (AlexNet's three 3x3/2 pools need 63 px, VGG's five
#: 2x2 pools 32); smaller inputs are resized up to it.
MIN_SIZE = {"small": 1, "alexnet": 64, "vgg11": 32, "vgg13": 32, "vgg16": 32}

_HEAD_LAYERS = ("penultimate", "fc", "backbone")


def vgg_conv_names(cfg: list[int | str]) -> list[str]:
    """``conv{block}_{k}`` for each conv of a VGG configuration (blocks end at each "M")."""
    names, block, k = [], 1, 1
    for v in cfg:
        if v == "M":
            block, k = block + 1, 1
        else:
            names.append(f"conv{block}_{k}")
            k += 1
    return names


def arch_layers(arch: str, attention: bool = False) -> tuple[str, ...]:
    """Every ``layer=`` value ``arch`` accepts (``attention`` only with the block)."""
    if arch == "small":
        own: list[str] = ["conv1", "conv2", "conv3", "conv4"]
    elif arch == "alexnet":
        own = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    else:
        own = [*vgg_conv_names(VGG_CFGS[arch]), "fc6", "fc7"]
    return (*_HEAD_LAYERS, *own, *(("attention",) if attention else ()))


#: The union over all backbones (the spec's choices; each arch checks its own).
ALL_LAYERS = tuple(dict.fromkeys(n for a in ARCHS for n in arch_layers(a, True)))
