"""Higgins et al. 2021 (Nat Commun 12:6456), reproduced: ``neurofacedis reproduce higgins2021``.

The paper compared many models' latent units with single neurons of macaque face patch AM.
:func:`reproduce` runs the same comparison as one grid through
:func:`neurofacedis.runner.analyze` — β-VAE over several β with label-free UDR selection, VAE,
AE, PCA, ICA, AAM and an identity classifier, several seeds each; metrics alignment (with the
neuron-subset ceiling and the rotated-code control), UDR and reconstruction — then draws the
paper's figure set and checks each of its claims on the run, writing a report that puts every
figure beside the claim it tests and says plainly whether the run agrees.

Without a recording it simulates the virtual face patch (axis-coded model neurons; real AM
recordings are not shipped). The modules, in the order a run uses them: :mod:`.presets`
(sizes), :mod:`.plan` (inputs, models, grid), :mod:`.fits` (the numbers), :mod:`.claims` (one
function per claim), :mod:`.figures`, :mod:`.report`; :mod:`.run` strings them together.
"""

from __future__ import annotations

from neurofacedis.studies.base import Claim, Reproduction
from neurofacedis.studies.higgins2021.claims import ALPHA, CLAIMS, CORE_BASELINES, check_claims
from neurofacedis.studies.higgins2021.figures import (
    plot_alignment_by_family,
    plot_matches,
    plot_reconstruction,
    plot_rotated_control,
    plot_udr_vs_alignment,
)
from neurofacedis.studies.higgins2021.fits import FitRow, family_rows, fit_table
from neurofacedis.studies.higgins2021.plan import plan_models
from neurofacedis.studies.higgins2021.presets import (
    CITATION,
    FAMILIES,
    PRESETS,
    TRAINING_SET,
    WORLD,
    Preset,
)
from neurofacedis.studies.higgins2021.report import render_html, render_markdown
from neurofacedis.studies.higgins2021.run import STUDY, reproduce

__all__ = [
    "STUDY", "reproduce", "Reproduction", "Claim", "Preset", "PRESETS", "WORLD", "TRAINING_SET",
    "CITATION", "FAMILIES", "CORE_BASELINES", "ALPHA", "CLAIMS", "check_claims", "FitRow",
    "fit_table", "family_rows", "plan_models", "plot_alignment_by_family",
    "plot_udr_vs_alignment", "plot_rotated_control", "plot_reconstruction", "plot_matches",
    "render_markdown", "render_html",
]
