from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from nfd_decoding import (
    DecodingMetric,
    ReconstructionMetric,
    neurofacedis_register_metrics,
    neuron_counts,
    rank_neurons,
)
from scipy.optimize import linear_sum_assignment
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from neurofacedis.errors import InputError
from neurofacedis.specs import MetricContext

RTOL = 1e-6


def axis_patch(n_stim=300, n_factors=4, per_factor=3, n_repeats=8, gain=3.0, base=12.0, seed=0):
    """Axis-coded face patch: neuron j ramps with factor which[j]; Poisson counts."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n_stim, n_factors))
    which = np.repeat(np.arange(n_factors), per_factor)
    rate = np.clip(base + gain * f[:, which], 0, None)
    counts = rng.poisson(rate[:, :, None], size=rate.shape + (n_repeats,)).astype(float)
    return f, counts, which


def make_ctx(latents, counts, *, model=None, images=None, seed=0, all_latents=None):
    n = counts.shape[0]
    idx = np.random.default_rng(seed).permutation(n)
    n_test = int(0.4 * n)
    lat = xr.DataArray(latents, dims=("stimulus", "unit"),
                       coords={"unit": [f"u{i}" for i in range(latents.shape[1])]})
    return MetricContext(
        responses=xr.DataArray(counts, dims=("stimulus", "neuron", "repeat"),
                               coords={"neuron": [f"n{j}" for j in range(counts.shape[1])]}),
        latents=lat, all_latents=all_latents, train=np.sort(idx[n_test:]),
        test=np.sort(idx[:n_test]), rng=np.random.default_rng(seed + 1), model=model,
        images=(lambda: images) if images is not None else None,
    )


def test_true_factors_decode_from_their_axis_neuron_up_to_its_ceiling():
    f, counts, which = axis_patch()
    res = DecodingMetric().compute(make_ctx(f, counts))
    matched = res["matched_neuron"].values
    assert np.all(which[matched] == np.arange(4))  # each factor found one of its own neurons
    r2, ceil = res["r2"].values, res["ceiling"].values
    assert np.all(np.abs(r2 - ceil) < 0.08), np.c_[r2, ceil]
    assert 0.9 < res.attrs["mean_r2_normalised"] < 1.1
    assert res.attrs["decoding"] > 0.8


def test_matching_and_r2_equal_scipy_and_sklearn():
    f, counts, which = axis_patch(n_stim=120, seed=3)
    rng = np.random.default_rng(0)
    lat = f @ rng.standard_normal((4, 5)) + 0.3 * rng.standard_normal((120, 5))
    ctx = make_ctx(lat, counts)
    res = DecodingMetric().compute(ctx)
    y = counts.mean(axis=2)
    tr, te = ctx.train, ctx.test
    corr = np.corrcoef(lat[tr].T, y[tr].T)[:5, 5:]
    np.testing.assert_allclose(res["corr"].values, corr, rtol=1e-9, atol=1e-12)
    rows, cols = linear_sum_assignment(-np.abs(corr))
    np.testing.assert_array_equal(res["matched_neuron"].values[rows], cols)
    for k, j in zip(rows, cols, strict=True):
        lr = LinearRegression().fit(y[tr][:, [j]], lat[tr, k])
        ref = r2_score(lat[te, k], lr.predict(y[te][:, [j]]))
        assert float(res["r2"][k]) == pytest.approx(ref, rel=RTOL)
        assert float(res["slope"][k]) == pytest.approx(lr.coef_[0], rel=RTOL)


def test_more_units_than_neurons():
    f, counts, which = axis_patch(n_stim=80, n_factors=3, per_factor=1)
    lat = np.c_[f, np.random.default_rng(1).standard_normal((80, 2))]
    res = DecodingMetric().compute(make_ctx(lat, counts))
    assert (res["matched_neuron"].values >= 0).sum() == 3
    assert res.attrs["n_matched"] == 3
    assert all(np.isfinite(v) for v in res.attrs.values())


class LinearFaces:
    """Test double for a model with a decoder: images are a fixed linear map of the latents."""

    def __init__(self, k: int, shape=(12, 12), seed=0):
        rng = np.random.default_rng(seed)
        self.shape = shape
        self.mean = 0.5 + 0.1 * rng.random(int(np.prod(shape)))
        self.basis = 0.05 * rng.standard_normal((k, int(np.prod(shape))))

    def decode(self, latents):
        return (self.mean + np.asarray(latents, float) @ self.basis).reshape(
            (-1,) + self.shape).astype(np.float32)


def test_reconstruction_from_all_neurons_beats_one():
    f, counts, which = axis_patch(n_stim=200, seed=5)
    model = LinearFaces(4)
    images = model.decode(f)
    metric = ReconstructionMetric(max_faces=60, n_examples=3)
    res = metric.compute(make_ctx(f, counts, model=model, images=images))
    assert list(res["n_neurons"].values) == [1, 2, 4, 8, 12]
    a = res.attrs
    assert a["cosine_distance_all"] < 0.5 * a["cosine_distance_one"]
    assert a["identification_all"] > a["identification_one"] + 0.3
    assert a["cosine_distance_own"] < 1e-9  # the model's own reconstruction is exact here
    assert a["reconstruction"] > 0.8 and a["reached_criterion"]
    assert 1 < a["n_to_criterion"] <= 12
    # inactive units: decoding fills them with their training mean
    full = xr.DataArray(np.c_[f, np.zeros(200)], dims=("stimulus", "unit"),
                        coords={"unit": ["u0", "u1", "u2", "u3", "dead"]})
    model5 = LinearFaces(5)
    model5.basis[:4] = model.basis
    res5 = metric.compute(make_ctx(f, counts, model=model5, images=images, all_latents=full))
    assert res5.attrs["cosine_distance_all"] == pytest.approx(a["cosine_distance_all"])


def test_reconstruction_needs_a_decoder_and_figures():
    import matplotlib

    matplotlib.use("Agg")
    f, counts, which = axis_patch(n_stim=60)
    with pytest.raises(InputError, match="decode"):
        ReconstructionMetric().compute(make_ctx(f, counts, images=np.zeros((60, 4, 4))))
    model = LinearFaces(4, shape=(6, 6))
    metric = ReconstructionMetric(max_faces=10, n_examples=2)
    res = metric.compute(make_ctx(f, counts, model=model, images=model.decode(f)))
    assert set(metric.figures(res)) == {"curve", "examples"}
    dec = DecodingMetric()
    assert set(dec.figures(dec.compute(make_ctx(f, counts)))) == {"decoding"}


def test_helpers_and_specs():
    assert neuron_counts(1) == [1]
    assert neuron_counts(8) == [1, 2, 4, 8]
    assert neuron_counts(10) == [1, 2, 4, 8, 10]
    f, counts, which = axis_patch(n_stim=200, n_factors=2, per_factor=2, gain=1.0)
    y = counts.mean(axis=2)
    y[:, 0] = np.random.default_rng(0).standard_normal(200)  # a neuron coding nothing
    order, quality = rank_neurons(f, y)
    assert order[-1] == 0
    for j in range(4):  # quality = R^2 of least-squares decoding of z-scored units
        zs = (f - f.mean(0)) / f.std(0)
        lr = LinearRegression().fit(y[:, [j]], zs)
        assert quality[j] == pytest.approx(r2_score(zs, lr.predict(y[:, [j]])), rel=1e-9)
    specs = {s.name: s for s in neurofacedis_register_metrics()}
    assert specs["reconstruction"].requires == frozenset({"decoder"})
    assert specs["decoding"].citation
