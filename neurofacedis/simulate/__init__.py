"""The virtual face patch: parametric faces with known factors and a simulated face patch.

Seeded and deterministic (numpy + scikit-image only). :func:`render_faces` draws flat faces
and landmarks from generative factors, :func:`render_heads` ray-casts 3D heads with 68
landmarks (the ``3d`` world, :data:`WORLDS`); :func:`simulate_session` adds a population
of ramp-tuned model neurons (axis or mixed code, Chang & Tsao 2017) with Poisson spike
trains and returns a :class:`~neurofacedis.nwb.session.SessionData` for
:func:`neurofacedis.nwb.write_session`.
Because the truth is known, it is the project's main scientific test.
"""

from __future__ import annotations

from neurofacedis.simulate._faces import (
    ALL_FACTORS,
    FACTORS,
    FRAMING_FACTORS,
    IDENTITY_FACTORS,
    LANDMARK_NAMES,
    VIEW_FACTORS,
    render_faces,
    sample_factors,
)
from neurofacedis.simulate._head3d import (
    HEAD_EXPRESSION_FACTORS,
    HEAD_FACTORS,
    HEAD_IDENTITY_FACTORS,
    HEAD_VIEW_FACTORS,
    LANDMARK_NAMES_68,
    sample_head_factors,
)
from neurofacedis.simulate._render3d import landmark_visibility, render_heads
from neurofacedis.simulate._session import (
    CITATION,
    CODES,
    count_spikes,
    demo_session,
    simulate_session,
)
from neurofacedis.simulate._worlds import WORLDS, World, get_world

__all__ = [
    "CODES",
    "FACTORS",
    "IDENTITY_FACTORS",
    "VIEW_FACTORS",
    "FRAMING_FACTORS",
    "ALL_FACTORS",
    "LANDMARK_NAMES",
    "CITATION",
    "HEAD_FACTORS",
    "HEAD_IDENTITY_FACTORS",
    "HEAD_EXPRESSION_FACTORS",
    "HEAD_VIEW_FACTORS",
    "LANDMARK_NAMES_68",
    "WORLDS",
    "World",
    "get_world",
    "render_heads",
    "sample_head_factors",
    "landmark_visibility",
    "render_faces",
    "sample_factors",
    "simulate_session",
    "demo_session",
    "count_spikes",
]
