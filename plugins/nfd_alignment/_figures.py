"""Figures of an alignment result (matplotlib's object API: no pyplot state, Agg when saved)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

__all__ = ["plot_importance", "plot_neuron_scores", "plot_matched_tuning"]


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_importance(result: xr.Dataset) -> Figure:
    """Heatmap of |Lasso weights| (units x neurons), neurons grouped by their strongest unit.

    Units follow the one-to-one matching order; within a unit's group, neurons are sorted by
    their score, so an aligned model shows a block diagonal.
    """
    r = np.asarray(result["importance"].values, dtype=float)
    units = [str(u) for u in result["unit"].values]
    matched = [units.index(str(u)) for u in result["match_unit"].values]
    unit_order = matched + [i for i in range(len(units)) if i not in matched]
    r = r[unit_order]
    score = np.nan_to_num(np.asarray(result["neuron_score"].values, dtype=float), nan=-1.0)
    best = np.where(r.sum(axis=0) > 0, r.argmax(axis=0), len(units))
    neuron_order = np.lexsort((-score, best))
    col = r[:, neuron_order].sum(axis=0, keepdims=True)
    p = np.divide(r[:, neuron_order], col, out=np.zeros_like(r), where=col > 0)
    fig = _figure(8, 0.3 * len(units) + 2)
    ax = fig.add_subplot()
    im = ax.imshow(p, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(units)), [units[i] for i in unit_order])
    ax.set_xlabel("neuron (grouped by strongest unit, sorted by score)")
    ax.set_ylabel("unit")
    ax.set_title(f"Lasso importance per neuron (alignment = {result.attrs['alignment']:.3f})")
    fig.colorbar(im, ax=ax, label="share of |weight| (P)")
    return fig


def plot_neuron_scores(result: xr.Dataset) -> Figure:
    """Histogram of per-neuron scores (1 - H_j) with the alignment, ceiling and control."""
    score = np.asarray(result["neuron_score"].values, dtype=float)
    score = score[np.isfinite(score)]
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    ax.hist(score, bins=np.linspace(0, 1, 26), color="0.6", label="neurons (1 - H)")
    a = result.attrs
    ax.axvline(a["alignment"], color="C0", lw=2, label=f"alignment {a['alignment']:.3f}")
    if "ceiling_mean" in a:
        m, sd = a["ceiling_mean"], a["ceiling_sd"]
        ax.axvspan(m - sd, m + sd, color="C1", alpha=0.25)
        ax.axvline(m, color="C1", lw=2, label=f"ceiling {m:.3f} ± {sd:.3f}")
        ceil = np.asarray(result["ceiling"].values, dtype=float)
        ax.plot(ceil, np.zeros_like(ceil), "|", color="C1", ms=12)
    ax.axvline(
        a["rotated_control"],
        color="C3",
        lw=2,
        ls="--",
        label=f"rotated control {a['rotated_control']:.3f}",
    )
    ax.set_xlim(0, 1)
    ax.set_xlabel("per-neuron alignment 1 - H")
    ax.set_ylabel("neurons")
    ax.legend(fontsize=8)
    return fig


def plot_matched_tuning(result: xr.Dataset, n_panels: int = 6) -> Figure:
    """Plot each best-matched neuron's response against its unit, a few panels."""
    m = min(n_panels, result.sizes["match"])
    cols = min(3, max(m, 1))
    rows = max(1, math.ceil(m / cols))
    fig = _figure(3.2 * cols, 2.8 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    train = np.asarray(result["train"].values, dtype=bool)
    for i, ax in enumerate(axes):
        if i >= m:
            ax.set_axis_off()
            continue
        lat = np.asarray(result["match_latent"].values[i], dtype=float)
        resp = np.asarray(result["match_response"].values[i], dtype=float)
        ax.plot(lat[train], resp[train], ".", ms=3, color="C0", alpha=0.5, label="train")
        if (~train).any():
            ax.plot(lat[~train], resp[~train], ".", ms=3, color="C1", alpha=0.7, label="test")
        unit = str(result["match_unit"].values[i])
        neuron = str(result["match_neuron"].values[i])
        ax.set_title(
            f"neuron {neuron} ~ {unit}  r={float(result['match_r'].values[i]):.2f}", fontsize=9
        )
        ax.set_xlabel(unit)
        ax.set_ylabel("response")
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle("One-to-one matched units and neurons (Hungarian, |r| on training stimuli)")
    return fig
