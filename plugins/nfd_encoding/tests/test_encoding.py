from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from nfd_encoding import (
    EncodingMetric,
    median_ci,
    neurofacedis_register_metrics,
    ridge_cv,
    spearman_brown,
    split_half_reliability,
)
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold

from neurofacedis.specs import MetricContext

RTOL = 1e-6


def axis_patch(n_stim=300, n_factors=4, per_factor=3, n_repeats=8, gain=3.0, base=12.0, seed=0):
    """Axis-coded face patch: neuron j ramps with one factor; Poisson counts over repeats."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n_stim, n_factors))
    which = np.repeat(np.arange(n_factors), per_factor)
    rate = np.clip(base + gain * f[:, which], 0, None)
    counts = rng.poisson(rate[:, :, None], size=rate.shape + (n_repeats,)).astype(float)
    # theoretical reliability of the repeat mean: signal var / (signal var + noise var / R)
    rho = gain**2 / (gain**2 + base / n_repeats)
    return f, counts, which, rho


def ctx_for(latents, counts, seed=0, test_fraction=0.4):
    n = counts.shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.permutation(n)
    n_test = int(n * test_fraction)
    return MetricContext(
        responses=xr.DataArray(counts, dims=("stimulus", "neuron", "repeat")),
        latents=xr.DataArray(latents, dims=("stimulus", "unit"),
                             coords={"unit": [f"u{i}" for i in range(latents.shape[1])]}),
        train=np.sort(idx[n_test:]), test=np.sort(idx[:n_test]),
        rng=np.random.default_rng(seed + 1),
    )


def test_ridge_cv_equals_sklearn_ridgecv_per_neuron():
    rng = np.random.default_rng(0)
    n, k, nn = 150, 6, 12
    x = rng.standard_normal((n, k)) * [1, 2, 3, 0.5, 1, 1] + 5
    y = x @ rng.standard_normal((k, nn)) * 0.3 + 2 * rng.standard_normal((n, nn)) + 10
    idx = rng.permutation(n)
    train, test = idx[:110], idx[110:]
    kf = KFold(5, shuffle=True, random_state=0)
    folds = [v for _, v in kf.split(train)]
    alphas = np.logspace(-2, 4, 9)
    res = ridge_cv(x, y, train, test, folds, alphas, chunk=17)
    for j in range(nn):
        gs = GridSearchCV(Ridge(), {"alpha": alphas}, cv=kf).fit(x[train], y[train, j])
        np.testing.assert_allclose(res.cv_score[:, j], gs.cv_results_["mean_test_score"],
                                   rtol=RTOL)
        ref = RidgeCV(alphas=alphas, cv=kf).fit(x[train], y[train, j])
        assert res.alpha[j] == ref.alpha_
        pred = ref.predict(x[test])
        np.testing.assert_allclose(x[test] @ res.coef[:, j] + res.intercept[j], pred, rtol=RTOL)
        assert res.test_r2[j] == pytest.approx(r2_score(y[test, j], pred), rel=RTOL)
        assert res.test_r[j] == pytest.approx(np.corrcoef(pred, y[test, j])[0, 1], rel=RTOL)
    shared = ridge_cv(x, y, train, test, folds, alphas, per_neuron=False)
    best = alphas[np.argmax(res.cv_score.mean(axis=1))]
    assert np.all(shared.alpha == best)
    ref = Ridge(alpha=best).fit(x[train], y[train])
    np.testing.assert_allclose(shared.coef, ref.coef_.T, rtol=RTOL)


def test_split_half_reliability_matches_a_loop_and_theory():
    f, counts, which, rho = axis_patch(n_stim=400, n_repeats=8, seed=2)
    got = split_half_reliability(counts, np.random.default_rng(7), n_splits=5)
    rng = np.random.default_rng(7)
    perms = [rng.permutation(8) for _ in range(5)]
    for j in range(counts.shape[1]):
        rs = [np.corrcoef(counts[:, j, p[:4]].mean(1), counts[:, j, p[4:]].mean(1))[0, 1]
              for p in perms]
        assert got[j] == pytest.approx(spearman_brown(np.mean(rs)), rel=1e-10)
    np.testing.assert_allclose(got, rho, atol=0.05)


def test_split_half_blocks_are_sized_in_bytes_and_give_the_same_values():
    import tracemalloc

    _, counts, _, _ = axis_patch(n_stim=120, per_factor=5, n_repeats=6, seed=4)
    counts[3, 2, 1] = np.nan  # a missing repeat
    rows = np.sort(np.random.default_rng(0).permutation(120)[:50])
    want = split_half_reliability(counts[rows], np.random.default_rng(1), n_splits=4)
    for chunk_bytes in (1, 50 * 6 * 8 * 3, 64 << 20):  # 1 neuron, 3 neurons, all per block
        got = split_half_reliability(counts, np.random.default_rng(1), n_splits=4,
                                     chunk_bytes=chunk_bytes, rows=rows)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # many stimuli: a block's temporaries stay at ~1/16 of the matrix, not a float64 copy of
    # 2048 neurons x all stimuli (here the whole matrix, twice over as float64)
    big = np.random.default_rng(2).poisson(5.0, size=(4000, 256, 8)).astype(np.float32)
    rows = np.arange(0, 4000, 2)
    tracemalloc.start()
    try:
        split_half_reliability(big, np.random.default_rng(0), n_splits=1, rows=rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < big.nbytes / 4, (peak, big.nbytes)


def test_true_factors_predict_axis_neurons_up_to_their_ceiling():
    f, counts, which, rho = axis_patch()
    res = EncodingMetric(n_bootstrap=200).compute(ctx_for(f, counts))
    r2, ceil = res["r2"].values, res["ceiling"].values
    assert np.all(np.abs(r2 - ceil) < 0.08), np.c_[r2, ceil]
    assert 0.92 < res.attrs["encoding"] < 1.08
    assert res.attrs["ceiled"] is True
    assert res.attrs["median_r2_normalised_ci_low"] <= res.attrs["encoding"] \
        <= res.attrs["median_r2_normalised_ci_high"]
    # a model of unrelated units explains nothing
    noise = np.random.default_rng(9).standard_normal(f.shape)
    bad = EncodingMetric(n_bootstrap=50).compute(ctx_for(noise, counts))
    assert bad.attrs["median_r2"] < 0.05


def test_metric_r2_equals_sklearn_with_chosen_alpha():
    f, counts, which, rho = axis_patch(n_stim=120, seed=4)
    lat = f @ np.random.default_rng(1).standard_normal((4, 3)) * 5 + 2
    ctx = ctx_for(lat, counts)
    res = EncodingMetric(n_bootstrap=10).compute(ctx)
    z = (lat - lat[ctx.train].mean(0)) / lat[ctx.train].std(0)
    y = counts.mean(axis=2)
    for j in range(y.shape[1]):
        model = Ridge(alpha=float(res["alpha"][j])).fit(z[ctx.train], y[ctx.train, j])
        pred = model.predict(z[ctx.test])
        assert float(res["r2"][j]) == pytest.approx(r2_score(y[ctx.test, j], pred), rel=RTOL)
        assert float(res["r"][j]) == pytest.approx(np.corrcoef(pred, y[ctx.test, j])[0, 1],
                                                   rel=RTOL)


def test_without_repeats_scores_are_raw():
    f, counts, which, rho = axis_patch(n_stim=100, n_repeats=1)
    res = EncodingMetric(n_bootstrap=20).compute(ctx_for(f, counts))
    assert res.attrs["ceiled"] is False
    assert res.attrs["encoding"] == res.attrs["median_r2"]
    assert "no noise ceiling" in res["r2"].attrs["notes"]
    assert np.all(np.isnan(res["r2_normalised"].values))


def test_median_ci_and_figure_and_spec():
    import matplotlib

    matplotlib.use("Agg")
    med, lo, hi = median_ci(np.arange(101.0), np.random.default_rng(0), 500)
    assert med == 50 and lo < 50 < hi
    f, counts, which, rho = axis_patch(n_stim=80)
    metric = EncodingMetric(n_bootstrap=20)
    res = metric.compute(ctx_for(f, counts))
    assert set(metric.figures(res)) == {"encoding"}
    assert all(np.isfinite(v) for v in res.attrs.values())
    (spec,) = neurofacedis_register_metrics()
    assert spec.name == "encoding" and spec.citation and not spec.requires
