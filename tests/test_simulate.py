"""The virtual face patch: renderer, landmarks, population, spikes and ground-truth recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.transform import downscale_local_mean

from neurofacedis.errors import InputError
from neurofacedis.simulate import (
    ALL_FACTORS,
    FACTORS,
    FRAMING_FACTORS,
    IDENTITY_FACTORS,
    LANDMARK_NAMES,
    VIEW_FACTORS,
    render_faces,
    sample_factors,
    simulate_session,
)

L = {name: i for i, name in enumerate(LANDMARK_NAMES)}
SMALL = dict(n_identities=6, n_views=3, n_neurons=12, n_repeats=3, image_size=32)


@pytest.fixture(scope="module")
def session():
    # 300 stimuli, 40 neurons, 4 repeats: enough to recover the truth by regression
    return simulate_session(n_identities=60, n_views=5, n_neurons=40, n_repeats=4,
                            image_size=32, seed=7)


def _px(images: np.ndarray, points: np.ndarray) -> np.ndarray:
    x, y = np.rint(points).astype(int).T
    return images[np.arange(len(points)), y, x].astype(int)


def _lm(lm: np.ndarray, name: str) -> np.ndarray:
    return lm[:, L[name]]


# --- renderer -----------------------------------------------------------------------------


def test_factor_lists():
    assert len(FACTORS) >= 10
    assert set(IDENTITY_FACTORS) | set(VIEW_FACTORS) == set(FACTORS)
    assert FACTORS == IDENTITY_FACTORS + VIEW_FACTORS
    assert ALL_FACTORS == FACTORS + FRAMING_FACTORS
    assert len(set(LANDMARK_NAMES)) == len(LANDMARK_NAMES) >= 30


def test_render_shapes_and_dtype():
    f, _ = sample_factors(2, 2, seed=0)
    im, lm = render_faces(f, size=40)
    assert im.shape == (4, 40, 40) and im.dtype == np.uint8
    assert lm.shape == (4, len(LANDMARK_NAMES), 2) and lm.dtype == np.float64
    rgb, lm_rgb = render_faces(f, size=40, rgb=True)
    assert rgb.shape == (4, 40, 40, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(lm, lm_rgb)
    assert im.min() < 50 and im.max() > 150  # uses the grey range


def test_anti_aliased_like_box_filtered_supersampling():
    f, _ = sample_factors(10, 2, seed=1)
    small, lm_small = render_faces(f, size=64)
    big, lm_big = render_faces(f, size=256)
    box = downscale_local_mean(big.astype(float), (1, 4, 4))  # 4x4 supersampled reference
    point = big[:, 1::4, 1::4].astype(float)  # what a hard-edged renderer would give
    err = np.abs(small - box).mean()
    assert err < 1.0  # grey levels
    assert np.abs(point - box).mean() > 3 * err
    # intermediate grey levels exist at edges: pixels along the head edge are mixtures
    edge = np.abs(np.diff(small.astype(int), axis=2)) > 0
    assert np.unique(small[:, :, 1:][edge]).size > 100
    # landmarks are resolution independent (pixel centres at integers)
    np.testing.assert_allclose((lm_small + 0.5) * 4 - 0.5, lm_big, atol=1e-9)


def _landmark_spread(lm: np.ndarray, names: list[str]) -> np.ndarray:
    idx = [L[n] for n in names]
    return np.linalg.norm(lm[:, idx] - lm[:, idx].mean(1, keepdims=True), axis=2).mean(1)


EYES = [f"{s}_eye_{p}" for s in ("left", "right") for p in ("outer", "top", "inner", "bottom")]

# factor -> measure that must increase with the factor: (images, landmarks) -> (N,)
MEASURES = {
    "face_width": lambda im, lm: (_lm(lm, "outline_10") - _lm(lm, "outline_00"))[:, 0],
    "face_height": lambda im, lm: _lm(lm, "outline_05")[:, 1] - _lm(lm, "head_top")[:, 1],
    "eye_size": lambda im, lm: (_lm(lm, "left_eye_inner") - _lm(lm, "left_eye_outer"))[:, 0]
    + (_lm(lm, "left_eye_bottom") - _lm(lm, "left_eye_top"))[:, 1],
    "eye_spacing": lambda im, lm: (_lm(lm, "right_eye_top") - _lm(lm, "left_eye_top"))[:, 0],
    "brow_height": lambda im, lm: (_lm(lm, "left_eye_top") - _lm(lm, "left_brow_mid"))[:, 1],
    "nose_length": lambda im, lm: (_lm(lm, "nose_tip") - _lm(lm, "nose_bridge"))[:, 1],
    "mouth_width": lambda im, lm: (_lm(lm, "mouth_right") - _lm(lm, "mouth_left"))[:, 0],
    # smile: the lip centre sits lower than the corners
    "mouth_curvature": lambda im, lm: _lm(lm, "mouth_bottom")[:, 1] - _lm(lm, "mouth_left")[:, 1],
    "skin_brightness": lambda im, lm: im[:, 28:40, 20:44].mean((1, 2)),
    "hair": lambda im, lm: -im[:, :24].mean((1, 2)) - im[:, :, :10].mean((1, 2)),
    "pose": lambda im, lm: _lm(lm, "nose_tip")[:, 0],
    "lighting": lambda im, lm: im[:, 20:50, 34:54].mean((1, 2)) - im[:, 20:50, 10:30].mean((1, 2)),
    # framing: roll turns the eye line clockwise (y points down), shift moves, scale enlarges
    "roll": lambda im, lm: np.arctan2(
        *(_lm(lm, "right_eye_top") - _lm(lm, "left_eye_top")).T[::-1]),
    "shift_x": lambda im, lm: _lm(lm, "nose_tip")[:, 0],
    "shift_y": lambda im, lm: _lm(lm, "nose_tip")[:, 1],
    "scale": lambda im, lm: np.linalg.norm(_lm(lm, "outline_10") - _lm(lm, "outline_00"), axis=1),
}


@pytest.mark.parametrize("factor", ALL_FACTORS)
def test_each_factor_moves_image_and_landmarks_its_way(factor):
    assert set(MEASURES) == set(ALL_FACTORS)
    rng = np.random.default_rng(ALL_FACTORS.index(factor))
    base = pd.DataFrame(rng.uniform(-0.5, 0.5, (8, len(ALL_FACTORS))), columns=ALL_FACTORS)
    lo, hi = base.copy(), base.copy()
    lo[factor], hi[factor] = -0.9, 0.9
    im_lo, lm_lo = render_faces(lo, size=64)
    im_hi, lm_hi = render_faces(hi, size=64)
    assert np.all(np.abs(im_hi.astype(int) - im_lo).sum((1, 2)) > 0)
    delta = MEASURES[factor](im_hi, lm_hi) - MEASURES[factor](im_lo, lm_lo)
    assert np.all(delta > 0), delta
    if factor in ("skin_brightness", "hair", "lighting"):  # appearance: the face keeps its shape
        face = [i for n, i in L.items() if n not in ("head_top", "hairline")]
        np.testing.assert_allclose(lm_hi[:, face], lm_lo[:, face])


def test_framing_is_a_similarity_transform_of_the_landmarks():
    base, _ = sample_factors(5, 2, seed=4)
    framed, _ = sample_factors(5, 2, seed=4, framing=True)
    assert list(framed.columns) == list(ALL_FACTORS)
    pd.testing.assert_frame_equal(framed[list(FACTORS)], base)  # drawn after the others
    im0, lm0 = render_faces(base, size=64)
    im_zero, lm_zero = render_faces(base.assign(roll=0.0, shift_x=0.0, scale=0.0), size=64)
    np.testing.assert_array_equal(im_zero, im0)  # zero framing = the unframed face
    np.testing.assert_array_equal(lm_zero, lm0)
    _, lm = render_faces(framed, size=64)
    # expected: about the head centre (pixel coords), rotate by 30 deg * roll, scale by
    # 1 + 0.15 * scale, then shift by (0.25, 0.20) face units * 32 px
    centre = np.array([31.5, 31.5 + 0.06 * 32])
    r = np.deg2rad(30) * framed["roll"].to_numpy()
    s = 1 + 0.15 * framed["scale"].to_numpy()
    rot = np.stack([np.stack([np.cos(r), -np.sin(r)], -1), np.stack([np.sin(r), np.cos(r)], -1)], 1)
    want = centre + s[:, None, None] * np.einsum("nij,nlj->nli", rot, lm0 - centre)
    want += np.c_[0.25 * 32 * framed["shift_x"], 0.20 * 32 * framed["shift_y"]][:, None, :]
    np.testing.assert_allclose(lm, want, atol=1e-9)


def test_framed_faces_stay_anti_aliased():
    f, _ = sample_factors(6, 2, seed=2, framing=True)
    small, _ = render_faces(f, size=64)
    big, _ = render_faces(f, size=256)
    assert np.abs(small - downscale_local_mean(big.astype(float), (1, 4, 4))).mean() < 1.0


def test_eye_size_spreads_eye_landmarks():
    im, lm = render_faces(pd.DataFrame({"eye_size": [-1.0, 0.0, 1.0]}), size=64)
    spread = _landmark_spread(lm, EYES[:4]) + _landmark_spread(lm, EYES[4:])
    assert spread[0] < spread[1] < spread[2]


def test_landmarks_inside_image_at_factor_extremes():
    rng = np.random.default_rng(0)
    corners = pd.DataFrame(rng.choice([-1.0, 1.0], (300, len(FACTORS))), columns=FACTORS)
    for size in (16, 64):
        _, lm = render_faces(corners, size=size)
        assert lm.min() >= 0 and lm.max() <= size - 1
        assert np.all(lm[:, L["left_eye_outer"], 0] < lm[:, L["left_eye_inner"], 0])
        assert np.all(lm[:, L["left_eye_inner"], 0] < lm[:, L["right_eye_inner"], 0])
        assert np.all(lm[:, L["right_eye_inner"], 0] < lm[:, L["right_eye_outer"], 0])
        assert np.all(lm[:, L["mouth_left"], 0] < lm[:, L["mouth_right"], 0])
        assert np.all(lm[:, L["head_top"], 1] < lm[:, L["hairline"], 1])
        assert np.all(lm[:, L["left_brow_mid"], 1] < lm[:, L["left_eye_top"], 1])
        assert np.all(lm[:, L["nose_tip"], 1] < lm[:, L["mouth_top"], 1])


def test_landmarks_land_on_drawn_features():
    f, _ = sample_factors(40, 4, seed=3)
    im, lm = render_faces(f, size=64)
    for side in ("left", "right"):
        pupil = (_lm(lm, f"{side}_eye_top") + _lm(lm, f"{side}_eye_bottom")) / 2
        cheek = (_lm(lm, f"{side}_eye_bottom") + _lm(lm, f"mouth_{side}")) / 2
        assert np.all(_px(im, pupil) < 0.7 * _px(im, cheek))
    mouth = (_lm(lm, "mouth_top") + _lm(lm, "mouth_bottom")) / 2
    cheeks = np.maximum(
        _px(im, (_lm(lm, "left_eye_bottom") + _lm(lm, "mouth_left")) / 2),
        _px(im, (_lm(lm, "right_eye_bottom") + _lm(lm, "mouth_right")) / 2),
    )
    assert np.all(_px(im, mouth) < cheeks - 20)
    hair = _lm(lm, "head_top") + [0.0, 1.5]  # just inside the top of the head: hair
    assert np.all(_px(im, hair) < 60)


def test_render_rejects_bad_factors():
    with pytest.raises(InputError, match="unknown factor"):
        render_faces(pd.DataFrame({"eye_sise": [0.0]}))
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        render_faces(pd.DataFrame({"eye_size": [1.5]}))
    with pytest.raises(InputError, match="size"):
        render_faces(pd.DataFrame({"eye_size": [0.0]}), size=8)


# --- session ------------------------------------------------------------------------------


def _assert_sessions_equal(a, b):
    for name in ("images", "landmarks", "responses", "identity"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    pd.testing.assert_frame_equal(a.factors, b.factors)
    pd.testing.assert_frame_equal(a.presentations, b.presentations)
    pd.testing.assert_frame_equal(a.units, b.units)
    assert a.stimulus_ids == b.stimulus_ids
    assert a.metadata == b.metadata
    assert len(a.spike_times) == len(b.spike_times)
    for x, y in zip(a.spike_times, b.spike_times, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.truth["tuning_weights"], b.truth["tuning_weights"])


def test_deterministic_for_a_seed_and_seeds_differ():
    a, b = simulate_session(**SMALL, seed=3), simulate_session(**SMALL, seed=3)
    _assert_sessions_equal(a, b)
    c = simulate_session(**SMALL, seed=4)
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.responses, c.responses)
    assert not np.array_equal(a.truth["tuning_weights"], c.truth["tuning_weights"])
    assert a.metadata.identifier != c.metadata.identifier


def test_session_contents(session):
    s = session
    n, u, r = 300, 40, 4
    assert s.images.shape == (n, 32, 32) and s.images.dtype == np.uint8
    assert len(s.stimulus_ids) == len(set(s.stimulus_ids)) == n
    assert s.responses.shape == (n, u, r) and s.responses.dtype == np.float32
    assert list(s.factors.columns) == list(FACTORS) and len(s.factors) == n
    assert s.landmarks.shape == (n, len(LANDMARK_NAMES), 2)
    assert len(s.spike_times) == u and all(np.all(np.diff(t) >= 0) for t in s.spike_times)
    assert len(s.presentations) == n * r
    assert s.window == (0.05, 0.35) and s.response_unit == "spikes"
    assert s.truth["tuning_weights"].shape == (u, len(FACTORS))
    assert s.truth["factor_names"] == list(FACTORS)
    assert s.truth["params"]["seed"] == 7
    assert len(s.units) == u and list(s.units["code"]) == list(s.truth["code"])
    # each stimulus shown once per repeat, presentations do not overlap
    p = s.presentations
    for _, block in p.groupby("repeat"):
        assert sorted(block["stimulus_index"]) == list(range(n))
    assert np.all(p["start_time"].to_numpy()[1:] >= p["stop_time"].to_numpy()[:-1])
    assert not np.array_equal(p["stimulus_index"][:n], np.arange(n))  # shuffled


def test_identity_factors_fixed_within_identity(session):
    s = session
    grouped = s.factors.groupby(s.identity)
    assert (grouped[list(IDENTITY_FACTORS)].nunique() == 1).all().all()
    assert (grouped[list(VIEW_FACTORS)].nunique() == 5).all().all()
    assert s.factors.abs().to_numpy().max() <= 1.0
    assert np.array_equal(s.labels["view"], np.tile(np.arange(5), 60))


def test_axis_fraction_and_tuning_weights(session):
    w, code = session.truth["tuning_weights"], np.asarray(session.truth["code"])
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1.0)
    assert (code == "axis").sum() == 32  # round(0.8 * 40)
    axis = w[code == "axis"]
    assert np.all((np.abs(axis) > 0).sum(1) == 1)
    # axis units cover the factors evenly (32 units over 12 factors: 2 or 3 each)
    per_factor = np.bincount(np.argmax(np.abs(axis), 1), minlength=len(FACTORS))
    assert per_factor.min() >= 2 and per_factor.max() <= 3
    assert np.all((np.abs(w[code == "mixed"]) > 0).sum(1) == len(FACTORS))
    pure = simulate_session(**SMALL, axis_fraction=1.0)
    assert set(pure.truth["code"]) == {"axis"}
    mixed = simulate_session(**SMALL, axis_fraction=0.0)
    assert set(mixed.truth["code"]) == {"mixed"}


def test_responses_are_spike_counts_in_half_open_window(session):
    s = session
    p = s.presentations
    w0, w1 = s.window
    rng = np.random.default_rng(0)
    for i in rng.choice(len(p), 50, replace=False):
        start = p["start_time"].iloc[i]
        stim, rep = int(p["stimulus_index"].iloc[i]), int(p["repeat"].iloc[i])
        for unit, times in enumerate(s.spike_times):
            expected = np.count_nonzero((times >= start + w0) & (times < start + w1))
            assert s.responses[stim, unit, rep] == expected
    assert s.responses.sum() > 0 and np.all(np.isfinite(s.responses))


def test_evoked_spikes_follow_latency_and_spontaneous_rate(session):
    s = session
    onsets = s.presentations["start_time"].to_numpy()
    lat = s.truth["latency"]
    # before onset + latency only spontaneous spikes: their rate matches the truth
    pre = np.array([
        sum(np.count_nonzero((t >= o - 0.15) & (t < o + 0.05)) for o in onsets[::4])
        for t in s.spike_times
    ]) / (0.20 * len(onsets[::4]))
    np.testing.assert_allclose(pre, s.truth["spontaneous_rate"], rtol=0.35)
    assert np.corrcoef(pre, s.truth["spontaneous_rate"])[0, 1] > 0.8
    assert np.all(lat >= s.window[0]) and np.all(lat + 0.2 <= s.window[1])


def test_regression_recovers_ground_truth(session):
    s = session
    x = s.factors.to_numpy()
    y = s.responses.mean(2)
    design = np.column_stack([np.ones(len(x)), x])
    coef = np.linalg.lstsq(design, y, rcond=None)[0][1:].T  # (U, F)
    w, code = s.truth["tuning_weights"], np.asarray(s.truth["code"])
    axis = code == "axis"
    np.testing.assert_array_equal(np.argmax(np.abs(coef[axis]), 1), np.argmax(np.abs(w[axis]), 1))
    cos = (coef * w).sum(1) / np.linalg.norm(coef, axis=1)
    assert cos.min() > 0.9, cos
    # the slope is gain * stimulus duration (spikes per unit factor)
    np.testing.assert_allclose((coef * w).sum(1), 0.2 * s.truth["gain"], rtol=0.25)


def test_poisson_counts_have_fano_factor_one(session):
    r = session.responses
    mean, var = r.mean(2), r.var(2, ddof=1)
    fano = var.sum() / mean.sum()
    assert 0.9 < fano < 1.1
    per_unit = var.sum(0) / mean.sum(0)
    assert np.all((per_unit > 0.7) & (per_unit < 1.3))


def test_bad_parameters_raise_input_error():
    with pytest.raises(InputError, match="axis_fraction"):
        simulate_session(**SMALL, axis_fraction=1.5)
    with pytest.raises(InputError, match="n_neurons"):
        simulate_session(**{**SMALL, "n_neurons": 0})
    with pytest.raises(InputError, match="window"):
        simulate_session(**SMALL, window=(0.3, 0.1))
    with pytest.raises(InputError, match="seed"):
        simulate_session(**SMALL, seed=-1)


def test_factor_subset_varies_only_those_and_tunes_neurons_to_them():
    chosen = ["face_width", "skin_brightness", "pose"]  # FACTORS order
    data = simulate_session(**SMALL, factors=chosen[::-1], seed=3)
    assert list(data.factors.columns) == chosen  # canonical order
    assert data.truth["factor_names"] == chosen
    assert data.truth["tuning_weights"].shape == (SMALL["n_neurons"], 3)
    assert set(data.units["preferred_factor"]) <= set(chosen)
    # the faces are the renderer's with every other factor at 0
    np.testing.assert_array_equal(data.images, render_faces(data.factors, size=32)[0])
    # the same draws as the full session, restricted to the chosen columns
    full = simulate_session(**SMALL, seed=3)
    np.testing.assert_array_equal(data.factors.to_numpy(), full.factors[chosen].to_numpy())
    with pytest.raises(InputError, match="unknown factor"):
        simulate_session(**SMALL, factors=["nose_width"])
    with pytest.raises(InputError, match="each once"):
        simulate_session(**SMALL, factors=["pose", "pose"])


def test_framing_factors_vary_only_when_named():
    chosen = ["scale", "hair", "roll", "shift_x"]
    data = simulate_session(**SMALL, factors=chosen, seed=3)
    assert list(data.factors.columns) == ["hair", "roll", "shift_x", "scale"]  # ALL_FACTORS order
    np.testing.assert_array_equal(data.images, render_faces(data.factors, size=32)[0])
    full = simulate_session(**SMALL, seed=3)  # default: no framing
    assert not set(FRAMING_FACTORS) & set(full.factors.columns)
    np.testing.assert_array_equal(data.factors["hair"], full.factors["hair"])
    assert data.factors[["roll", "shift_x", "scale"]].abs().max().max() > 0.5


# --- CLI and NWB ----------------------------------------------------------------------------


def test_cli_simulate_writes_nwb_that_reads_back_exactly(tmp_path, capsys):
    from neurofacedis.cli import main
    from neurofacedis.nwb import Recording

    out = tmp_path / "sim.nwb"
    args = ["simulate", str(out), "--seed", "5", "--identities", "3", "--views", "2",
            "--neurons", "6", "--repeats", "2", "--axis-fraction", "0.5", "--size", "32"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0 and out.is_file()
    expected = simulate_session(n_identities=3, n_views=2, n_neurons=6, n_repeats=2,
                                axis_fraction=0.5, image_size=32, seed=5,
                                world="3d")  # the command line's default world
    with Recording.open(out) as rec:
        np.testing.assert_array_equal(rec.responses.values, expected.responses)
        np.testing.assert_array_equal(np.asarray(rec.images[:]), expected.images)
        np.testing.assert_allclose(rec.landmarks, expected.landmarks)
        np.testing.assert_array_equal(rec.truth["tuning_weights"], expected.truth["tuning_weights"])
    # recounting spikes from the Units table gives the processed responses
    with Recording.open(out, window=(0.05, 0.35)) as rec:
        assert rec.response_source == "spike_times"
        np.testing.assert_array_equal(rec.responses.values, expected.responses)
    # --factors restricts the varying factors
    sub = tmp_path / "sub.nwb"
    with pytest.raises(SystemExit) as exit_info:
        main([*args[:1], str(sub), *args[2:], "--world", "flat", "--factors", "hair, pose"])
    assert exit_info.value.code == 0
    with Recording.open(sub) as rec:
        assert list(rec.factors.columns) == ["hair", "pose"]
    # an existing file is not replaced without --overwrite: one-line error, exit 2
    capsys.readouterr()  # drop the progress lines the runs above wrote to stderr
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
