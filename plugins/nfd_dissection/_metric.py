"""The ``dissection`` metric object and its figures (the "face dictionary")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from nfd_dissection._dissection import concepts_from, permutation_null

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext

__all__ = ["DissectionMetric"]


def _thumbnails(images: np.ndarray, size: int) -> np.ndarray:
    from skimage.transform import resize

    h, w = images.shape[1:3]
    scale = min(1.0, size / max(h, w))
    if scale == 1.0:
        return images.astype(np.float32)
    shape = (round(h * scale), round(w * scale)) + images.shape[3:]
    return np.stack([resize(im, shape, anti_aliasing=True) for im in images]).astype(np.float32)


class DissectionMetric:
    """Which labelled face attribute each unit and each neuron encodes best.

    Network dissection (Bau et al. 2017) pairs units with human-labelled concepts; here a
    concept is any column of the stimulus table (identity, gender, expression, view...) or a
    known generative factor. Scores are the variance of the item's response over all stimuli
    explained by the concept (r^2 or eta^2), with a stimulus-permutation null; see
    ``nfd_dissection._dissection``.

    Parameters
    ----------
    n_permutations
        Shuffles of the stimulus labels for the null (shared by all items and concepts).
    alpha
        FDR level (Benjamini-Hochberg over all item x concept tests) for "selective".
    n_faces
        Stimuli shown at each end of a unit's range in the face dictionary.
    thumbnail
        Longest side, in pixels, of the face-dictionary thumbnails stored in the result.
    exclude
        Comma-separated attributes to leave out (e.g. ``identity``, which as a many-level
        label explains part of every face property).
    """

    def __init__(self, n_permutations: int = 500, alpha: float = 0.05, n_faces: int = 4,
                 thumbnail: int = 48, exclude: str = "") -> None:
        if n_permutations < 1 or not 0 < alpha < 1 or n_faces < 1 or thumbnail < 4:
            raise InputError("need n_permutations >= 1, 0 < alpha < 1, n_faces >= 1, "
                             "thumbnail >= 4", obj="dissection")
        self.n_permutations, self.alpha = int(n_permutations), float(alpha)
        self.n_faces, self.thumbnail = int(n_faces), int(thumbnail)
        self.exclude = {e.strip() for e in str(exclude).split(",") if e.strip()}

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Scores, null, p/q-values and best concept for every unit and neuron."""
        import xarray as xr
        from statsmodels.stats.multitest import multipletests

        z = np.asarray(ctx.latents.transpose("stimulus", "unit").values, dtype=np.float64)
        y = np.asarray(ctx.mean_responses.transpose("stimulus", "neuron").values,
                       dtype=np.float64)
        n = z.shape[0]
        concepts = [c for c in concepts_from(ctx.stimuli, ctx.factors, n)
                    if c.name not in self.exclude]
        if not concepts:
            raise InputError("no labelled attribute to dissect: the stimulus table has no "
                             "label column and there are no known factors", obj="dissection")
        ycols = np.flatnonzero(np.isfinite(y).all(axis=0))
        units = ([str(u) for u in ctx.latents["unit"].values] if "unit" in ctx.latents.coords
                 else [f"unit{i}" for i in range(z.shape[1])])
        nlab = (list(ctx.responses["neuron"].values) if "neuron" in ctx.responses.coords
                else list(range(y.shape[1])))
        items = units + [f"neuron {nlab[c]}" for c in ycols]
        kind = np.array(["unit"] * len(units) + ["neuron"] * len(ycols))
        x = np.hstack([z, y[:, ycols]])
        perms = np.stack([ctx.rng.permutation(n) for _ in range(self.n_permutations)])
        ctx.progress(0, total=len(concepts), description="dissection: permutation null")
        res = permutation_null(x, concepts, perms, progress=ctx.progress)
        q = multipletests(res["p_value"].ravel(), alpha=self.alpha, method="fdr_bh")[1]
        q = q.reshape(res["p_value"].shape)
        sel = res["score"] - res["null_mean"]
        with np.errstate(divide="ignore", invalid="ignore"):
            zscore = np.where(res["null_sd"] > 0, sel / res["null_sd"], np.nan)
        masked = np.where(q < self.alpha, sel, -np.inf)
        best = np.argmax(masked, axis=0)
        selective = np.isfinite(masked[best, np.arange(x.shape[1])])
        names = [c.name for c in concepts]
        best_name = np.array([names[b] if ok else "none"
                              for b, ok in zip(best, selective, strict=True)])
        take = (best, np.arange(x.shape[1]))

        ds = xr.Dataset(
            {
                "score": (("concept", "item"), res["score"]),
                "null_mean": (("concept", "item"), res["null_mean"]),
                "selectivity": (("concept", "item"), sel),
                "z": (("concept", "item"), zscore),
                "p_value": (("concept", "item"), res["p_value"]),
                "q_value": (("concept", "item"), q),
                "best_concept": ("item", best_name),
                "best_score": ("item", np.where(selective, res["score"][take], np.nan)),
                "best_selectivity": ("item", np.where(selective, sel[take], np.nan)),
                "best_q": ("item", np.where(selective, q[take], np.nan)),
                "kind": ("item", kind),
                "concept_kind": ("concept", [c.kind for c in concepts]),
                "concept_levels": ("concept", [c.levels for c in concepts]),
            },
            coords={"concept": names, "item": items},
        )
        ds["score"].attrs["description"] = (
            "share of the item's variance over stimuli explained by the concept "
            "(r^2 continuous, eta^2 categorical)")
        ds["selectivity"].attrs["description"] = "score minus its permutation-null mean"
        ds["p_value"].attrs["description"] = (
            f"stimulus-permutation p, {self.n_permutations} shuffles")
        ds["q_value"].attrs["description"] = "Benjamini-Hochberg over all item x concept tests"
        ds["best_concept"].attrs["description"] = (
            f"concept of highest selectivity among those with q < {self.alpha}; 'none' if no "
            "concept is significant")

        if ctx.images is not None and z.shape[1] > 0:
            imgs = ctx.get_images()
            order = np.argsort(z, axis=0, kind="stable")
            k = min(self.n_faces, n // 2)
            picks = np.concatenate([order[:k], order[-k:]], axis=0).T  # (unit, 2k)
            thumbs = _thumbnails(imgs[np.unique(picks)], self.thumbnail)
            pos = {s: i for i, s in enumerate(np.unique(picks))}
            stack = thumbs[[[pos[s] for s in row] for row in picks]]
            dims = ("unit", "face_rank") + tuple(f"thumb_{d}" for d in ("y", "x", "c")[
                : stack.ndim - 2])
            ds["dictionary"] = (dims, stack)
            ds["dictionary_stimulus"] = (("unit", "face_rank"), picks)
            ds = ds.assign_coords(unit=units, face_rank=np.r_[-np.arange(k, 0, -1),
                                                              np.arange(1, k + 1)])
            ds["dictionary"].attrs["description"] = (
                f"each unit's {k} lowest- and {k} highest-activating stimuli")

        is_unit, is_neuron = kind == "unit", kind == "neuron"
        attrs: dict[str, Any] = {
            "dissection": float(selective[is_unit].mean()) if is_unit.any() else 0.0,
            "n_concepts": len(concepts),
            "concepts_covered_by_units": int(len(set(best_name[is_unit & selective]))),
        }
        if is_unit.any() and selective[is_unit].any():
            attrs["mean_unit_selectivity"] = float(np.mean(sel[take][is_unit & selective]))
        if is_neuron.any():
            attrs["fraction_neurons_selective"] = float(selective[is_neuron].mean())
            attrs["concepts_covered_by_neurons"] = int(
                len(set(best_name[is_neuron & selective])))
        ds.attrs = attrs
        return ds

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Draw the selectivity map and the face dictionary.

        ``selectivity``: chance-corrected score of every unit and neuron for every concept;
        ``dictionary`` (when images were available): each unit's lowest- and highest-activating
        faces, labelled with its best concept.
        """
        from matplotlib.figure import Figure

        out: dict[str, Figure] = {}
        concepts = [str(c) for c in result["concept"].values]
        kind = result["kind"].values
        sel = result["selectivity"].values
        best = result["best_concept"].values
        fig = Figure(figsize=(9, 0.35 * len(concepts) + 2.5), layout="constrained")
        axes = fig.subplots(1, 2, width_ratios=[max(1, (kind == "unit").sum()),
                                                max(1, min(60, (kind == "neuron").sum()))])
        for ax, which in zip(axes, ("unit", "neuron"), strict=True):
            cols = np.flatnonzero(kind == which)
            if which == "neuron":  # group neurons by their best concept
                rank = {c: i for i, c in enumerate(concepts + ["none"])}
                cols = cols[np.argsort([rank[b] for b in best[cols]], kind="stable")]
            if cols.size == 0:
                ax.set_axis_off()
                continue
            im = ax.imshow(sel[:, cols], aspect="auto", cmap="magma", vmin=0,
                           vmax=max(1e-6, float(np.nanmax(sel))), interpolation="nearest")
            ax.set_yticks(range(len(concepts)), concepts, fontsize=7)
            if which == "unit":
                ax.set_xticks(range(cols.size), result["item"].values[cols], rotation=60,
                              ha="right", fontsize=7)
            else:
                ax.set_xlabel("neuron (grouped by best concept)")
            ax.set_title(f"{which}s: selectivity")
        fig.colorbar(im, ax=axes, label="explained variance above chance", shrink=0.8)
        out["selectivity"] = fig

        if "dictionary" in result:
            d = result["dictionary"].values
            units = [str(u) for u in result["unit"].values]
            n_u, n_f = d.shape[:2]
            dic = Figure(figsize=(1.1 * n_f + 2.2, 1.1 * n_u + 0.5), layout="constrained")
            axes = dic.subplots(n_u, n_f, squeeze=False)
            items = list(result["item"].values)
            for r in range(n_u):
                i = items.index(units[r])
                label = str(best[i])
                if label != "none":
                    label += f" ({float(result['best_score'].values[i]):.2f})"
                for c in range(n_f):
                    a = axes[r, c]
                    a.imshow(np.clip(d[r, c], 0, 1), cmap="gray", vmin=0, vmax=1)
                    a.set_xticks([])
                    a.set_yticks([])
                    if c == 0:
                        a.set_ylabel(f"{units[r]}\n{label}", fontsize=7, rotation=0,
                                     ha="right", va="center")
                    if r == 0:
                        a.set_title("low" if c == 0 else ("high" if c == n_f - 1 else ""),
                                    fontsize=8)
            dic.suptitle("face dictionary: each unit's extreme faces and best concept")
            out["dictionary"] = dic
        return out
