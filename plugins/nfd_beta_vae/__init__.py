"""β-VAE family plugin: ``beta_vae``, ``vae`` (β = 1) and ``ae`` (optionally denoising).

One implementation of the Burgess et al. (2018) architecture. Importing this package does
not import torch; the network is built at the first fit/load.
``figures(model, images)`` draws latent traversals and reconstructions for the report.
"""

from __future__ import annotations

from typing import Any

from neurofacedis import hookimpl
from neurofacedis.specs import ModelSpec, Param

__all__ = ["BetaVAE", "figures", "neurofacedis_register_models", "CITATION"]

__version__ = "2"  # 2: trains channels-last (other rounding: cached fits of 1 not reused)

CITATION = (
    "Burgess, C. P. et al. (2018) Understanding disentangling in β-VAE. arXiv:1804.03599; "
    "Higgins, I. et al. (2017) β-VAE: learning basic visual concepts with a constrained "
    "variational framework. ICLR; Kingma, D. P. & Welling, M. (2014) Auto-encoding variational "
    "Bayes. ICLR; Higgins, I. et al. (2021) Unsupervised deep learning identifies semantic "
    "disentanglement in single inferotemporal face patch neurons. Nat Commun 12:6456"
)
_AE_CITATION = (
    "Hinton, G. E. & Salakhutdinov, R. R. (2006) Reducing the dimensionality of data with "
    "neural networks. Science 313:504; Vincent, P. et al. (2008) Extracting and composing "
    "robust features with denoising autoencoders. ICML; architecture: " + CITATION.split(";")[0]
)

#: β = 4: the value Higgins et al. (2017) used for 64x64 images with a Bernoulli likelihood
#: summed over pixels; Higgins et al. (2021) found the best neuron alignment at moderate β > 1
#: and picked models per β with UDR, so sweep β (``--param beta_vae.beta=1,2,4,8 --select udr``)
#: for a study.
DEFAULT_BETA = 4.0
#: ~1-2 min for ~600 64x64 images on 2 CPU cores (one step at batch 64 takes ~0.07-0.1 s).
DEFAULT_STEPS = 1000
#: The Gaussian likelihood's pixel sd at which Σ(x - x̂)² / (2σ²) equals disentanglement_lib's
#: ``l2_loss`` (a plain sum of squared errors).
GAUSSIAN_SIGMA = 0.5 ** 0.5
#: Tiny settings for the conformance kit (neurofacedis.testing): seconds, not minutes.
_TESTING = {"steps": 4, "size": 32, "batch": 16}


def _common(*, loss: bool = True) -> tuple[Param, ...]:
    params = [
        Param("latents", 10, int, "number of latent units K"),
        Param("steps", DEFAULT_STEPS, int, "Adam steps (mini-batches) per fit"),
        Param("batch", 64, int, "mini-batch size"),
        Param("lr", 1e-4, float, "Adam learning rate"),
    ]
    if loss:
        params.append(Param("loss", "bernoulli", str, "reconstruction likelihood",
                            choices=("bernoulli", "gaussian")))
        params.append(Param("sigma", GAUSSIAN_SIGMA, float,
                            "pixel noise sd of the gaussian likelihood (sets its weight)"))
    params += [
        Param("size", 64, int, "images are resized to size x size (multiple of 16)"),
        Param("augment", True, bool, "mirror training images left-right at random (p = 1/2)"),
        Param("device", "auto", str, "auto = CUDA when present", choices=("auto", "cpu", "cuda")),
        Param("threads", 0, int, "torch CPU threads; 0 = OMP_NUM_THREADS or 1"),
        Param("checkpoint_dir", "", str, "Ctrl-C checkpoint folder (resumed on rerun)"),
    ]
    return tuple(params)


def _make_beta_vae(**params: Any) -> Any:
    from nfd_beta_vae._model import BetaVAE

    return BetaVAE(name="beta_vae", variational=True, **params)


def _make_vae(**params: Any) -> Any:
    from nfd_beta_vae._model import BetaVAE

    return BetaVAE(name="vae", variational=True, beta=1.0, **params)


def _make_ae(**params: Any) -> Any:
    from nfd_beta_vae._model import BetaVAE

    return BetaVAE(name="ae", variational=False, **params)


@hookimpl
def neurofacedis_register_models() -> list[ModelSpec]:
    """Register ``beta_vae``, ``vae`` and ``ae``."""
    common = _common()
    return [
        ModelSpec(
            name="beta_vae",
            factory=_make_beta_vae,
            params=(Param("beta", DEFAULT_BETA, float, "weight of the KL term"), *common,
                    Param("capacity", 0.0, float,
                          "KL target C (nats) reached over 3/4 of the steps; 0 = plain β-VAE")),
            summary="β-VAE (Burgess 2018 conv net); latents = posterior means",
            citation=CITATION,
            version=__version__,
            testing_params=_TESTING,
        ),
        ModelSpec(
            name="vae",
            factory=_make_vae,
            params=common,
            summary="VAE: the β-VAE network with β = 1",
            citation=CITATION,
            version=__version__,
            testing_params=_TESTING,
        ),
        ModelSpec(
            name="ae",
            factory=_make_ae,
            params=(*common, Param("denoise", 0.0, float,
                                   "sd of input pixel noise; > 0 = denoising AE")),
            summary="autoencoder: the same network, deterministic, no KL",
            citation=_AE_CITATION,
            version=__version__,
            testing_params=_TESTING,
        ),
    ]


def __getattr__(name: str) -> Any:
    # Lazy: BetaVAE and figures import nothing heavy themselves, but keep discovery minimal.
    if name == "BetaVAE":
        from nfd_beta_vae._model import BetaVAE

        return BetaVAE
    if name == "figures":
        from nfd_beta_vae._figures import figures

        return figures
    raise AttributeError(f"module 'nfd_beta_vae' has no attribute {name!r}")
