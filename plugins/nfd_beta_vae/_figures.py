"""Figures for a fitted β-VAE-family model: latent traversals and reconstructions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["figures", "traversal_grid"]

_STEPS = 7  # traversal columns, -3 sd ... +3 sd


def traversal_grid(model: Any, images: np.ndarray, *, base: int = 0,
                   steps: int = _STEPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode each active unit swept over mean ± 3 sd, the others held at one image's code.

    Parameters
    ----------
    model
        A fitted model with ``encode``, ``decode`` and ``active_units``.
    images
        Images whose latents set the sweep range (sd over images) and the base code.
    base
        Index of the image whose code the other units keep.
    steps
        Number of values per unit, evenly spaced from -3 sd to +3 sd around the unit's mean.

    Returns
    -------
    grid, units, offsets
        ``grid`` is (units, steps, H, W[, 3]) decoded images; ``units`` the unit indices
        (active units, most informative first when KL is known); ``offsets`` the sd offsets.
    """
    z = model.encode(images)
    active = np.flatnonzero(model.active_units())
    kl = getattr(model, "kl_per_unit", None)
    if kl is not None:
        active = active[np.argsort(-np.asarray(kl)[active], kind="stable")]
    offsets = np.linspace(-3.0, 3.0, steps)
    mean, sd = z.mean(0), z.std(0)
    codes = np.repeat(z[base][None, None], len(active), 0).repeat(steps, 1)
    for row, k in enumerate(active):
        codes[row, :, k] = mean[k] + offsets * sd[k]
    flat = codes.reshape(-1, z.shape[1])
    decoded = model.decode(flat) if len(flat) else np.zeros((0, *images.shape[1:]), np.float32)
    return decoded.reshape(len(active), steps, *decoded.shape[1:]), active, offsets


def _show(ax: Any, img: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> None:
    if img.ndim == 3:  # RGB: imshow has no vmin/vmax for colour, so stretch here
        img = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
        lo, hi = 0.0, 1.0
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=lo, vmax=hi)
    ax.set_xticks([])
    ax.set_yticks([])


def figures(model: Any, images: np.ndarray, *, n_recon: int = 8) -> dict[str, Figure]:
    """Latent traversals and reconstructions of a fitted model, as matplotlib Figures.

    The runner calls this (or ``model.figures(images)``) for the report. Figures are built
    with ``matplotlib.figure.Figure`` (no pyplot state), so any backend (Agg) can save them.

    Parameters
    ----------
    model
        A fitted model with ``encode``, ``decode`` and ``active_units``.
    images
        float32 images in [0, 1], (n, H, W) or (n, H, W, 3), in the model's input layout.
    n_recon
        How many images (the first ones) to reconstruct.

    Returns
    -------
    dict[str, Figure]
        ``"traversals"``: one row per active unit, swept from -3 to +3 sd of its posterior
        means over ``images`` through the decoder (others at the first image's code), shown
        on one grey scale stretched to the grid's range so low-contrast changes are visible;
        ``"reconstructions"``: originals (top row) above their reconstructions.
    """
    from matplotlib.figure import Figure

    images = np.asarray(images, dtype=np.float32)
    grid, units, offsets = traversal_grid(model, images)
    names = list(model.unit_names)
    rows = max(len(units), 1)
    # one grey scale for the whole grid, stretched to its range: low-contrast changes show
    lo, hi = (float(grid.min()), float(grid.max())) if grid.size else (0.0, 1.0)
    fig_t = Figure(figsize=(1.1 * len(offsets) + 0.8, 1.1 * rows + 0.4), layout="constrained")
    axes = fig_t.subplots(rows, len(offsets), squeeze=False)
    for r in range(rows):
        for c in range(len(offsets)):
            ax = axes[r, c]
            if r < len(units):
                _show(ax, grid[r, c], lo, hi)
                if c == 0:
                    ax.set_ylabel(names[units[r]])
                if r == rows - 1:
                    ax.set_xlabel(f"{offsets[c]:+.0f} sd")
            else:
                ax.axis("off")
    fig_t.suptitle(f"Latent traversals (active units; grey range {lo:.2f}-{hi:.2f})"
                   if len(units) else "No active units")

    n = min(n_recon, len(images))
    recon = model.decode(model.encode(images[:n]))
    fig_r = Figure(figsize=(1.1 * max(n, 1) + 0.6, 2.6), layout="constrained")
    axes = fig_r.subplots(2, max(n, 1), squeeze=False)
    for c in range(n):
        _show(axes[0, c], images[c])
        _show(axes[1, c], recon[c])
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("reconstruction")
    fig_r.suptitle("Reconstructions")
    return {"traversals": fig_t, "reconstructions": fig_r}
