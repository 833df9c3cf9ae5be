"""Figures of the ``dissection`` result: the kappa map and the face dictionaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

__all__ = ["figures", "MAX_CHANNELS"]

#: Channels drawn in the channel face dictionary (the best-paired first).
MAX_CHANNELS = 8


def _label(result: xr.Dataset, item: str) -> str:
    i = list(result["item"].values).index(item)
    best = str(result["best_concept"].values[i])
    if best == "none":
        if "best_part" in result and str(result["best_part"].values[i]):
            return (f"none\n({result['best_part'].values[i]} IoU "
                    f"{float(result['best_part_iou'].values[i]):.2f})")
        return best
    kind = str(result["concept_kind"].sel(concept=best).values)
    tag = {"local": "IoU", "categorical": "η²"}.get(kind, "r²")
    text = f"{best}\n{tag} {float(result['best_score'].values[i]):.2f}"
    text += f" κ {float(result['best_kappa'].values[i]):.2f}"
    if "best_part" in result and kind != "local" and str(result["best_part"].values[i]):
        text += (f"\n({result['best_part'].values[i]} IoU "
                 f"{float(result['best_part_iou'].values[i]):.2f})")
    return text


def _kappa_map(result: xr.Dataset) -> Figure:
    from matplotlib.figure import Figure

    concepts = [str(c) for c in result["concept"].values]
    kind, kap, best = result["kind"].values, result["kappa"].values, result["best_concept"].values
    groups = [k for k in ("unit", "channel", "neuron") if (kind == k).any()]
    widths = [max(1, min(60, int((kind == k).sum()))) for k in groups]
    fig = Figure(figsize=(10, 0.32 * len(concepts) + 2.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups), width_ratios=widths))
    im = None
    for ax, which in zip(axes, groups, strict=True):
        cols = np.flatnonzero(kind == which)
        if which != "unit":  # group by best concept
            rank = {c: i for i, c in enumerate(concepts + ["none"])}
            cols = cols[np.argsort([rank[b] for b in best[cols]], kind="stable")]
        im = ax.imshow(kap[:, cols], aspect="auto", cmap="magma", vmin=0, vmax=1,
                       interpolation="nearest")
        ax.set_yticks(range(len(concepts)), concepts, fontsize=7)
        if which == "unit":
            ax.set_xticks(range(cols.size), result["item"].values[cols], rotation=60,
                          ha="right", fontsize=7)
        else:
            ax.set_xlabel(f"{which} (grouped by paired concept)")
        ax.set_title(f"{which}s")
    fig.colorbar(im, ax=axes, label="kappa (chance-corrected score)", shrink=0.8)
    return fig


def _unit_dictionary(result: xr.Dataset) -> Figure:
    from matplotlib.figure import Figure

    d = result["dictionary"].values
    units = [str(u) for u in result["unit"].values]
    n_u, n_f = d.shape[:2]
    fig = Figure(figsize=(1.1 * n_f + 2.2, 1.1 * n_u + 0.5), layout="constrained")
    axes = fig.subplots(n_u, n_f, squeeze=False)
    for r in range(n_u):
        for c in range(n_f):
            a = axes[r, c]
            a.imshow(np.clip(d[r, c], 0, 1), cmap="gray", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            if c == 0:
                a.set_ylabel(f"{units[r]}\n{_label(result, units[r])}", fontsize=7, rotation=0,
                             ha="right", va="center")
            if r == 0:
                a.set_title("low" if c == 0 else ("high" if c == n_f - 1 else ""), fontsize=8)
    fig.suptitle("face dictionary: each unit's extreme faces and paired concept")
    return fig


def _channel_dictionary(result: xr.Dataset) -> Figure:
    from matplotlib.figure import Figure

    chans = [str(c) for c in result["channel"].values]
    items = list(result["item"].values)
    kap = np.array([result["best_kappa"].values[items.index(c)] for c in chans])
    show = np.argsort(-np.nan_to_num(kap, nan=-1.0), kind="stable")[:MAX_CHANNELS]
    d, maps = result["channel_dictionary"].values, result["channel_map"].values
    thr = result["channel_threshold"].values
    n_f = d.shape[1]
    fig = Figure(figsize=(1.1 * n_f + 2.2, 1.1 * len(show) + 0.5), layout="constrained")
    axes = fig.subplots(len(show), n_f, squeeze=False)
    for r, ch in enumerate(show):
        for c in range(n_f):
            a = axes[r, c]
            h, w = d[ch, c].shape[:2]
            ext = (-0.5, w - 0.5, h - 0.5, -0.5)
            a.imshow(np.clip(d[ch, c], 0, 1), cmap="gray", vmin=0, vmax=1, extent=ext)
            m = maps[ch, c]
            a.imshow(np.ma.masked_less_equal(m, thr[ch]), cmap="autumn", alpha=0.55,
                     extent=ext, interpolation="bilinear")
            a.set_xticks([])
            a.set_yticks([])
            if c == 0:
                a.set_ylabel(f"{chans[ch]}\n{_label(result, chans[ch])}", fontsize=7,
                             rotation=0, ha="right", va="center")
    fig.suptitle("face dictionary: each channel's top faces, its active region, paired concept",
                 fontsize=9)
    return fig


def figures(result: xr.Dataset) -> dict[str, Figure]:
    """Draw ``selectivity`` (kappa of every item for every concept) and the dictionaries.

    ``dictionary``: each latent unit's lowest- and highest-activating faces with its paired
    concept; ``channel_dictionary`` (with ``layer``): each channel's top faces with the region
    where it is "on" drawn over them, and its paired concept (local or global).
    """
    out = {"selectivity": _kappa_map(result)}
    if "dictionary" in result:
        out["dictionary"] = _unit_dictionary(result)
    if "channel_dictionary" in result:
        out["channel_dictionary"] = _channel_dictionary(result)
    return out
