"""The 3D world: ray-cast heads, their 68 landmarks, and sessions simulated in it (issue 22)."""

from __future__ import annotations

import hashlib
import sys
import types

import numpy as np
import pandas as pd
import pytest
from skimage.transform import downscale_local_mean

from neurofacedis.errors import InputError
from neurofacedis.simulate import (
    HEAD_EXPRESSION_FACTORS,
    HEAD_FACTORS,
    HEAD_IDENTITY_FACTORS,
    HEAD_VIEW_FACTORS,
    LANDMARK_NAMES_68,
    WORLDS,
    landmark_visibility,
    render_heads,
    sample_head_factors,
    simulate_session,
)
from neurofacedis.simulate import _head3d as hd

L = {name: i for i, name in enumerate(LANDMARK_NAMES_68)}
JAW_LEFT, JAW_RIGHT = list(range(0, 8)), list(range(9, 17))


def test_factor_lists_and_landmark_names():
    assert HEAD_FACTORS == HEAD_IDENTITY_FACTORS + HEAD_EXPRESSION_FACTORS + HEAD_VIEW_FACTORS
    assert len(set(HEAD_FACTORS)) == len(HEAD_FACTORS) == 18
    assert len(set(LANDMARK_NAMES_68)) == len(LANDMARK_NAMES_68) == 68
    assert set(WORLDS) == {"flat", "framed", "3d"}
    assert WORLDS["3d"].landmark_names == LANDMARK_NAMES_68


def test_seeded_batch_is_deterministic_and_independent_of_blocks_and_threads():
    f, identity = sample_head_factors(5, 2, seed=3)
    assert list(f.columns) == list(HEAD_FACTORS) and len(f) == 10
    g, _ = sample_head_factors(5, 2, seed=3)
    pd.testing.assert_frame_equal(f, g)
    im, lm = render_heads(f, size=32, workers=1)
    im2, lm2 = render_heads(f, size=32, workers=2)
    np.testing.assert_array_equal(im, im2)
    np.testing.assert_array_equal(lm, lm2)
    head, _ = render_heads(f.iloc[:3], size=32, workers=1)  # another block split
    np.testing.assert_array_equal(head, im[:3])
    assert im.dtype == np.uint8 and im.shape == (10, 32, 32) and lm.shape == (10, 68, 2)
    # recorded on the development machine; a tolerance, not a hash: float32 maths on
    # another CPU may round a few pixels to the neighbouring grey level
    assert abs(im.astype(float).mean() - 77.364) < 0.3, im.astype(float).mean()
    assert np.all(identity == np.repeat(np.arange(5), 2))
    rgb, lm_rgb = render_heads(f.iloc[:2], size=32, rgb=True)
    assert rgb.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(lm_rgb, lm[:2])


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def test_renders_the_recorded_bytes():
    # digests recorded from the renderer before its speed-up (issue 22 item 1), on the
    # development machine (x86-64 AMD EPYC, numpy 2.x): every optimisation must keep them
    f, _ = sample_head_factors(4, 3, seed=7)
    im, lm = render_heads(f, size=64, workers=1)
    assert _digest(im) == "7ce004f58cdb939d"
    assert _digest(lm) == "1c525948af06815c"
    assert _digest(render_heads(f.iloc[:4], size=32, rgb=True)[0]) == "ef3fb270d070d644"
    assert _digest(render_heads(f.iloc[:4], size=24, supersample=2)[0]) == "14e52194227908e6"
    assert _digest(landmark_visibility(f)) == "aec5bc0e15a0f74f"


def test_worker_processes_render_the_same_bytes(monkeypatch):
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from neurofacedis.simulate import _render3d as r3

    assert r3._processes(2, 10_000) == 2 and r3._processes(8, 1_000) == 1000 // 256
    assert r3._processes(1, 10_000) == 1 and r3._processes(2, 300) == 1  # small: here
    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
        assert pool.submit(r3._processes, 2, 10_000).result() == 1  # a child never forks
    with monkeypatch.context() as m:  # as in a Dask worker thread: get_worker() answers
        m.setitem(sys.modules, "distributed", types.SimpleNamespace(get_worker=object))
        assert r3._processes(2, 10_000) == 1
    monkeypatch.setattr(r3, "_MIN_PER_PROCESS", 8)  # a small batch on 2 processes
    f, _ = sample_head_factors(10, 7, seed=4)  # 70 faces: 3 blocks (32, 32, 6)
    assert r3._processes(2, len(f)) == 2
    im, lm = render_heads(f, size=16, workers=2)
    im1, lm1 = render_heads(f, size=16, workers=1)
    np.testing.assert_array_equal(im, im1)
    np.testing.assert_array_equal(lm, lm1)
    assert im.shape == (70, 16, 16) and len(np.unique(im.reshape(70, -1), axis=0)) == 70


def _head_frame(factors: pd.DataFrame) -> np.ndarray:
    p = hd.head_params(hd.head_factor_matrix(factors))
    return hd.landmarks_head(p, *hd.height_fields(p))


@pytest.mark.parametrize("yaw_deg", [0.0, 45.0, -45.0])
def test_landmarks_are_projected_surface_points(yaw_deg):
    size = 64
    f = pd.DataFrame({"yaw": [yaw_deg / 45.0], "nose_length": [0.5]})
    _, lm = render_heads(f, size=size)
    p = _head_frame(f)[0]
    th = np.deg2rad(yaw_deg)
    x = p[:, 0] * np.cos(th) + p[:, 2] * np.sin(th)  # rotation about the vertical axis
    want = np.stack([x, p[:, 1] + hd.CY], -1)
    np.testing.assert_allclose(lm[0], (want + 1) * size / 2 - 0.5, atol=1e-9)
    if yaw_deg == 0:  # symmetric face: the midline on the middle column, pairs mirrored
        np.testing.assert_allclose(lm[0, [8, 27, 28, 29, 30, 33, 51, 57], 0], 31.5, atol=1e-9)
        np.testing.assert_allclose(lm[0, 36, 0] + lm[0, 45, 0], 63.0, atol=1e-9)
        assert lm[0, L["nose_bridge_3"], 0] == pytest.approx(31.5)
    # the camera sees what the renderer draws: visible points lie on the face at their depth
    vis = landmark_visibility(f)[0]
    if yaw_deg == 0:
        assert vis.all()
    else:
        far, near = (JAW_LEFT, JAW_RIGHT) if yaw_deg < 0 else (JAW_RIGHT, JAW_LEFT)
        assert not vis[far].any() and vis[near].all()
        assert vis[36:48].sum() >= 10 and vis[48:68].all()


def test_known_vertex_lands_on_its_pixel():
    # a dark eye (iris) at the projected eye centre, a bright cheek beside it, for all poses
    f = pd.DataFrame({"yaw": [0.0, 1.0, -1.0], "eye_depth": -1.0, "light_azimuth": 0.0})
    im, lm = render_heads(f, size=64)
    for i, eye in ((0, 36), (0, 42), (1, 36), (2, 42)):  # the near eye under yaw
        centre = lm[i, eye:eye + 6].mean(0)
        x, y = np.rint(centre).astype(int)
        cheek = np.rint(lm[i, eye + 4] + [0, 6]).astype(int)
        assert im[i, y, x] < im[i, cheek[1], cheek[0]] - 30, (i, eye)


@pytest.mark.parametrize("factor", HEAD_FACTORS)
def test_every_factor_changes_the_image(factor):
    rng = np.random.default_rng(HEAD_FACTORS.index(factor))
    base = pd.DataFrame(rng.uniform(-0.4, 0.4, (3, len(HEAD_FACTORS))), columns=HEAD_FACTORS)
    lo, hi = base.copy(), base.copy()
    lo[factor], hi[factor] = -0.9, 0.9
    im_lo, lm_lo = render_heads(lo, size=32, workers=1)
    im_hi, lm_hi = render_heads(hi, size=32, workers=1)
    diff = np.abs(im_hi.astype(int) - im_lo)
    assert np.all(diff.mean((1, 2)) > 0.1) and np.all(diff.max((1, 2)) >= 6), diff.max((1, 2))
    moves = np.abs(lm_hi - lm_lo).max((1, 2))
    if factor in ("skin_albedo", "hair_albedo", "hair_volume") or factor.startswith("light_"):
        np.testing.assert_array_equal(moves, 0)  # appearance only: the geometry stays
    elif factor in ("brow_ridge", "eye_depth", "cheek_volume"):  # relief: depth only, so
        assert np.all((moves > 0) & (moves < 1)), moves  # points move only off frontal view
    else:
        assert np.all(moves > 0.2), moves


def test_pose_moves_landmarks_its_way():
    f = pd.DataFrame({"yaw": [-0.5, 0.5, 0, 0, 0, 0], "pitch": [0, 0, -0.5, 0.5, 0, 0],
                      "roll": [0, 0, 0, 0, -0.5, 0.5]})
    _, lm = render_heads(f, size=64)
    tip = lm[:, L["nose_bridge_3"]]
    assert tip[1, 0] > tip[0, 0] + 5  # yaw > 0: the nose turns to the image right
    assert tip[3, 1] < tip[2, 1] - 1  # pitch > 0: the nose lifts
    eye_line = lm[:, 45] - lm[:, 36]
    angle = np.arctan2(eye_line[:, 1], eye_line[:, 0])
    assert angle[5] > 0.1 > -0.1 > angle[4]  # roll > 0: clockwise in the picture


def test_anti_aliased_like_box_filtered_supersampling():
    f, _ = sample_head_factors(3, 2, seed=5)
    small, lm_small = render_heads(f, size=32)
    big, _ = render_heads(f, size=128)
    box = downscale_local_mean(big.astype(float), (1, 4, 4))
    point = big[:, 1::4, 1::4].astype(float)  # what one hard sample per pixel gives
    err = np.abs(small - box).mean()
    assert err < 2.0
    assert np.abs(point - box).mean() > 1.3 * err
    ss, _ = render_heads(f, size=32, supersample=2)  # supersampling stays close
    assert np.abs(ss - box).mean() < err


def test_landmarks_inside_the_image_at_factor_extremes():
    rng = np.random.default_rng(0)
    corners = pd.DataFrame(rng.choice([-1.0, 1.0], (40, len(HEAD_FACTORS))),
                           columns=HEAD_FACTORS)
    _, lm = render_heads(corners, size=32)
    assert lm.min() >= 0 and lm.max() <= 31
    frontal = corners.assign(yaw=0.0, roll=0.0)
    _, lm = render_heads(frontal, size=32)
    assert np.all(lm[:, 36, 0] < lm[:, 39, 0]) and np.all(lm[:, 42, 0] < lm[:, 45, 0])
    assert np.all(lm[:, 39, 0] < lm[:, 42, 0]) and np.all(lm[:, 48, 0] < lm[:, 54, 0])
    assert np.all(lm[:, 19, 1] < lm[:, 37, 1]) and np.all(lm[:, 30, 1] < lm[:, 51, 1])
    assert np.all(lm[:, 51, 1] < lm[:, 8, 1])


def test_bad_factors_and_sizes_raise_input_error():
    with pytest.raises(InputError, match="unknown factor"):
        render_heads(pd.DataFrame({"pose": [0.0]}))
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        render_heads(pd.DataFrame({"yaw": [1.5]}))
    with pytest.raises(InputError, match="size"):
        render_heads(pd.DataFrame({"yaw": [0.0]}), size=8)


def test_3d_world_session_is_valid_and_written_like_the_flat_one(tmp_path):
    from neurofacedis.nwb import Recording, write_session

    kw = dict(n_identities=4, n_views=3, n_neurons=10, n_repeats=2, image_size=32, seed=2)
    s = simulate_session(world="3d", **kw)
    n = 12
    assert s.images.shape == (n, 32, 32) and s.landmarks.shape == (n, 68, 2)
    assert list(s.factors.columns) == list(HEAD_FACTORS)
    assert s.truth["tuning_weights"].shape == (10, 18)
    assert s.truth["world"] == "3d" and s.truth["landmark_names"] == list(LANDMARK_NAMES_68)
    grouped = s.factors.groupby(s.identity)
    assert (grouped[list(HEAD_IDENTITY_FACTORS)].nunique() == 1).all().all()
    assert (grouped[["yaw", "smile"]].nunique() == 3).all().all()
    np.testing.assert_array_equal(s.images, render_heads(s.factors, size=32)[0])
    flat = simulate_session(**kw)
    # the flat world's parameters, hence its identifier, are those from before the 3D world
    assert flat.metadata.identifier == "virtual-face-patch-seed2-c9de270f"
    assert "world" not in flat.truth and flat.metadata.identifier != s.metadata.identifier
    assert "3D-rendered heads" in s.metadata.session_description
    sub = simulate_session(world="3d", factors=["pitch", "yaw"], **kw)
    assert list(sub.factors.columns) == ["yaw", "pitch"]
    out = tmp_path / "heads.nwb"
    write_session(out, s)
    with Recording.open(out) as rec:
        np.testing.assert_allclose(rec.landmarks, s.landmarks, atol=1e-4)
        assert list(rec.factors.columns) == list(HEAD_FACTORS)


def test_worlds_are_checked():
    kw = dict(n_identities=2, n_views=1, n_neurons=2, n_repeats=1, image_size=16)
    with pytest.raises(InputError, match="unknown world"):
        simulate_session(world="4d", **kw)
    with pytest.raises(InputError, match="world '3d'"):
        simulate_session(world="3d", factors=["hair"], **kw)
    framed = simulate_session(world="framed", **kw)
    assert "roll" in framed.factors.columns and framed.truth["world"] == "framed"
