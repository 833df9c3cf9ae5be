"""The ``linear_cka`` metric: linear centred kernel alignment (Kornblith et al. 2019)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

    from neurofacedis import MetricContext

__all__ = ["LinearCKA", "linear_cka"]


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations of the same n stimuli, x (n, p) and y (n, q).

    ``||Yc' Xc||_F^2 / (||Xc' Xc||_F ||Yc' Yc||_F)`` with column-centred Xc, Yc: 1 when one is
    an orthogonal transform times a scale of the other, invariant to both, in [0, 1].
    """
    x = np.asarray(x, dtype=np.float64)  # responses may be float32: compute in float64
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    cross = np.linalg.norm(yc.T @ xc) ** 2
    return float(cross / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


class LinearCKA:
    """CKA between a model's latents and the mean neural responses, with a permutation test.

    Parameters
    ----------
    subset
        Stimuli to use: ``"all"``, the training or the held-out (``"test"``) ones.
    n_permutations
        Stimulus-label permutations of the responses for the p-value (0: none).
    """

    def __init__(self, subset: str = "all", n_permutations: int = 200) -> None:
        self.subset = subset
        self.n_permutations = int(n_permutations)

    def compute(self, ctx: MetricContext) -> xr.Dataset:
        """``attrs``: cka, p_value (when permuting), n_stimuli; ``null``: permutation CKAs."""
        import xarray as xr

        rows = {"all": np.arange(ctx.latents.sizes["stimulus"]), "train": ctx.train,
                "test": ctx.test}[self.subset]
        x = ctx.latents.values[rows]
        y = ctx.mean_responses.values[rows]
        score = linear_cka(x, y)
        null = np.array([linear_cka(x, y[ctx.rng.permutation(len(y))])
                         for _ in range(self.n_permutations)])
        attrs: dict[str, Any] = {"cka": score, "n_stimuli": int(len(rows))}
        if self.n_permutations:
            attrs["p_value"] = float((1 + np.sum(null >= score)) / (1 + len(null)))
        return xr.Dataset({"null": ("permutation", null)}, attrs=attrs)

    def figures(self, result: xr.Dataset) -> dict[str, Any]:
        """Plot the permutation null with the observed CKA."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.hist(result["null"].values, bins=20, color="0.7")
        ax.axvline(result.attrs["cka"], color="C3", label="observed")
        ax.set_xlabel("linear CKA (permuted stimuli)")
        ax.legend()
        fig.tight_layout()
        return {"linear_cka_null": fig}
