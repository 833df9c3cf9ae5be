"""The virtual face patch: parametric faces with known factors and a simulated face patch.

Seeded and deterministic (numpy + scikit-image only). :func:`render_faces` draws faces and
landmarks from generative factors; :func:`simulate_session` adds a population of ramp-tuned
model neurons (axis or mixed code, Chang & Tsao 2017) with Poisson spike trains and returns a
:class:`~neurofacedis.nwb.session.SessionData` for :func:`neurofacedis.nwb.write_session`.
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
from neurofacedis.simulate._session import (
    CITATION,
    count_spikes,
    demo_session,
    simulate_session,
)

__all__ = [
    "FACTORS",
    "IDENTITY_FACTORS",
    "VIEW_FACTORS",
    "FRAMING_FACTORS",
    "ALL_FACTORS",
    "LANDMARK_NAMES",
    "CITATION",
    "render_faces",
    "sample_factors",
    "simulate_session",
    "demo_session",
    "count_spikes",
]
