"""Disentanglement metrics: ``udr`` (across seeds), ``dci`` and ``mig`` (known factors).

``udr`` needs no labels; ``dci`` and ``mig`` need the known generative factors (e.g. the
virtual face patch). ``--select udr`` is the runner's generic ``--select METRIC[:STAT]``: it
runs the ``udr`` metric on each setting's seeds and keeps the seed with the highest score.
Importing this package imports neither sklearn nor xarray.
"""

from __future__ import annotations

from typing import Any

from neurofacedis import hookimpl
from neurofacedis.specs import MetricSpec, Param

__all__ = ["neurofacedis_register_metrics", "UDR_CITATION", "DCI_CITATION", "MIG_CITATION"]

__version__ = "1"

UDR_CITATION = (
    "Duan, S. et al. (2020) Unsupervised model selection for variational disentangled "
    "representation learning. ICLR (arXiv:1905.12614)"
)
DCI_CITATION = (
    "Eastwood, C. & Williams, C. K. I. (2018) A framework for the quantitative evaluation of "
    "disentangled representations. ICLR; formulas as in Locatello, F. et al. (2019) "
    "disentanglement_lib, ICML"
)
MIG_CITATION = (
    "Chen, R. T. Q. et al. (2018) Isolating sources of disentanglement in variational "
    "autoencoders. NeurIPS"
)


def _udr(**params: Any) -> Any:
    from nfd_disentanglement._metrics import UDRMetric

    return UDRMetric(**params)


def _dci(**params: Any) -> Any:
    from nfd_disentanglement._metrics import DCIMetric

    return DCIMetric(**params)


def _mig(**params: Any) -> Any:
    from nfd_disentanglement._metrics import MIGMetric

    return MIGMetric(**params)


@hookimpl
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register ``udr``, ``dci`` and ``mig``."""
    return [
        MetricSpec(
            name="udr",
            factory=_udr,
            params=(Param("correlation", "spearman", str, "similarity between units",
                          choices=("spearman", "lasso")),),
            summary="UDR: do other seeds find the same units? (median over seed pairs)",
            citation=UDR_CITATION,
            requires=frozenset({"seeds"}),
            version=__version__,
        ),
        MetricSpec(
            name="dci",
            factory=_dci,
            params=(
                Param("importance", "gbt", str, "importance from gradient-boosted trees or "
                      "Lasso weights", choices=("gbt", "lasso")),
                Param("alpha", 0.01, float, "Lasso penalty (importance=lasso)"),
            ),
            summary="DCI disentanglement/completeness/informativeness vs known factors",
            citation=DCI_CITATION,
            requires=frozenset({"factors"}),
            version=__version__,
        ),
        MetricSpec(
            name="mig",
            factory=_mig,
            params=(Param("bins", 20, int, "histogram bins for discretising units/factors"),),
            summary="Mutual Information Gap vs known factors",
            citation=MIG_CITATION,
            requires=frozenset({"factors"}),
            version=__version__,
        ),
    ]
