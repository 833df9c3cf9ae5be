"""Spatial dissection: IoU of each feature-map unit's top activations with facial part masks.

As Network Dissection (Bau et al. 2017): a unit's activation map over each image is upsampled
(bilinear) to the mask raster; its threshold ``T`` is the ``top`` quantile of all its upsampled
activations over the dataset, so the unit is "on" where ``a > T``; its score for a part is the
dataset-wide intersection over union

    IoU = sum_i |A_i & M_i| / sum_i |A_i | M_i|.

The stimulus-permutation null pairs the unit's map on stimulus i with the masks of stimulus
pi(i): union = |A| + |M| - intersection with both totals unchanged, so one matrix of
intersections I[i, j] = |A_i & M_j| gives every permutation's IoU by a gather.
"""

from __future__ import annotations

import numpy as np

__all__ = ["upsample", "binarize", "iou_null"]


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Linear-interpolation weights (n_out, n_in), pixel centres aligned, edges clamped."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = src - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m


def upsample(maps: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of maps (n, C, h, w) to (n, C, rows, columns), float32."""
    uy = _interp_matrix(grid[0], maps.shape[2]).astype(np.float32)
    ux = _interp_matrix(grid[1], maps.shape[3]).astype(np.float32)
    return np.einsum("yh,nchw,xw->ncyx", uy, maps.astype(np.float32), ux, optimize=True)


def binarize(up: np.ndarray, top: float) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's "on" pixels: activation above its dataset-wide ``1 - top`` quantile.

    Returns (thresholds (C,), on (C, n, P) bool).
    """
    n, c = up.shape[:2]
    flat = np.moveaxis(up, 1, 0).reshape(c, n, -1)
    thr = np.quantile(flat.reshape(c, -1), 1.0 - top, axis=1)
    return thr, flat > thr[:, None, None]


def iou_null(on: np.ndarray, mask: np.ndarray, perms: np.ndarray) -> tuple[np.ndarray, ...]:
    """Observed IoU (C,) and IoU under each stimulus permutation (C, B) for one part.

    ``on`` (C, n, P) bool, ``mask`` (n, P) bool, ``perms`` (B, n) rows of permuted indices.
    """
    from scipy import sparse

    c, n, _ = on.shape
    m = mask.astype(np.float32).T  # (P, n)
    area_m = float(mask.sum())
    area_a = on.reshape(c, -1).sum(axis=1).astype(np.float64)
    obs = np.empty(c)
    null = np.empty((c, len(perms)))
    rows = np.arange(n)
    for k in range(c):
        inter = np.asarray(sparse.csr_matrix(on[k], dtype=np.float32) @ m)  # (n, n)
        i_obs = float(np.trace(inter))
        i_null = inter[rows[None, :], perms].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            obs[k] = np.nan_to_num(i_obs / (area_a[k] + area_m - i_obs))
            null[k] = np.nan_to_num(i_null / (area_a[k] + area_m - i_null))
    return obs, null
