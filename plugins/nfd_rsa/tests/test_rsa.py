from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from nfd_rsa import (
    COMPARISONS,
    PairedRDMs,
    RSAMetric,
    calc_rdm,
    calc_rdm_crossnobis,
    compare,
    fdr_across_models,
    neurofacedis_register_metrics,
    noise_ceiling,
    plot_model_comparison,
    to_matrix,
)
from nfd_rsa._compare import RSATOOLBOX_NAMES

from neurofacedis.errors import InputError
from neurofacedis.specs import MetricContext

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.rdm import RDMs  # noqa: E402
from rsatoolbox.rdm import compare as rsa_compare  # noqa: E402

RTOL = 1e-6


def _data(n=24, p=15, r=4, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n, p))
    resp = signal[:, :, None] + 0.8 * rng.standard_normal((n, p, r))
    k = min(6, p)
    latents = signal[:, :k] @ rng.standard_normal((k, 5)) + rng.standard_normal((n, 5))
    return resp, latents


def _ref(a, b, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(rsa_compare(RDMs(np.atleast_2d(a)), RDMs(np.atleast_2d(b)),
                                 RSATOOLBOX_NAMES[method])[0, 0])


@pytest.mark.parametrize("method", ["correlation", "euclidean"])
def test_rdm_equals_rsatoolbox(method):
    resp, _ = _data()
    x = resp.mean(axis=2)
    ref = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method=method)
    np.testing.assert_allclose(calc_rdm(x, method), ref.get_vectors()[0], rtol=RTOL)


def test_crossnobis_equals_rsatoolbox():
    resp, _ = _data()
    n, p, r = resp.shape
    ds = rsatoolbox.data.Dataset(
        resp.transpose(2, 0, 1).reshape(-1, p),
        obs_descriptors={"stim": np.tile([f"s{i:03d}" for i in range(n)], r),
                         "rep": np.repeat(np.arange(r), n)},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rsatoolbox's own NaN cast of string descriptors
        ref = rsatoolbox.rdm.calc_rdm(ds, method="crossnobis", descriptor="stim",
                                      cv_descriptor="rep")
    np.testing.assert_allclose(calc_rdm_crossnobis(resp), ref.get_vectors()[0], rtol=RTOL,
                               atol=1e-12)


def _rdm_pairs():
    resp, lat = _data(n=20)
    d, m = calc_rdm(resp.mean(axis=2)), calc_rdm(lat)
    return {
        "continuous": (d, m),
        "model ties": (d, np.round(m, 1)),
        "data ties": (np.round(d, 1), m),
        "both ties": (np.round(d, 1), np.round(m, 1)),
    }


@pytest.mark.parametrize("case", ["continuous", "model ties", "data ties", "both ties"])
@pytest.mark.parametrize("method", COMPARISONS)
def test_compare_permutation_bootstrap_equal_rsatoolbox(case, method):
    d, m = _rdm_pairs()[case]
    rng = np.random.default_rng(3)
    pair = PairedRDMs(d, m)
    assert pair.similarity(method) == pytest.approx(_ref(m, d, method), rel=RTOL)
    assert compare(d, m, method) == pytest.approx(_ref(d, m, method), rel=RTOL)
    n = pair.n
    for _ in range(3):
        perm = rng.permutation(n)
        permuted = to_matrix(m)[np.ix_(perm, perm)]
        ref = _ref(permuted[None], d, method)
        assert pair.permuted(perm, [method])[0] == pytest.approx(ref, rel=RTOL, abs=1e-12)
        sample = rng.integers(0, n, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sd = RDMs(d[None]).subsample_pattern("index", sample)
            sm = RDMs(m[None]).subsample_pattern("index", sample)
            ref = float(rsa_compare(sm, sd, RSATOOLBOX_NAMES[method])[0, 0])
        assert pair.resampled(sample, [method])[0] == pytest.approx(ref, rel=RTOL, abs=1e-12)


@pytest.mark.parametrize("method", COMPARISONS)
def test_noise_ceiling_equals_rsatoolbox(method):
    from rsatoolbox.inference import boot_noise_ceiling

    resp, _ = _data()
    vecs = np.stack([calc_rdm(resp[:, :, i]) for i in range(resp.shape[2])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = boot_noise_ceiling(RDMs(vecs), method=RSATOOLBOX_NAMES[method])
    np.testing.assert_allclose(noise_ceiling(vecs, method), ref, rtol=RTOL)


def test_threads_give_the_same_samples():
    d, m = _rdm_pairs()["continuous"]
    pair = PairedRDMs(d, m)
    rng = np.random.default_rng(0)
    perms = np.stack([rng.permutation(pair.n) for _ in range(6)])
    one = pair.permutation_null(perms, COMPARISONS)
    two = pair.permutation_null(perms, COMPARISONS, n_jobs=2)
    np.testing.assert_array_equal(one, two)
    samples = rng.integers(0, pair.n, size=(7, pair.n))
    np.testing.assert_array_equal(pair.bootstrap(samples, COMPARISONS),
                                  pair.bootstrap(samples, COMPARISONS, n_jobs=3))


def test_run_blocks_keeps_the_serial_order():
    from nfd_rsa._compare import run_blocks, workers

    seen = []
    rows = (i for i in range(103))  # lazy, no len: blocks of 4 drawn as needed
    assert run_blocks(lambda i: i * i, rows, 3, progress=seen.append) == [
        i * i for i in range(103)]
    assert sum(seen) == 103
    assert run_blocks(lambda i: -i, list(range(50)), 0) == [-i for i in range(50)]
    assert workers(0) >= 1 and workers(5) == 5


def test_metric_parallel_blocks_equal_serial():
    resp, lat = _data(n=22, p=10, r=3, seed=2)
    runs = [RSAMetric(n_permutations=37, n_bootstrap=29, n_jobs=j).compute(_ctx(resp, lat))
            for j in (1, 2, 0)]
    for res in runs[1:]:
        for var in ("null", "bootstrap", "p_value", "ci_low", "ci_high", "ceiling_lower"):
            np.testing.assert_array_equal(res[var].values, runs[0][var].values)


def _ctx(resp, latents, seed=0):
    n = resp.shape[0]
    responses = xr.DataArray(resp, dims=("stimulus", "neuron", "repeat"),
                             coords={"stimulus": [f"s{i}" for i in range(n)]})
    lat = xr.DataArray(latents, dims=("stimulus", "unit"))
    idx = np.arange(n)
    return MetricContext(responses=responses, latents=lat, train=idx[: n // 2],
                         test=idx[n // 2:], rng=np.random.default_rng(seed))


def test_responses_against_themselves_give_one():
    resp, _ = _data(n=30, p=12)
    ctx = _ctx(resp, resp.mean(axis=2))
    res = RSAMetric(n_permutations=50, n_bootstrap=30).compute(ctx)
    np.testing.assert_allclose(res["similarity"].values, 1.0, rtol=1e-12)
    assert res.attrs["rsa"] == pytest.approx(1.0)
    assert res.attrs["p_value"] == pytest.approx(1 / 51)  # nothing permuted beats identity
    assert set(res["comparison"].values) == set(COMPARISONS)


def test_metric_values_match_rsatoolbox_end_to_end():
    resp, lat = _data(n=26, p=14, r=3, seed=4)
    ctx = _ctx(resp, lat, seed=1)
    res = RSAMetric(n_permutations=40, n_bootstrap=40).compute(ctx)
    d = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(resp.mean(axis=2)), method="correlation")
    m = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(lat), method="correlation")
    splits = RDMs(np.stack([calc_rdm(resp[:, :, i]) for i in range(3)]))
    from rsatoolbox.inference import boot_noise_ceiling

    for method in COMPARISONS:
        sel = res.sel(comparison=method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = float(rsa_compare(m, d, RSATOOLBOX_NAMES[method])[0, 0])
            low, up = boot_noise_ceiling(splits, method=RSATOOLBOX_NAMES[method])
            split_mean = float(np.mean(rsa_compare(m, splits, RSATOOLBOX_NAMES[method])))
        assert float(sel["similarity"]) == pytest.approx(ref, rel=RTOL)
        assert float(sel["ceiling_lower"]) == pytest.approx(low, rel=RTOL)
        assert float(sel["ceiling_upper"]) == pytest.approx(up, rel=RTOL)
        assert float(sel["similarity_splits"]) == pytest.approx(split_mean, rel=RTOL)
        assert float(sel["ci_low"]) <= float(sel["similarity"]) + 0.2
        assert 0 < float(sel["p_value"]) <= 1
    for v in res.attrs.values():
        assert np.isfinite(v)


def test_related_model_is_significant_and_unrelated_is_not():
    rng = np.random.default_rng(5)
    n = 40
    f = rng.standard_normal((n, 4))
    resp = (f @ rng.standard_normal((4, 20)))[:, :, None] + 0.3 * rng.standard_normal((n, 20, 2))
    good = RSAMetric(n_permutations=200, n_bootstrap=50, comparisons="spearman")
    assert good.compute(_ctx(resp, f + 0.1 * rng.standard_normal((n, 4)))).attrs["p_value"] < 0.01
    noise = rng.standard_normal((n, 4))
    assert good.compute(_ctx(resp, noise)).attrs["p_value"] > 0.01


def test_crossnobis_and_neuron_split_ceiling():
    resp, lat = _data(n=20, p=18, r=3)
    res = RSAMetric(rdm="crossnobis", n_permutations=10, n_bootstrap=10).compute(_ctx(resp, lat))
    assert "ceiling_lower" in res.attrs  # crossnobis: neuron halves
    assert "neurons" in res["ceiling_lower"].attrs["description"]
    holey = resp.copy()
    holey[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="crossnobis"):
        RSAMetric(rdm="crossnobis", n_permutations=0, n_bootstrap=0).compute(_ctx(holey, lat))


def test_no_repeats_no_ceiling_needs_split():
    resp, lat = _data(n=20, p=4, r=1)
    res = RSAMetric(n_permutations=5, n_bootstrap=5).compute(_ctx(resp, lat))
    assert "ceiling_lower" not in res.attrs
    assert "no noise ceiling" in res["similarity"].attrs["notes"]


def test_fdr_across_models_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = {"beta_vae": 0.001, "aam": 0.02, "pca": 0.04, "ica": 0.5}
    q = fdr_across_models(p)
    ref = multipletests(list(p.values()), method="fdr_bh")[1]
    np.testing.assert_allclose(list(q.values()), ref, rtol=1e-12)
    assert list(q) == list(p)


def test_figures_and_spec():
    import matplotlib

    matplotlib.use("Agg")
    resp, lat = _data(n=16, p=10, r=2)
    metric = RSAMetric(n_permutations=10, n_bootstrap=10)
    res = metric.compute(_ctx(resp, lat))
    figs = metric.figures(res)
    assert set(figs) == {"rdms", "comparison"}
    fig = plot_model_comparison({"a": res, "b": res})
    assert fig.axes
    (spec,) = neurofacedis_register_metrics()
    assert spec.name == "rsa" and spec.citation
    assert set(spec.defaults()) >= {"rdm", "comparison", "n_permutations"}


def test_test_stimuli_euclidean_and_few_units():
    resp, lat = _data(n=24, p=10, r=2)
    ctx = _ctx(resp, lat[:, :2])
    res = RSAMetric(rdm="euclidean", stimuli="test", n_permutations=5, n_bootstrap=5,
                    comparisons="pearson").compute(ctx)
    assert res.attrs["n_stimuli"] == 12
    assert res["similarity"].attrs["model_rdm"] == "euclidean"  # 2 units: no correlation RDM
    assert "euclidean model RDM" in res["similarity"].attrs["notes"]
    test = ctx.test
    ref = compare(calc_rdm(resp[test].mean(axis=2), "euclidean"),
                  calc_rdm(lat[test, :2], "euclidean"), "spearman")
    assert float(res.sel(comparison="spearman")["similarity"]) == pytest.approx(ref)


# ---------------------------------------------------------------------- blockwise and memory
@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of ~40 pairs and value bands of 4+ values, so small inputs exercise every block
    boundary and the discordance counter's band and cross-block counts."""
    import nfd_rsa._rank as rank

    monkeypatch.setattr(rank, "_BLOCK_MIN", 37)
    monkeypatch.setattr(rank, "_BAND_MIN", 2)


@pytest.mark.parametrize("band_min", [2, 13])
def test_inversions_equal_scipy_counter(monkeypatch, band_min):
    """The banded, streamed counter gives scipy's count exactly: ties, repeats, any blocks."""
    import nfd_rsa._rank as rank
    from scipy.stats._stats import _kendall_dis

    monkeypatch.setattr(rank, "_BAND_MIN", band_min)
    rng = np.random.default_rng(5)
    for trial in range(40):
        size = int(rng.integers(1, 30_000 if trial % 4 == 0 else 400))
        top = int(rng.integers(1, [3, 50, size + 2, 10 * size + 2, 2**21][trial % 5]))
        y = rng.integers(1, top + 1, size).astype(np.intp)
        if trial % 3 == 0:
            y = np.repeat(y, rng.integers(0, 4, size))  # bootstrap-style copies
        inv = rank.Inversions(top, y.size)
        cuts = np.sort(rng.integers(0, y.size + 1, int(rng.integers(0, 6))))
        for part in np.split(y, cuts):
            inv.add(part)
        expected = int(_kendall_dis(y, y)) if y.size else 0
        assert inv.total() == expected, (trial, size, top)


def test_bootstrap_pair_sums_and_heavy_copies(small_blocks):
    """The bootstrap's closed-form sums over pairs equal brute force, and samples that draw a
    few stimuli many times (large weights, many copies) still equal rsatoolbox."""
    from nfd_rsa._compare import _pair_sums

    rng = np.random.default_rng(2)
    for n in (3, 7, 40):
        c = rng.multinomial(n, rng.dirichlet(np.full(n, 0.3)))
        i, j = np.triu_indices(n, 1)
        w = (c[i] * c[j]).astype(object)
        assert _pair_sums(c) == (sum(w), sum(w * (w - 1) // 2), sum(w**3 - w))
    resp, lat = _data(n=40, p=12, r=5, seed=4)
    d0, m0 = calc_rdm(resp.mean(axis=2)), calc_rdm(lat)
    sample = np.repeat([3, 17, 29, 5], [20, 11, 6, 3])
    for d, m in ((d0, m0), (np.round(d0, 1), np.round(m0, 1))):
        got = PairedRDMs(d, m).bootstrap(sample[None], ["spearman", "tau-a"])[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sd = RDMs(d[None]).subsample_pattern("index", sample)
            sm = RDMs(m[None]).subsample_pattern("index", sample)
            ref = [float(rsa_compare(sm, sd, name)[0, 0]) for name in ("spearman", "tau-a")]
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-12)


def test_ties_match_rankdata(small_blocks):
    from nfd_rsa._rank import dense_by_position, rank, spans
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 300))
        v = (rng.integers(0, int(rng.integers(1, n + 2)), n).astype(float) if trial % 3
             else rng.standard_normal(n))
        order, ties = rank(v)
        sv = v[order]
        dense = np.concatenate([ties.dense_at(a, b) for a, b in spans(n)])
        avg = np.concatenate([ties.avg_at(a, b) for a, b in spans(n)])
        np.testing.assert_array_equal(dense, rankdata(sv, "dense"))
        np.testing.assert_array_equal(avg, rankdata(sv))
        np.testing.assert_array_equal(ties.avg_of(dense), avg)
        np.testing.assert_array_equal(dense_by_position(order, ties), rankdata(v, "dense"))
        counts = np.unique(v, return_counts=True)[1]
        assert ties.tied_pairs() == int((counts * (counts - 1) // 2).sum())
        for a, _ in ties.spans(int(rng.integers(1, 30))):
            assert a == 0 or sv[a] != sv[a - 1]  # tie groups never split


@pytest.mark.parametrize("method", ["correlation", "euclidean"])
def test_blockwise_rdms_equal_rsatoolbox(small_blocks, method):
    resp, _ = _data(n=70, p=9, r=3)
    x = resp.mean(axis=2)
    ref = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method=method)
    np.testing.assert_allclose(calc_rdm(x, method), ref.get_vectors()[0], rtol=1e-9)
    from scipy.spatial.distance import squareform

    k = resp.transpose(2, 0, 1)  # crossnobis by hand: mean over folds of (a_i-a_j).(b_i-b_j)
    acc = np.zeros((70, 70))
    for f in range(3):
        a, b = (k.sum(0) - k[f]) / 2, k[f]
        g = a @ b.T
        acc += np.diag(g)[:, None] + np.diag(g)[None, :] - g - g.T
    np.testing.assert_allclose(calc_rdm_crossnobis(resp), squareform(acc / 27, checks=False),
                               rtol=1e-9, atol=1e-12)


def test_blockwise_inference_equals_rsatoolbox(small_blocks):
    """Every comparison, observed / permuted / bootstrap, with ties on either side."""
    resp, lat = _data(n=40, p=12, r=5, seed=7)
    d0, m0 = calc_rdm(resp.mean(axis=2)), calc_rdm(lat)
    rng = np.random.default_rng(1)
    for d, m in ((d0, m0), (np.round(d0, 1), np.round(m0, 1)), (np.round(3 * d0) / 3, m0)):
        pair = PairedRDMs(d, m)
        perms = np.stack([rng.permutation(40) for _ in range(2)])
        samples = rng.integers(0, 40, (2, 40))
        null = pair.permutation_null(perms, COMPARISONS)
        boot = pair.bootstrap(samples, COMPARISONS)
        for k, method in enumerate(COMPARISONS):
            assert pair.similarity(method) == pytest.approx(_ref(m, d, method), rel=RTOL)
            for perm, got in zip(perms, null[:, k], strict=True):
                ref = _ref(to_matrix(m)[np.ix_(perm, perm)][None], d, method)
                assert got == pytest.approx(ref, rel=RTOL, abs=1e-12)
            for sample, got in zip(samples, boot[:, k], strict=True):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref = float(rsa_compare(RDMs(m[None]).subsample_pattern("index", sample),
                                            RDMs(d[None]).subsample_pattern("index", sample),
                                            RSATOOLBOX_NAMES[method])[0, 0])
                assert got == pytest.approx(ref, rel=RTOL, abs=1e-12)
        # passes in any order give the same samples (rank tables are dropped and rebuilt)
        np.testing.assert_allclose(pair.permutation_null(perms, COMPARISONS), null, atol=1e-14)


@pytest.mark.parametrize("tied", [False, True])
def test_streamed_ceiling_equals_rsatoolbox(small_blocks, tied):
    from nfd_rsa._compare import ArrayRDM, ceiling
    from rsatoolbox.inference import boot_noise_ceiling

    resp, lat = _data(n=40, p=12, r=5, seed=3)
    vecs = np.stack([calc_rdm(resp[:, :, i]) for i in range(5)])
    m = calc_rdm(lat)
    if tied:
        vecs, m = np.round(vecs, 1), np.round(m, 1)
    res = ceiling([ArrayRDM(v) for v in vecs], COMPARISONS, PairedRDMs(vecs[0], m))
    for method, (low, up, split) in res.items():
        name = RSATOOLBOX_NAMES[method]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = boot_noise_ceiling(RDMs(vecs), method=name)
            ref_split = float(np.mean(rsa_compare(RDMs(m[None]), RDMs(vecs), name)))
        np.testing.assert_allclose((low, up, split), (*ref, ref_split), rtol=RTOL)


def test_memory_stays_within_the_response_matrix():
    """Peak traced memory of compute (defaults, repeat ceiling) <= 1x the float32 response
    matrix, so that with the responses themselves it stays <= 2x (issue #7/#9).

    Memory per stimulus pair is fixed, so the size keeps the issue's ratio of matrix to pairs
    (neurons x repeats / stimuli = 5, as 20,000 x 10,000 x 10) on a 7 MB matrix.
    """
    import tracemalloc

    s, p, r = 600, 300, 10
    rng = np.random.default_rng(0)
    z = rng.standard_normal((s, 6))
    rate = np.exp(0.8 + 0.3 * z @ rng.standard_normal((6, p)))
    resp = rng.poisson(rate[:, :, None], size=(s, p, r)).astype(np.float32)  # count ties
    resp[0, 0, 0] = np.nan
    del rate

    def ctx(y):
        c = _ctx(y, z[:len(y)] + rng.standard_normal((len(y), z.shape[1])))
        c.repeat_mean = c.responses.mean("repeat")  # as the runner shares it
        return c

    metric = RSAMetric(n_permutations=5, n_bootstrap=5)
    metric.compute(ctx(resp[:30]))  # imports and caches outside the measurement
    c = ctx(resp)
    tracemalloc.start()
    try:
        res = metric.compute(c)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(res.attrs["ceiling_lower"])
    assert peak / resp.nbytes <= 1.0, f"peak {peak / resp.nbytes:.2f}x the response matrix"


def test_each_thread_adds_few_bytes_per_pair():
    """With 2 threads, a permutation pass peaks at <= 12 bytes per stimulus pair (~4.4 per
    thread: the counter's 2-byte low parts + block temporaries) and a bootstrap pass at <= 28
    (~8 per thread: the model's doubled ranks as int32 + the low parts, on top of 8 shared:
    the model's int32 ranks in data order and the int16 pairs in the model's; 29 with float64
    weights per thread). scipy's counter on the whole sequence needed an intp copy and
    a tree per thread: 32 and 41 bytes per pair here."""
    import tracemalloc

    rng = np.random.default_rng(0)
    n = 400
    pair = PairedRDMs(calc_rdm(rng.standard_normal((n, 50))), calc_rdm(rng.standard_normal((n, 5))))
    methods = ["spearman", "tau-a"]
    pair.similarities(methods)  # rank tables, kept for every pass, outside the measurement
    perms = np.stack([rng.permutation(n) for _ in range(4)])
    samples = rng.integers(0, n, (4, n))
    for run, rows, limit in ((pair.permutation_null, perms, 12), (pair.bootstrap, samples, 28)):
        run(rows[:1], methods)
        tracemalloc.start()
        try:
            run(rows, methods, n_jobs=2)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak / pair.size <= limit, f"{run.__name__}: {peak / pair.size:.1f} bytes per pair"
