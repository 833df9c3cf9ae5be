from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from nfd_dissection import (
    Concept,
    DissectionMetric,
    concept_scores,
    concepts_from,
    neurofacedis_register_metrics,
    permutation_null,
)
from scipy.stats import pearsonr

from neurofacedis.errors import InputError
from neurofacedis.specs import MetricContext


def labelled_faces(n_id=12, n_view=15, seed=0):
    """Stimulus table + factors, and units/neurons each driven by one known attribute."""
    rng = np.random.default_rng(seed)
    n = n_id * n_view
    identity = np.repeat(np.arange(n_id), n_view)
    gender = np.where(np.arange(n_id) % 2 == 0, "f", "m")[identity]
    view = np.tile(np.arange(n_view), n_id)
    stimuli = pd.DataFrame({"stimulus_id": [f"s{i}" for i in range(n)], "identity": identity,
                            "gender": gender, "view": view})
    fac = rng.standard_normal((n, 2))
    factors = xr.DataArray(fac, dims=("stimulus", "factor"),
                           coords={"factor": ["brightness", "eye_size"]})
    id_effect = rng.standard_normal(n_id)[identity]
    units = np.c_[fac[:, 0] + 0.3 * rng.standard_normal(n),       # brightness
                  2 * id_effect + 0.5 * rng.standard_normal(n),    # identity
                  rng.standard_normal(n)]                          # nothing
    neurons = np.c_[5 + fac[:, 1] + 0.5 * rng.standard_normal(n),  # eye size
                    5 + 0.5 * rng.standard_normal(n)]              # nothing
    return stimuli, factors, units, neurons


def make_ctx(stimuli, factors, units, neurons, images=None, seed=0):
    n = len(units)
    return MetricContext(
        responses=xr.DataArray(neurons[:, :, None], dims=("stimulus", "neuron", "repeat")),
        latents=xr.DataArray(units, dims=("stimulus", "unit"),
                             coords={"unit": [f"u{i}" for i in range(units.shape[1])]}),
        train=np.arange(n // 2), test=np.arange(n // 2, n), stimuli=stimuli, factors=factors,
        rng=np.random.default_rng(seed), images=(lambda: images) if images is not None else None,
    )


def test_concepts_from_table_and_factors():
    stimuli, factors, _, _ = labelled_faces()
    cs = {c.name: c for c in concepts_from(stimuli, factors, len(stimuli))}
    assert set(cs) == {"identity", "gender", "view", "brightness", "eye_size"}  # no stimulus_id
    assert cs["identity"].kind == "categorical" and cs["identity"].levels == 12
    assert cs["brightness"].kind == "continuous"


def test_scores_equal_pearson_r2_and_anova_eta2():
    import statsmodels.formula.api as smf

    stimuli, factors, units, _ = labelled_faces()
    cs = {c.name: c for c in concepts_from(stimuli, factors, len(stimuli))}
    r2 = concept_scores(units, cs["brightness"])
    for j in range(units.shape[1]):
        assert r2[j] == pytest.approx(pearsonr(units[:, j], factors.values[:, 0])[0] ** 2,
                                      rel=1e-9)
    eta = concept_scores(units, cs["identity"])
    for j in range(units.shape[1]):
        df = pd.DataFrame({"y": units[:, j], "g": stimuli["identity"]})
        assert eta[j] == pytest.approx(smf.ols("y ~ C(g)", df).fit().rsquared, rel=1e-9)


def test_permutation_null_equals_relabelled_scores():
    stimuli, factors, units, _ = labelled_faces(n_id=5, n_view=6)
    concepts = concepts_from(stimuli, factors, len(stimuli))
    rng = np.random.default_rng(1)
    perms = np.stack([rng.permutation(len(units)) for _ in range(7)])
    res = permutation_null(units, concepts, perms)
    for ci, c in enumerate(concepts):
        null = np.stack([concept_scores(units, Concept(c.name, c.kind, c.data[p], c.levels))
                         for p in perms])
        np.testing.assert_allclose(res["null_mean"][ci], null.mean(0), rtol=1e-9, atol=1e-15)
        ge = (null >= res["score"][ci] - 1e-12).sum(0)
        np.testing.assert_array_equal(res["p_value"][ci], (1 + ge) / 8)


def test_units_and_neurons_find_their_attribute():
    stimuli, factors, units, neurons = labelled_faces()
    res = DissectionMetric(n_permutations=200).compute(
        make_ctx(stimuli, factors, units, neurons))
    best = dict(zip(res["item"].values, res["best_concept"].values, strict=True))
    assert best["u0"] == "brightness"
    assert best["u1"] == "identity"
    assert best["u2"] == "none"
    assert best["neuron 0"] == "eye_size"
    assert best["neuron 1"] == "none"
    assert res.attrs["fraction_units_selective"] == pytest.approx(2 / 3)
    assert res.attrs["concepts_covered_by_units"] == 2
    assert res.attrs["fraction_neurons_selective"] == pytest.approx(0.5)
    assert all(np.isfinite(v) for v in res.attrs.values())
    res = DissectionMetric(n_permutations=50, exclude="identity, view").compute(
        make_ctx(stimuli, factors, units, neurons))
    assert "identity" not in res["concept"].values
    assert dict(zip(res["item"].values, res["best_concept"].values, strict=True))["u1"] in (
        "gender", "none")


def test_face_dictionary_figure_and_errors():
    import matplotlib

    matplotlib.use("Agg")
    stimuli, factors, units, neurons = labelled_faces(n_id=4, n_view=10)
    images = np.random.default_rng(0).random((40, 64, 64)).astype(np.float32)
    metric = DissectionMetric(n_permutations=30, n_faces=3, thumbnail=16)
    res = metric.compute(make_ctx(stimuli, factors, units, neurons, images=images))
    assert res["dictionary"].shape == (3, 6, 16, 16)
    # the highest-ranked face of u0 is its argmax stimulus
    assert res["dictionary_stimulus"].values[0, -1] == np.argmax(units[:, 0])
    assert set(metric.figures(res)) == {"selectivity", "dictionary"}
    with pytest.raises(InputError, match="no labelled attribute"):
        metric.compute(make_ctx(None, None, units, neurons))
    (spec,) = neurofacedis_register_metrics()
    assert spec.name == "dissection" and spec.citation
