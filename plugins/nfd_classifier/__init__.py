"""nfd_classifier: the deep face-classifier baseline (identity or any labels).

Registers the model ``classifier``: a CNN trained with cross-entropy on identity (or other
label columns, classification and regression at once), whose penultimate activations reduced
by PCA are the latents; a lab's own pretrained network can be used instead, as is or with a
new head (``weights=``, ``finetune=``; a TorchScript file is a program and loads only with
``trust_code=true``). ``arch=alexnet|vgg11|vgg13|vgg16`` swaps the small built-in network
for torchvision's architectures (same parameter names: torchvision weights saved as
safetensors load unchanged), ``attention=true`` adds a self-attention block after the last
conv layer. Held-out accuracy / RMSE per label goes into the model's ``provenance_extra``.
See docs/models/classifier.md.
"""

from __future__ import annotations

from typing import Any

from neurofacedis import hookimpl
from neurofacedis.specs import ModelSpec, Param

from ._layers import ALL_LAYERS, ARCHS

__all__ = ["CITATION", "neurofacedis_register_models"]

__version__ = "1"

CITATION = (
    "Higgins I, Chang L, Langston V, Hassabis D, Summerfield C, Tsao D, Botvinick M (2021). "
    "Unsupervised deep learning identifies semantic disentanglement in single inferotemporal "
    "face patch neurons. Nat Commun 12:6456 (identity-classifier baseline). "
    "LeCun Y, Bengio Y, Hinton G (2015). Deep learning. Nature 521:436-444. "
    "Backbones: Krizhevsky A, Sutskever I, Hinton GE (2012). ImageNet classification with deep "
    "convolutional neural networks. NeurIPS 25; Simonyan K, Zisserman A (2015). Very deep "
    "convolutional networks for large-scale image recognition. ICLR."
)


def _make(**params: Any):
    from ._model import FaceClassifier

    return FaceClassifier(**params)


@hookimpl
def neurofacedis_register_models() -> list[ModelSpec]:
    """Register ``classifier``."""
    return [
        ModelSpec(
            name="classifier",
            factory=_make,
            params=(
                Param("label", "identity", str,
                      "label column(s), comma-separated; suffix :class or :reg to force"),
                Param("n_components", 10, int, "K: PCA components of the layer's activations"),
                Param("layer", "penultimate", str, "layer whose activations are the latents "
                      "(which ones depends on arch: docs/models/classifier.md)",
                      choices=ALL_LAYERS),
                Param("steps", 600, int, "Adam steps (mini-batches)"),
                Param("batch_size", 64, int, "images per training step"),
                Param("lr", 1e-3, float, "Adam learning rate"),
                Param("width", 16, int, "channels of the first conv block (then 2w, 4w, 4w)"),
                Param("hidden", 128, int, "units of the penultimate layer fc"),
                Param("size", -1, int, "resize images to size x size (-1: 64 for small, "
                      "224 for alexnet/vgg; 0: keep); raised to the arch's minimum"),
                Param("holdout", 0.2, float, "fraction of training images held out for the "
                      "accuracy / RMSE report"),
                Param("weights", "", str, "pretrained network: .safetensors state dict of the "
                      "built-in net (or, with trust_code, a TorchScript file)"),
                Param("trust_code", False, bool, "allow weights= to be TorchScript: a program "
                      "that runs with your permissions when loaded; only from authors you trust"),
                Param("finetune", False, bool, "with weights: freeze them, train a new head"),
                Param("augment", True, bool, "random shifts and brightness jitter in training"),
                Param("device", "auto", str, "auto = CUDA when present",
                      choices=("auto", "cpu", "cuda")),
                Param("threads", 0, int, "torch CPU threads; 0 = torch's default"),
                Param("arch", "small", str, "backbone: small (built-in) or torchvision's "
                      "alexnet / vgg11 / vgg13 / vgg16 (same parameter names)", choices=ARCHS),
                Param("attention", False, bool, "add a self-attention block over spatial "
                      "positions after the last conv layer"),
            ),
            summary="CNN trained on identity (or other labels); PCA of its penultimate layer",
            citation=CITATION,
            requires=frozenset({"labels"}),
            version=__version__,
            testing_params={"steps": 4, "size": 32, "width": 8, "hidden": 16},
        )
    ]
