"""The ``encoding`` metric: how well a model's units linearly predict each neuron."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from nfd_encoding._ceiling import split_half_reliability
from nfd_encoding._ridge import RidgeCVResult, ridge_cv

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext

__all__ = ["EncodingMetric", "median_ci", "standardised_units", "fit_ridge"]


def median_ci(values: np.ndarray, rng: np.random.Generator, n_boot: int = 1000,
              ci: float = 0.95) -> tuple[float, float, float]:
    """Median over finite values and its percentile bootstrap CI (resampling the values)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan, np.nan
    if n_boot == 0:
        return float(np.median(v)), np.nan, np.nan
    meds = np.empty(n_boot)
    step = max(1, 4_000_000 // v.size)
    for start in range(0, n_boot, step):
        k = min(step, n_boot - start)
        meds[start:start + k] = np.median(v[rng.integers(0, v.size, size=(k, v.size))], axis=1)
    lo, hi = np.quantile(meds, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(np.median(v)), float(lo), float(hi)


@dataclass(frozen=True)
class _Fit:
    """Per-neuron held-out scores (NaN for neurons left out), alphas, weights, CV curve."""

    r2: np.ndarray
    r: np.ndarray
    alpha: np.ndarray
    coef: np.ndarray
    cv_score: np.ndarray


def standardised_units(z: np.ndarray, train: np.ndarray, notes: list[str], *,
                       what: str = "encoding") -> tuple[np.ndarray, np.ndarray]:
    """Z-score the units with training statistics, leaving out constant ones (noted).

    Returns the standardised units and the mask of units kept; ``what`` names the metric in
    the error raised when every unit is constant.
    """
    mu, sd = z[train].mean(axis=0), z[train].std(axis=0)
    keep = sd > 0
    if not keep.any():
        raise InputError("every unit is constant over the training stimuli", obj=what)
    if not keep.all():
        notes.append(f"{int((~keep).sum())} constant unit(s) left out")
    return (z[:, keep] - mu[keep]) / sd[keep], keep


def fit_ridge(z: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
              rng: np.random.Generator, *, n_folds: int, alphas: np.ndarray,
              per_column: bool = True) -> RidgeCVResult:
    """Ridge from ``z`` to each column of ``y``: alpha by K-fold CV on ``train``, test R^2.

    The folds are scikit-learn's shuffled ``KFold`` seeded from ``rng`` (one draw); the
    ridge is :func:`~nfd_encoding._ridge.ridge_cv` (``per_column``: an alpha per column).
    Used by ``encoding`` (columns: neurons) and ``nfd_behaviour``'s ``rating_encoding``
    (columns: mean ratings and their permutations).
    """
    from sklearn.model_selection import KFold

    kf = KFold(n_folds, shuffle=True, random_state=int(rng.integers(2**31)))
    folds = [val for _, val in kf.split(train)]
    return ridge_cv(z, y, train, test, folds, alphas, per_neuron=per_column)


class EncodingMetric:
    """Cross-validated ridge from all active units to each neuron (Brain-Score style).

    Latents are z-scored with training-stimulus statistics; alpha is picked per neuron (or
    shared, ``alpha_per_neuron=False``) by K-fold CV over the training stimuli from a log grid;
    the fit is scored on the held-out stimuli by R^2 and Pearson r. With repeats, both are
    normalised by the neuron's noise ceiling rho (split-half reliability over repeats,
    Spearman-Brown corrected, on the held-out stimuli): R^2 / rho and r / sqrt(rho), i.e. the
    share of the explainable variance that is explained (Brain-Score divides r by rho
    instead). Neurons with rho below ``min_reliability`` are left out of the normalised values.

    Parameters
    ----------
    n_folds
        K for the K-fold choice of alpha (scikit-learn ``KFold``, shuffled with the context's
        RNG).
    alpha_min, alpha_max, n_alphas
        The log-spaced alpha grid (on z-scored latents).
    alpha_per_neuron
        One alpha per neuron (default) or one for all.
    n_splits
        Random halvings of the repeats averaged for the noise ceiling.
    min_reliability
        Neurons less reliable than this get no normalised score.
    n_bootstrap, ci
        Bootstrap (over neurons) of the medians.
    """

    def __init__(
        self,
        n_folds: int = 5,
        alpha_min: float = 1e-2,
        alpha_max: float = 1e5,
        n_alphas: int = 15,
        alpha_per_neuron: bool = True,
        n_splits: int = 10,
        min_reliability: float = 0.1,
        n_bootstrap: int = 1000,
        ci: float = 0.95,
    ) -> None:
        if n_folds < 2 or n_alphas < 1 or not 0 < alpha_min <= alpha_max:
            raise InputError("need n_folds >= 2, n_alphas >= 1, 0 < alpha_min <= alpha_max",
                             obj="encoding")
        if n_splits < 1 or n_bootstrap < 0 or not 0 < ci < 1:
            raise InputError("need n_splits >= 1, n_bootstrap >= 0, 0 < ci < 1", obj="encoding")
        self.n_folds = int(n_folds)
        self.alphas = np.logspace(np.log10(alpha_min), np.log10(alpha_max), int(n_alphas))
        self.alpha_per_neuron = bool(alpha_per_neuron)
        self.n_splits = int(n_splits)
        self.min_reliability = float(min_reliability)
        self.n_bootstrap, self.ci = int(n_bootstrap), float(ci)

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Per-neuron R^2, r, noise ceiling and normalised scores; medians with CIs."""
        m = ctx.matrices()
        if len(m.train) < 2 * self.n_folds or len(m.test) < 3:
            raise InputError(f"need >= {2 * self.n_folds} training and >= 3 held-out stimuli",
                             obj="encoding")
        notes: list[str] = []
        z, keep = standardised_units(m.latents, m.train, notes)
        y = np.asarray(m.responses, dtype=np.float64)
        good = np.isfinite(y).all(axis=0)
        if not good.all():
            notes.append(f"{int((~good).sum())} neuron(s) lacking a response to some stimulus "
                         "get no score")
        ctx.progress(0, total=2, description="encoding: ridge CV")
        fit = self._fit(z, y, good, m.train, m.test, ctx.rng)
        ctx.progress(1)
        ceiling = np.full(y.shape[1], np.nan)
        if ctx.n_repeats >= 2:
            ceiling = split_half_reliability(m.trials, ctx.rng, self.n_splits, rows=m.test)
        else:
            notes.append("no repeats: no noise ceiling, scores are raw")
        ctx.progress(1)
        ok = ceiling >= self.min_reliability
        with np.errstate(invalid="ignore", divide="ignore"):
            r2n = np.where(ok, fit.r2 / ceiling, np.nan)
            rn = np.where(ok, fit.r / np.sqrt(np.where(ok, ceiling, 1.0)), np.nan)
        units = [u for u, k in zip(m.units, keep, strict=True) if k]
        ds = self._dataset(fit, ceiling, r2n, rn, units, m.neuron_ids, notes)
        ds.attrs = self._headline(fit, ceiling, r2n, rn, ok, good, z.shape[1], ctx.rng)
        return ds

    def _fit(self, z: np.ndarray, y: np.ndarray, good: np.ndarray, train: np.ndarray,
             test: np.ndarray, rng: np.random.Generator) -> _Fit:
        """Ridge with alpha chosen by K-fold CV on the training stimuli, scored on the test."""
        cols = np.flatnonzero(good)
        res = fit_ridge(z, y[:, cols] if not good.all() else y, train, test, rng,
                        n_folds=self.n_folds, alphas=self.alphas,
                        per_column=self.alpha_per_neuron)

        def full(v: np.ndarray) -> np.ndarray:
            out = np.full(y.shape[1], np.nan)
            out[cols] = v
            return out

        coef = np.full((z.shape[1], y.shape[1]), np.nan)
        coef[:, cols] = res.coef
        return _Fit(r2=full(res.test_r2), r=full(res.test_r), alpha=full(res.alpha), coef=coef,
                    cv_score=np.vstack([full(row) for row in res.cv_score]))

    def _dataset(self, fit: _Fit, ceiling: np.ndarray, r2n: np.ndarray, rn: np.ndarray,
                 units: list[str], neuron_ids: np.ndarray, notes: list[str]) -> xr.Dataset:
        """Assemble the result Dataset (per-neuron scores, CV curve, weights, descriptions)."""
        import xarray as xr

        ds = xr.Dataset(
            {
                "r2": ("neuron", fit.r2),
                "r": ("neuron", fit.r),
                "ceiling": ("neuron", ceiling),
                "r2_normalised": ("neuron", r2n),
                "r_normalised": ("neuron", rn),
                "alpha": ("neuron", fit.alpha),
                "cv_score": (("alpha_grid", "neuron"), fit.cv_score),
                "coef": (("unit", "neuron"), fit.coef),
            },
            coords={"alpha_grid": self.alphas, "unit": units, "neuron": np.asarray(neuron_ids)},
        )
        ds["r2"].attrs["description"] = "held-out R^2 (sklearn r2_score) of the ridge prediction"
        ds["r"].attrs["description"] = "held-out Pearson r of prediction and response"
        ds["ceiling"].attrs["description"] = (
            f"split-half reliability over repeats on held-out stimuli, {self.n_splits} "
            "halvings, Spearman-Brown corrected")
        ds["r2_normalised"].attrs["description"] = "r2 / ceiling"
        ds["r_normalised"].attrs["description"] = "r / sqrt(ceiling)"
        ds["alpha"].attrs["description"] = (
            f"{self.n_folds}-fold CV choice, {'per neuron' if self.alpha_per_neuron else 'shared'}")
        ds["cv_score"].attrs["description"] = "mean validation R^2 over folds per alpha"
        if notes:
            ds["r2"].attrs["notes"] = "; ".join(notes)
        return ds

    def _headline(self, fit: _Fit, ceiling: np.ndarray, r2n: np.ndarray, rn: np.ndarray,
                  ok: np.ndarray, good: np.ndarray, n_units: int,
                  rng: np.random.Generator) -> dict[str, Any]:
        """Return the medians with bootstrap CIs and the counts for summary.json."""
        attrs: dict[str, Any] = {}
        stats = {}
        for name, values in (("r2", fit.r2), ("r", fit.r), ("r2_normalised", r2n),
                             ("r_normalised", rn)):
            stats[name] = median_ci(values, rng, self.n_bootstrap, self.ci)
        ceiled = bool(np.isfinite(r2n).any())
        attrs["encoding"] = stats["r2_normalised" if ceiled else "r2"][0]
        for name, (med, lo, hi) in stats.items():
            for suffix, v in (("", med), ("_ci_low", lo), ("_ci_high", hi)):
                if np.isfinite(v):
                    attrs[f"median_{name}{suffix}"] = v
        if np.isfinite(ceiling).any():
            attrs["median_ceiling"] = float(np.nanmedian(ceiling))
        attrs.update(ceiled=ceiled, n_neurons=int(good.sum()), n_ceiled=int(ok.sum()),
                     n_units=int(n_units))
        return attrs

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Draw the encoding figure.

        ``encoding``: per-neuron held-out R^2 against the noise ceiling, and the
        distribution of normalised (or raw) R^2 with its median.
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.8), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        r2, ceil = result["r2"].values, result["ceiling"].values
        if np.isfinite(ceil).any():
            ax1.scatter(ceil, r2, s=8, alpha=0.6)
            lim = [min(0.0, np.nanmin(r2)), max(1e-3, np.nanmax(np.r_[ceil, r2]))]
            ax1.plot(lim, lim, "k--", lw=0.8, label="R² = ceiling")
            ax1.set_xlabel("noise ceiling (split-half, Spearman-Brown)")
            ax1.legend(fontsize=8)
        else:
            ax1.scatter(np.arange(r2.size), r2, s=8, alpha=0.6)
            ax1.set_xlabel("neuron")
        ax1.set_ylabel("held-out R²")
        ax1.set_title("ridge encoding per neuron")
        ceiled = bool(result.attrs.get("ceiled", False))
        vals = (result["r2_normalised"] if ceiled else result["r2"]).values
        vals = vals[np.isfinite(vals)]
        ax2.hist(vals, bins=max(5, min(40, vals.size // 3 + 1)), color="tab:blue", alpha=0.7)
        med = result.attrs["encoding"]
        ax2.axvline(med, color="k", label=f"median {med:.3f}")
        lo = result.attrs.get("median_r2_normalised_ci_low" if ceiled else "median_r2_ci_low")
        hi = result.attrs.get("median_r2_normalised_ci_high" if ceiled else "median_r2_ci_high")
        if lo is not None and hi is not None:
            ax2.axvspan(lo, hi, color="k", alpha=0.15, label="bootstrap CI")
        ax2.set_xlabel("R² / ceiling" if ceiled else "R² (no ceiling: no repeats)")
        ax2.set_ylabel("neurons")
        ax2.legend(fontsize=8)
        return {"encoding": fig}
