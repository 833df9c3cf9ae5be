"""Draw the figures of docs/worlds.md: each 3D-world factor swept, and samples of each world.

    .venv/bin/python docs/gen_worlds_grid.py      # writes docs/img/worlds-*.png

Deterministic (seeded factors, no random state elsewhere); about ten seconds.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from neurofacedis.simulate import HEAD_FACTORS, WORLDS, render_heads  # noqa: E402

IMG = Path(__file__).resolve().parent / "img"
VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)


def factor_grid(path: Path, size: int = 64) -> None:
    """One row per factor of the 3D world, swept over VALUES, the others at 0."""
    rows = [{name: v} for name in HEAD_FACTORS for v in VALUES]
    images, _ = render_heads(pd.DataFrame(rows).reindex(columns=HEAD_FACTORS).fillna(0.0),
                             size=size)
    fig, axes = plt.subplots(len(HEAD_FACTORS), len(VALUES),
                             figsize=(len(VALUES) * 0.9 + 1.3, len(HEAD_FACTORS) * 0.9))
    for i, name in enumerate(HEAD_FACTORS):
        for j, v in enumerate(VALUES):
            ax = axes[i, j]
            ax.imshow(images[i * len(VALUES) + j], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
            if i == 0:
                ax.set_title(f"{v:+.1f}", fontsize=8)
    fig.subplots_adjust(left=0.2, right=0.99, top=0.97, bottom=0.01, wspace=0.04, hspace=0.04)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def world_samples(path: Path, size: int = 64, n: int = 8) -> None:
    """Random faces (seed 0) of each world, one row per world."""
    fig, axes = plt.subplots(len(WORLDS), n, figsize=(n * 0.9 + 0.9, len(WORLDS) * 0.95))
    for i, world in enumerate(WORLDS.values()):
        factors, _ = world.sample(n, 1, np.random.SeedSequence(0), world.default_factors)
        images, _ = world.render(factors[list(world.default_factors)], size, False)
        for j in range(n):
            axes[i, j].imshow(images[j], cmap="gray", vmin=0, vmax=255)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(world.name, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=0.1, right=0.99, top=0.99, bottom=0.01, wspace=0.04, hspace=0.04)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    IMG.mkdir(exist_ok=True)
    factor_grid(IMG / "worlds-3d-factors.png")
    world_samples(IMG / "worlds-samples.png")
    for p in sorted(IMG.glob("worlds-*.png")):
        print(f"wrote {p} ({p.stat().st_size // 1024} KB)")
