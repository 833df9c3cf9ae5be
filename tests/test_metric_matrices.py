"""``MetricContext.matrices()``: the arrays every metric uses, oriented, checked and named once."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurofacedis.errors import InputError
from neurofacedis.specs import MetricContext, MetricMatrices


def _ctx(**over) -> MetricContext:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 3))
    y = rng.poisson(3.0, size=(6, 4, 2)).astype(np.float32)
    stim = [f"s{i}" for i in range(6)]
    all_lat = xr.DataArray(np.c_[z[:, :1], np.zeros(6), z[:, 1:]], dims=("stimulus", "unit"),
                           coords={"stimulus": stim, "unit": ["a", "dead", "b", "c"]})
    kw = dict(
        # stored (unit, stimulus) / (repeat, neuron, stimulus): matrices() orients them
        latents=all_lat.isel(unit=[0, 2, 3]).transpose("unit", "stimulus"),
        responses=xr.DataArray(y, dims=("stimulus", "neuron", "repeat"),
                               coords={"stimulus": stim, "neuron": [7, 9, 11, 13]}
                               ).transpose("repeat", "neuron", "stimulus"),
        train=[0, 1, 2, 3], test=[4, 5], all_latents=all_lat,
        factors=xr.DataArray(z[:, :2], dims=("stimulus", "factor"),
                             coords={"factor": ["pose", "light"]}),
        sibling_latents=[all_lat.isel(unit=[3, 0])],
    )
    kw.update(over)
    return MetricContext(**kw)


def test_matrices_are_oriented_named_and_equal_the_context():
    ctx = _ctx()
    m = ctx.matrices()
    assert isinstance(m, MetricMatrices) and ctx.matrices() is m  # computed once
    lat = ctx.latents.transpose("stimulus", "unit").values
    np.testing.assert_array_equal(m.latents, lat)
    assert m.latents.dtype == np.float64 and m.latents.shape == (6, 3)
    y = ctx.responses.transpose("stimulus", "neuron", "repeat").values
    np.testing.assert_array_equal(m.trials, y)
    np.testing.assert_allclose(m.responses, y.mean(axis=2), rtol=1e-6)
    assert m.responses.dtype == np.float32  # the recording's precision, not copied to float64
    assert m.units == ("a", "b", "c") and m.all_units == ("a", "dead", "b", "c")
    assert m.neurons == ("7", "9", "11", "13") and list(m.neuron_ids) == [7, 9, 11, 13]
    assert list(m.stimuli) == [f"s{i}" for i in range(6)]
    np.testing.assert_array_equal(m.all_latents[:, m.active], m.latents)
    assert list(m.train) == [0, 1, 2, 3] and m.test.dtype == np.int64
    assert m.factor_names == ("pose", "light") and m.factors.shape == (6, 2)
    assert len(m.siblings) == 1 and m.siblings[0].shape == (6, 2)
    assert m.n_stimuli == 6
    ctx.latents = ctx.latents.isel(unit=[0, 2])  # a replaced field: built again
    assert ctx.matrices().units == ("a", "c") and ctx.matrices() is ctx.matrices()


def test_matrices_are_read_only_views_of_the_shared_data():
    ctx = _ctx()
    m = ctx.matrices()
    for a in (m.latents, m.responses, m.trials, m.all_latents, m.factors, m.train):
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 0
    ctx.all_latents.values[0, 0] = 5.0  # the context's own arrays stay writeable
    assert m.all_latents[0, 0] == 5.0  # and were not copied


def test_matrices_without_coordinates_or_repeats_get_default_names():
    ctx = MetricContext(responses=xr.DataArray(np.ones((3, 2)), dims=("stimulus", "neuron")),
                        latents=xr.DataArray(np.eye(3), dims=("stimulus", "unit")),
                        train=np.arange(2), test=np.arange(2, 3))
    m = ctx.matrices()
    assert m.units == ("unit0", "unit1", "unit2") and m.neurons == ("neuron0", "neuron1")
    assert m.trials.shape == (3, 2, 1) and list(m.stimuli) == [0, 1, 2]
    assert list(m.active) == [0, 1, 2] and m.factors is None and m.factor_names == ()


@pytest.mark.parametrize(("over", "message"), [
    ({"latents": xr.DataArray(np.full((6, 3), np.nan), dims=("stimulus", "unit"))},
     "latents: holds NaN"),
    ({"latents": xr.DataArray(np.ones((5, 3)), dims=("stimulus", "unit"))},
     "latents: 5 rows for 6 stimuli"),
    ({"latents": xr.DataArray(np.ones((6, 3)), dims=("stimulus", "feature"))},
     r"latents: dimensions \('stimulus', 'feature'\), expected \('stimulus', 'unit'\)"),
    ({"factors": xr.DataArray(np.ones((4, 2)), dims=("stimulus", "factor"))},
     "factors: 4 factor rows for 6 stimuli"),
    ({"sibling_latents": [xr.DataArray(np.ones((5, 2)), dims=("stimulus", "unit"))]},
     r"sibling_latents\[0\]: 5 rows for 6 stimuli"),
    ({"all_latents": xr.DataArray(np.ones((6, 1)), dims=("stimulus", "unit"),
                                  coords={"unit": ["zz"]})},
     "latents: active units are not among all_latents' units"),
])
def test_matrices_name_the_object_at_fault(over, message):
    with pytest.raises(InputError, match=message):
        _ctx(**over).matrices()
