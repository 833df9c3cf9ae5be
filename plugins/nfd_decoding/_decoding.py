"""One-to-one matching of latent units to neurons and single-neuron decoding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext, MetricMatrices

__all__ = ["DecodingMetric", "match_units", "decode_matched", "train_correlation",
           "complete_responses"]


def complete_responses(m: MetricMatrices) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean responses (n, N) float64 of the neurons that respond to every stimulus.

    Also returns their columns in ``m.responses`` (and ``m.neurons``).
    """
    cols = np.flatnonzero(np.isfinite(m.responses).all(axis=0))
    if cols.size == 0:
        raise InputError("no neuron responds to every stimulus", obj="decoding")
    return np.asarray(m.responses[:, cols], dtype=np.float64), cols


def train_correlation(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Correlation of every unit with every neuron.

    Pearson r of every unit (columns of z) with every neuron (columns of y): (K, N); 0 for a
    constant column.
    """
    zc = z - z.mean(axis=0)
    yc = y - y.mean(axis=0)
    zn = np.sqrt(np.einsum("ij,ij->j", zc, zc))
    yn = np.sqrt(np.einsum("ij,ij->j", yc, yc))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (zc.T @ yc) / np.outer(zn, yn)
    return np.nan_to_num(c)


def match_units(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair units with neurons one-to-one.

    One-to-one unit-neuron pairs maximising the summed |r| (Hungarian method, Kuhn 1955;
    scipy's ``linear_sum_assignment``). Returns (unit indices, neuron indices), min(K, N) each,
    ordered by unit.
    """
    from neurofacedis.stats import match_one_to_one

    return match_one_to_one(np.abs(corr))


def decode_matched(z: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                   units: np.ndarray, neurons: np.ndarray) -> dict[str, np.ndarray]:
    """Decode each unit from its matched neuron.

    Decode each unit from its matched neuron: least squares with intercept on the training
    stimuli, R^2 (scikit-learn's ``r2_score``) on the held-out ones.

    Returns ``slope``, ``intercept``, ``r2`` and the held-out ``prediction`` (n_test, pairs).
    """
    zt, yt = z[train][:, units], y[train][:, neurons]
    my, mz = yt.mean(axis=0), zt.mean(axis=0)
    vy = np.einsum("ij,ij->j", yt - my, yt - my)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(vy > 0, np.einsum("ij,ij->j", yt - my, zt - mz) / vy, 0.0)
    intercept = mz - slope * my
    pred = y[test][:, neurons] * slope + intercept
    truth = z[test][:, units]
    sse = np.sum((truth - pred) ** 2, axis=0)
    sst = np.sum((truth - truth.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.where(sse == 0, 1.0, 0.0))
    return {"slope": slope, "intercept": intercept, "r2": r2, "prediction": pred}


class DecodingMetric:
    """Each latent unit decoded from its one matched neuron (Higgins et al. 2021).

    Units and neurons are paired one-to-one by the Hungarian method on |Pearson r| over the
    training stimuli; each unit is then predicted from its neuron by linear regression fitted on
    the training stimuli and scored by R^2 on the held-out stimuli. With repeats, each matched
    neuron's noise ceiling (split-half, Spearman-Brown; see ``nfd_encoding``) is reported: for a
    unit that drives exactly one neuron linearly, R^2 approaches that ceiling.

    Parameters
    ----------
    n_splits
        Random halvings of the repeats for the noise ceiling.
    """

    def __init__(self, n_splits: int = 10) -> None:
        if n_splits < 1:
            raise InputError("n_splits must be >= 1", obj="decoding")
        self.n_splits = int(n_splits)

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Compute the matching, per-unit held-out R^2 and the matched neurons' ceilings."""
        import xarray as xr

        m = ctx.matrices()
        z, (y, cols) = m.latents, complete_responses(m)
        train, test = m.train, m.test
        if len(train) < 3 or len(test) < 3:
            raise InputError("need >= 3 training and >= 3 held-out stimuli", obj="decoding")
        corr = train_correlation(z[train], y[train])
        u, j = match_units(corr)
        fit = decode_matched(z, y, train, test, u, j)
        k = z.shape[1]

        def per_unit(values: np.ndarray, fill: float = np.nan) -> np.ndarray:
            out = np.full(k, fill)
            out[u] = values
            return out

        ceiling = np.full(k, np.nan)
        if ctx.n_repeats >= 2:
            from nfd_encoding import split_half_reliability

            ceiling[u] = split_half_reliability(m.trials[test][:, cols[j]], ctx.rng,
                                                self.n_splits)
        r2 = per_unit(fit["r2"])
        with np.errstate(divide="ignore", invalid="ignore"):
            r2n = np.where(ceiling > 0, r2 / ceiling, np.nan)
        matched = np.full(k, -1)
        matched[u] = cols[j]
        label = np.array([m.neurons[c] for c in cols[j]], dtype=object)
        neuron_label = np.full(k, "", dtype=object)
        neuron_label[u] = label
        ds = xr.Dataset(
            {
                "matched_neuron": ("unit", matched),
                "matched_label": ("unit", neuron_label.astype(str)),
                "train_corr": ("unit", per_unit(corr[u, j])),
                "r2": ("unit", r2),
                "slope": ("unit", per_unit(fit["slope"])),
                "intercept": ("unit", per_unit(fit["intercept"])),
                "ceiling": ("unit", ceiling),
                "r2_normalised": ("unit", r2n),
                "corr": (("unit", "neuron_index"), corr),
            },
            coords={"unit": list(m.units), "neuron_index": cols},
        )
        ds["matched_neuron"].attrs["description"] = (
            "column of the response matrix matched to the unit (Hungarian on |r|, train); -1: "
            "none (more units than neurons)")
        ds["r2"].attrs["description"] = "held-out R^2 of the unit decoded from its neuron"
        ds["ceiling"].attrs["description"] = (
            "matched neuron's split-half reliability (Spearman-Brown) on held-out stimuli")
        ds["corr"].attrs["description"] = "Pearson r of units and neurons over training stimuli"
        ok = np.isfinite(r2)
        attrs: dict[str, Any] = {
            "decoding": float(np.mean(r2[ok])),
            "median_r2": float(np.median(r2[ok])),
            "mean_abs_train_corr": float(np.mean(np.abs(corr[u, j]))),
            "n_matched": int(ok.sum()),
        }
        if np.isfinite(r2n).any():
            attrs["mean_r2_normalised"] = float(np.nanmean(r2n))
            attrs["mean_ceiling"] = float(np.nanmean(ceiling))
        ds.attrs = attrs
        return ds

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Draw the decoding figure.

        ``decoding``: held-out R^2 per unit (with the matched neuron's ceiling) and the
        |r| of units with their matched neurons (diagonal when the code is one-to-one).
        """
        from matplotlib.figure import Figure

        units = [str(u) for u in result["unit"].values]
        fig = Figure(figsize=(max(7, 0.5 * len(units) + 5), 3.8), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.4, 1])
        x = np.arange(len(units))
        ax1.bar(x, np.nan_to_num(result["r2"].values), color="tab:blue", alpha=0.8,
                label="held-out R²")
        ceil = result["ceiling"].values
        if np.isfinite(ceil).any():
            ax1.scatter(x, ceil, marker="_", s=300, color="k", label="neuron's ceiling")
        ax1.set_xticks(x, units, rotation=60, ha="right", fontsize=7)
        ax1.set_ylabel("R²")
        ax1.set_title(f"unit decoded from its matched neuron (mean {result.attrs['decoding']:.3f})")
        ax1.legend(fontsize=8)
        matched = result["matched_neuron"].values
        sel = [i for i in range(len(units)) if matched[i] >= 0]
        idx = {c: p for p, c in enumerate(result["neuron_index"].values)}
        sub = np.abs(result["corr"].values[:, [idx[matched[i]] for i in sel]])
        im = ax2.imshow(sub, cmap="viridis", vmin=0, vmax=1, aspect="auto",
                        interpolation="nearest")
        ax2.set_yticks(x, units, fontsize=7)
        ax2.set_xticks(range(len(sel)), [str(result["matched_label"].values[i]) for i in sel],
                       rotation=60, ha="right", fontsize=7)
        ax2.set_xlabel("matched neuron")
        ax2.set_title("|r| (training stimuli)")
        fig.colorbar(im, ax=ax2)
        return {"decoding": fig}
