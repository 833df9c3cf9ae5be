"""Calibration helpers of neurofacedis.stats: intervals, permutation p, paired-by-fit test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, ttest_1samp

from neurofacedis.stats import binomial_range, clopper_pearson, paired_by_fit, permutation_p


def test_clopper_pearson_equals_scipy():
    for k, n in ((0, 200), (10, 200), (37, 200), (5, 5)):
        ci = binomtest(k, n).proportion_ci(0.95, method="exact")
        assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert all(math.isnan(x) for x in clopper_pearson(0, 0))


def test_binomial_range_of_a_calibrated_test():
    # Binomial(200, 0.05): 2.5% and 97.5% quantiles are 4 and 16 rejections
    assert binomial_range(200) == (4 / 200, 16 / 200)
    assert binomial_range(1000) == (37 / 1000, 64 / 1000)


def test_permutation_p_never_zero():
    assert permutation_p(np.zeros(99), 1.0) == pytest.approx(1 / 100)
    assert permutation_p(np.ones(99), 1.0) == 1.0  # ties count against the observed value
    assert permutation_p([0.1, 0.5, 0.9], 0.5) == pytest.approx(3 / 4)


def test_paired_by_fit_uses_one_difference_per_fit():
    scores = [0.60, 0.52, 0.71]
    controls = [[0.40, 0.42, np.nan], [0.50], [0.55, 0.61]]
    d = [0.60 - 0.41, 0.52 - 0.50, 0.71 - 0.58]
    ref = ttest_1samp(d, 0.0)
    assert paired_by_fit(scores, controls) == pytest.approx((ref.statistic, ref.pvalue))
    assert all(math.isnan(x) for x in paired_by_fit([0.5], [[0.4]]))
    with pytest.raises(ValueError, match="2 scores but 1"):
        paired_by_fit([0.5, 0.6], [[0.4]])
