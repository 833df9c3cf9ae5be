"""The ``core`` plugin: what neurofacedis itself registers. Always loaded, cannot be disabled.

It offers the embedded default dataset, the virtual face patch, and the built-in requirements
(:mod:`neurofacedis.requirements`). It goes through the same hooks
as every other plugin, so the registry, ``neurofacedis plugins`` and the runner treat it alike.
"""

from __future__ import annotations

from pathlib import Path

from neurofacedis.hookspecs import hookimpl
from neurofacedis.specs import DatasetSpec, Param, RequirementSpec

__all__ = [
    "neurofacedis_register_datasets", "neurofacedis_register_requirements",
    "load_virtual_face_patch",
]

_CITATION = (
    "Chang L, Tsao DY (2017) The code for facial identity in the primate brain. Cell 169:1013; "
    "Higgins I et al. (2021) Unsupervised deep learning identifies semantic disentanglement in "
    "single inferotemporal face patch neurons. Nat Commun 12:6456"
)


def load_virtual_face_patch(
    dest: Path,
    *,
    seed: int = 0,
    identities: int = 75,
    views: int = 8,
    neurons: int = 100,
    repeats: int = 5,
    axis_fraction: float = 0.8,
    size: int = 64,
    rgb: bool = False,
) -> Path:
    """Write the seeded virtual face patch recording to ``dest/virtual_face_patch.nwb``.

    The defaults are the session ``neurofacedis demo`` analyses (``demo_session(seed)``);
    the parameters are those of ``neurofacedis simulate`` (same names, same content).

    Parameters
    ----------
    dest
        Folder to write into (created if needed); nothing is written elsewhere.
    seed
        Seed of the simulation; the same seed gives the same file content.
    identities, views, neurons, repeats
        Face identities, views per identity, model neurons, presentations of each image.
    axis_fraction
        Fraction of single-factor (axis-coded) neurons.
    size, rgb
        Image side in pixels; colour instead of grey.

    Returns
    -------
    Path
        The NWB file written.
    """
    from neurofacedis.nwb import write_session  # heavy (pynwb): imported only when used
    from neurofacedis.simulate import simulate_session

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "virtual_face_patch.nwb"
    data = simulate_session(
        n_identities=identities, n_views=views, n_neurons=neurons, n_repeats=repeats,
        axis_fraction=axis_fraction, image_size=size, rgb=rgb, seed=seed,
    )
    write_session(path, data, overwrite=True)
    return path


@hookimpl
def neurofacedis_register_datasets() -> list[DatasetSpec]:
    """Register the virtual face patch (the embedded default data)."""
    return [
        DatasetSpec(
            name="virtual_face_patch",
            loader=load_virtual_face_patch,
            params=(
                Param("seed", 0, int, "seed of the simulation"),
                Param("identities", 75, int, "face identities"),
                Param("views", 8, int, "views (pose, lighting) per identity"),
                Param("neurons", 100, int, "model neurons"),
                Param("repeats", 5, int, "presentations of each image"),
                Param("axis_fraction", 0.8, float, "fraction of single-factor (axis) neurons"),
                Param("size", 64, int, "image side in pixels"),
                Param("rgb", False, bool, "colour images instead of grey"),
            ),
            summary="simulated face patch: parametric faces with known factors, "
            "ramp-tuned model neurons (axis and rotated codes), Poisson spikes",
            citation=_CITATION,
        )
    ]


@hookimpl
def neurofacedis_register_requirements() -> list[RequirementSpec]:
    """Register the built-in requirements (repeats, decoder, factors, seeds, ...)."""
    from neurofacedis.requirements import builtin_requirements

    return builtin_requirements()
