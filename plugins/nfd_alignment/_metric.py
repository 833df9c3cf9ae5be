"""The ``alignment`` metric object.

Runs the score, its ceiling, the rotated control and the one-to-one matching on a
:class:`~neurofacedis.specs.MetricContext` and returns an xarray Dataset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from nfd_alignment._score import (
    DEFAULT_ALPHA,
    _ceiling,
    _check,
    _fit,
    _match_from_corr,
    _rotated,
    zscore_train,
)

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext

__all__ = ["AlignmentMetric"]


class AlignmentMetric:
    """Alignment of a model's active units with single neurons (Higgins et al. 2021).

    Parameters
    ----------
    alpha
        Lasso strength on z-scored data; see :data:`nfd_alignment.DEFAULT_ALPHA`.
    alpha_cv
        Choose alpha by 5-fold CV (LassoCV on a subsample of neurons) instead.
    n_subsets
        Random neuron subsets for the ceiling.
    n_rotations
        Random rotations of the responses for the rotated-code control.
    rotation_block
        Largest group of neurons rotated together (all of them when J <= this).
    tol, max_iter
        Lasso stopping rule (scikit-learn's).
    """

    def __init__(
        self,
        alpha: float = DEFAULT_ALPHA,
        alpha_cv: bool = False,
        n_subsets: int = 50,
        n_rotations: int = 5,
        rotation_block: int = 128,
        tol: float = 1e-4,
        max_iter: int = 1000,
    ) -> None:
        if not alpha > 0:
            raise InputError(f"alpha must be > 0, got {alpha}", obj="alignment.alpha")
        for name, value in (
            ("n_subsets", n_subsets),
            ("n_rotations", n_rotations),
            ("rotation_block", rotation_block),
            ("max_iter", max_iter),
        ):
            if value < 1:
                raise InputError(f"{name} must be >= 1, got {value}", obj=f"alignment.{name}")
        self.alpha = float(alpha)
        self.alpha_cv = bool(alpha_cv)
        self.n_subsets = int(n_subsets)
        self.n_rotations = int(n_rotations)
        self.rotation_block = int(rotation_block)
        self.tol = float(tol)
        self.max_iter = int(max_iter)

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Score, ceiling, rotated control and matching for one model on one recording."""
        import xarray as xr

        lat = ctx.latents
        resp = ctx.mean_responses
        if "stimulus" not in lat.dims or "stimulus" not in resp.dims:
            raise InputError("latents and responses need a 'stimulus' dimension")
        lat = lat.transpose("stimulus", ...)
        resp = resp.transpose("stimulus", ...)
        unit_dim = next(d for d in lat.dims if d != "stimulus")
        neuron_dim = next(d for d in resp.dims if d != "stimulus")
        x = np.asarray(lat.values, dtype=np.float64)
        y = np.asarray(resp.values)
        n = x.shape[0]
        train = np.asarray(ctx.train, dtype=np.int64)
        if train.size == 0:
            train = np.arange(n)
        _check(x, y, train)
        k, j = x.shape[1], y.shape[1]
        steps = 1 + self.n_subsets + self.n_rotations
        ctx.progress(0, total=steps, description="alignment")

        zx, _ = zscore_train(x, train)
        zy, valid = zscore_train(y, train)
        if not valid.any():
            raise InputError("no neuron varies over the training stimuli", obj="responses")
        alpha = self.alpha
        if self.alpha_cv:
            from nfd_alignment._lasso import choose_alpha_cv

            alpha = choose_alpha_cv(zx, zy[:, valid], ctx.rng)
        main = _fit(zx, zy, alpha, self.tol, self.max_iter)
        if not np.isfinite(main.alignment):
            raise InputError(
                f"the Lasso (alpha={alpha:g}) set every weight to zero; lower alpha",
                obj="alignment.alpha",
            )
        ctx.progress(1)
        corr = (zx.T @ zy) / zx.shape[0]
        m_unit, m_neuron, m_r = _match_from_corr(corr[:, valid])
        m_neuron = np.flatnonzero(valid)[m_neuron]
        ceiling = _ceiling(
            zy, valid, k, self.n_subsets, alpha, ctx.rng, self.tol, self.max_iter, ctx.progress
        )
        rotated = _rotated(  # last: rotates zy in place
            zx,
            zy,
            self.n_rotations,
            self.rotation_block,
            alpha,
            ctx.rng,
            self.tol,
            self.max_iter,
            ctx.progress,
        )
        del zy

        is_train = np.zeros(n, dtype=bool)
        is_train[train] = True
        units = (
            [str(u) for u in lat.coords[unit_dim].values]
            if unit_dim in lat.coords
            else [f"unit{i}" for i in range(k)]
        )
        neurons = (
            [str(v) for v in resp.coords[neuron_dim].values]
            if neuron_dim in resp.coords
            else [f"neuron{i}" for i in range(j)]
        )
        stimuli = (
            np.asarray(lat.coords["stimulus"].values) if "stimulus" in lat.coords else np.arange(n)
        )
        ds = xr.Dataset(
            {
                "importance": (("unit", "neuron"), main.importance),
                "weight": (("unit", "neuron"), main.weight),
                "neuron_score": ("neuron", main.neuron_score),
                "neuron_weight": ("neuron", main.neuron_weight),
                "neuron_used": ("neuron", valid),
                "ceiling": ("subset", ceiling),
                "rotated": ("rotation", rotated),
                "match_unit": ("match", np.array([units[i] for i in m_unit], dtype=str)),
                "match_neuron": ("match", np.array([neurons[i] for i in m_neuron], dtype=str)),
                "match_r": ("match", m_r),
                "match_latent": (("match", "stimulus"), x[:, m_unit].T),
                "match_response": (("match", "stimulus"), np.asarray(y[:, m_neuron].T, float)),
                "train": ("stimulus", is_train),
            },
            coords={
                "unit": np.array(units, dtype=str),
                "neuron": np.array(neurons, dtype=str),
                "stimulus": stimuli,
                "subset": np.arange(self.n_subsets),
                "rotation": np.arange(self.n_rotations),
                "match": np.arange(len(m_r)),
            },
        )
        ds["importance"].attrs["description"] = "|Lasso weight| of each unit for each neuron"
        ds["neuron_score"].attrs["description"] = "1 - H_j (entropy base K); NaN: no weight"
        ds["neuron_weight"].attrs["description"] = "rho_j = sum_k R[k, j] / sum R"
        ds["ceiling"].attrs["description"] = "alignment of K random neurons with the others"
        ds["rotated"].attrs["description"] = "alignment against randomly rotated responses"
        ds["match_r"].attrs["description"] = "Pearson r of Hungarian-matched pairs (training)"
        attrs: dict[str, Any] = {
            "alignment": float(main.alignment),
            "rotated_control": float(np.nanmean(rotated)),
            "n_neurons": int(valid.sum()),
            "n_units": int(k),
            "mean_matched_abs_r": float(np.mean(np.abs(m_r))),
            "alpha": float(alpha),
            "n_neurons_predicted": int(np.isfinite(main.neuron_score).sum()),
            "n_neurons_excluded": int((~valid).sum()),
            "n_train": int(train.size),
        }
        good = ceiling[np.isfinite(ceiling)]
        if good.size:
            attrs["ceiling_mean"] = float(good.mean())
            attrs["ceiling_sd"] = float(good.std(ddof=1)) if good.size > 1 else 0.0
        ds.attrs.update(attrs)
        return ds

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Draw the importance heatmap, the per-neuron score histogram and matched tuning."""
        from nfd_alignment._figures import (
            plot_importance,
            plot_matched_tuning,
            plot_neuron_scores,
        )

        return {
            "importance": plot_importance(result),
            "scores": plot_neuron_scores(result),
            "matched": plot_matched_tuning(result),
        }
