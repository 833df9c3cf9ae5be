"""nfd_aam: the Active Appearance Model, the face space of Chang & Tsao (2017).

Registers the model ``aam`` (requires landmarks per stimulus). Latents are 25 shape
parameters (PCA of Procrustes-aligned landmarks) followed by 25 appearance parameters (PCA
of faces warped to the mean shape); ``decode`` renders a face from them. See docs/models/aam.md.
"""

from __future__ import annotations

from typing import Any

from neurofacedis import hookimpl
from neurofacedis.specs import ModelSpec, Param

__all__ = ["CITATION", "neurofacedis_register_models"]

__version__ = "1"

CITATION = (
    "Cootes TF, Edwards GJ, Taylor CJ (2001). Active appearance models. IEEE TPAMI 23(6):681-685. "
    "Chang L, Tsao DY (2017). The code for facial identity in the primate brain. "
    "Cell 169(6):1013-1028."
)


def _make(**params: Any):
    from ._model import ActiveAppearanceModel

    return ActiveAppearanceModel(**params)


@hookimpl
def neurofacedis_register_models() -> list[ModelSpec]:
    """Register ``aam``."""
    return [
        ModelSpec(
            name="aam",
            factory=_make,
            params=(
                Param("n_shape", 25, int, "shape parameters (PCA of aligned landmarks)"),
                Param("n_appearance", 25, int, "appearance parameters (PCA of shape-free faces)"),
                Param("pose", False, bool, "append the 4 pose parameters Procrustes removes"),
            ),
            summary="Active Appearance Model: shape + appearance PCA (Chang & Tsao 2017)",
            citation=CITATION,
            requires=frozenset({"landmarks"}),
            version=__version__,
        )
    ]
