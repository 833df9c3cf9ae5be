"""The ``alignment`` metric object.

Runs the score, its ceiling, the rotated control and the one-to-one matching on a
:class:`~neurofacedis.specs.MetricContext` and returns an xarray Dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from nfd_alignment._score import (
    DEFAULT_ALPHA,
    AlignmentResult,
    Lasso,
    _ceiling,
    _match_from_corr,
    _rotated,
    check_sizes,
    zscore_train,
)

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext, MetricMatrices

__all__ = ["AlignmentMetric"]

_DESCRIPTIONS = {
    "importance": "|Lasso weight| of each unit for each neuron",
    "neuron_score": "1 - H_j (entropy base K); NaN: no weight",
    "neuron_weight": "rho_j = sum_k R[k, j] / sum R",
    "ceiling": "alignment of K random neurons with the others",
    "rotated": "alignment against randomly rotated responses",
    "match_r": "Pearson r of Hungarian-matched pairs (training)",
}


@dataclass
class _Fit:
    """The main fit: z-scored training rows (``zy`` is scratch), usable neurons, the Lasso."""

    zx: np.ndarray
    zy: np.ndarray
    valid: np.ndarray
    lasso: Lasso
    main: AlignmentResult


@dataclass(frozen=True)
class _Match:
    """Hungarian one-to-one pairs (unit and neuron column indices) and their training r."""

    unit: np.ndarray
    neuron: np.ndarray
    r: np.ndarray


def _match(fit: _Fit) -> _Match:
    """Pair units with usable neurons on |r| over the training stimuli."""
    corr = (fit.zx.T @ fit.zy) / fit.zx.shape[0]
    unit, neuron, r = _match_from_corr(corr[:, fit.valid])
    return _Match(unit, np.flatnonzero(fit.valid)[neuron], r)


def _headline(fit: _Fit, match: _Match, ceiling: np.ndarray, rotated: np.ndarray, k: int,
              n_train: int) -> dict[str, Any]:
    """Return the headline scalars for summary.json."""
    main, valid = fit.main, fit.valid
    attrs: dict[str, Any] = {
        "alignment": float(main.alignment),
        "rotated_control": float(np.nanmean(rotated)),
        "n_neurons": int(valid.sum()),
        "n_units": int(k),
        "mean_matched_abs_r": float(np.mean(np.abs(match.r))),
        "alpha": float(fit.lasso.alpha),
        "n_neurons_predicted": int(np.isfinite(main.neuron_score).sum()),
        "n_neurons_excluded": int((~valid).sum()),
        "n_train": int(n_train),
    }
    good = ceiling[np.isfinite(ceiling)]
    if good.size:
        attrs["ceiling_mean"] = float(good.mean())
        attrs["ceiling_sd"] = float(good.std(ddof=1)) if good.size > 1 else 0.0
    return attrs


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
    n_jobs
        Threads for the ceiling's subsets and the rotated fits (0 = every core); draws are
        made serially first, so the result is the same for any value.
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
        n_jobs: int = 1,
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
        self.n_jobs = int(n_jobs)

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Score, ceiling, rotated control and matching for one model on one recording."""
        m = ctx.matrices()
        train = m.train if m.train.size else np.arange(m.n_stimuli)
        check_sizes(m.latents.shape[1], train.size)
        ctx.progress(0, total=1 + self.n_subsets + self.n_rotations, description="alignment")
        fit = self._fit(m.latents, m.responses, train, ctx.rng)
        ctx.progress(1)
        match = _match(fit)
        k = m.latents.shape[1]
        ceiling = _ceiling(fit.zy, fit.valid, k, self.n_subsets, fit.lasso, ctx.rng,
                           ctx.progress, self.n_jobs)
        rotated = _rotated(  # last: rotates fit.zy in place
            fit.zx, fit.zy, self.n_rotations, self.rotation_block, fit.lasso, ctx.rng,
            ctx.progress, self.n_jobs,
        )
        ds = self._dataset(m, train, fit, match, ceiling, rotated)
        ds.attrs.update(_headline(fit, match, ceiling, rotated, k, train.size))
        return ds

    def _fit(self, x: np.ndarray, y: np.ndarray, train: np.ndarray,
             rng: np.random.Generator) -> _Fit:
        """Z-score over the training stimuli, choose alpha, fit the main Lasso."""
        zx, _ = zscore_train(x, train)
        zy, valid = zscore_train(y, train)
        if not valid.any():
            raise InputError("no neuron varies over the training stimuli", obj="responses")
        alpha = self.alpha
        if self.alpha_cv:
            from nfd_alignment._lasso import choose_alpha_cv

            alpha = choose_alpha_cv(zx, zy[:, valid], rng)
        lasso = Lasso(alpha, self.tol, self.max_iter)
        main = lasso.fit(zx, zy)
        if not np.isfinite(main.alignment):
            raise InputError(
                f"the Lasso (alpha={alpha:g}) set every weight to zero; lower alpha",
                obj="alignment.alpha",
            )
        return _Fit(zx, zy, valid, lasso, main)

    def _dataset(self, m: MetricMatrices, train: np.ndarray, fit: _Fit, match: _Match,
                 ceiling: np.ndarray, rotated: np.ndarray) -> xr.Dataset:
        """Assemble the result Dataset (variables, coordinates, descriptions)."""
        import xarray as xr

        main = fit.main
        is_train = np.zeros(m.n_stimuli, dtype=bool)
        is_train[train] = True
        ds = xr.Dataset(
            {
                "importance": (("unit", "neuron"), main.importance),
                "weight": (("unit", "neuron"), main.weight),
                "neuron_score": ("neuron", main.neuron_score),
                "neuron_weight": ("neuron", main.neuron_weight),
                "neuron_used": ("neuron", fit.valid),
                "ceiling": ("subset", ceiling),
                "rotated": ("rotation", rotated),
                "match_unit": ("match", np.array([m.units[i] for i in match.unit], dtype=str)),
                "match_neuron": ("match",
                                 np.array([m.neurons[i] for i in match.neuron], dtype=str)),
                "match_r": ("match", match.r),
                "match_latent": (("match", "stimulus"), m.latents[:, match.unit].T),
                "match_response": (("match", "stimulus"),
                                   np.asarray(m.responses[:, match.neuron].T, float)),
                "train": ("stimulus", is_train),
            },
            coords={
                "unit": np.array(m.units, dtype=str),
                "neuron": np.array(m.neurons, dtype=str),
                "stimulus": np.asarray(m.stimuli),
                "subset": np.arange(self.n_subsets),
                "rotation": np.arange(self.n_rotations),
                "match": np.arange(len(match.r)),
            },
        )
        for name, text in _DESCRIPTIONS.items():
            ds[name].attrs["description"] = text
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
