"""nfd_example: a worked third-party neurofacedis plugin.

It registers one model (``random_projection``) and one metric (``linear_cka``) through the
``neurofacedis`` entry-point group (see this project's pyproject.toml). Heavy work lives in the
submodules, which import nothing heavy at module level either.
"""

from __future__ import annotations

from neurofacedis import MetricSpec, ModelSpec, Param, hookimpl
from nfd_example.linear_cka import LinearCKA, linear_cka
from nfd_example.random_projection import RandomProjection

__all__ = ["RandomProjection", "LinearCKA", "linear_cka"]


@hookimpl
def neurofacedis_register_models() -> list[ModelSpec]:
    """Register the ``random_projection`` model."""
    return [
        ModelSpec(
            name="random_projection",
            factory=RandomProjection,
            params=(
                Param("n_components", 10, int, "number of random directions (units)"),
            ),
            summary="centred pixels projected on seeded Gaussian random directions",
            citation="Johnson WB, Lindenstrauss J (1984) Extensions of Lipschitz mappings into "
            "a Hilbert space. Contemp Math 26:189-206",
            version="1",
            testing_params={"n_components": 4},
        )
    ]


@hookimpl
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register the ``linear_cka`` metric."""
    return [
        MetricSpec(
            name="linear_cka",
            factory=LinearCKA,
            params=(
                Param("subset", "all", str, "stimuli to use", choices=("all", "train", "test")),
                Param("n_permutations", 200, int, "stimulus permutations for the p-value"),
            ),
            summary="linear centred kernel alignment between latents and mean responses",
            citation="Kornblith S, Norouzi M, Lee H, Hinton G (2019) Similarity of neural "
            "network representations revisited. ICML, PMLR 97:3519-3529",
            version="1",
            testing_params={"n_permutations": 20},
        )
    ]
