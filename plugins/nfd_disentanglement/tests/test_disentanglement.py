from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import xarray as xr
from nfd_disentanglement import neurofacedis_register_metrics
from nfd_disentanglement.dci import (
    completeness,
    completeness_per_factor,
    dci,
    disentanglement,
    disentanglement_per_code,
)
from nfd_disentanglement.mig import mutual_information_gap
from nfd_disentanglement.udr import (
    relative_strength,
    similarity_matrix,
    udr_pair,
    udr_pairwise,
    udr_scores,
)
from scipy.stats import entropy, spearmanr

from neurofacedis.errors import InputError
from neurofacedis.specs import MetricContext


def factorial(levels: int, k: int) -> np.ndarray:
    """Full factorial design: every pair of columns is exactly independent."""
    return np.array(list(itertools.product(range(levels), repeat=k)), dtype=float)


# ----------------------------------------------------------------------------------- UDR


def test_relative_strength_known_answers():
    assert relative_strength([[1, 1, 0], [1, 1, 0], [0, 0, 1]]) == pytest.approx(2 / 3)
    assert relative_strength(np.ones((3, 3))) == pytest.approx(1 / 3)
    assert relative_strength(np.zeros((3, 3))) == 0.0
    assert relative_strength(np.eye(4)) == pytest.approx(1.0)
    assert relative_strength(np.zeros((0, 0))) == 0.0


def test_relative_strength_equals_disentanglement_lib_formula():
    # disentanglement_lib relative_strength_disentanglement, for equal active counts
    r = np.abs(np.random.default_rng(0).normal(size=(5, 5)))
    sx = np.mean(r.max(0) ** 2 / r.sum(0))
    sy = np.mean(r.max(1) ** 2 / r.sum(1))
    assert relative_strength(r) == pytest.approx((sx + sy) / 2)


def test_identical_models_score_one():
    z = factorial(4, 3) + 0.1  # uncorrelated units
    assert udr_pair(z, z) == pytest.approx(1.0, abs=1e-12)
    # sign flips and permutations do not matter
    assert udr_pair(z, -z[:, [2, 0, 1]]) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(udr_scores([z, z, z]), 1.0, atol=1e-12)


def test_spearman_similarity_equals_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 4))
    b[:, 0] = np.round(b[:, 0])  # ties
    rho = spearmanr(a, b).statistic[:3, 3:]
    np.testing.assert_allclose(similarity_matrix(a, b), np.abs(rho), atol=1e-12)


def test_inactive_units_are_excluded():
    z = factorial(4, 3)
    noise = np.random.default_rng(2).normal(size=(len(z), 1))
    a = np.column_stack([z, noise])
    b = np.column_stack([z, np.random.default_rng(3).normal(size=(len(z), 1))])
    act = np.array([True, True, True, False])
    assert udr_pair(a, b, act, act) == pytest.approx(1.0, abs=1e-12)
    assert udr_pair(a, b) < 0.95  # the noise units count when active


def test_udr_pairwise_and_median():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(200, 4))
    mixed = z @ np.linalg.qr(rng.normal(size=(4, 4)))[0]
    pairs = udr_pairwise([z, z.copy(), mixed])
    assert np.isnan(np.diag(pairs)).all()
    np.testing.assert_allclose(pairs, pairs.T, equal_nan=True)
    scores = udr_scores([z, z.copy(), mixed])
    np.testing.assert_allclose(scores[0], np.median([pairs[1, 0], pairs[2, 0]]))
    assert scores[2] < scores[0]


def test_udr_lasso_identical_models():
    z = factorial(4, 3)
    # Lasso(alpha=0.1) on z-scored identical units: weights 0.9 on the diagonal, 0 elsewhere
    np.testing.assert_allclose(similarity_matrix((z - z.mean(0)) / z.std(0),
                                                 (z - z.mean(0)) / z.std(0), "lasso"),
                               0.9 * np.eye(3), atol=1e-6)
    np.testing.assert_allclose(udr_scores([z, z], method="lasso"), 0.9, atol=1e-6)


def test_udr_needs_two_models():
    with pytest.raises(InputError):
        udr_scores([np.zeros((5, 2))])


def test_udr_metric_three_identical_seeds():
    z = factorial(4, 3)
    da = xr.DataArray(z, dims=("stimulus", "unit"), coords={"unit": ["z0", "z1", "z2"]})
    ctx = MetricContext(responses=xr.DataArray(np.zeros((len(z), 1)),
                                               dims=("stimulus", "neuron")),
                        latents=da, train=np.arange(len(z)), test=np.arange(0),
                        sibling_latents=[da.copy(), da.copy()])
    metric = _factory("udr")()
    ds = metric.compute(ctx)
    assert ds.attrs["udr"] == pytest.approx(1.0, abs=1e-12)
    assert ds.attrs["n_siblings"] == 2
    assert set(metric.figures(ds)) == {"pairs"}


# ----------------------------------------------------------------------------------- DCI


def test_dci_known_answers():
    assert disentanglement(np.eye(5)) == pytest.approx(1.0)
    assert completeness(np.eye(5)) == pytest.approx(1.0)
    assert disentanglement(np.zeros((4, 3))) == 0.0
    assert completeness(np.zeros((4, 3))) == 0.0
    r = np.zeros((10, 5))
    for f in range(5):
        r[2 * f, f] = r[2 * f + 1, f] = 1.0
    assert disentanglement(r) == pytest.approx(1.0)
    assert completeness(r) == pytest.approx(1 - math.log(2) / math.log(10))
    # every code uses every factor equally: nothing disentangled
    assert disentanglement(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-12)


def test_dci_equals_disentanglement_lib_reference():
    # disentanglement_lib dci.py: 1 - scipy.stats.entropy(R.T + 1e-11, base=F), weighted
    r = np.abs(np.random.default_rng(5).normal(size=(6, 4)))
    ref_d = 1 - entropy(r.T + 1e-11, base=r.shape[1])
    ref_c = 1 - entropy(r + 1e-11, base=r.shape[0])
    np.testing.assert_allclose(disentanglement_per_code(r), ref_d, atol=1e-9)
    np.testing.assert_allclose(completeness_per_factor(r), ref_c, atol=1e-9)
    assert disentanglement(r) == pytest.approx(np.sum(ref_d * r.sum(1) / r.sum()), abs=1e-9)
    assert completeness(r) == pytest.approx(np.sum(ref_c * r.sum(0) / r.sum()), abs=1e-9)


@pytest.mark.parametrize("method", ["gbt", "lasso"])
def test_dci_recovers_axis_aligned_codes(method):
    rng = np.random.default_rng(6)
    f = rng.uniform(-1, 1, size=(400, 3))
    codes = f[:, [2, 0, 1]] * [1.0, -2.0, 0.5] + rng.normal(scale=0.01, size=(400, 3))
    res = dci(codes[:300], f[:300], codes[300:], f[300:], method, random_state=0)
    assert res.disentanglement > 0.9 and res.completeness > 0.9
    assert res.informativeness_test > 0.95
    mixed = codes @ np.linalg.qr(rng.normal(size=(3, 3)))[0]
    res_mixed = dci(mixed[:300], f[:300], mixed[300:], f[300:], method, random_state=0)
    assert res_mixed.disentanglement < res.disentanglement - 0.2


def test_dci_metric_on_context():
    rng = np.random.default_rng(7)
    f = rng.uniform(size=(120, 2))
    z = np.column_stack([f[:, 1], f[:, 0], rng.normal(size=120)])
    ctx = MetricContext(
        responses=xr.DataArray(np.zeros((120, 1)), dims=("stimulus", "neuron")),
        latents=xr.DataArray(z, dims=("stimulus", "unit"), coords={"unit": ["a", "b", "c"]}),
        train=np.arange(90), test=np.arange(90, 120),
        factors=xr.DataArray(f, dims=("stimulus", "factor"), coords={"factor": ["x", "y"]}),
    )
    metric = _factory("dci")(importance="lasso")
    ds = metric.compute(ctx)
    assert ds["importance"].dims == ("unit", "factor")
    assert ds["importance"].sel(unit="c").values.sum() == pytest.approx(0.0, abs=1e-9)
    assert ds.attrs["disentanglement"] == pytest.approx(1.0, abs=1e-6)
    assert ds.attrs["informativeness"] > 0.9
    assert all(isinstance(v, float) for v in ds.attrs.values())
    assert set(metric.figures(ds)) == {"importance"}


# ----------------------------------------------------------------------------------- MIG


def test_mig_known_answers():
    f = factorial(5, 3)
    assert mutual_information_gap(f[:, [1, 2, 0]], f).mig == pytest.approx(1.0)
    # a factor copied onto two codes has no gap
    res = mutual_information_gap(np.column_stack([f[:, 0], f[:, 0], f[:, 1]]), f[:, :2])
    np.testing.assert_allclose(res.per_factor, [0.0, 1.0], atol=1e-12)
    # an uninformative code: MI 0
    assert mutual_information_gap(np.zeros((len(f), 1)), f).mig == 0.0


def test_mig_continuous_matches_sklearn():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(8)
    f = rng.uniform(size=(500, 2))
    z = np.column_stack([f[:, 0] + rng.normal(scale=0.05, size=500), rng.normal(size=500)])
    res = mutual_information_gap(z, f, bins=10)
    dz = np.digitize(z[:, 0], np.histogram(z[:, 0], 10)[1][:-1])
    df = np.digitize(f[:, 0], np.histogram(f[:, 0], 10)[1][:-1])
    assert res.mutual_information[0, 0] == pytest.approx(mutual_info_score(df, dz))
    assert res.entropy[0] == pytest.approx(mutual_info_score(df, df))
    assert res.per_factor[0] > 0.3 and res.per_factor[1] < 0.05


def test_mig_metric_on_context():
    f = factorial(6, 2)
    ctx = MetricContext(
        responses=xr.DataArray(np.zeros((len(f), 1)), dims=("stimulus", "neuron")),
        latents=xr.DataArray(f[:, ::-1], dims=("stimulus", "unit"), coords={"unit": ["a", "b"]}),
        train=np.arange(len(f)), test=np.arange(0),
        factors=xr.DataArray(f, dims=("stimulus", "factor"), coords={"factor": ["x", "y"]}),
    )
    ds = _factory("mig")().compute(ctx)
    assert ds.attrs["mig"] == pytest.approx(1.0)
    assert ds["mutual_information"].dims == ("unit", "factor")


def test_factor_metrics_read_latents_in_any_dimension_order():
    """DCI and MIG took ``latents.values`` as (stimulus, unit); matrices() orients them."""
    f = factorial(6, 2)
    lat = xr.DataArray(f[:, ::-1], dims=("stimulus", "unit"), coords={"unit": ["a", "b"]})
    ctxs = [MetricContext(
        responses=xr.DataArray(np.zeros((len(f), 1)), dims=("stimulus", "neuron")),
        latents=la, train=np.arange(len(f)), test=np.arange(0),
        factors=xr.DataArray(f, dims=("stimulus", "factor"), coords={"factor": ["x", "y"]}),
    ) for la in (lat, lat.transpose("unit", "stimulus"))]
    for name in ("mig", "dci"):
        a, b = (_factory(name)().compute(c) for c in ctxs)
        xr.testing.assert_identical(a, b)


def test_factor_metrics_without_factors_raise():
    ctx = MetricContext(
        responses=xr.DataArray(np.zeros((4, 1)), dims=("stimulus", "neuron")),
        latents=xr.DataArray(np.zeros((4, 2)), dims=("stimulus", "unit")),
        train=np.arange(4), test=np.arange(0),
    )
    for name in ("dci", "mig"):
        with pytest.raises(InputError):
            _factory(name)().compute(ctx)
    with pytest.raises(InputError):
        _factory("udr")().compute(ctx)


def test_specs():
    specs = {s.name: s for s in neurofacedis_register_metrics()}
    assert specs["udr"].requires == {"seeds"}
    assert specs["dci"].requires == specs["mig"].requires == {"factors"}
    assert all(s.citation for s in specs.values())


def _factory(name: str):
    return {s.name: s for s in neurofacedis_register_metrics()}[name].factory
