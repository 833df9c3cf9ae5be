"""The metric ``rating_encoding``: how well a model's latents linearly predict human ratings.

Encoding of the per-stimulus mean rating, as ``encoding`` does for neurons and with its code
(:func:`nfd_encoding.fit_ridge`, :func:`nfd_encoding.split_half_reliability`): latents
z-scored on the training stimuli, ridge with alpha chosen by K-fold CV on the rated training
stimuli, held-out R^2 and Pearson r on the rated test stimuli. Significance: the ratings
permuted over stimuli ``n_permutations`` times, each permutation fitted and scored the same
way (all in one ridge call, one column each), one-sided permutation p of R^2. Ceiling: the
between-subject split-half reliability of the mean rating on the test stimuli (random halves
of the raters, Spearman-Brown corrected), as the neural noise ceiling splits repeats; R^2
divided by it is ``normalized``. Why a metric of its own and not ``encoding`` reading
``ctx.behaviour``: it must run where there are no neurons (requirement ``behaviour_ratings``
marks it as a behaviour metric), and its null (permuted ratings) and ceiling (raters, not
repeats) differ from the neural metric's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError
from nfd_behaviour._stats import permutation_p

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from neurofacedis.specs import MetricContext

__all__ = ["RatingEncodingMetric"]


def _rated_split(ctx: MetricContext, what: str) -> tuple[Any, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """Behaviour, latents (behaviour stimulus, unit) and the rated train / test rows."""
    from nfd_behaviour._metrics import behaviour_latents

    b, z = behaviour_latents(ctx, what)
    if not b.has_ratings:
        raise InputError("the behaviour holds no ratings", file=b.source or None, obj=what)
    lat = ctx.latents
    ids = lat["stimulus"].values if "stimulus" in lat.coords else np.arange(lat.shape[0])
    rows = b.rows_in([str(i) for i in ids])  # each behaviour stimulus's latent row
    rated = np.isfinite(b.mean_rating)
    train = np.flatnonzero(rated & np.isin(rows, np.asarray(ctx.train)))
    test = np.flatnonzero(rated & np.isin(rows, np.asarray(ctx.test)))
    return b, z, train, test


class RatingEncodingMetric:
    """Cross-validated ridge from the latents to the mean rating per stimulus.

    Parameters
    ----------
    n_folds
        K of the K-fold choice of alpha over the rated training stimuli.
    alpha_min, alpha_max, n_alphas
        The log-spaced alpha grid (latents z-scored).
    n_permutations
        Permutations of the ratings over stimuli for the p-value.
    n_splits
        Random halvings of the raters averaged for the ceiling.
    """

    name = "rating_encoding"

    def __init__(self, n_folds: int = 5, alpha_min: float = 1e-2, alpha_max: float = 1e5,
                 n_alphas: int = 15, n_permutations: int = 1000, n_splits: int = 20) -> None:
        if n_folds < 2 or n_alphas < 1 or not 0 < alpha_min <= alpha_max:
            raise InputError("need n_folds >= 2, n_alphas >= 1, 0 < alpha_min <= alpha_max",
                             obj=self.name)
        if n_permutations < 0 or n_splits < 1:
            raise InputError("need n_permutations >= 0 and n_splits >= 1", obj=self.name)
        self.n_folds, self.n_permutations, self.n_splits = n_folds, n_permutations, n_splits
        self.alphas = np.logspace(np.log10(alpha_min), np.log10(alpha_max), int(n_alphas))

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """Held-out R^2 and r of the mean rating, permutation p, raters' ceiling."""
        import xarray as xr
        from nfd_encoding import fit_ridge, standardised_units

        b, z, train, test = _rated_split(ctx, self.name)
        if len(train) < 2 * self.n_folds or len(test) < 3:
            raise InputError(f"need >= {2 * self.n_folds} rated training and >= 3 rated "
                             f"held-out stimuli, got {len(train)} and {len(test)}",
                             obj=self.name)
        notes: list[str] = []
        x, _ = standardised_units(z, train, notes, what=self.name)
        y = np.asarray(b.mean_rating, dtype=np.float64)
        rated = np.concatenate([train, test])
        columns = [y]
        for _ in range(self.n_permutations):  # ratings shuffled over the rated stimuli
            perm = y.copy()
            perm[rated] = y[rated][ctx.rng.permutation(rated.size)]
            columns.append(perm)
        stacked = np.column_stack(columns)
        stacked[~np.isfinite(stacked)] = 0.0  # unrated stimuli: in neither train nor test
        res = fit_ridge(x, stacked, train, test, ctx.rng, n_folds=self.n_folds,
                        alphas=self.alphas)
        r2, r, null = float(res.test_r2[0]), float(res.test_r[0]), res.test_r2[1:]
        ceiling = self._ceiling(b, test, ctx.rng)
        attrs: dict[str, Any] = {"r2": r2, "r": r}
        if np.isfinite(ceiling) and ceiling > 0:
            attrs.update(ceiling=ceiling, normalized=r2 / ceiling)
        else:
            notes.append("no between-subject ceiling (needs per-trial ratings of >= 2 raters)")
        if self.n_permutations:
            attrs["p_value"] = permutation_p(r2, null)
        attrs.update(n_train=len(train), n_test=len(test), n_subjects=len(b.subjects),
                     alpha=float(res.alpha[0]))
        ds = xr.Dataset(
            {"coef": ("unit", res.coef[:, 0]), "null": ("permutation", null),
             "predicted": ("test_stimulus", x[test] @ res.coef[:, 0] + res.intercept[0]),
             "rating": ("test_stimulus", y[test])},
            coords={"test_stimulus": [b.stimulus_ids[i] for i in test]}, attrs=attrs)
        if notes:
            ds["coef"].attrs["notes"] = "; ".join(notes)
        return ds

    def _ceiling(self, b: Any, test: np.ndarray, rng: np.random.Generator) -> float:
        """Split-half (raters) reliability of the mean rating on the test stimuli, or NaN."""
        from nfd_encoding import split_half_reliability

        ratings = b.subject_ratings()  # (subject, stimulus)
        raters = np.isfinite(ratings[:, test]).any(axis=1)
        if raters.sum() < 2:
            return float("nan")
        per = ratings[raters].T[:, None, :]  # (stimulus, 1, rater): raters as repeats
        return float(split_half_reliability(per, rng, self.n_splits, rows=test)[0])

    def figures(self, result: xr.Dataset) -> dict[str, Figure]:
        """Predicted against rated on the held-out stimuli, and R^2 against its null."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 3.5), layout="constrained")
        left, right = fig.subplots(1, 2)
        left.scatter(result["rating"].values, result["predicted"].values, s=12)
        left.set_xlabel("mean rating (held-out stimuli)")
        left.set_ylabel("predicted from latents")
        right.hist(result["null"].values, bins=30, color="0.8", label="permuted ratings")
        right.axvline(result.attrs["r2"], color="C0", label="R²")
        if "ceiling" in result.attrs:
            right.axvline(result.attrs["ceiling"], color="C1", label="raters' ceiling")
        right.set_xlabel("held-out R²")
        right.legend(frameon=False)
        return {"rating_encoding": fig}
