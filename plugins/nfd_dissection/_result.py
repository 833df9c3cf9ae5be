"""The ``dissection`` result: one concept x item table, pairing, headline, face dictionaries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

    from neurofacedis.specs import MetricContext
    from nfd_dissection._dissection import Concept
    from nfd_dissection._metric import DissectionMetric, _Block

__all__ = ["assemble"]

_DESCRIPTIONS = {
    "score": ("share of the item's variance explained by a global concept (r^2 continuous, "
              "eta^2 categorical); IoU of a channel's top activations with a local concept"),
    "selectivity": "score minus its permutation-null mean",
    "kappa": "chance-corrected score (score - null mean) / (1 - null mean): one scale for all",
    "q_value": "Benjamini-Hochberg over all item x concept tests",
}


def _table(blocks: list[_Block], n_concepts: int) -> dict[str, np.ndarray]:
    """Stack the blocks' statistics into (concepts, items), NaN where a test does not exist."""
    out = {}
    for s in ("score", "null_mean", "null_sd", "p_value"):
        cols = []
        for b in blocks:
            a = np.full((n_concepts, len(b.items)), np.nan)
            a[: b.stats[s].shape[0]] = b.stats[s]
            cols.append(a)
        out[s] = np.hstack(cols)
    return out


def _headlines(metric: DissectionMetric, blocks: list[_Block], paired: dict[str, np.ndarray],
               concepts: list[Concept], n: int) -> dict[str, Any]:
    kind = np.concatenate([[b.kind] * len(b.items) for b in blocks])
    sel, best = paired["selective"], paired["best"]
    names = np.array([c.name for c in concepts])
    attrs: dict[str, Any] = {"n_concepts": len(concepts)}
    start = 0
    for b in blocks:
        cols = np.arange(start, start + len(b.items))
        start += len(b.items)
        if b.kind == "neuron":
            if cols.size:
                attrs["fraction_neurons_selective"] = float(sel[cols].mean())
                attrs["concepts_covered_by_neurons"] = int(len(set(names[best[cols][sel[cols]]])))
            continue
        h = metric.headline(b, paired, cols, concepts, n)
        pre = "" if b.kind == "unit" else "layer_"
        attrs["dissection" if b.kind == "unit" else "layer_dissection"] = h.pop("calibrated")
        attrs.update({pre + key: v for key, v in h.items()})
        attrs[f"fraction_{b.kind}s_selective"] = float(sel[cols].mean()) if cols.size else 0.0
        attrs[f"concepts_covered_by_{b.kind}s"] = int(len(set(names[best[cols][sel[cols]]])))
        if b.kind == "channel":
            local = np.array([c.kind == "local" for c in concepts])
            attrs["channels_paired_local"] = int((sel[cols] & local[best[cols]]).sum())
    is_unit = (kind == "unit") & sel
    if is_unit.any():
        k = paired["kappa"][best[is_unit], np.flatnonzero(is_unit)]
        attrs["mean_unit_kappa"] = float(np.mean(k))
    return attrs


def _unit_dictionary(metric: DissectionMetric, ds: xr.Dataset, ctx: MetricContext,
                     units: list[str]) -> xr.Dataset:
    """Each latent unit's lowest and highest faces (thumbnails)."""
    from nfd_dissection._metric import _thumbnails

    z = ctx.matrices().latents
    n = z.shape[0]
    imgs = ctx.get_images()
    order = np.argsort(z, axis=0, kind="stable")
    k = min(metric.n_faces, n // 2)
    picks = np.concatenate([order[:k], order[-k:]], axis=0).T  # (unit, 2k)
    uniq = np.unique(picks)
    thumbs = _thumbnails(imgs[uniq], metric.thumbnail)
    pos = {s: i for i, s in enumerate(uniq)}
    stack = thumbs[[[pos[s] for s in row] for row in picks]]
    dims = ("unit", "face_rank") + tuple(f"thumb_{d}" for d in ("y", "x", "c")[
        : stack.ndim - 2])
    ds["dictionary"] = (dims, stack)
    ds["dictionary_stimulus"] = (("unit", "face_rank"), picks)
    ds = ds.assign_coords(unit=units, face_rank=np.r_[-np.arange(k, 0, -1), np.arange(1, k + 1)])
    ds["dictionary"].attrs["description"] = (
        f"each unit's {k} lowest- and {k} highest-activating stimuli")
    return ds


def _channel_dictionary(metric: DissectionMetric, ds: xr.Dataset, block: _Block) -> xr.Dataset:
    """Each channel's top faces by peak activation, with its upsampled map over them."""
    from nfd_dissection._metric import _thumbnails

    maps, images = block.extra["maps"], block.extra["images"]  # (n, C, gy, gx)
    peak = maps.reshape(maps.shape[0], maps.shape[1], -1).max(axis=2)  # (n, C)
    k = min(metric.n_faces, len(images))
    picks = np.argsort(-peak, axis=0, kind="stable")[:k].T  # (C, k)
    uniq = np.unique(picks)
    thumbs = _thumbnails(images[uniq], metric.thumbnail)
    pos = {s: i for i, s in enumerate(uniq)}
    stack = thumbs[[[pos[s] for s in row] for row in picks]]
    cmaps = np.stack([maps[picks[c], c] for c in range(maps.shape[1])])  # (C, k, gy, gx)
    dims = ("channel", "top_rank") + tuple(f"thumb_{d}" for d in ("y", "x", "c")[
        : stack.ndim - 2])
    ds["channel_dictionary"] = (dims, stack)
    ds["channel_map"] = (("channel", "top_rank", "grid_y", "grid_x"), cmaps.astype(np.float32))
    ds["channel_threshold"] = ("channel", block.extra["threshold"].astype(np.float64))
    ds["channel_dictionary_stimulus"] = (("channel", "top_rank"), picks)
    ds = ds.assign_coords(channel=block.items, top_rank=np.arange(1, k + 1))
    ds["channel_dictionary"].attrs["description"] = (
        f"each channel's {k} stimuli of highest peak activation; channel_map: its upsampled "
        f"activation map on them, 'on' above channel_threshold (top {metric.top:g})")
    return ds


def assemble(metric: DissectionMetric, ctx: MetricContext, concepts: list[Concept],
             blocks: list[_Block], why_no_local: str) -> xr.Dataset:
    """Build the result Dataset: the table, the pairing, the headline and dictionaries."""
    import xarray as xr

    n = ctx.matrices().n_stimuli
    table = _table(blocks, len(concepts))
    paired = metric.pair(table, concepts, n)
    names = [c.name for c in concepts]
    items = [i for b in blocks for i in b.items]
    sel, best = paired["selective"], paired["best"]
    take = (best, np.arange(len(items)))
    best_name = np.array([names[b] if ok else "none" for b, ok in zip(best, sel, strict=True)])
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = table["score"] - table["null_mean"]
        zscore = np.where(table["null_sd"] > 0, diff / table["null_sd"], np.nan)
    ds = xr.Dataset(
        {
            "score": (("concept", "item"), table["score"]),
            "null_mean": (("concept", "item"), table["null_mean"]),
            "selectivity": (("concept", "item"), diff),
            "kappa": (("concept", "item"), paired["kappa"]),
            "z": (("concept", "item"), zscore),
            "p_value": (("concept", "item"), table["p_value"]),
            "q_value": (("concept", "item"), paired["q_value"]),
            "best_concept": ("item", best_name),
            "best_score": ("item", np.where(sel, table["score"][take], np.nan)),
            "best_selectivity": ("item", np.where(sel, diff[take], np.nan)),
            "best_kappa": ("item", np.where(sel, paired["kappa"][take], np.nan)),
            "best_q": ("item", np.where(sel, paired["q_value"][take], np.nan)),
            "kind": ("item", np.concatenate([[b.kind] * len(b.items) for b in blocks])),
            "concept_kind": ("concept", [c.kind for c in concepts]),
            "concept_levels": ("concept", [c.levels for c in concepts]),
        },
        coords={"concept": names, "item": items},
    )
    local = np.flatnonzero(ds["concept_kind"].values == "local")
    if local.size:  # Network Dissection's plain label: the part of highest raw IoU
        iou = np.where(np.isfinite(table["score"][local]), table["score"][local], -1.0)
        top = np.argmax(iou, axis=0)
        has = iou.max(axis=0) >= 0
        ds["best_part"] = ("item", np.where(has, np.array(names)[local][top], ""))
        ds["best_part_iou"] = ("item", np.where(has, iou.max(axis=0), np.nan))
        ds["best_part"].attrs["description"] = (
            "local concept of highest raw IoU (not chance-corrected: a part that sits at the "
            "same place in every face has a high IoU under the null too)")
    for var, text in _DESCRIPTIONS.items():
        ds[var].attrs["description"] = text
    ds["p_value"].attrs["description"] = (
        f"stimulus-permutation p, {metric.n_permutations} shuffles")
    ds["best_concept"].attrs["description"] = (
        f"concept of highest kappa among those with q < {metric.alpha} (a label containing a "
        "better-explained attribute yields to it); 'none' if no concept is significant")
    if why_no_local:
        ds["best_concept"].attrs["local_concepts"] = f"left out: {why_no_local}"
    ds.attrs = _headlines(metric, blocks, paired, concepts, n)
    units = blocks[0].items
    if ctx.images is not None and units:
        ds = _unit_dictionary(metric, ds, ctx, units)
    if blocks[-1].kind == "channel":
        ds = _channel_dictionary(metric, ds, blocks[-1])
    return ds
