from __future__ import annotations

import math
import subprocess
import sys

import nfd_alignment as na
import numpy as np
import pytest
from nfd_alignment._score import _rotate_inplace, zscore_train

from neurofacedis.errors import InputError


def axis_population(n=400, k=5, per_factor=6, noise=0.3, seed=0):
    """Each neuron = gain * one factor + baseline + noise (an axis code)."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n, k))
    which = np.repeat(np.arange(k), per_factor)
    gain = rng.uniform(0.5, 2.0, which.size)
    y = 5.0 + f[:, which] * gain + noise * rng.standard_normal((n, which.size))
    return f, y, which


def random_rotation(k, seed):
    from scipy.stats import ortho_group

    return ortho_group.rvs(k, random_state=np.random.default_rng(seed))


# ---------------------------------------------------------------- Lasso solver = sklearn


@pytest.mark.parametrize("alpha", [0.02, 0.005, 0.2])
@pytest.mark.parametrize("tol", [1e-4, 1e-10])
def test_lasso_weights_equal_sklearn_per_neuron(alpha, tol):
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(1)
    n, k, j = 150, 6, 25
    x = rng.standard_normal((n, k)) @ rng.standard_normal((k, k)) + rng.standard_normal((n, 1))
    w = rng.standard_normal((k, j)) * (rng.random((k, j)) < 0.4)
    y = x @ w + rng.standard_normal((n, j))
    zx, _ = zscore_train(x, None)
    zy, _ = zscore_train(y, None)
    fit = na.fit_lasso(zx, zy, alpha, tol=tol)
    ref = np.stack([Lasso(alpha=alpha, tol=tol).fit(zx, zy[:, c]).coef_ for c in range(j)], 1)
    assert fit.converged.all()
    np.testing.assert_allclose(fit.coef, ref, rtol=1e-6, atol=1e-10)
    assert (ref == 0).any() and (ref != 0).any()  # both regimes exercised


def test_lasso_with_intercept_on_raw_data_equals_sklearn():
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(2)
    x = 3.0 + rng.standard_normal((120, 4)) * [1, 2, 0.5, 1]
    y = 10.0 + x @ rng.standard_normal((4, 7)) + rng.standard_normal((120, 7))
    fit = na.fit_lasso(x, y, 0.1, tol=1e-8)
    for c in range(7):
        ref = Lasso(alpha=0.1, tol=1e-8).fit(x, y[:, c])
        np.testing.assert_allclose(fit.coef[:, c], ref.coef_, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(fit.intercept[c], ref.intercept_, rtol=1e-6)


def test_alpha_cv_equals_lassocv_on_one_neuron():
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    f, y, _ = axis_population(n=200, k=4, per_factor=1, noise=1.0, seed=3)
    zx, _ = zscore_train(f, None)
    zy, _ = zscore_train(y[:, :1], None)
    alpha = na.choose_alpha_cv(zx, zy, np.random.default_rng(7), n_targets=1, n_alphas=20)
    # replay the generator: the column draw, then the fold seed
    rng = np.random.default_rng(7)
    rng.choice(1, size=1, replace=False)
    folds = KFold(5, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    amax = np.abs(zx.T @ zy).max() / len(zy)
    ref = LassoCV(alphas=np.geomspace(amax, amax * 1e-3, 20), cv=folds).fit(zx, zy[:, 0])
    assert alpha == pytest.approx(ref.alpha_, rel=1e-12)


# ---------------------------------------------------------------- known answers


def test_importance_known_values():
    assert na.alignment_from_importance(np.eye(4))[0] == pytest.approx(1.0)
    assert na.alignment_from_importance(np.ones((4, 6)))[0] == pytest.approx(0.0, abs=1e-12)
    # each neuron split evenly over two of 10 units: 1 - log 2 / log 10 (DCI completeness case)
    r = np.zeros((10, 5))
    for c in range(5):
        r[2 * c : 2 * c + 2, c] = 1.0
    assert na.alignment_from_importance(r)[0] == pytest.approx(1 - math.log(2) / math.log(10))
    # hand-computed: neuron0 H=0 (rho 1/3), neuron1 H=1 (rho 2/3), neuron2 unpredicted
    score, per, rho = na.alignment_from_importance(np.array([[1.0, 1.0, 0.0], [0.0, -1.0, 0.0]]))
    assert score == pytest.approx(1 / 3)
    np.testing.assert_allclose(per[:2], [1.0, 0.0], atol=1e-12)
    assert np.isnan(per[2]) and rho[2] == 0
    np.testing.assert_allclose(rho, [1 / 3, 2 / 3, 0])


def test_all_zero_importance_is_nan_where_dci_gives_0():
    """Issue 21: no weight at all is undefined here (NaN), 0 in DCI; documented, kept apart."""
    from nfd_disentanglement.dci import completeness, completeness_per_factor

    zero = np.zeros((3, 4))
    score, per, rho = na.alignment_from_importance(zero)
    assert math.isnan(score) and np.isnan(per).all() and (rho == 0).all()
    assert completeness(zero) == 0.0 and (completeness_per_factor(zero) == 0).all()
    # a Lasso so strong that it keeps no weight: NaN (the metric refuses it: "lower alpha")
    f, y, _ = axis_population(n=60, k=3, per_factor=2, seed=1)
    assert math.isnan(na.alignment_score(f, y, alpha=10.0).alignment)


def test_single_driving_factor_scores_near_one():
    f, y, _ = axis_population(noise=0.3)
    res = na.alignment_score(f, y)
    assert res.alignment > 0.97
    assert np.nanmin(res.neuron_score) > 0.9


def test_equal_mix_of_all_units_scores_near_zero():
    rng = np.random.default_rng(4)
    f = rng.standard_normal((400, 5))
    y = f.sum(axis=1, keepdims=True) + 0.05 * rng.standard_normal((400, 30))
    res = na.alignment_score(f, y)
    assert res.alignment < 0.02


def test_axis_code_true_factors_beat_rotated_factors():
    f, y, _ = axis_population(noise=0.5, seed=5)
    true = na.alignment_score(f, y).alignment
    rotated = na.alignment_score(f @ random_rotation(5, 6), y).alignment
    assert true > 0.9
    assert true - rotated > 0.3


def test_hungarian_recovers_true_permutation():
    f, y, which = axis_population(k=6, per_factor=1, noise=0.4, seed=8)
    perm = np.random.default_rng(9).permutation(6)
    latents = f[:, perm] * np.array([1, -1, 2, -0.5, 1, 3])  # units = shuffled, flipped factors
    unit, neuron, r = na.match_units(latents, y)
    assert sorted(unit) == list(range(6))
    np.testing.assert_array_equal(which[neuron], perm[unit])
    np.testing.assert_array_equal(np.sign(r), np.sign([1, -1, 2, -0.5, 1, 3])[unit])
    assert np.all(np.abs(r) > 0.8)


# ---------------------------------------------------------------- ceiling and control


def test_ceiling_axis_population_beats_mixed_population():
    f, y, _ = axis_population(k=4, per_factor=8, noise=0.3, seed=10)
    rng = np.random.default_rng(0)
    axis = na.neuron_ceiling(y, 4, n_subsets=20, rng=np.random.default_rng(0))
    mixed = na.neuron_ceiling(y @ random_rotation(y.shape[1], 11), 4, n_subsets=20, rng=rng)
    assert axis.shape == (20,) and np.all((axis >= 0) & (axis <= 1))
    assert axis.mean() > mixed.mean() + 0.2
    again = na.neuron_ceiling(y, 4, n_subsets=20, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(axis, again)
    assert np.isnan(na.neuron_ceiling(y[:, :4], 4, n_subsets=3)).all()


def test_rotated_control_drops_for_axis_model():
    f, y, _ = axis_population(noise=0.3, seed=12)
    true = na.alignment_score(f, y).alignment
    ctrl = na.rotated_control(f, y, n_rotations=3, rng=np.random.default_rng(1))
    assert ctrl.shape == (3,)
    assert true - ctrl.max() > 0.4


def test_block_rotation_is_orthogonal():
    rng = np.random.default_rng(13)
    z = rng.standard_normal((20, 37))
    zr = z.copy()
    _rotate_inplace(zr, rng, block=8)  # 5 groups of 7-8 neurons
    np.testing.assert_allclose(zr @ zr.T, z @ z.T, rtol=1e-10, atol=1e-10)
    assert np.abs(zr - z).max() > 0.1


# ---------------------------------------------------------------- the metric


def make_context(seed=0, n=120, repeats=3):
    import xarray as xr

    from neurofacedis.specs import MetricContext

    f, y, _ = axis_population(n=n, k=4, per_factor=5, noise=0.3, seed=seed)
    rng = np.random.default_rng(seed)
    reps = y[:, :, None] + 0.2 * rng.standard_normal((*y.shape, repeats))
    reps[0, 0, 1] = np.nan  # a missing repeat
    stim = [f"s{i:03d}" for i in range(n)]
    responses = xr.DataArray(
        reps,
        dims=("stimulus", "neuron", "repeat"),
        coords={"stimulus": stim, "neuron": [f"n{i}" for i in range(y.shape[1])]},
    )
    latents = xr.DataArray(
        f, dims=("stimulus", "unit"), coords={"stimulus": stim, "unit": [f"z{i}" for i in range(4)]}
    )
    order = rng.permutation(n)
    return MetricContext(
        responses=responses,
        latents=latents,
        train=np.sort(order[: n * 3 // 4]),
        test=np.sort(order[n * 3 // 4 :]),
        rng=np.random.default_rng(seed),
    )


def test_metric_compute_on_hand_built_context(tmp_path):
    import xarray as xr

    ctx = make_context()
    metric = na.AlignmentMetric(n_subsets=10, n_rotations=2)
    ds = metric.compute(ctx)
    assert isinstance(ds, xr.Dataset)
    for key in (
        "alignment",
        "ceiling_mean",
        "ceiling_sd",
        "rotated_control",
        "n_neurons",
        "n_units",
        "mean_matched_abs_r",
    ):
        assert key in ds.attrs
    for key, value in ds.attrs.items():
        assert isinstance(value, (int, float)) and math.isfinite(value), key
    assert ds.attrs["n_units"] == 4 and ds.attrs["n_neurons"] == 20
    assert ds["importance"].dims == ("unit", "neuron") and ds["importance"].shape == (4, 20)
    assert ds.sizes["subset"] == 10 and ds.sizes["match"] == 4
    # the same numbers as the function on repeat-averaged responses over training stimuli
    ref = na.alignment_score(ctx.latents.values, ctx.mean_responses.values, train=ctx.train)
    assert ds.attrs["alignment"] == pytest.approx(ref.alignment, rel=1e-12)
    np.testing.assert_allclose(ds["neuron_score"].values, ref.neuron_score)
    assert ds.attrs["alignment"] > 0.8  # 90 training stimuli: chance weights stay
    assert ds.attrs["rotated_control"] < ds.attrs["alignment"] - 0.3
    assert ds.attrs["mean_matched_abs_r"] > 0.8
    # seeded: same context seed -> identical result
    again = metric.compute(make_context())
    xr.testing.assert_identical(ds, again)
    # round trip through NetCDF (what results.nc uses)
    ds.to_netcdf(tmp_path / "a.nc", engine="h5netcdf")
    back = xr.load_dataset(tmp_path / "a.nc", engine="h5netcdf")
    np.testing.assert_allclose(back["importance"].values, ds["importance"].values)


def test_parallel_blocks_give_the_serial_numbers():
    """Ceiling subsets and rotated fits on 2 threads equal the serial run exactly (issue 21)."""
    import xarray as xr

    serial = na.AlignmentMetric(n_subsets=12, n_rotations=4).compute(make_context())
    threaded = na.AlignmentMetric(n_subsets=12, n_rotations=4, n_jobs=2).compute(make_context())
    xr.testing.assert_identical(serial, threaded)
    assert np.unique(serial["ceiling"].values).size > 1  # the subsets really differ


def test_metric_figures(tmp_path):
    from matplotlib.figure import Figure

    ds = na.AlignmentMetric(n_subsets=5, n_rotations=1).compute(make_context(seed=1))
    figs = na.AlignmentMetric().figures(ds)
    assert set(figs) == {"importance", "scores", "matched"}
    for name, fig in figs.items():
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_metric_alpha_cv_and_errors():
    ctx = make_context(seed=2)
    ds = na.AlignmentMetric(alpha_cv=True, n_subsets=3, n_rotations=1).compute(ctx)
    assert 0 < ds.attrs["alpha"] < 1
    with pytest.raises(InputError, match="every weight to zero"):
        na.AlignmentMetric(alpha=10.0, n_subsets=2, n_rotations=1).compute(make_context())
    one_unit = make_context()
    one_unit.latents = one_unit.latents.isel(unit=[0])
    with pytest.raises(InputError, match="at least 2 active units"):
        na.AlignmentMetric().compute(one_unit)
    with pytest.raises(InputError):
        na.AlignmentMetric(alpha=0.0)


def test_constant_and_nan_neurons_are_excluded_not_fatal():
    ctx = make_context(seed=3)
    ctx.responses[:, 0, :] = 7.0  # constant neuron
    ctx.responses[ctx.train[0], 1, :] = np.nan  # every repeat missing on a training stimulus
    ds = na.AlignmentMetric(n_subsets=3, n_rotations=1).compute(ctx)
    assert ds.attrs["n_neurons_excluded"] == 2 and ds.attrs["n_neurons"] == 18
    assert np.isnan(ds["neuron_score"].values[:2]).all()
    assert not ds["neuron_used"].values[:2].any()


# ---------------------------------------------------------------- registration


def test_registration_spec():
    from neurofacedis.specs import Metric, MetricSpec

    (spec,) = na.neurofacedis_register_metrics()
    assert isinstance(spec, MetricSpec) and spec.name == "alignment"
    assert spec.requires == frozenset({"units"})  # alignment is undefined for one unit
    assert "Higgins" in spec.citation and "Eastwood" in spec.citation
    assert {"alpha", "n_subsets", "alpha_cv"} <= set(spec.defaults())
    assert spec.defaults()["n_subsets"] == 50
    metric = spec.factory(**spec.defaults())
    assert isinstance(metric, Metric) and callable(metric.figures)


def test_import_is_light():
    code = (
        "import sys, nfd_alignment; "
        "bad = [m for m in ('torch', 'sklearn', 'xarray', 'matplotlib') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_conformance_kit_through_registry():
    from neurofacedis.registry import get_registry
    from neurofacedis.testing import check_metric

    entry = get_registry(refresh=True).metric("alignment")
    result = check_metric(entry.spec, plugin="nfd_alignment")
    assert 0.0 <= result.attrs["alignment"] <= 1.0
    assert result.attrs["alignment"] > result.attrs["rotated_control"]


def test_virtual_face_patch_true_factors_beat_rotated_factors():
    from neurofacedis.simulate import simulate_session

    data = simulate_session(
        n_identities=20,
        n_views=6,
        n_neurons=48,
        n_repeats=3,
        axis_fraction=1.0,
        image_size=16,
        seed=0,
    )
    factors = data.factors.to_numpy(dtype=float)
    responses = np.nanmean(data.responses, axis=2)
    true = na.alignment_score(factors, responses).alignment
    rot = na.alignment_score(factors @ random_rotation(factors.shape[1], 1), responses).alignment
    assert true > rot + 0.2
    assert true > na.rotated_control(factors, responses, n_rotations=2).max() + 0.2
