"""The ``core`` plugin: what neurofacedis itself registers. Always loaded, cannot be disabled.

It offers the embedded default dataset, the virtual face patch. It goes through the same hooks
as every other plugin, so the registry, ``neurofacedis plugins`` and the runner treat it alike.
"""

from __future__ import annotations

from pathlib import Path

from neurofacedis.hookspecs import hookimpl
from neurofacedis.specs import DatasetSpec, Param

__all__ = ["neurofacedis_register_datasets", "load_virtual_face_patch"]

_CITATION = (
    "Chang L, Tsao DY (2017) The code for facial identity in the primate brain. Cell 169:1013; "
    "Higgins I et al. (2021) Unsupervised deep learning identifies semantic disentanglement in "
    "single inferotemporal face patch neurons. Nat Commun 12:6456"
)


def load_virtual_face_patch(dest: Path, *, seed: int = 0) -> Path:
    """Write the seeded virtual face patch recording to ``dest/virtual_face_patch.nwb``.

    Parameters
    ----------
    dest
        Folder to write into (created if needed).
    seed
        Seed of the simulation; the same seed gives the same file content.

    Returns
    -------
    Path
        The NWB file written.
    """
    from neurofacedis.nwb import write_session  # heavy (pynwb): imported only when used
    from neurofacedis.simulate import demo_session

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "virtual_face_patch.nwb"
    write_session(path, demo_session(seed=seed), overwrite=True)
    return path


@hookimpl
def neurofacedis_register_datasets() -> list[DatasetSpec]:
    """Register the virtual face patch (the embedded default data)."""
    return [
        DatasetSpec(
            name="virtual_face_patch",
            loader=load_virtual_face_patch,
            params=(Param("seed", 0, int, "seed of the simulation"),),
            summary="simulated face patch: parametric faces with known factors, "
            "ramp-tuned model neurons (axis and rotated codes), Poisson spikes",
            citation=_CITATION,
        )
    ]
