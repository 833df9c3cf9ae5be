"""nfd_linear: the linear baseline models ``pca``, ``ica`` and ``pixels``.

Higgins et al. (2021) compare the β-VAE with PCA and ICA of pixels; raw (downsampled) pixels are
the floor any learned representation should beat. A first-party plugin registered through the
same entry-point group third parties use (``nfd_linear = "nfd_linear"``).
"""

from __future__ import annotations

from neurofacedis import hookimpl
from neurofacedis.specs import ModelSpec, Param
from nfd_linear._models import ICAModel, PCAModel, PixelsModel

__all__ = ["PCAModel", "ICAModel", "PixelsModel", "neurofacedis_register_models"]

_SKLEARN = (
    "Pedregosa F et al. (2011) Scikit-learn: machine learning in Python. JMLR 12:2825-2830"
)
_HIGGINS = (
    "Higgins I et al. (2021) Unsupervised deep learning identifies semantic disentanglement in "
    "single inferotemporal face patch neurons. Nat Commun 12:6456"
)


@hookimpl
def neurofacedis_register_models() -> list[ModelSpec]:
    """Register ``pca``, ``ica`` and ``pixels``."""
    return [
        ModelSpec(
            name="pca",
            factory=PCAModel,
            params=(
                Param("n_components", 10, int, "number of principal components (units)"),
                Param("whiten", False, bool, "scale each component to unit variance"),
            ),
            summary="PCA of pixels; units are the top principal components",
            citation="Pearson K (1901) On lines and planes of closest fit to systems of points "
            f"in space. Phil Mag 2:559-572; {_SKLEARN}; {_HIGGINS}",
            version="1",
            testing_params={"n_components": 4},
        ),
        ModelSpec(
            name="ica",
            factory=ICAModel,
            params=(
                Param("n_components", 10, int, "number of independent components (units)"),
                Param("max_iter", 1000, int, "FastICA iterations before giving up"),
            ),
            summary="FastICA of pixels (unit-variance whitening); units are the sources",
            citation="Hyvärinen A, Oja E (2000) Independent component analysis: algorithms and "
            f"applications. Neural Netw 13:411-430; {_SKLEARN}; {_HIGGINS}",
            # 2: a constant first pixel no longer breaks the whitening; 3: one BLAS thread
            version="3",
            testing_params={"n_components": 4},
        ),
        ModelSpec(
            name="pixels",
            factory=PixelsModel,
            params=(Param("size", 16, int, "downsample images to size x size; a unit per pixel"),),
            summary="raw pixels, downsampled (anti-aliased); the floor a model should beat",
            citation="van der Walt S et al. (2014) scikit-image: image processing in Python. "
            f"PeerJ 2:e453; {_HIGGINS}",
            version="1",
            testing_params={"size": 4},
        ),
    ]
