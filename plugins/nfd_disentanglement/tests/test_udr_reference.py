"""UDR's relative strength equals disentanglement_lib's formula for any pair of unit counts."""

from __future__ import annotations

import numpy as np
import pytest
from nfd_disentanglement.udr import relative_strength, udr_pair
from scipy.stats import spearmanr


def reference_relative_strength(corr: np.ndarray) -> float:
    """disentanglement_lib ``relative_strength_disentanglement``, written from its definition.

    Column score and row score are each a *mean* of max**2 / sum (0/0 -> 0); the pair score is
    their average, so each model's units weigh equally whatever their number.
    """
    corr = np.asarray(corr, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        score_x = np.nanmean(np.nan_to_num(corr.max(axis=0) ** 2 / corr.sum(axis=0), nan=0.0))
        score_y = np.nanmean(np.nan_to_num(corr.max(axis=1) ** 2 / corr.sum(axis=1), nan=0.0))
    return float((score_x + score_y) / 2)


def test_partial_identity_2x3_known_answer():
    r = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    # rows 1, 1 (mean 1); columns 1, 1, 0 (mean 2/3): (1 + 2/3) / 2; pooling gave 4/5 = 0.800
    assert reference_relative_strength(r) == pytest.approx(5 / 6)
    assert relative_strength(r) == pytest.approx(5 / 6)
    assert round(relative_strength(r), 3) == 0.833
    assert relative_strength(r.T) == pytest.approx(5 / 6)


def test_3x4_known_answer():
    r = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 1.0]])
    # rows 1, 1, 1/2 (mean 5/6); columns all 1: (5/6 + 1) / 2 = 11/12; pooling gave 13/14
    assert relative_strength(r) == pytest.approx(11 / 12)
    assert reference_relative_strength(r) == pytest.approx(11 / 12)


@pytest.mark.parametrize("shape", [(2, 3), (3, 4), (4, 3), (5, 2), (4, 4)])
def test_random_matrices_match_reference(shape):
    r = np.abs(np.random.default_rng(sum(shape)).normal(size=shape))
    r[0] = 0.0  # a row of zeros adds 0 on its side
    assert relative_strength(r) == pytest.approx(reference_relative_strength(r), abs=1e-12)


def test_udr_pair_3_vs_4_active_units_matches_reference():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(200, 4))
    a = z[:, :3] + 0.3 * rng.normal(size=(200, 3))
    b = z @ rng.normal(size=(4, 4)) * 0.4 + z
    corr = np.abs(spearmanr(a, b).statistic[:3, 3:])  # scipy, not the plugin's ranks
    assert udr_pair(a, b) == pytest.approx(reference_relative_strength(corr), abs=1e-12)
    assert udr_pair(b, a) == pytest.approx(udr_pair(a, b), abs=1e-12)
