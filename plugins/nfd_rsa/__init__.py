"""The ``rsa`` metric: representational similarity analysis of model latents vs neurons.

RDMs over stimuli (correlation distance by default, squared euclidean, or crossnobis from
repeats), compared by Spearman, Kendall tau-a, Pearson or cosine on the upper triangle, with a
stimulus-permutation p-value, a stimulus-bootstrap CI, the lower/upper noise ceiling and FDR
across models -- values equal to rsatoolbox's, computed by ranking once (see ``_compare``),
with memory a fixed number of bytes per stimulus pair (RDMs computed on demand by the
``*RDM`` sources, never an n x n matrix or a float64 copy of the responses).

References
----------
Kriegeskorte N, Mur M, Bandettini P (2008) Representational similarity analysis - connecting
the branches of systems neuroscience. Front Syst Neurosci 2:4.
Nili H, Wingfield C, Walther A, Su L, Marslen-Wilson W, Kriegeskorte N (2014) A toolbox for
representational similarity analysis. PLoS Comput Biol 10:e1003553.
Schütt HH, Kipnis AD, Diedrichsen J, Kriegeskorte N (2023) Statistical inference on
representational geometries. eLife 12:e82566 (rsatoolbox).
"""

from __future__ import annotations

from neurofacedis import hookimpl
from neurofacedis.specs import MetricSpec, Param
from nfd_rsa._compare import (
    COMPARISONS,
    ArrayRDM,
    PairedRDMs,
    ceiling,
    compare,
    noise_ceiling,
    pool_rdm,
)
from nfd_rsa._metric import RSAMetric, fdr_across_models, plot_model_comparison
from nfd_rsa._rdm import (
    RDM_METHODS,
    CrossnobisRDM,
    PatternRDM,
    calc_rdm,
    calc_rdm_crossnobis,
    to_matrix,
)

__all__ = [
    "CITATION",
    "COMPARISONS",
    "RDM_METHODS",
    "ArrayRDM",
    "CrossnobisRDM",
    "PairedRDMs",
    "PatternRDM",
    "RSAMetric",
    "calc_rdm",
    "calc_rdm_crossnobis",
    "ceiling",
    "compare",
    "fdr_across_models",
    "noise_ceiling",
    "plot_model_comparison",
    "pool_rdm",
    "to_matrix",
    "neurofacedis_register_metrics",
]

CITATION = (
    "Kriegeskorte N, Mur M, Bandettini P (2008). Representational similarity analysis - "
    "connecting the branches of systems neuroscience. Front Syst Neurosci 2:4. "
    "doi:10.3389/neuro.06.004.2008; Nili H et al. (2014). A toolbox for representational "
    "similarity analysis. PLoS Comput Biol 10:e1003553. doi:10.1371/journal.pcbi.1003553"
)

PARAMS = (
    Param("rdm", "correlation", str, "neural dissimilarity",
          choices=("correlation", "euclidean", "crossnobis")),
    Param("model_rdm", "correlation", str, "dissimilarity of latent patterns",
          choices=("correlation", "euclidean")),
    Param("comparison", "spearman", str, "headline RDM comparison", choices=COMPARISONS),
    Param("comparisons", "spearman,tau-a,pearson,cosine", str,
          "comma-separated comparisons to compute (each with p-value, CI, ceiling)"),
    Param("n_permutations", 1000, int, "stimulus-label permutations for the p-value"),
    Param("n_bootstrap", 1000, int, "stimulus bootstrap samples for the CI"),
    Param("ceiling", "auto", str, "data RDMs for the noise ceiling",
          choices=("auto", "repeats", "neurons", "none")),
    Param("n_neuron_splits", 2, int, "groups of neurons when the ceiling splits neurons"),
    Param("stimuli", "all", str, "stimuli in the RDMs", choices=("all", "test")),
    Param("ci", 0.95, float, "bootstrap confidence level"),
    Param("n_jobs", 1, int, "threads for the permutation and bootstrap loops (0 = every core; "
          "each thread adds ~16 bytes per stimulus pair)"),
)


@hookimpl
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register the ``rsa`` metric."""
    return [
        MetricSpec(
            name="rsa",
            factory=RSAMetric,
            params=PARAMS,
            summary=("RDM similarity of latents and neurons (Spearman, tau-a, Pearson, cosine) "
                     "with permutation p, bootstrap CI and noise ceiling (= rsatoolbox)"),
            citation=CITATION,
            requires=frozenset(),
            version="1",
            testing_params={"n_permutations": 20, "n_bootstrap": 20},
        )
    ]
