"""The virtual face patch's worlds: which factors exist, how they are drawn and rendered.

``flat``: the cartoon faces of :mod:`._faces` with the 12 :data:`FACTORS` (naming a framing
factor in ``factors`` adds framing, as it always did). ``framed``: the same faces with the
framing factors (roll, shift, scale) varying too by default. ``3d``: ray-cast 3D heads
(:mod:`._render3d`) with identity shape, expression, pose and light factors and 68 iBUG
landmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError
from neurofacedis.simulate._faces import (
    ALL_FACTORS,
    FACTORS,
    FRAMING_FACTORS,
    IDENTITY_FACTORS,
    LANDMARK_NAMES,
    render_faces,
    sample_factors,
)
from neurofacedis.simulate._head3d import (
    HEAD_FACTORS,
    HEAD_IDENTITY_FACTORS,
    LANDMARK_NAMES_68,
    sample_head_factors,
)

__all__ = ["World", "WORLDS", "get_world"]


@dataclass(frozen=True)
class World:
    """One world of the virtual face patch.

    Attributes
    ----------
    name
        The ``world`` value that selects it.
    factors
        Every factor it knows, in canonical order.
    default_factors
        The factors that vary when none are named.
    identity_factors
        Factors fixed per identity (the others vary per image).
    landmark_names
        Names of the landmark array's second axis.
    sample
        ``(n_identities, n_views, seed, varying) -> (factors DataFrame, identity)``.
    render
        ``(factors, size, rgb) -> (uint8 images, (N, L, 2) landmarks)``.
    description
        What the stimuli are, for a session description.
    """

    name: str
    factors: tuple[str, ...]
    default_factors: tuple[str, ...]
    identity_factors: tuple[str, ...]
    landmark_names: tuple[str, ...]
    sample: Callable[[int, int, np.random.SeedSequence, Sequence[str]],
                     tuple[pd.DataFrame, np.ndarray]]
    render: Callable[[pd.DataFrame, int, bool], tuple[np.ndarray, np.ndarray]]
    description: str


def _sample_flat(n_id: int, n_views: int, seed: np.random.SeedSequence,
                 varying: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    framing = any(f in FRAMING_FACTORS for f in varying)
    return sample_factors(n_id, n_views, seed=seed, framing=framing)


def _sample_3d(n_id: int, n_views: int, seed: np.random.SeedSequence,
               varying: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    return sample_head_factors(n_id, n_views, seed=seed)


def _render_flat(factors: pd.DataFrame, size: int, rgb: bool) -> tuple[np.ndarray, np.ndarray]:
    return render_faces(factors, size=size, rgb=rgb)


def _render_3d(factors: pd.DataFrame, size: int, rgb: bool) -> tuple[np.ndarray, np.ndarray]:
    from neurofacedis.simulate._render3d import render_heads

    return render_heads(factors, size=size, rgb=rgb)


#: The worlds by name.
WORLDS: dict[str, World] = {
    "flat": World("flat", ALL_FACTORS, FACTORS, IDENTITY_FACTORS, LANDMARK_NAMES, _sample_flat,
                  _render_flat, "parametric faces"),
    "framed": World("framed", ALL_FACTORS, ALL_FACTORS, IDENTITY_FACTORS, LANDMARK_NAMES,
                    _sample_flat, _render_flat, "parametric faces, framed (roll, shift, scale)"),
    "3d": World("3d", HEAD_FACTORS, HEAD_FACTORS, HEAD_IDENTITY_FACTORS, LANDMARK_NAMES_68,
                _sample_3d, _render_3d, "3D-rendered heads"),
}


def get_world(name: str) -> World:
    """Look up the world called ``name`` (an :class:`InputError` names the known ones)."""
    try:
        return WORLDS[str(name)]
    except KeyError:
        raise InputError(f"unknown world {name!r}; known: {sorted(WORLDS)}",
                         obj="world") from None
