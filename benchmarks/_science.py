"""Scores shared by the science_*.py experiments (not a benchmark)."""

from __future__ import annotations

import numpy as np


def print_scores(name: str, z: np.ndarray, resp: np.ndarray, rotated: np.ndarray,
                 factors: np.ndarray, train: np.ndarray, test: np.ndarray) -> None:
    """Print alignment (neurons and a rotated code) and DCI (trees) of latents ``z``."""
    from nfd_alignment._score import alignment_score
    from nfd_disentanglement.dci import dci

    if z.shape[1] < 2:
        print(f"{name:26s} fewer than 2 active units")
        return
    a = alignment_score(z, resp, train=train).alignment
    r = alignment_score(z, rotated, train=train).alignment
    d = dci(z[train], factors[train], z[test], factors[test], "gbt", random_state=0)
    print(f"{name:26s} K={z.shape[1]:2d} alignment={a:.3f} rotated={r:.3f} "
          f"DCI D={d.disentanglement:.3f} C={d.completeness:.3f} "
          f"I={d.informativeness_test:.3f}", flush=True)
