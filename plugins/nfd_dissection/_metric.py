"""The ``dissection`` metric object: one pairing of units, channels and neurons with concepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from neurofacedis.stats import fdr_bh
from nfd_dissection._dissection import Concept, concepts_from, permutation_null
from nfd_dissection._pairing import (
    demote_parents,
    headline_null,
    kappa_of,
    nesting,
    one_to_one,
)

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext

__all__ = ["DissectionMetric"]

_STATS = ("score", "null_mean", "null_sd", "p_value")


@dataclass
class _Block:
    """Scores of one group of items (units, neurons or layer channels) against the concepts.

    Arrays are (concepts, items) over the block's own concepts (a prefix of the full list for
    items without feature maps); ``null`` (concepts, items, B) is kept for the headline.
    """

    kind: str
    items: list[str]
    stats: dict[str, np.ndarray]
    null: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _thumbnails(images: np.ndarray, size: int) -> np.ndarray:
    from skimage.transform import resize

    h, w = images.shape[1:3]
    scale = min(1.0, size / max(h, w))
    if scale == 1.0:
        return images.astype(np.float32)
    shape = (round(h * scale), round(w * scale)) + images.shape[3:]
    return np.stack([resize(im, shape, anti_aliasing=True) for im in images]).astype(np.float32)


def _local_stats(on: np.ndarray, masks: dict[str, np.ndarray], perms: np.ndarray,
                 progress) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """IoU statistics (parts, channels) and the permuted IoUs (parts, channels, B)."""
    from nfd_dissection._spatial import iou_null

    obs, nulls = [], []
    for mask in masks.values():
        o, nl = iou_null(on, mask, perms)
        obs.append(o)
        nulls.append(nl)
        progress(1)
    obs_a, null = np.stack(obs), np.stack(nulls)
    b = null.shape[2]
    ge = (null >= obs_a[..., None] - 1e-12).sum(axis=2)
    return {"score": obs_a, "null_mean": null.mean(axis=2),
            "null_sd": null.std(axis=2, ddof=1) if b > 1 else np.zeros_like(obs_a),
            "p_value": (1 + ge) / (1 + b)}, null


class DissectionMetric:
    """Which face concept, global or local, each unit, channel and neuron encodes.

    Network dissection (Bau et al. 2017) for faces. *Global* concepts are the columns of the
    stimulus table and the known factors, scored by explained variance (r^2, eta^2); *local*
    concepts are facial parts (forehead, brows, eyes, nose, mouth, jaw) drawn from landmarks,
    scored by the IoU of a feature-map channel's top activations with the part (``layer``).
    All scores get one stimulus-permutation null, one BH-FDR and one pairing on the
    chance-corrected scale (see ``nfd_dissection._pairing``); the headline ``dissection`` is
    the one-to-one margin of the model's units, calibrated against the same null.

    Parameters
    ----------
    n_permutations
        Shuffles of the stimulus labels for the null (shared by all items and concepts).
    alpha
        FDR level (Benjamini-Hochberg over all item x concept tests) for "selective".
    n_faces
        Stimuli shown per unit in the face dictionary (at each end for latent units).
    thumbnail
        Longest side, in pixels, of the face-dictionary thumbnails stored in the result.
    exclude
        Comma-separated concepts to leave out.
    layer
        A feature-map layer of the model (``feature_maps(images, layer=...)``, e.g. β-VAE
        ``conv2``) whose channels are dissected with local and global concepts; "" for none.
    top
        Share of each channel's activations (over all stimuli and pixels) counted as "on".
    grid
        Side of the raster, in pixels (at most the image's), where maps meet part masks.
    """

    def __init__(self, n_permutations: int = 500, alpha: float = 0.05, n_faces: int = 4,
                 thumbnail: int = 48, exclude: str = "", layer: str = "", top: float = 0.05,
                 grid: int = 32) -> None:
        if (n_permutations < 1 or not 0 < alpha < 1 or n_faces < 1 or thumbnail < 4
                or not 0 < top < 1 or grid < 4):
            raise InputError("need n_permutations >= 1, 0 < alpha < 1, n_faces >= 1, "
                             "thumbnail >= 4, 0 < top < 1, grid >= 4", obj="dissection")
        self.n_permutations, self.alpha = int(n_permutations), float(alpha)
        self.n_faces, self.thumbnail = int(n_faces), int(thumbnail)
        self.exclude = {e.strip() for e in str(exclude).split(",") if e.strip()}
        self.layer, self.top, self.grid = str(layer).strip(), float(top), int(grid)

    # --- the steps ---------------------------------------------------------------------------

    def _concepts(self, ctx: MetricContext, n: int) -> list[Concept]:
        concepts = [c for c in concepts_from(ctx.stimuli, ctx.factors, n)
                    if c.name not in self.exclude]
        if not concepts:
            raise InputError("no labelled attribute to dissect: the stimulus table has no "
                             "label column and there are no known factors", obj="dissection")
        return concepts

    def _global_blocks(self, ctx: MetricContext, concepts: list[Concept],
                       perms: np.ndarray) -> list[_Block]:
        """Latent units (null kept) and neurons against the global concepts."""
        m = ctx.matrices()
        y = np.asarray(m.responses, dtype=np.float64)
        ycols = np.flatnonzero(np.isfinite(y).all(axis=0))
        x = np.hstack([m.latents, y[:, ycols]])
        k = m.latents.shape[1]
        ctx.progress(0, total=len(concepts), description="dissection: permutation null")
        res = permutation_null(x, concepts, perms, progress=ctx.progress, keep_null=k)
        return [
            _Block("unit", list(m.units), {s: res[s][:, :k] for s in _STATS}, res["null"]),
            _Block("neuron", [f"neuron {m.neuron_ids[c]}" for c in ycols],
                   {s: res[s][:, k:] for s in _STATS}),
        ]

    def _layer_block(self, ctx: MetricContext, concepts: list[Concept],
                     perms: np.ndarray) -> tuple[_Block | None, list[str], str]:
        """Channels of ``layer``: global concepts on pooled maps, local ones by IoU.

        Returns the block (None without feature maps), the local concept names, and why
        local concepts were left out ("" when they were not).
        """
        from nfd_dissection._parts import part_masks
        from nfd_dissection._spatial import binarize, upsample

        fm = getattr(ctx.model, "feature_maps", None)
        if not self.layer or fm is None or ctx.images is None:
            why = "" if not self.layer else (
                f"model '{ctx.model_name}' has no feature maps" if fm is None else "no images")
            return None, [], why
        images = ctx.get_images()
        maps = np.asarray(fm(images, layer=self.layer), dtype=np.float32)
        if maps.ndim != 4 or maps.shape[0] != len(images) or not np.isfinite(maps).all():
            raise InputError(f"feature_maps(layer={self.layer!r}) gave shape {maps.shape}, "
                             f"expected finite ({len(images)}, channels, h, w)",
                             obj=f"model {ctx.model_name}")
        names = [f"{self.layer}:{c}" for c in range(maps.shape[1])]
        res = permutation_null(maps.mean(axis=(2, 3)), concepts, perms,
                               keep_null=maps.shape[1])
        stats, null = {s: res[s] for s in _STATS}, res["null"]
        grid = (min(images.shape[1], self.grid), min(images.shape[2], self.grid))
        up = upsample(maps, grid)
        thr, on = binarize(up, self.top)
        extra = {"maps": up, "threshold": thr, "grid": grid, "images": images}
        landmarks = getattr(ctx, "landmarks", None)
        if landmarks is None:
            return _Block("channel", names, stats, null, extra), [], "no landmarks"
        masks = part_masks(landmarks, images.shape[1:3], grid)
        ctx.progress(0, total=len(masks), description="dissection: part IoU null")
        loc, lnull = _local_stats(on, masks, perms, ctx.progress)
        stats = {s: np.vstack([stats[s], loc[s]]) for s in _STATS}
        return _Block("channel", names, stats, np.concatenate([null, lnull]), extra), \
            list(masks), ""

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Scores, null, q-values, pairing and headline for every unit, channel and neuron."""
        n = ctx.matrices().n_stimuli
        concepts = self._concepts(ctx, n)
        perms = np.stack([ctx.rng.permutation(n) for _ in range(self.n_permutations)])
        blocks = self._global_blocks(ctx, concepts, perms)
        layer, parts, why = self._layer_block(ctx, concepts, perms)
        if layer is not None:
            blocks.append(layer)
        all_concepts = concepts + [Concept(p, "local", np.zeros(0), 0) for p in parts]
        from nfd_dissection._result import assemble

        return assemble(self, ctx, all_concepts, blocks, why)

    # --- pairing, used by assemble -----------------------------------------------------------

    def pair(self, stats: dict[str, np.ndarray], concepts: list[Concept],
             n: int) -> dict[str, np.ndarray]:
        """Kappa, q-values (BH over every finite test), parent demotion and best concept."""
        p = stats["p_value"]
        ok = np.isfinite(p)
        q = np.full_like(p, np.nan)
        if ok.any():
            q[ok] = fdr_bh(p[ok], self.alpha)[0]
        sig = ok & (np.nan_to_num(q, nan=1.0) < self.alpha)
        kappa = kappa_of(stats["score"], stats["null_mean"])
        rank = demote_parents(np.where(ok, kappa, -np.inf), stats["score"], sig,
                              nesting(concepts), n, self.alpha)
        masked = np.where(sig, rank, -np.inf)
        best = np.argmax(masked, axis=0)
        selective = np.isfinite(masked[best, np.arange(p.shape[1])])
        return {"kappa": kappa, "rank": rank, "q_value": q, "sig": sig, "best": best,
                "selective": selective}

    def headline(self, block: _Block, paired: dict[str, np.ndarray], cols: np.ndarray,
                 concepts: list[Concept], n: int) -> dict[str, float]:
        """One-to-one margin of a block, its permutation null and the calibrated value."""
        k = block.stats["score"].shape[0]
        rank = paired["rank"][:k, cols]
        nest = nesting(concepts[:k])
        margin, unit = one_to_one(rank, paired["sig"][:k, cols], nest.related(k))
        obs = float(margin.mean()) if k else 0.0
        null = headline_null(block.stats["score"], block.null, block.stats["null_mean"], nest,
                             n, self.alpha)
        m0 = float(null.mean()) if null.size else 0.0
        return {
            "one_to_one_margin": obs,
            "one_to_one_null": m0,
            "one_to_one_p": float((1 + (null >= obs - 1e-12).sum()) / (1 + null.size)),
            "calibrated": (obs - m0) / (1 - m0) if m0 < 1 else 0.0,
            "concepts_one_to_one": int((unit >= 0).sum()),
        }

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Draw the kappa map and face dictionaries (see :mod:`nfd_dissection._figures`)."""
        from nfd_dissection._figures import figures

        return figures(result)
