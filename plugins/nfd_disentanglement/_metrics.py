"""Metric objects (the :class:`neurofacedis.specs.Metric` protocol) for UDR, DCI and MIG."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from neurofacedis.errors import InputError

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext, MetricMatrices

__all__ = ["UDRMetric", "DCIMetric", "MIGMetric"]


def _factors(ctx: MetricContext, metric: str) -> tuple[MetricMatrices, np.ndarray]:
    """Return the context's matrices and its known factors (n, F), refusing a context without."""
    m = ctx.matrices()
    if m.factors is None:
        raise InputError("needs known generative factors; the recording has none", obj=metric)
    return m, m.factors


def _seed(ctx: MetricContext) -> int:
    return int(ctx.rng.integers(2**31 - 1))


class UDRMetric:
    """UDR of this model against the same model fitted with other seeds (all stimuli).

    Headline ``udr`` = median of the pair scores (Duan et al. 2020); ``pairwise`` holds
    each pair's score (this model and one sibling seed).
    """

    def __init__(self, correlation: str = "spearman"):
        from nfd_disentanglement.udr import METHODS

        if correlation not in METHODS:
            raise InputError(f"correlation must be one of {list(METHODS)}", obj="udr")
        self.correlation = correlation

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Pair scores against ``ctx.sibling_latents`` (active units, same stimuli)."""
        import xarray as xr

        from nfd_disentanglement.udr import udr_pair

        m = ctx.matrices()
        if not m.siblings:
            raise InputError("needs the same model fitted with several seeds (--seeds N)",
                             obj="udr")
        z = m.latents
        seed = _seed(ctx)
        # sibling explains this model: the column convention of udr_scores
        pairs = [udr_pair(s, z, method=self.correlation, random_state=seed) for s in m.siblings]
        ds = xr.Dataset({"pairwise": (("sibling",), np.asarray(pairs))},
                        coords={"sibling": np.arange(len(pairs))})
        ds["pairwise"].attrs.update(description="UDR of this model with each other seed",
                                    correlation=self.correlation)
        ds.attrs.update(udr=float(np.median(pairs)), n_siblings=len(pairs),
                        active_units=int(z.shape[1]))
        return ds

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Bar chart of the pair scores."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.subplots()
        ax.bar(result["sibling"].values, result["pairwise"].values, color="0.4")
        ax.axhline(result.attrs["udr"], color="C3", label=f"median {result.attrs['udr']:.2f}")
        ax.set(xlabel="other seed", ylabel="UDR of the pair", ylim=(0, 1))
        ax.legend(frameon=False)
        return {"pairs": fig}


class DCIMetric:
    """DCI (Eastwood & Williams 2018) of the active latents against the known factors.

    Importance is fitted on the training stimuli; ``informativeness`` is the mean R^2 over
    factors on held-out stimuli (``informativeness_train`` on the training ones).
    """

    def __init__(self, importance: str = "gbt", alpha: float = 0.01):
        from nfd_disentanglement.dci import IMPORTANCE_METHODS

        if importance not in IMPORTANCE_METHODS:
            raise InputError(f"importance must be one of {list(IMPORTANCE_METHODS)}", obj="dci")
        self.importance = importance
        self.alpha = float(alpha)

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """DCI scores, importance matrix (unit, factor) and per-unit/per-factor scores."""
        import xarray as xr

        from nfd_disentanglement.dci import dci

        m, f = _factors(ctx, "dci")
        z, train, test = m.latents, m.train, m.test
        if len(train) < 2:
            raise InputError("needs at least 2 training stimuli", obj="dci")
        res = dci(z[train], f[train], z[test] if len(test) else None,
                  f[test] if len(test) else None, self.importance, alpha=self.alpha,
                  random_state=_seed(ctx))
        ds = xr.Dataset(
            {
                "importance": (("unit", "factor"), res.importance),
                "disentanglement_per_unit": (("unit",), res.per_code),
                "completeness_per_factor": (("factor",), res.per_factor),
            },
            coords={"unit": list(m.units), "factor": list(m.factor_names)},
        )
        ds["importance"].attrs["method"] = self.importance
        attrs: dict[str, float] = {
            "disentanglement": res.disentanglement,
            "completeness": res.completeness,
            "informativeness_train": res.informativeness_train,
        }
        if res.informativeness_test is not None:
            attrs["informativeness"] = res.informativeness_test
        ds.attrs.update(attrs)
        return ds

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Heat map of the importance matrix (units x factors)."""
        return {"importance": _heatmap(result["importance"], "importance",
                                       f"DCI: D {result.attrs['disentanglement']:.2f}, "
                                       f"C {result.attrs['completeness']:.2f}")}


class MIGMetric:
    """Mutual Information Gap (Chen et al. 2018) of the active latents, all stimuli."""

    def __init__(self, bins: int = 20):
        if int(bins) < 2:
            raise InputError("bins must be >= 2", obj="mig")
        self.bins = int(bins)

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """MIG, per-factor gaps and the MI matrix (unit, factor)."""
        import xarray as xr

        from nfd_disentanglement.mig import mutual_information_gap

        m, f = _factors(ctx, "mig")
        res = mutual_information_gap(m.latents, f, self.bins)
        ds = xr.Dataset(
            {
                "mutual_information": (("unit", "factor"), res.mutual_information),
                "gap": (("factor",), res.per_factor),
                "factor_entropy": (("factor",), res.entropy),
            },
            coords={"unit": list(m.units), "factor": list(m.factor_names)},
        )
        ds.attrs.update(mig=res.mig, bins=self.bins)
        return ds

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Heat map of the mutual information (units x factors)."""
        return {"mutual_information": _heatmap(result["mutual_information"], "MI (nats)",
                                               f"MIG {result.attrs['mig']:.2f}")}


def _heatmap(da: xr.DataArray, label: str, title: str) -> Figure:
    """Draw a (unit x factor) matrix as an image with labelled axes."""
    from matplotlib.figure import Figure

    units, factors = da["unit"].values, da["factor"].values
    fig = Figure(figsize=(1.0 + 0.45 * len(factors), 1.0 + 0.35 * len(units)),
                 layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(da.values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(factors)), [str(f) for f in factors], rotation=60, ha="right")
    ax.set_yticks(range(len(units)), [str(u) for u in units])
    ax.set(xlabel="factor", ylabel="unit", title=title)
    fig.colorbar(im, ax=ax, label=label)
    return fig
