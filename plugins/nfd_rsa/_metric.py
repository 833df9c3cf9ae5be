"""The ``rsa`` metric object, FDR across models and figures.

Model RDM vs neural RDM, with permutation p-value, bootstrap CI and noise ceiling; plus
FDR across models and the model-comparison figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from nfd_rsa._compare import COMPARISONS, PairedRDMs, ceiling
from nfd_rsa._rdm import CrossnobisRDM, PatternRDM, to_matrix

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext

__all__ = ["RSAMetric", "fdr_across_models", "permutation_p", "plot_model_comparison"]


def _parse_methods(text: str, primary: str) -> list[str]:
    methods = [m.strip() for m in str(text).split(",") if m.strip()]
    bad = [m for m in methods if m not in COMPARISONS]
    if bad:
        raise InputError(f"unknown comparison(s) {', '.join(bad)}; one of "
                         f"{', '.join(COMPARISONS)}", obj="rsa.comparisons")
    if primary not in methods:
        methods.insert(0, primary)
    return list(dict.fromkeys(methods))


def _has_nan(y: np.ndarray) -> bool:
    """Whether ``y`` holds a NaN (checked one stimulus block at a time)."""
    step = max(1, (16 << 20) // max(y[0].nbytes, 1))
    return any(np.isnan(y[a:a + step]).any() for a in range(0, y.shape[0], step))


@dataclass
class _Inputs:
    """The arrays one RSA uses: responses per repeat, repeat mean, latents, selections.

    ``stim`` (held-out stimuli, or None for all) and ``neurons`` (kept neurons, or None for
    all) index ``trials``; ``mean`` and ``latents`` are already restricted to them.
    """

    trials: np.ndarray
    mean: np.ndarray
    latents: np.ndarray
    stim: np.ndarray | None
    neurons: np.ndarray | None
    stimulus_ids: np.ndarray


@dataclass
class _Inference:
    """Observed similarities and their permutation p-values and bootstrap CIs."""

    observed: np.ndarray
    null: np.ndarray
    boot: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def permutation_p(null: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """One-sided permutation p-values ``(1 + #{null >= observed}) / (1 + n_perm)`` per column.

    The observed labelling counts as one of the permutations (Phipson & Smyth 2010), so p is
    never 0 and P(p <= alpha) <= alpha under the null; ties within 1e-12 (relative) count.
    """
    if not len(null):
        return np.full(len(observed), np.nan)
    tol = 1e-12 * np.maximum(1.0, np.abs(observed))
    return (1 + np.sum(null >= observed - tol, axis=0)) / (1 + len(null))


class _RepeatRDM:
    """Source of one repeat's RDM: missing values filled with the stimulus mean."""

    def __init__(self, y, repeat, stim, neurons, mean, method) -> None:
        self._args = (y, repeat, stim, neurons, mean, method)
        self.size = mean.shape[0] * (mean.shape[0] - 1) // 2

    def _source(self) -> PatternRDM:
        y, r, stim, neurons, mean, method = self._args
        x = y[:, :, r]
        if stim is not None:
            x = x[stim]
        if neurons is not None:
            x = x[:, neurons]
        return PatternRDM(x, method, fill=mean)  # a view: tiles are converted as needed

    def vector(self, dtype: type = np.float64) -> np.ndarray:
        """Return the condensed RDM."""
        return self._source().vector(dtype)

    def rows(self):
        """Consecutive condensed blocks."""
        return self._source().rows()


class _Draws:
    """Permutations or bootstrap samples, drawn again on each pass from a saved RNG state.

    Creating it advances ``rng`` past the draws, as drawing them once would.
    """

    def __init__(self, rng: np.random.Generator, count: int, n: int, kind: str) -> None:
        self._cls = type(rng.bit_generator)
        self._state = rng.bit_generator.state
        self.count, self.n, self.kind = count, n, kind
        for _ in self._draw(rng):
            pass

    def _draw(self, g: np.random.Generator):
        for _ in range(self.count):
            yield g.permutation(self.n) if self.kind == "permutation" \
                else g.integers(0, self.n, size=self.n)

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        g = np.random.Generator(self._cls())
        g.bit_generator.state = self._state
        return self._draw(g)


class RSAMetric:
    """Representational similarity analysis of a model's latents against the neurons.

    Parameters
    ----------
    rdm
        Neural dissimilarity: ``correlation`` (1 - Pearson r), ``euclidean`` (squared, per
        neuron) or ``crossnobis`` (leave-one-repeat-out, unbiased; needs complete repeats).
    model_rdm
        Dissimilarity of latent patterns: ``correlation`` or ``euclidean``. With fewer than 3
        units, correlation distance is degenerate and euclidean is used (noted in the result).
    comparison
        The headline comparison method; ``comparisons`` lists all that are computed.
    n_permutations, n_bootstrap
        Stimulus-label permutations (one-sided p-value) and stimulus bootstrap samples (CI).
    ceiling
        Data RDMs for the noise ceiling: ``repeats`` (one RDM per repeat), ``neurons``
        (``n_neuron_splits`` random groups of neurons), ``auto`` (repeats when there are >= 2
        and the RDM is not crossnobis, else neurons) or ``none``.
    stimuli
        ``all`` stimuli (no neural data is fitted, so there is no leak) or the held-out ``test``.
    ci
        Bootstrap confidence level (percentile interval).
    n_jobs
        Threads for the permutation and bootstrap loops, in blocks of samples (0 = every core
        this process may use); the results do not depend on it. Each extra thread holds its
        own ~16 bytes per stimulus pair (the Kendall counter's buffers), so the default is one
        thread: the memory bound (<= 1x the response matrix) holds for one thread only.
    """

    def __init__(
        self,
        rdm: str = "correlation",
        model_rdm: str = "correlation",
        comparison: str = "spearman",
        comparisons: str = "spearman,tau-a,pearson,cosine",
        n_permutations: int = 1000,
        n_bootstrap: int = 1000,
        ceiling: str = "auto",
        n_neuron_splits: int = 2,
        stimuli: str = "all",
        ci: float = 0.95,
        n_jobs: int = 1,
    ) -> None:
        if rdm not in ("correlation", "euclidean", "crossnobis"):
            raise InputError(f"unknown rdm {rdm!r}", obj="rsa.rdm")
        if model_rdm not in ("correlation", "euclidean"):
            raise InputError(f"unknown model_rdm {model_rdm!r}", obj="rsa.model_rdm")
        if comparison not in COMPARISONS:
            raise InputError(f"unknown comparison {comparison!r}", obj="rsa.comparison")
        if ceiling not in ("auto", "repeats", "neurons", "none"):
            raise InputError(f"unknown ceiling {ceiling!r}", obj="rsa.ceiling")
        if stimuli not in ("all", "test"):
            raise InputError(f"unknown stimuli {stimuli!r}", obj="rsa.stimuli")
        if n_permutations < 0 or n_bootstrap < 0 or n_neuron_splits < 2 or not 0 < ci < 1:
            raise InputError("n_permutations, n_bootstrap >= 0, n_neuron_splits >= 2, "
                             "0 < ci < 1", obj="rsa")
        self.rdm, self.model_rdm = rdm, model_rdm
        self.comparison = comparison
        self.methods = _parse_methods(comparisons, comparison)
        self.n_permutations, self.n_bootstrap = int(n_permutations), int(n_bootstrap)
        self.ceiling, self.n_neuron_splits = ceiling, int(n_neuron_splits)
        self.stimuli, self.ci = stimuli, float(ci)
        self.n_jobs = max(0, int(n_jobs))

    # ------------------------------------------------------------------ compute
    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """RDMs, similarities, p-values, CIs and noise ceiling for one model.

        Memory stays a fixed number of bytes per stimulus pair on top of the responses:
        the responses are never copied whole (one repeat at a time, float64 only while an RDM
        is computed), RDMs are computed again rather than kept (see ``nfd_rsa._compare``),
        and permutations and bootstrap samples are drawn again for each pass.
        """
        notes: list[str] = []
        inp = self._inputs(ctx, notes)
        data_src = (CrossnobisRDM(inp.trials, inp.stim, inp.neurons) if self.rdm == "crossnobis"
                    else PatternRDM(inp.mean, self.rdm))
        model_method = self.model_rdm
        if model_method == "correlation" and inp.latents.shape[1] < 3:
            model_method = "euclidean"
            notes.append(f"model has {inp.latents.shape[1]} unit(s): euclidean model RDM used")
        model_src = PatternRDM(inp.latents, model_method, keep=True)
        pair = PairedRDMs(data_src, model_src)
        inf = self._infer(pair, ctx)
        source, splits = self._split_rdms(inp.trials, inp.mean, inp.stim, inp.neurons, ctx.rng,
                                          notes)
        bounds = np.full((3, len(self.methods)), np.nan)  # ceiling low, up, split similarity
        if splits is not None:
            res = ceiling(splits, self.methods, pair)
            for k, m in enumerate(self.methods):
                bounds[:, k] = res[m]
        pair.release()
        del pair
        ds = self._dataset(inp, inf, bounds, data_src, model_src)
        self._describe(ds, model_method, source, notes)
        ds.attrs = self._headline(inf, bounds, inp)
        return ds

    def _inputs(self, ctx: MetricContext, notes: list[str]) -> _Inputs:
        """Responses, repeat mean and latents from ``ctx.matrices()``, restricted as asked."""
        mx = ctx.matrices()
        y, mean, z = mx.trials, mx.responses, mx.latents
        stim = np.asarray(mx.test) if self.stimuli == "test" else None
        if stim is not None:
            mean, z = mean[stim], z[stim]
        good = np.isfinite(mean).all(axis=0)
        neurons = None
        if not good.all():
            notes.append(f"{int((~good).sum())} neuron(s) without any response to some "
                         "stimulus left out")
            neurons = np.flatnonzero(good)
            mean = mean[:, good]
        if mean.shape[1] < 2:
            raise InputError("RSA needs at least 2 neurons with responses", obj="rsa")
        ids = mx.stimuli if stim is None else mx.stimuli[stim]
        return _Inputs(y, mean, z, stim, neurons, np.asarray(ids))

    def _infer(self, pair: PairedRDMs, ctx: MetricContext) -> _Inference:
        """Observed similarities, permutation null and p-values, bootstrap and its CI."""
        methods = self.methods
        observed = pair.similarities(methods)
        total = self.n_permutations + self.n_bootstrap
        ctx.progress(0, total=total, description="rsa: permutations and bootstrap")
        perms = _Draws(ctx.rng, self.n_permutations, pair.n, "permutation")
        samples = _Draws(ctx.rng, self.n_bootstrap, pair.n, "bootstrap")
        null = pair.permutation_null(perms, methods, n_jobs=self.n_jobs,
                                     progress=ctx.progress)
        boot = pair.bootstrap(samples, methods, n_jobs=self.n_jobs, progress=ctx.progress)
        pair.release()
        alpha = (1 - self.ci) / 2
        if len(boot):
            ci_low, ci_high = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
        else:
            ci_low = ci_high = np.full(len(methods), np.nan)
        return _Inference(observed, null, boot, permutation_p(null, observed), ci_low, ci_high)

    def _dataset(self, inp: _Inputs, inf: _Inference, bounds: np.ndarray, data_src,
                 model_src) -> xr.Dataset:
        """Build the result's variables (described by :meth:`_describe`)."""
        import xarray as xr

        return xr.Dataset(
            {
                "similarity": ("comparison", inf.observed),
                "p_value": ("comparison", inf.p_value),
                "ci_low": ("comparison", inf.ci_low),
                "ci_high": ("comparison", inf.ci_high),
                "ceiling_lower": ("comparison", bounds[0]),
                "ceiling_upper": ("comparison", bounds[1]),
                "similarity_splits": ("comparison", bounds[2]),
                "null": (("permutation", "comparison"), inf.null),
                "bootstrap": (("bootstrap", "comparison"), inf.boot),
                "data_rdm": ("pair", data_src.vector(np.float32)),
                "model_rdm": ("pair", model_src.vector(np.float32)),
            },
            coords={"comparison": self.methods, "stimulus": inp.stimulus_ids},
        )

    def _describe(self, ds: xr.Dataset, model_method: str, source: str,
                  notes: list[str]) -> None:
        """Describe each variable of ``ds`` (in place)."""
        ds["similarity"].attrs.update({
            "description": "similarity of the model RDM to the neural RDM (rsatoolbox compare)",
            "rdm": self.rdm, "model_rdm": model_method, "headline": self.comparison,
        })
        ds["p_value"].attrs["description"] = (
            f"one-sided stimulus-permutation p-value, {self.n_permutations} permutations, "
            "(1 + #null >= observed) / (1 + permutations)")
        ds["ci_low"].attrs["description"] = f"{self.ci:.0%} stimulus-bootstrap percentile CI"
        ds["ceiling_lower"].attrs["description"] = (
            f"rsatoolbox boot_noise_ceiling over data RDMs from {source}")
        ds["similarity_splits"].attrs["description"] = (
            "mean similarity to the ceiling's data RDMs (rsatoolbox eval_fixed): compare "
            "this, not 'similarity', with the ceiling")
        ds["data_rdm"].attrs["description"] = f"neural RDM ({self.rdm}), condensed"
        ds["model_rdm"].attrs["description"] = f"model RDM ({model_method}), condensed"
        if notes:
            ds["similarity"].attrs["notes"] = "; ".join(notes)

    def _headline(self, inf: _Inference, bounds: np.ndarray, inp: _Inputs) -> dict[str, Any]:
        """Return the headline comparison's scalars (finite ones only) and the sizes."""
        k = self.methods.index(self.comparison)
        attrs: dict[str, Any] = {"rsa": float(inf.observed[k])}
        for name, arr in (("p_value", inf.p_value), ("ci_low", inf.ci_low),
                          ("ci_high", inf.ci_high), ("ceiling_lower", bounds[0]),
                          ("ceiling_upper", bounds[1]), ("similarity_splits", bounds[2])):
            if np.isfinite(arr[k]):
                attrs[name] = float(arr[k])
        attrs.update(n_stimuli=int(inp.mean.shape[0]), n_neurons=int(inp.mean.shape[1]),
                     n_units=int(inp.latents.shape[1]))
        return attrs

    def _split_rdms(self, y: np.ndarray, mean: np.ndarray, stim: np.ndarray | None,
                    neurons: np.ndarray | None, rng: np.random.Generator,
                    notes: list[str]) -> tuple[str, list | None]:
        """Return the sources of the ceiling's data RDMs (computed on demand, one at a time)."""
        r, p = y.shape[2], mean.shape[1]
        mode = self.ceiling
        if mode == "auto":
            if r >= 2 and self.rdm != "crossnobis":
                mode = "repeats"
            elif p >= 3 * self.n_neuron_splits:
                mode = "neurons"
            else:
                mode = "none"
        if mode == "none":
            notes.append("no noise ceiling (needs >= 2 repeats or enough neurons to split)")
            return "none", None
        try:
            if mode == "repeats":
                if r < 2 or self.rdm == "crossnobis":
                    raise InputError("needs >= 2 repeats and a non-crossnobis RDM",
                                     obj="rsa ceiling=repeats")
                if _has_nan(y):
                    notes.append("missing repeats filled with the stimulus mean for the ceiling")
                return f"{r} repeats", [_RepeatRDM(y, i, stim, neurons, mean, self.rdm)
                                        for i in range(r)]
            groups = np.array_split(rng.permutation(p), self.n_neuron_splits)
            if min(len(g) for g in groups) < 3:
                raise InputError("too few neurons per split", obj="rsa ceiling=neurons")
            chans = [np.sort(g) if neurons is None else neurons[np.sort(g)] for g in groups]
            srcs = [CrossnobisRDM(y, stim, c) if self.rdm == "crossnobis"
                    else PatternRDM(mean[:, np.sort(g)], self.rdm)
                    for g, c in zip(groups, chans, strict=True)]
            return f"{self.n_neuron_splits} random groups of neurons", srcs
        except InputError as exc:
            notes.append(f"no noise ceiling: {exc}")
            return "none", None

    # ------------------------------------------------------------------ figures
    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Draw the RDMs and the comparison plot.

        ``rdms``: neural and model RDMs (percentile of rank); ``comparison``: similarity
        per comparison method with bootstrap CI, p-value and the noise-ceiling band.
        """
        return {"rdms": plot_rdms(result), "comparison": plot_comparisons(result)}


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _percentile_matrix(vec: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    v = np.asarray(vec, dtype=np.float64)
    pct = 100.0 * (rankdata(v) - 1) / max(v.size - 1, 1)
    return to_matrix(pct)


def plot_rdms(result: xr.Dataset) -> Figure:
    """Plot the neural and model RDMs.

    Neural and model RDMs side by side, rank-transformed to percentiles (rsatoolbox's
    ``show_rdm(rank_transform=True)`` look).
    """
    fig = _figure(9, 4.2)
    axes = fig.subplots(1, 2)
    attrs = result["similarity"].attrs
    for ax, var, title in ((axes[0], "data_rdm", f"neural RDM ({attrs.get('rdm', '')})"),
                           (axes[1], "model_rdm", f"model RDM ({attrs.get('model_rdm', '')})")):
        im = ax.imshow(_percentile_matrix(result[var].values), cmap="viridis",
                       interpolation="nearest", vmin=0, vmax=100)
        ax.set_title(title)
        ax.set_xlabel("stimulus")
        ax.set_ylabel("stimulus")
    fig.colorbar(im, ax=axes, label="dissimilarity (percentile)", shrink=0.8)
    fig.suptitle(f"RSA: {attrs.get('headline', '')} = {result.attrs['rsa']:.3f}")
    return fig


def plot_comparisons(result: xr.Dataset) -> Figure:
    """Plot the similarity per comparison method.

    Bars: similarity to the ceiling's data RDMs (comparable with the grey ceiling band);
    points: similarity to the full neural RDM with its bootstrap CI and p-value.
    """
    methods = [str(m) for m in result["comparison"].values]
    x = np.arange(len(methods))
    fig = _figure(1.4 * len(methods) + 2.5, 3.6)
    ax = fig.add_subplot()
    low, up = result["ceiling_lower"].values, result["ceiling_upper"].values
    for i in range(len(methods)):
        if np.isfinite(low[i]):
            ax.fill_between([i - 0.4, i + 0.4], low[i], up[i], color="0.8", zorder=0,
                            label="noise ceiling" if i == 0 else None)
    split = result["similarity_splits"].values
    if np.isfinite(split).any():
        ax.bar(x, np.nan_to_num(split), width=0.6, color="tab:blue", alpha=0.7,
               label="vs ceiling's data RDMs")
    sim = result["similarity"].values
    lo, hi = result["ci_low"].values, result["ci_high"].values
    yerr = np.vstack([sim - lo, hi - sim]) if np.isfinite(lo).all() else None
    ax.errorbar(x, sim, yerr=yerr, fmt="o", color="k", capsize=4,
                label="vs full neural RDM (CI)")
    for i, p in enumerate(result["p_value"].values):
        if np.isfinite(p):
            ax.annotate(f"p={p:.3g}", (i, np.nanmax([sim[i], hi[i] if yerr is not None else
                                                    sim[i]])),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(x, methods)
    ax.set_ylabel("RDM similarity")
    ax.legend(fontsize=7, loc="best")
    ax.set_title("model vs neural RDM")
    return fig


def fdr_across_models(pvalues: Mapping[str, float], alpha: float = 0.05) -> dict[str, float]:
    """Benjamini-Hochberg q-values over models (statsmodels ``multipletests``, ``fdr_bh``).

    Parameters
    ----------
    pvalues
        ``model -> p-value`` (e.g. each model's ``rsa`` result ``attrs["p_value"]``).
    alpha
        FDR level (only used by statsmodels for its reject flags; q-values do not depend on it).

    Returns
    -------
    dict
        ``model -> q-value``, same keys.
    """
    from statsmodels.stats.multitest import multipletests

    if not pvalues:
        return {}
    names = list(pvalues)
    p = np.array([float(pvalues[k]) for k in names])
    if not np.all((p >= 0) & (p <= 1)):
        raise InputError("p-values must lie in [0, 1]", obj="fdr_across_models")
    q = multipletests(p, alpha=alpha, method="fdr_bh")[1]
    return {k: float(v) for k, v in zip(names, q, strict=True)}


def plot_model_comparison(results: Mapping[str, xr.Dataset],
                          qvalues: Mapping[str, float] | None = None) -> Figure:
    """Plot the RSA model comparison.

    Model-comparison bar plot, rsatoolbox style: one bar per model (headline similarity to
    the ceiling's data RDMs when there is a ceiling, else to the full RDM), bootstrap CIs of the
    full-RDM similarity, the noise-ceiling band of the first result, FDR q-values on top.

    Parameters
    ----------
    results
        ``model -> rsa result`` (all on the same recording and settings).
    qvalues
        ``model -> q-value``; computed with :func:`fdr_across_models` when None.
    """
    names = list(results)
    if not names:
        raise InputError("no RSA results to compare", obj="plot_model_comparison")
    if qvalues is None:
        ps = {k: results[k].attrs["p_value"] for k in names if "p_value" in results[k].attrs}
        qvalues = fdr_across_models(ps)
    first = results[names[0]]
    fig = _figure(1.0 * len(names) + 3, 3.8)
    ax = fig.add_subplot()
    if "ceiling_lower" in first.attrs:
        ax.axhspan(first.attrs["ceiling_lower"], first.attrs["ceiling_upper"], color="0.8",
                   zorder=0, label="noise ceiling")
    x = np.arange(len(names))
    bars = [results[k].attrs.get("similarity_splits", results[k].attrs["rsa"]) for k in names]
    ax.bar(x, bars, width=0.6, color="tab:blue", alpha=0.7, label="similarity")
    sims = np.array([results[k].attrs["rsa"] for k in names])
    lo = np.array([results[k].attrs.get("ci_low", np.nan) for k in names])
    hi = np.array([results[k].attrs.get("ci_high", np.nan) for k in names])
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(x[ok], sims[ok], yerr=np.vstack([sims[ok] - lo[ok], hi[ok] - sims[ok]]),
                fmt="o", color="k", capsize=4, label="full RDM (bootstrap CI)")
    for i, k in enumerate(names):
        if k in qvalues:
            top = np.nanmax([bars[i], hi[i] if ok[i] else sims[i]])
            ax.annotate(f"q={qvalues[k]:.3g}", (i, top), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel(f"RDM similarity ({first['similarity'].attrs.get('headline', '')})")
    ax.legend(fontsize=7)
    ax.set_title("RSA model comparison")
    return fig
