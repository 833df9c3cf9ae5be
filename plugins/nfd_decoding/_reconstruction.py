"""Reconstructing held-out faces from a few neurons through the model's decoder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from nfd_decoding._decoding import complete_responses

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext

__all__ = ["ReconstructionMetric", "neuron_counts", "rank_neurons", "cosine_distances"]


def neuron_counts(n_max: int) -> list[int]:
    """1, 2, 4, 8, ... below ``n_max``, then ``n_max``."""
    out, n = [], 1
    while n < n_max:
        out.append(n)
        n *= 2
    return out + [n_max]


def rank_neurons(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank neurons by single-neuron decoding quality.

    Order neurons by how much of the latent space each one alone decodes on the given
    (training) stimuli: the mean over z-scored units of r^2(unit, neuron), which is the R^2 of
    the least-squares decoding of all units from that neuron. Best first.
    """
    zc = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)
    yc = y - y.mean(0)
    yn = np.sqrt(np.einsum("ij,ij->j", yc, yc))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (zc.T @ yc) / (np.sqrt(len(z)) * yn)
    quality = np.nan_to_num(np.mean(r**2, axis=0))
    return np.argsort(-quality, kind="stable"), quality


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) cosine distances between flattened images."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    an = np.linalg.norm(a, axis=1)
    bn = np.linalg.norm(b, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - (a @ b.T) / np.outer(an, bn)


def _scores(recon: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score reconstructions against the true images.

    Per face: cosine distance to its own image, and whether it is nearer its own image than
    every other held-out face's.
    """
    d = cosine_distances(recon, truth)
    own = np.diag(d)
    hit = np.argmin(d, axis=1) == np.arange(len(d))
    return own, hit


@dataclass(frozen=True)
class _Faces:
    """The held-out faces and how latents become images (inactive units at training mean)."""

    decoder: Callable[[np.ndarray], Any]
    mean_latent: np.ndarray
    active: np.ndarray
    truth: np.ndarray

    def decode(self, active_values: np.ndarray) -> np.ndarray:
        """Decode active-unit values (n, K) into images shaped like ``truth``."""
        lat = np.tile(self.mean_latent, (len(active_values), 1))
        lat[:, self.active] = active_values
        out = np.asarray(self.decoder(lat.astype(np.float32)), dtype=np.float64)
        if out.shape != self.truth.shape:
            raise InputError(f"decode returned {out.shape}, images are {self.truth.shape}",
                             obj="reconstruction")
        return out


@dataclass(frozen=True)
class _References:
    """Per-face distance and identification of the own and the average-face reconstruction."""

    d_own: np.ndarray
    hit_own: np.ndarray
    d_avg: np.ndarray
    hit_avg: np.ndarray


@dataclass(frozen=True)
class _Curve:
    """Per neuron count: per-face distances and hits, the ridge alpha, example images."""

    counts: list[int]
    dist: np.ndarray
    hits: np.ndarray
    alpha: np.ndarray
    examples: np.ndarray


def _curve(faces: _Faces, z: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
           order: np.ndarray, ex: np.ndarray, progress: Callable[..., None]) -> _Curve:
    """Fit a ridge decoder from the n best z-scored neurons for n = 1, 2, 4, ... all."""
    from sklearn.linear_model import RidgeCV

    mu, sd = y[train].mean(0), y[train].std(0)
    ys = (y - mu) / np.where(sd > 0, sd, 1.0)
    counts = neuron_counts(y.shape[1])
    progress(0, total=len(counts), description="reconstruction: decoders")
    alphas = np.logspace(-3, 4, 15)
    dist = np.empty((len(counts), len(test)))
    hits = np.empty((len(counts), len(test)), dtype=bool)
    chosen = np.empty(len(counts))
    examples = np.empty((len(counts), len(ex)) + faces.truth.shape[1:], dtype=np.float32)
    for i, n in enumerate(counts):
        sel = order[:n]
        dec = RidgeCV(alphas=alphas).fit(ys[train][:, sel], z[train])
        chosen[i] = dec.alpha_
        # (n, 1) even for one active unit (sklearn returns (n,) then)
        img = faces.decode(dec.predict(ys[test][:, sel]).reshape(len(test), -1))
        dist[i], hits[i] = _scores(img, faces.truth)
        examples[i] = img[ex]
        progress(1)
    return _Curve(counts, dist, hits, chosen, examples)


def _dataset(curve: _Curve, progress: np.ndarray, quality: np.ndarray, order: np.ndarray,
             truth: np.ndarray, own_img: np.ndarray, test: np.ndarray,
             ex: np.ndarray) -> xr.Dataset:
    """Assemble the result Dataset (curve, ranking, example images, descriptions)."""
    import xarray as xr

    img_dims = tuple(f"image_{d}" for d in ("y", "x", "c")[: truth.ndim - 1])
    ds = xr.Dataset(
        {
            "cosine_distance": ("n_neurons", curve.dist.mean(axis=1)),
            "identification": ("n_neurons", curve.hits.mean(axis=1)),
            "progress": ("n_neurons", progress),
            "alpha": ("n_neurons", curve.alpha),
            "face_distance": (("n_neurons", "face"), curve.dist),
            "neuron_quality": ("neuron_rank", quality[order]),
            "neuron_order": ("neuron_rank", order),
            "example_true": (("example",) + img_dims, truth[ex].astype(np.float32)),
            "example_own": (("example",) + img_dims, own_img[ex].astype(np.float32)),
            "example_reconstruction": (("n_neurons", "example") + img_dims, curve.examples),
        },
        coords={"n_neurons": curve.counts, "face": test, "example": test[ex]},
    )
    ds["progress"].attrs["description"] = (
        "(d_average_face - d(n)) / (d_average_face - d_own_reconstruction)")
    ds["identification"].attrs["description"] = (
        "share of held-out faces whose reconstruction is nearest (cosine) their own image")
    ds["neuron_quality"].attrs["description"] = (
        "training R^2 of decoding all z-scored units from the neuron alone (ranking)")
    return ds


class ReconstructionMetric:
    """Held-out faces reconstructed from the n best neurons (Higgins et al. 2021, Fig. 4).

    Neurons are ranked on the training stimuli by how much of the latent space each decodes
    alone (mean r^2 over z-scored units). For n = 1, 2, 4, ... all, a ridge decoder
    (scikit-learn ``RidgeCV``, leave-one-out alpha, neurons z-scored) fitted on the training
    stimuli maps the n best neurons to all active units; the decoded latents of held-out faces
    (inactive units at their training mean) go through ``model.decode``. Each reconstruction is
    scored by its cosine distance to the true image and by identification (nearer to its own
    image than to any other held-out face). Two references frame the curve: the model's own
    reconstruction from the true latents (its best) and the decoded mean latent (the average
    face). ``progress`` = (d_average - d(n)) / (d_average - d_own); the smallest n with
    progress >= ``criterion`` is reported.

    Parameters
    ----------
    criterion
        Share of the way from the average face to the model's own reconstruction.
    max_faces
        Held-out faces scored (a seeded random subset when there are more).
    n_examples
        Faces kept for the example figure.
    """

    def __init__(self, criterion: float = 0.8, max_faces: int = 200, n_examples: int = 6) -> None:
        if not 0 < criterion <= 1 or max_faces < 2 or n_examples < 1:
            raise InputError("need 0 < criterion <= 1, max_faces >= 2, n_examples >= 1",
                             obj="reconstruction")
        self.criterion, self.max_faces, self.n_examples = (
            float(criterion), int(max_faces), int(n_examples))

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Compute the reconstruction curve, its references and example images."""
        decode = getattr(ctx.model, "decode", None)
        if not callable(decode):
            raise InputError("the model has no decode(latents); reconstruction needs one",
                             obj="reconstruction")
        m = ctx.matrices()
        z, (y, _) = m.latents, complete_responses(m)
        train, test = m.train, m.test
        if len(test) > self.max_faces:
            test = np.sort(ctx.rng.choice(test, self.max_faces, replace=False))
        if len(test) < 2 or len(train) < 3:
            raise InputError("need >= 3 training and >= 2 held-out faces", obj="reconstruction")
        faces = _Faces(decode, m.all_latents[train].mean(axis=0), m.active,
                       np.asarray(ctx.get_images()[test], dtype=np.float64))
        order, quality = rank_neurons(z[train], y[train])
        own_img = faces.decode(z[test])
        avg_img = faces.decode(np.tile(z[train].mean(0), (len(test), 1)))
        refs = _References(*_scores(own_img, faces.truth), *_scores(avg_img, faces.truth))
        ex = np.sort(ctx.rng.choice(len(test), min(self.n_examples, len(test)), replace=False))
        curve = _curve(faces, z, y, train, test, order, ex, ctx.progress)
        span = refs.d_avg.mean() - refs.d_own.mean()
        mean_d = curve.dist.mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            progress = ((refs.d_avg.mean() - mean_d) / span if span != 0
                        else np.full_like(mean_d, np.nan))
        ds = _dataset(curve, progress, quality, order, faces.truth, own_img, test, ex)
        self._headline(ds, curve, progress, refs, len(test))
        return ds

    def _headline(self, ds: xr.Dataset, curve: _Curve, progress: np.ndarray,
                  refs: _References, n_faces: int) -> None:
        """Set the scalars for summary.json (and say when the criterion is never reached)."""
        mean_d = curve.dist.mean(axis=1)
        reached = np.flatnonzero(progress >= self.criterion)
        attrs: dict[str, Any] = {
            "reconstruction": float(progress[-1]) if np.isfinite(progress[-1]) else 0.0,
            "cosine_distance_all": float(mean_d[-1]),
            "cosine_distance_one": float(mean_d[0]),
            "identification_all": float(curve.hits[-1].mean()),
            "identification_one": float(curve.hits[0].mean()),
            "cosine_distance_own": float(refs.d_own.mean()),
            "cosine_distance_average_face": float(refs.d_avg.mean()),
            "identification_own": float(refs.hit_own.mean()),
            "reached_criterion": bool(reached.size),
            "n_faces": int(n_faces),
        }
        if reached.size:
            attrs["n_to_criterion"] = int(curve.counts[reached[0]])
        else:
            ds["progress"].attrs["notes"] = (
                f"progress never reached {self.criterion}: no n_to_criterion")
        ds.attrs = attrs

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Draw the curve and the example reconstructions.

        ``curve``: cosine distance and identification vs number of neurons, with the two
        references; ``examples``: true faces, the model's own reconstructions and those from
        1, 2, ... all neurons.
        """
        from matplotlib.figure import Figure

        n = result["n_neurons"].values
        fig = Figure(figsize=(6.5, 4), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(n, result["cosine_distance"].values, "o-", color="tab:blue",
                label="decoded from n neurons")
        ax.axhline(result.attrs["cosine_distance_own"], color="tab:green", ls="--",
                   label="model's own reconstruction")
        ax.axhline(result.attrs["cosine_distance_average_face"], color="0.5", ls=":",
                   label="average face")
        if "n_to_criterion" in result.attrs:
            ax.axvline(result.attrs["n_to_criterion"], color="k", lw=0.8,
                       label=f"criterion at n = {result.attrs['n_to_criterion']}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("number of neurons (best first)")
        ax.set_ylabel("cosine distance to the true face")
        ax2 = ax.twinx()
        ax2.plot(n, result["identification"].values, "s-", color="tab:red", alpha=0.6)
        ax2.set_ylabel("identification accuracy", color="tab:red")
        ax2.set_ylim(0, 1.05)
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title("reconstructing held-out faces from neurons")

        cols = list(range(len(n)))
        if len(cols) > 6:
            cols = sorted({0, 1, 2, len(n) // 2, len(n) - 2, len(n) - 1})
        true = result["example_true"].values
        n_ex = true.shape[0]
        ex = Figure(figsize=(1.3 * (len(cols) + 2), 1.3 * n_ex + 0.4), layout="constrained")
        axes = ex.subplots(n_ex, len(cols) + 2, squeeze=False)
        titles = ["true", "own"] + [f"n={n[c]}" for c in cols]
        for r in range(n_ex):
            imgs = [true[r], result["example_own"].values[r]] + [
                result["example_reconstruction"].values[c, r] for c in cols]
            for c, img in enumerate(imgs):
                a = axes[r, c]
                a.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
                a.set_xticks([])
                a.set_yticks([])
                if r == 0:
                    a.set_title(titles[c], fontsize=8)
        return {"curve": fig, "examples": ex}
