"""nfd_factors: the ``factors`` model, the recording's own generative factors as latents.

The positive control of every analysis of simulated data: when the neurons follow the
factors (the virtual face patch's axis code), no model can do better than the factors
themselves, so their scores show what the ceiling and a perfect model look like. With
``rotate=true`` it is the matching negative control for alignment: the same information in
a randomly rotated basis. It requires ``factors`` (known generative factors for every
stimulus), the built-in requirement of :data:`neurofacedis.specs.REQUIREMENTS`. A
first-party plugin registered through the same entry-point group third parties use
(``nfd_factors = "nfd_factors"``).
"""

from __future__ import annotations

from neurofacedis import hookimpl
from neurofacedis.specs import ModelSpec, Param
from nfd_factors._model import FactorsModel, rotation

__all__ = ["FactorsModel", "rotation", "neurofacedis_register_models"]

CITATION = (
    "Chang L, Tsao DY (2017) The code for facial identity in the primate brain. Cell "
    "169:1013-1028; Higgins I et al. (2021) Unsupervised deep learning identifies semantic "
    "disentanglement in single inferotemporal face patch neurons. Nat Commun 12:6456 "
    "(the factors of a simulated recording as the positive control of its analysis)"
)


@hookimpl
def neurofacedis_register_models() -> list[ModelSpec]:
    """Register ``factors``."""
    return [
        ModelSpec(
            name="factors",
            factory=FactorsModel,
            params=(
                Param("rotate", False, bool,
                      "rotate the factors by a random orthogonal matrix (seeded by the fit "
                      "seed): the same information, no longer axis-aligned"),
            ),
            summary=("the recording's known generative factors as latents: the positive "
                     "control (rotate=true: the rotated negative control)"),
            citation=CITATION,
            requires=frozenset({"factors"}),
            version="1",
        ),
    ]
