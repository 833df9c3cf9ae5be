"""The ``dissection`` metric: which face concept each unit, channel and neuron encodes.

Network-dissection-style pairing of every model unit (and every neuron) with the *global*
concept (a stimulus-table attribute such as identity or view, or a known generative factor)
that explains most of its variance over stimuli and, for a model layer with feature maps
(``layer=``), of every channel with *local* concepts too (facial parts from landmarks, scored
by IoU): one stimulus-permutation null, one FDR, one pairing; the headline is the one-to-one
margin of the model's units against that null (docs/metrics/dissection.md); "face
dictionary" figures show each unit's faces and paired concept.

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
                Param("exclude", "", str, "comma-separated concepts to leave out"),
                Param("layer", "", str, "feature-map layer dissected with local concepts "
                      "(facial parts) too, e.g. beta_vae conv2; '' for none"),
                Param("top", 0.05, float, "share of a channel's activations counted as 'on'"),
                Param("grid", 32, int, "raster side (pixels) where maps meet part masks"),
            ),
            summary=("unit/channel/neuron <-> face concept pairing: global attributes "
                     "(identity, factors) and local parts (eyes, mouth... via layer=), one "
                     "permutation null and FDR; one-to-one headline; face dictionary"),
            citation=CITATION,
            requires=frozenset({"attributes"}),
            version="2",
            testing_params={"n_permutations": 50},
        )
    ]
