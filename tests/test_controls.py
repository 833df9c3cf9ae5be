"""Known answers: the ``factors`` control and the simulator's axis, mixed and null codes.

Each world is small (80 faces of 16x16 pixels, 30 neurons, 4 repeats) and seeded; the
metrics run through the registry on the context the runner builds. The ``factors`` model
(nfd_factors) is the positive control; ``factors[rotate=true]`` carries the same information
in a rotated basis. DCI and MIG compare latents with the factors only (no neurons), so their
known answer is per model, whatever the neural code.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from nfd_factors import FactorsModel

from neurofacedis.registry import get_registry
from neurofacedis.simulate import simulate_session
from neurofacedis.specs import MetricContext

#: Smaller resampling than the defaults (the statistics asserted do not need more).
FAST = {"alignment": {"n_subsets": 10, "n_rotations": 2},
        "rsa": {"n_permutations": 200, "n_bootstrap": 20, "comparisons": "spearman"},
        "encoding": {"n_bootstrap": 20}}


def _session(code: str, seed: int = 1, n_identities: int = 20):
    return simulate_session(n_identities=n_identities, n_views=4, n_neurons=30, n_repeats=4,
                            image_size=16, code=code, seed=seed)


def _context(data, latents: np.ndarray, units: list[str], seed: int = 0) -> MetricContext:
    import xarray as xr

    stim = list(data.stimulus_ids)
    n = len(stim)
    order = np.random.default_rng(seed).permutation(n)
    test, train = np.sort(order[: n // 5]), np.sort(order[n // 5:])
    responses = xr.DataArray(
        data.responses, dims=("stimulus", "neuron", "repeat"),
        coords={"stimulus": stim, "neuron": [f"n{i}" for i in range(data.responses.shape[1])],
                "repeat": np.arange(data.responses.shape[2])})
    lat = xr.DataArray(latents, dims=("stimulus", "unit"), coords={"stimulus": stim,
                                                                   "unit": units})
    factors = xr.DataArray(data.factors.to_numpy(float), dims=("stimulus", "factor"),
                           coords={"stimulus": stim, "factor": list(data.factors.columns)})
    images = data.images.astype(np.float32) / 255.0
    return MetricContext(responses=responses, latents=lat, train=train, test=test,
                         model_name="control", seed=seed, images=lambda: images,
                         factors=factors, all_latents=lat, truth=data.truth,
                         rng=np.random.default_rng([seed, 7]))


def _factors(data, rotate: bool = False) -> tuple[np.ndarray, list[str]]:
    model = FactorsModel(rotate=rotate)
    model.fit(data.images, None, seed=0, factors=data.factors)
    return model.encode(data.images, factors=data.factors), model.unit_names


def _pca(data) -> tuple[np.ndarray, list[str]]:
    from nfd_linear import PCAModel

    images = data.images.astype(np.float32) / 255.0
    model = PCAModel(n_components=data.factors.shape[1])
    model.fit(images, None, seed=0)
    return model.encode(images), model.unit_names


def _run(metric: str, data, latents, seed: int = 0) -> dict:
    spec = get_registry().metric(metric).spec
    params = {**spec.defaults(), **FAST.get(metric, {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lasso convergence on tiny worlds
        return dict(spec.factory(**params).compute(_context(data, *latents, seed=seed)).attrs)


@pytest.fixture(scope="module")
def worlds():
    return {code: _session(code) for code in ("axis", "mixed", "null")}


def test_codes_share_images_and_factors(worlds):
    axis = worlds["axis"]
    for code in ("mixed", "null"):
        assert np.array_equal(worlds[code].images, axis.images)
        assert worlds[code].factors.equals(axis.factors)
        assert set(worlds[code].truth["code"]) == {code}
    assert not np.array_equal(worlds["mixed"].responses, axis.responses)
    assert np.abs(worlds["null"].truth["tuning_weights"]).max() == 0.0


def test_axis_code_factors_top_alignment_at_the_ceiling(worlds):
    data = worlds["axis"]
    truth = _run("alignment", data, _factors(data))
    rotated = _run("alignment", data, _factors(data, rotate=True))
    pca = _run("alignment", data, _pca(data))
    assert truth["alignment"] > rotated["alignment"] + 0.15
    assert truth["alignment"] > pca["alignment"] + 0.1
    # at or above the neuron-subset ceiling, far above the rotated-responses control
    assert truth["alignment"] >= truth["ceiling_mean"] - 2 * truth["ceiling_sd"]
    assert truth["alignment"] > 2 * truth["rotated_control"]
    assert abs(rotated["alignment"] - rotated["rotated_control"]) < 0.05
    assert truth["mean_matched_abs_r"] > 0.85


def test_axis_code_factors_decode_encode_and_rsa_near_ceiling(worlds):
    data = worlds["axis"]
    truth, rotated = _factors(data), _factors(data, rotate=True)
    dec, dec_rot = _run("decoding", data, truth), _run("decoding", data, rotated)
    assert dec["mean_r2_normalised"] > 0.9 and dec_rot["decoding"] < 0.1
    enc = _run("encoding", data, truth)
    assert enc["ceiled"] and enc["median_r2_normalised"] > 0.8
    assert _run("encoding", data, rotated)["encoding"] == pytest.approx(enc["encoding"],
                                                                          abs=0.05)
    rsa = _run("rsa", data, truth)
    assert rsa["rsa"] >= rsa["ceiling_lower"] and rsa["p_value"] < 0.01


def test_mixed_code_alignment_advantage_vanishes_encoding_stays(worlds):
    data = worlds["mixed"]
    truth, rotated = _factors(data), _factors(data, rotate=True)
    a, b = _run("alignment", data, truth), _run("alignment", data, rotated)
    assert abs(a["alignment"] - b["alignment"]) < 0.03
    assert abs(a["alignment"] - a["rotated_control"]) < 0.03
    axis = _run("alignment", worlds["axis"], _factors(worlds["axis"]))
    assert axis["alignment"] > a["alignment"] + 0.2
    for latents in (truth, rotated):
        enc = _run("encoding", data, latents)
        assert enc["median_r2_normalised"] > 0.8


def test_null_code_every_neural_metric_at_chance(worlds):
    data = worlds["null"]
    truth = _factors(data)
    a = _run("alignment", data, truth)
    assert abs(a["alignment"] - a["rotated_control"]) < 0.05
    assert _run("decoding", data, truth)["decoding"] < 0.0
    enc = _run("encoding", data, truth)
    assert enc["median_r2"] < 0.02 and enc["median_r2_ci_low"] < 0.0
    # the null neurons are reliable (a high ceiling), just not about the images
    assert enc["median_ceiling"] > 0.5
    assert abs(_run("rsa", data, truth)["rsa"]) < 0.1


def test_null_code_rsa_p_values_are_not_small():
    from scipy.stats import kstest

    ps = []
    for seed in range(6):
        data = _session("null", seed=10 + seed, n_identities=12)
        for rotate in (False, True):
            ps.append(_run("rsa", data, _factors(data, rotate), seed=seed)["p_value"])
    ps = np.array(ps)
    assert ps.min() > 0.01, ps
    assert kstest(ps, "uniform").pvalue > 0.05, ps


def test_dci_and_mig_rank_the_factors_over_their_rotation(worlds):
    data = worlds["axis"]
    truth, rotated = _factors(data), _factors(data, rotate=True)
    dci, dci_rot = _run("dci", data, truth), _run("dci", data, rotated)
    assert dci["disentanglement"] > 0.9 and dci["completeness"] > 0.9
    assert dci["informativeness"] > 0.95
    assert dci_rot["disentanglement"] < 0.4 and dci_rot["completeness"] < 0.4
    mig, mig_rot = _run("mig", data, truth)["mig"], _run("mig", data, rotated)["mig"]
    assert mig > 3 * mig_rot


def test_default_code_is_the_axis_code_unchanged():
    kw = dict(n_identities=6, n_views=3, n_neurons=12, n_repeats=2, image_size=16, seed=3)
    default, axis = simulate_session(**kw), simulate_session(code="axis", **kw)
    assert default.metadata.identifier == axis.metadata.identifier
    # the identifier hashes every parameter: the same as before codes existed
    assert default.metadata.identifier == "virtual-face-patch-seed3-5ef2bdf6"
    assert "code" not in default.truth["params"]
    for a, b in ((default.responses, axis.responses), (default.images, axis.images),
                 (default.truth["tuning_weights"], axis.truth["tuning_weights"])):
        assert np.array_equal(a, b)
    null = simulate_session(code="null", **kw)
    assert null.truth["params"]["code"] == "null"
    assert null.metadata.identifier != default.metadata.identifier


def test_unknown_code_is_one_line():
    from neurofacedis.errors import InputError

    with pytest.raises(InputError, match=r"^simulate_session: unknown code 'rotated'; use one "
                                         r"of \['axis', 'mixed', 'null'\]$"):
        simulate_session(n_identities=2, n_views=2, n_neurons=2, code="rotated")


def test_simulate_cli_writes_each_code_and_refuses_an_unknown_one(tmp_path, capsys):
    """`neurofacedis simulate --code`: the file holds the code's neurons (per-unit `code`)."""
    from neurofacedis.cli import main
    from neurofacedis.nwb import Recording

    out = tmp_path / "mixed.nwb"
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(out), "--identities", "3", "--views", "2", "--neurons", "4",
              "--repeats", "2", "--size", "16", "--code", "mixed", "-q"])
    assert exc.value.code in (0, None)
    assert "mixed code" in capsys.readouterr().out
    expected = simulate_session(n_identities=3, n_views=2, n_neurons=4, n_repeats=2,
                                image_size=16, code="mixed", world="3d")  # the CLI default
    with Recording.open(out) as rec:
        np.testing.assert_array_equal(rec.responses.values, expected.responses)
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(tmp_path / "x.nwb"), "--code", "rotated"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "--code: unknown code 'rotated'; use one of ['axis', 'mixed', 'null']" in err
    assert not (tmp_path / "x.nwb").exists()
