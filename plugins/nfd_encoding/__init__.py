"""The ``encoding`` metric: neural predictivity of a model's units (Brain-Score style).

Cross-validated ridge from all active units to each neuron, solved in closed form for all
neurons at once; per-neuron held-out R^2 and Pearson r, normalised by the split-half noise
ceiling (Spearman-Brown corrected); medians over neurons with bootstrap CIs. Equal to
scikit-learn's ``RidgeCV`` per neuron.

References
----------
Schrimpf M, Kubilius J, Hong H, et al. (2018) Brain-Score: which artificial neural network for
object recognition is most brain-like? bioRxiv 407007.
Yamins DLK, Hong H, Cadieu CF, et al. (2014) Performance-optimized hierarchical models predict
neural responses in higher visual cortex. PNAS 111:8619-8624.
"""

from __future__ import annotations

from neurofacedis import hookimpl
from neurofacedis.specs import MetricSpec, Param
from nfd_encoding._ceiling import spearman_brown, split_half_reliability
from nfd_encoding._metric import EncodingMetric, fit_ridge, median_ci, standardised_units
from nfd_encoding._ridge import RidgeCVResult, ridge_cv

__all__ = [
    "CITATION",
    "EncodingMetric",
    "RidgeCVResult",
    "fit_ridge",
    "median_ci",
    "ridge_cv",
    "spearman_brown",
    "split_half_reliability",
    "standardised_units",
    "neurofacedis_register_metrics",
]

CITATION = (
    "Schrimpf M, Kubilius J, Hong H, Majaj NJ, Rajalingham R, Issa EB, Kar K, Bashivan P, "
    "Prescott-Roy J, Geiger F, Schmidt K, Yamins DLK, DiCarlo JJ (2018). Brain-Score: which "
    "artificial neural network for object recognition is most brain-like? bioRxiv 407007. "
    "doi:10.1101/407007"
)

PARAMS = (
    Param("n_folds", 5, int, "K-fold CV over training stimuli to choose alpha"),
    Param("alpha_min", 1e-2, float, "smallest ridge alpha (latents z-scored)"),
    Param("alpha_max", 1e5, float, "largest ridge alpha"),
    Param("n_alphas", 15, int, "log-spaced alphas between alpha_min and alpha_max"),
    Param("alpha_per_neuron", True, bool, "choose alpha per neuron (else one for all)"),
    Param("n_splits", 10, int, "random halvings of the repeats for the noise ceiling"),
    Param("min_reliability", 0.1, float, "neurons below this ceiling get no normalised score"),
    Param("n_bootstrap", 1000, int, "bootstrap samples (over neurons) for the median CIs"),
    Param("ci", 0.95, float, "confidence level"),
)


@hookimpl
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register the ``encoding`` metric."""
    return [
        MetricSpec(
            name="encoding",
            factory=EncodingMetric,
            params=PARAMS,
            summary=("cross-validated ridge from units to each neuron: held-out R² and r, "
                     "normalised by the split-half noise ceiling"),
            citation=CITATION,
            requires=frozenset(),
            version="1",
            testing_params={"n_bootstrap": 50},
        )
    ]
