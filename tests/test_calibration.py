"""A seeded small calibration run: every printed test gets a row, processes change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from neurofacedis.calibrate import TESTS, CalibrationRow, null_pvalues, run_calibration
from neurofacedis.errors import InputError

SMALL = dict(n_null=2, n_power=1, neurons_grid=(8,), stimuli_grid=(30,), effect_grid=(0.0, 0.6),
             n_stimuli=30, n_neurons=8, n_permutations=19, seed=3)


@pytest.fixture(scope="module")
def serial():
    return run_calibration(**SMALL, n_jobs=1)


def test_small_run_has_every_test_and_three_curves(serial):
    assert [r.test for r in serial.rows] == list(TESTS)
    for r in serial.rows:
        assert r.n == 2 and 0 <= r.rejections <= 2
        assert r.expected == (0.0, 0.5)  # Binomial(2, 0.05): 0 or 1 rejection of 2
    assert [c.axis for c in serial.curves] == ["neurons", "stimuli", "effect"]
    effect = serial.curves[2]
    assert effect.values == (0.0, 0.6) and effect.n == 1
    table = serial.markdown()
    assert table.count("\n") == len(TESTS) + 2 and "`rsa_permutation`" in table
    assert "| effect | 0.6 |" in serial.power_markdown()


def test_processes_give_the_serial_numbers(serial):
    parallel = run_calibration(**SMALL, n_jobs=2)
    assert parallel.rows == serial.rows
    assert parallel.curves == serial.curves


def test_null_pvalues_are_valid_p_values():
    seed = np.random.SeedSequence([3, 0]).spawn(1)[0]
    a = null_pvalues(seed, n_stimuli=30, n_neurons=8, n_permutations=19)
    assert set(a) == set(TESTS)
    assert all(0 < p <= 1 for p in a.values() if np.isfinite(p))
    for name in ("rsa_permutation", "dissection_cell", "dissection_one_to_one"):
        k = a[name] * 20  # (1 + #null >= observed) / (1 + 19): a multiple of 1/20
        assert 1 <= round(k) <= 20 and k == pytest.approx(round(k))


def test_verdicts():
    row = CalibrationRow("welch_n2", 200, 2, (0.0, 0.1), (0.025, 0.08))
    assert row.rate == 0.01 and row.verdict == "conservative"
    assert CalibrationRow("welch_n2", 200, 10, (0, 1), (0.025, 0.08)).verdict == "calibrated"
    assert CalibrationRow("welch_n2", 200, 30, (0, 1), (0.025, 0.08)).verdict == "liberal"


def test_bad_sizes_are_refused():
    with pytest.raises(InputError, match="n_null"):
        run_calibration(n_null=0)
