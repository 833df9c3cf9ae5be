"""Metrics against human behaviour: agreement, error consistency, RSA, rating encoding.

The metrics ``agreement``, ``error_consistency``, ``behaviour_rsa`` and ``rating_encoding``.

The target is a behavioural experiment (choices, ratings, similarity judgements; see
:mod:`neurofacedis.nwb._behaviour`) instead of neurons: the metrics read ``ctx.behaviour``.
A model "chooses" through a cross-validated logistic readout of its latents
(:mod:`nfd_behaviour._readout`); ``rating_encoding`` predicts the mean rating with
``nfd_encoding``'s ridge (:mod:`nfd_behaviour._encoding`). Every requirement here is named
``behaviour_*``: the runner runs these metrics on files without neurons. Formulas, ceilings
and references: docs/metrics/behaviour.md.

References
----------
Geirhos R, Meding K, Wichmann FA (2020) Beyond accuracy: quantifying trial-by-trial behaviour
of CNNs and humans by measuring error consistency. NeurIPS 33:13890-13902.
Cohen J (1960) A coefficient of agreement for nominal scales. Educ Psychol Meas 20:37-46.
Nili H et al. (2014) A toolbox for representational similarity analysis. PLoS Comput Biol
10:e1003553 (noise ceiling).
Rajalingham R, Issa EB, Bashivan P, et al. (2018) Large-scale, high-resolution comparison of
the core visual object recognition behavior of humans, monkeys, and state-of-the-art deep
artificial neural networks. J Neurosci 38:7255-7269 (image-level agreement with humans).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurofacedis import hookimpl
from neurofacedis.specs import MetricSpec, Param, RequirementSpec
from nfd_behaviour._encoding import RatingEncodingMetric
from nfd_behaviour._metrics import (
    READOUTS,
    RSA_COMPARISONS,
    AgreementMetric,
    BehaviourRSAMetric,
    ErrorConsistencyMetric,
    behaviour_latents,
    model_rdm,
    permuted_similarity,
)
from nfd_behaviour._readout import readout_choices
from nfd_behaviour._stats import (
    agreement_ceiling,
    binomial_p,
    error_kappa,
    human_kappa_ceiling,
    kappa_matrix,
    permutation_p,
)

__all__ = [
    "CITATION",
    "AgreementMetric",
    "BehaviourRSAMetric",
    "ErrorConsistencyMetric",
    "RatingEncodingMetric",
    "agreement_ceiling",
    "behaviour_latents",
    "binomial_p",
    "error_kappa",
    "human_kappa_ceiling",
    "kappa_matrix",
    "model_rdm",
    "permutation_p",
    "permuted_similarity",
    "readout_choices",
    "neurofacedis_register_metrics",
    "neurofacedis_register_requirements",
]

CITATION = (
    "Geirhos R, Meding K, Wichmann FA (2020). Beyond accuracy: quantifying trial-by-trial "
    "behaviour of CNNs and humans by measuring error consistency. NeurIPS 33:13890-13902; "
    "Rajalingham R et al. (2018). Large-scale, high-resolution comparison of the core visual "
    "object recognition behavior of humans, monkeys, and deep networks. J Neurosci "
    "38:7255-7269; Nili H et al. (2014). A toolbox for representational similarity analysis. "
    "PLoS Comput Biol 10:e1003553."
)

ENCODING_CITATION = (
    "Schrimpf M et al. (2018). Brain-Score: which artificial neural network for object "
    "recognition is most brain-like? bioRxiv 407007 (the encoding model, here of ratings)."
)

_CHOICE_PARAMS = (
    Param("readout", "majority", str, "what the model's linear readout is trained on: the "
          "human majority choice or the correct answer", choices=READOUTS),
    Param("n_folds", 5, int, "cross-validation folds over stimuli for the readout"),
    Param("c", 1.0, float, "inverse L2 strength of the logistic readout"),
    Param("n_permutations", 1000, int, "permutations of the model's answers for the p-value"),
)


def _behaviour(ctx: Any) -> Any:
    return getattr(ctx, "behaviour", None)


def _none(ctx: Any, what: str) -> str:
    """Say what is lacking: ``what``, named with the behaviour's file.

    Without any behaviour (target neurons) nothing: the description says how to get it.
    """
    b = _behaviour(ctx)
    if b is None:
        return ""
    source = Path(str(b.source)).name if getattr(b, "source", None) else "the behaviour"
    return f"{source}'s behaviour has no {what}"


def _has_choices(ctx: Any) -> str | None:
    b = _behaviour(ctx)
    return None if b is not None and b.has_choices else _none(ctx, "choices")


def _has_targets(ctx: Any) -> str | None:
    b = _behaviour(ctx)
    if b is None or not b.has_choices:
        return _none(ctx, "choices")
    return None if b.targets is not None and (b.targets >= 0).any() else "no correct answers"


def _has_ratings(ctx: Any) -> str | None:
    b = _behaviour(ctx)
    return None if b is not None and b.has_ratings else _none(ctx, "ratings")


def _has_rdms(ctx: Any) -> str | None:
    b = _behaviour(ctx)
    return None if b is not None and b.rdms is not None else _none(ctx, "RDMs")


@hookimpl
def neurofacedis_register_requirements() -> list[RequirementSpec]:
    """Register what the behaviour metrics need (read from ``ctx.behaviour``)."""
    return [
        RequirementSpec("behaviour_choices",
                        "human choices per trial (analyze with target behaviour)", _has_choices),
        RequirementSpec("behaviour_targets", "human choices and the correct answer per "
                        "stimulus (analyze with target behaviour)", _has_targets),
        RequirementSpec("behaviour_ratings", "human ratings per stimulus (analyze with "
                        "target behaviour)", _has_ratings),
        RequirementSpec("behaviour_rdms", "behavioural RDMs from similarity judgements, one "
                        "per subject (analyze with target behaviour)", _has_rdms),
    ]


@hookimpl
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register ``agreement``, ``error_consistency``, ``behaviour_rsa``, ``rating_encoding``."""
    fast = {"n_permutations": 50, "n_folds": 3}
    return [
        MetricSpec(
            name="agreement", factory=AgreementMetric, params=_CHOICE_PARAMS,
            summary=("model choice (cross-validated readout) vs the human majority per "
                     "image, leave-one-subject-out ceiling, permutation p"),
            citation=CITATION, requires=frozenset({"behaviour_choices"}), version="1",
            testing_params=fast),
        MetricSpec(
            name="error_consistency", factory=ErrorConsistencyMetric, params=_CHOICE_PARAMS,
            summary=("Cohen's kappa of trial-by-trial errors, model vs each subject "
                     "(Geirhos 2020), human-human ceiling, permutation and binomial p"),
            citation=CITATION, requires=frozenset({"behaviour_targets"}), version="1",
            testing_params=fast),
        MetricSpec(
            name="behaviour_rsa", factory=BehaviourRSAMetric,
            params=(Param("comparison", "spearman", str, "RDM comparison",
                          choices=RSA_COMPARISONS),
                    Param("model_rdm", "correlation", str, "dissimilarity of latent patterns",
                          choices=("correlation", "euclidean")),
                    Param("n_permutations", 1000, int, "stimulus-label permutations")),
            summary=("model RDM vs the subjects' behavioural RDMs, noise ceiling from "
                     "subjects (= rsatoolbox), permutation p"),
            citation=CITATION, requires=frozenset({"behaviour_rdms"}), version="1",
            testing_params={"n_permutations": 50}),
        MetricSpec(
            name="rating_encoding", factory=RatingEncodingMetric,
            params=(Param("n_folds", 5, int, "K-fold CV over rated training stimuli for alpha"),
                    Param("alpha_min", 1e-2, float, "smallest ridge alpha (latents z-scored)"),
                    Param("alpha_max", 1e5, float, "largest ridge alpha"),
                    Param("n_alphas", 15, int, "log-spaced alphas"),
                    Param("n_permutations", 1000, int, "permutations of the ratings over "
                          "stimuli for the p-value"),
                    Param("n_splits", 20, int, "random halvings of the raters for the "
                          "ceiling")),
            summary=("cross-validated ridge from units to the mean rating per stimulus: "
                     "held-out R², permutation p, split-half ceiling over raters"),
            citation=CITATION + " " + ENCODING_CITATION, requires=frozenset(
                {"behaviour_ratings"}), version="1",
            testing_params={"n_permutations": 50, "n_splits": 5}),
    ]
