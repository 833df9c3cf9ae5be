"""Mutual Information Gap (MIG; Chen et al. 2018, NeurIPS).

From "Isolating sources of disentanglement in VAEs". For each factor, the gap between the
largest and second-largest mutual information any code has with it, divided by the factor's
entropy; MIG is the mean over factors. As in disentanglement_lib
(``evaluation/metrics/mig.py``): codes are discretised into 20 equal-width histogram bins
and MI is ``sklearn.metrics.mutual_info_score`` (nats). Choices: a continuous factor (more
distinct values than bins) is discretised the same way; a constant factor (zero entropy) is
left out of the mean; with a single code the second-largest MI is taken as 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["discretize", "mutual_information", "mutual_information_gap", "MIGResult"]

DEFAULT_BINS = 20


def discretize(x: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Equal-width histogram bins per column (disentanglement_lib's histogram discretizer).

    Columns with at most ``bins`` distinct values keep their values as labels.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape, dtype=np.int64)
    for j in range(x.shape[1]):
        col = x[:, j]
        values = np.unique(col)
        if len(values) <= bins:
            out[:, j] = np.searchsorted(values, col)
        else:
            out[:, j] = np.digitize(col, np.histogram(col, bins)[1][:-1])
    return out


def mutual_information(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """MI (nats) between each discrete code and each discrete factor, (K, F)."""
    from sklearn.metrics import mutual_info_score

    k, f = codes.shape[1], factors.shape[1]
    m = np.zeros((k, f))
    for i in range(k):
        for j in range(f):
            m[i, j] = mutual_info_score(factors[:, j], codes[:, i])
    return m


@dataclass(frozen=True)
class MIGResult:
    """MIG, the per-factor gaps (NaN for constant factors), the MI matrix and entropies."""

    mig: float
    per_factor: np.ndarray
    mutual_information: np.ndarray
    entropy: np.ndarray


def mutual_information_gap(codes: np.ndarray, factors: np.ndarray,
                           bins: int = DEFAULT_BINS) -> MIGResult:
    """MIG of codes (n, K) against known factors (n, F) of the same stimuli."""
    x = np.asarray(codes, dtype=np.float64)
    y = np.asarray(factors, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2 \
            or x.shape[1] < 1:
        raise InputError(f"codes (n, K>=1) and factors (n, F) need equal n >= 2, got {x.shape}"
                         f" and {y.shape}", obj="mig")
    dx, dy = discretize(x, bins), discretize(y, bins)
    m = mutual_information(dx, dy)
    h = np.array([mutual_information(dy[:, [j]], dy[:, [j]])[0, 0] for j in range(y.shape[1])])
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if len(top) > 1 else np.zeros(y.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(h > 0, (top[0] - second) / np.where(h > 0, h, 1.0), np.nan)
    score = float(np.nanmean(gap)) if np.isfinite(gap).any() else 0.0
    return MIGResult(mig=score, per_factor=gap, mutual_information=m, entropy=h)
