"""Kept for one release: the study moved to :mod:`neurofacedis.studies.higgins2021`.

``reproduce(study, recording, ...)`` is :func:`neurofacedis.studies.reproduce`, which finds the
study by name; new code imports from :mod:`neurofacedis.studies`.
"""

from __future__ import annotations

from neurofacedis.studies import available, reproduce
from neurofacedis.studies.higgins2021 import (
    ALPHA,
    CITATION,
    CORE_BASELINES,
    FAMILIES,
    PRESETS,
    TRAINING_SET,
    WORLD,
    Claim,
    FitRow,
    Preset,
    Reproduction,
    check_claims,
    family_rows,
    fit_table,
    plot_alignment_by_family,
    plot_matches,
    plot_reconstruction,
    plot_rotated_control,
    plot_udr_vs_alignment,
    render_html,
    render_markdown,
)

__all__ = ["reproduce", "Reproduction", "Claim", "Preset", "PRESETS", "STUDIES", "check_claims",
           "ALPHA", "CITATION", "CORE_BASELINES", "FAMILIES", "TRAINING_SET", "WORLD", "FitRow",
           "family_rows", "fit_table", "plot_alignment_by_family", "plot_matches",
           "plot_reconstruction", "plot_rotated_control", "plot_udr_vs_alignment",
           "render_html", "render_markdown"]

#: Studies :func:`reproduce` can run.
STUDIES: tuple[str, ...] = available()
