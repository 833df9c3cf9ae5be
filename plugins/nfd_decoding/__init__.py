"""Metrics ``decoding`` and ``reconstruction``: single neurons as read-outs of latent units.

``decoding`` pairs latent units with neurons one-to-one (Hungarian method on |r| over the
training stimuli) and decodes each unit from its neuron on held-out stimuli. ``reconstruction``
decodes all latents of held-out faces from the n best neurons and renders them through the
model's decoder, asking how few neurons suffice to reconstruct a novel face.

References
----------
Higgins I, Chang L, Langston V, et al. (2021) Unsupervised deep learning identifies semantic
disentanglement in single inferotemporal face patch neurons. Nat Commun 12:6456.
Kuhn HW (1955) The Hungarian method for the assignment problem. Nav Res Logist Q 2:83-97.
Chang L, Tsao DY (2017) The code for facial identity in the primate brain. Cell 169:1013-1028.
"""

from __future__ import annotations

from neurofacedis import hookimpl
from neurofacedis.specs import MetricSpec, Param
from nfd_decoding._decoding import (
    DecodingMetric,
    decode_matched,
    match_units,
    train_correlation,
)
from nfd_decoding._reconstruction import (
    ReconstructionMetric,
    cosine_distances,
    neuron_counts,
    rank_neurons,
)

__all__ = [
    "CITATION",
    "DecodingMetric",
    "ReconstructionMetric",
    "cosine_distances",
    "decode_matched",
    "match_units",
    "neuron_counts",
    "rank_neurons",
    "train_correlation",
    "neurofacedis_register_metrics",
]

CITATION = (
    "Higgins I, Chang L, Langston V, Hassabis D, Summerfield C, Tsao D, Botvinick M (2021). "
    "Unsupervised deep learning identifies semantic disentanglement in single inferotemporal "
    "face patch neurons. Nat Commun 12:6456. doi:10.1038/s41467-021-26751-5; Kuhn HW (1955). "
    "The Hungarian method for the assignment problem. Nav Res Logist Q 2:83-97."
)


@hookimpl
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register ``decoding`` and ``reconstruction``."""
    return [
        MetricSpec(
            name="decoding",
            factory=DecodingMetric,
            params=(Param("n_splits", 10, int,
                          "random halvings of the repeats for the matched neurons' ceiling"),),
            summary=("each unit decoded from its one-to-one matched neuron (Hungarian on |r|): "
                     "held-out R² per unit"),
            citation=CITATION,
            requires=frozenset(),
            version="1",
        ),
        MetricSpec(
            name="reconstruction",
            factory=ReconstructionMetric,
            params=(
                Param("criterion", 0.8, float,
                      "share of the way from the average face to the model's own "
                      "reconstruction that n neurons must reach"),
                Param("max_faces", 200, int, "held-out faces scored (random subset if more)"),
                Param("n_examples", 6, int, "faces shown in the example figure"),
            ),
            summary=("held-out faces decoded from the n best neurons through the model's "
                     "decoder: cosine distance, identification, neurons needed"),
            citation=CITATION,
            requires=frozenset({"decoder"}),
            version="1",
            testing_params={"max_faces": 20, "n_examples": 2},
        ),
    ]
