"""The ``alignment`` metric: how one-to-one a model's latent units line up with single neurons.

Lasso of each neuron on the model's active units (z-scored over training stimuli); the
entropy (base K) of each neuron's |weights| says whether one unit or many drive it; the score
weights neurons by their total |weight|. Comes with the neuron-subset ceiling, a rotated-code
control and the Hungarian one-to-one matching (METHODS.md, "Alignment score").

References
----------
Higgins, I. et al. (2021) Unsupervised deep learning identifies semantic disentanglement in
single inferotemporal face patch neurons. Nat Commun 12:6456.
Eastwood, C. & Williams, C. K. I. (2018) A framework for the quantitative evaluation of
disentangled representations. ICLR.
"""

from __future__ import annotations

from neurofacedis import hookimpl
from neurofacedis.specs import MetricSpec, Param
from nfd_alignment._lasso import LassoFit, choose_alpha_cv, fit_lasso, lasso_gram
from nfd_alignment._metric import AlignmentMetric
from nfd_alignment._score import (
    DEFAULT_ALPHA,
    AlignmentResult,
    alignment_from_importance,
    alignment_score,
    match_units,
    neuron_ceiling,
    rotated_control,
)

__all__ = [
    "CITATION",
    "DEFAULT_ALPHA",
    "AlignmentMetric",
    "AlignmentResult",
    "LassoFit",
    "alignment_from_importance",
    "alignment_score",
    "choose_alpha_cv",
    "fit_lasso",
    "lasso_gram",
    "match_units",
    "neuron_ceiling",
    "rotated_control",
    "neurofacedis_register_metrics",
]

CITATION = (
    "Higgins I, Chang L, Langston V, Hassabis D, Summerfield C, Tsao D, Botvinick M (2021). "
    "Unsupervised deep learning identifies semantic disentanglement in single inferotemporal "
    "face patch neurons. Nat Commun 12:6456. doi:10.1038/s41467-021-26751-5; "
    "Eastwood C, Williams CKI (2018). A framework for the quantitative evaluation of "
    "disentangled representations. ICLR."
)

PARAMS = (
    Param(
        "alpha",
        DEFAULT_ALPHA,
        float,
        "Lasso strength on z-scored data (Eastwood & Williams' code uses 0.02)",
    ),
    Param("alpha_cv", False, bool, "choose alpha by 5-fold LassoCV on 50 random neurons"),
    Param("n_subsets", 50, int, "random neuron subsets for the ceiling"),
    Param("n_rotations", 5, int, "random rotations of the responses for the control"),
    Param("rotation_block", 128, int, "largest group of neurons rotated together"),
    Param("tol", 1e-4, float, "Lasso stopping tolerance (scikit-learn's rule)"),
    Param("max_iter", 1000, int, "Lasso coordinate-descent sweeps at most"),
    Param("n_jobs", 1, int, "threads for the ceiling subsets and rotated fits (0 = every "
          "core); the numbers do not depend on it"),
)


@hookimpl
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register the ``alignment`` metric."""
    return [
        MetricSpec(
            name="alignment",
            factory=AlignmentMetric,
            params=PARAMS,
            summary=(
                "one-to-one alignment of units with single neurons (Lasso entropy), with "
                "neuron-subset ceiling, rotated-code control and Hungarian matching"
            ),
            citation=CITATION,
            requires=frozenset({"units"}),
            version="1",
            testing_params={"n_subsets": 5, "n_rotations": 1},
        )
    ]
