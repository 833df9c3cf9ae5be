"""Issue 25: a discriminating headline, local concepts from landmarks, the channel dictionary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from nfd_dissection import DissectionMetric
from nfd_dissection._parts import PARTS, part_masks
from nfd_dissection._spatial import binarize, iou_null, upsample
from scipy.stats import ortho_group

from neurofacedis.errors import InputError
from neurofacedis.simulate import render_faces, sample_factors
from neurofacedis.specs import MetricContext


def _ctx(latents, factors, stimuli, *, images=None, model=None, seed=0):
    n = len(latents)
    rng = np.random.default_rng(seed)
    return MetricContext(
        responses=xr.DataArray(rng.poisson(5.0, (n, 2, 1)).astype(float),
                               dims=("stimulus", "neuron", "repeat")),
        latents=xr.DataArray(latents, dims=("stimulus", "unit"),
                             coords={"unit": [f"u{i}" for i in range(latents.shape[1])]}),
        train=np.arange(n // 2), test=np.arange(n // 2, n), stimuli=stimuli,
        factors=xr.DataArray(factors.to_numpy(float), dims=("stimulus", "factor"),
                             coords={"factor": list(factors.columns)}),
        images=(lambda: images) if images is not None else None, model=model,
        rng=np.random.default_rng(seed), model_name="planted",
    )


@pytest.fixture(scope="module")
def faces():
    """90 simulated faces (30 identities x 3 views), 32 px, with landmarks."""
    factors, identity = sample_factors(30, 3, seed=3)
    images, landmarks = render_faces(factors, size=32)
    stimuli = pd.DataFrame({"stimulus_id": [f"s{i}" for i in range(len(identity))],
                            "identity": identity})
    return factors, stimuli, images.astype(np.float32) / 255.0, landmarks


def test_headline_separates_planted_factors_from_their_rotation(faces):
    factors, stimuli, _, _ = faces
    f = factors.to_numpy(float)
    rng = np.random.default_rng(0)
    planted = f + 0.05 * rng.standard_normal(f.shape)  # one unit per factor
    rotated = planted @ ortho_group.rvs(f.shape[1], random_state=1)  # same code, mixed
    metric = DissectionMetric(n_permutations=200)
    a = metric.compute(_ctx(planted, factors, stimuli)).attrs
    b = metric.compute(_ctx(rotated, factors, stimuli)).attrs
    # identity (a label that contains the identity factors) yields to each factor's unit
    assert a["concepts_one_to_one"] == f.shape[1]
    assert a["dissection"] > 0.8 and a["one_to_one_p"] < 0.05
    assert b["dissection"] < 0.25
    assert a["dissection"] - b["dissection"] > 0.6
    # the old headline (share of units with any significant concept) could not tell them apart
    assert a["fraction_units_selective"] == b["fraction_units_selective"] == 1.0


def test_part_masks_layouts_and_bad_landmarks(faces):
    _, _, images, landmarks = faces
    masks = part_masks(landmarks, images.shape[1:3])
    assert list(masks) == list(PARTS)
    cy, cx = np.round(landmarks[0, 31:35].mean(axis=0)[::-1]).astype(int)
    assert masks["mouth"][0].reshape(32, 32)[cy, cx]
    assert not masks["eyes"][0].reshape(32, 32)[cy, cx]
    # a 68-point iBUG face: the mouth mask holds the mouth centre, the nose mask does not
    ibug = np.zeros((1, 68, 2))
    ibug[0, :, 0] = 32 + 20 * np.cos(np.linspace(0, 2 * np.pi, 68))
    ibug[0, :, 1] = 32 + 20 * np.sin(np.linspace(0, 2 * np.pi, 68))
    ibug[0, 36:42] = [30, 25] + 2.0 * np.c_[np.cos(np.arange(6)), np.sin(np.arange(6))] - [8, 0]
    ibug[0, 42:48] = ibug[0, 36:42] + [16, 0]
    ibug[0, 48:60] = [32, 48] + 3.0 * np.c_[2 * np.cos(np.arange(12)), np.sin(np.arange(12))]
    m68 = part_masks(ibug, (64, 64))
    assert m68["mouth"][0].reshape(64, 64)[48, 32] and not m68["eyes"][0].reshape(64, 64)[48, 32]
    with pytest.raises(InputError, match="68-point"):
        part_masks(np.zeros((2, 5, 2)), (32, 32))


def test_iou_null_equals_relabelled_iou():
    rng = np.random.default_rng(0)
    maps = rng.random((12, 2, 4, 4)).astype(np.float32)
    _, on = binarize(upsample(maps, (8, 8)), 0.2)
    mask = rng.random((12, 64)) < 0.3
    perms = np.stack([rng.permutation(12) for _ in range(5)])
    obs, null = iou_null(on, mask, perms)
    for c in range(2):
        a = on[c]
        assert obs[c] == pytest.approx((a & mask).sum() / (a | mask).sum())
        for b, p in enumerate(perms):
            assert null[c, b] == pytest.approx((a & mask[p]).sum() / (a | mask[p]).sum())


class _PlantedMaps:
    """A test model with a 16x16 feature map: channel 0 a bump on the mouth, channel 1 a
    uniform map following skin brightness, channel 2 noise."""

    def __init__(self, images, landmarks, brightness):
        self._row = {im.tobytes(): i for i, im in enumerate(images)}
        self._mouth = landmarks[:, 31:35].mean(axis=1) / 2.0  # map pixels (16 / 32)
        self._bright = brightness

    def feature_maps(self, images, *, layer):
        assert layer == "conv2"
        rows = np.array([self._row[im.tobytes()] for im in images])
        yy, xx = np.mgrid[0:16, 0:16]
        mx, my = self._mouth[rows, 0], self._mouth[rows, 1]
        bump = np.exp(-((xx - mx[:, None, None]) ** 2 + (yy - my[:, None, None]) ** 2) / 1.5)
        bump /= bump.sum(axis=(1, 2), keepdims=True)  # pooled: constant, no global signal
        flat = np.broadcast_to((self._bright[rows] + 2.0)[:, None, None], bump.shape)
        noise = np.random.default_rng(0).random(bump.shape)
        return np.stack([bump, flat, noise], axis=1).astype(np.float32)


def test_spatial_dissection_finds_planted_part_and_factor_units(faces):
    import matplotlib

    matplotlib.use("Agg")
    factors, stimuli, images, landmarks = faces
    model = _PlantedMaps(images, landmarks, factors["skin_brightness"].to_numpy())
    ctx = _ctx(factors.to_numpy(float)[:, :2], factors, stimuli, images=images, model=model)
    ctx.landmarks = landmarks
    metric = DissectionMetric(n_permutations=300, layer="conv2", top=0.02, n_faces=2,
                              thumbnail=16)
    res = metric.compute(ctx)
    best = dict(zip(res["item"].values, res["best_concept"].values, strict=True))
    assert best["conv2:0"] == "mouth"
    assert best["conv2:1"] == "skin_brightness"
    assert best["conv2:2"] == "none"
    assert res["concept_kind"].sel(concept="mouth").item() == "local"
    assert res["kappa"].sel(concept="mouth", item="conv2:0").item() > 0.3
    assert res.attrs["channels_paired_local"] == 1
    assert np.isnan(res["p_value"].sel(concept="mouth", item="u0").item())  # no map, no test
    assert res["channel_map"].shape == (3, 2, 32, 32)
    assert res["best_part"].sel(item="conv2:0").item() == "mouth"
    assert res["best_part"].sel(item="u0").item() == ""
    figs = metric.figures(res)
    assert set(figs) == {"selectivity", "dictionary", "channel_dictionary"}
    # no landmarks: channels get the global concepts only, and the result says why
    ctx.landmarks = None
    res = DissectionMetric(n_permutations=20, layer="conv2").compute(ctx)
    assert "mouth" not in res["concept"].values
    assert res["best_concept"].attrs["local_concepts"] == "left out: no landmarks"
    # a model whose feature maps break the contract is named in one line
    model.feature_maps = lambda images, layer: np.zeros((len(images), 4, 4))
    with pytest.raises(InputError, match=r"model planted.*expected finite \(90, channels"):
        DissectionMetric(n_permutations=5, layer="conv2").compute(ctx)
