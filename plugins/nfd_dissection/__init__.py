"""The ``dissection`` metric: which labelled face attribute each unit and neuron encodes.

Network-dissection-style pairing of every model unit (and every neuron) with the attribute of
the stimulus table (identity, gender, age, expression, view...) or known generative factor
that explains most of its variance over stimuli, with a stimulus-permutation null, FDR and a
"face dictionary" figure of each unit's extreme faces.

References
----------
Bau D, Zhou B, Khosla A, Oliva A, Torralba A (2017) Network dissection: quantifying
interpretability of deep visual representations. CVPR, 6541-6549.
Higgins I, Chang L, Langston V, et al. (2021) Unsupervised deep learning identifies semantic
disentanglement in single inferotemporal face patch neurons. Nat Commun 12:6456.
"""

from __future__ import annotations

from neurofacedis import hookimpl
from neurofacedis.specs import MetricSpec, Param
from nfd_dissection._dissection import Concept, concept_scores, concepts_from, permutation_null
from nfd_dissection._metric import DissectionMetric

__all__ = [
    "CITATION",
    "Concept",
    "DissectionMetric",
    "concept_scores",
    "concepts_from",
    "permutation_null",
    "neurofacedis_register_metrics",
]

CITATION = (
    "Bau D, Zhou B, Khosla A, Oliva A, Torralba A (2017). Network dissection: quantifying "
    "interpretability of deep visual representations. CVPR, 6541-6549. "
    "doi:10.1109/CVPR.2017.354"
)


@hookimpl
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register the ``dissection`` metric."""
    return [
        MetricSpec(
            name="dissection",
            factory=DissectionMetric,
            params=(
                Param("n_permutations", 500, int, "stimulus-label shuffles for the null"),
                Param("alpha", 0.05, float, "FDR level for calling an item selective"),
                Param("n_faces", 4, int, "faces at each end of a unit in the face dictionary"),
                Param("thumbnail", 48, int, "face-dictionary thumbnail size, pixels"),
                Param("exclude", "", str, "comma-separated attributes to leave out"),
            ),
            summary=("unit/neuron <-> labelled attribute (identity, factors...) pairing by "
                     "explained variance with a permutation null; face dictionary"),
            citation=CITATION,
            requires=frozenset({"attributes"}),
            version="1",
            testing_params={"n_permutations": 50},
        )
    ]
