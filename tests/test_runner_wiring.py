"""The runner passes library features through: landmarks to metrics (issue 25), unit selection
and pooled sessions (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.runner import analyze


@pytest.fixture(scope="module")
def sim_recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("rec") / "sim.nwb"
    data = simulate_session(n_identities=8, n_views=4, n_neurons=6, n_repeats=2,
                            image_size=32, seed=5)
    write_session(path, data)
    return path


class _Maps:
    """An ad-hoc model: two pixel-mean latents and a 16x16 feature map of the image."""

    name = "maps"
    unit_names = ["mean", "contrast"]

    def fit(self, images, labels, *, seed, progress, landmarks=None):
        pass

    def encode(self, images, *, landmarks=None):
        flat = images.reshape(len(images), -1)
        return np.c_[flat.mean(axis=1), flat.std(axis=1)]

    def feature_maps(self, images, *, layer):
        assert layer == "conv2"
        small = images.reshape(len(images), 16, 2, 16, 2).mean(axis=(2, 4))
        return np.stack([small, 1.0 - small], axis=1).astype(np.float32)

    def save(self, directory):  # pragma: no cover - ad-hoc models are not cached
        pass

    def load(self, directory):  # pragma: no cover
        pass


def test_dissection_gets_the_recordings_landmarks(sim_recording, tmp_path):
    res = analyze(sim_recording, models=[_Maps()], metrics=["dissection"],
                  params=["dissection.layer=conv2", "dissection.n_permutations=20",
                          "dissection.n_faces=1", "dissection.thumbnail=8"],
                  figures=False, cache_dir=tmp_path / "cache")
    assert res.ok, res.summary["errors"]
    (result,) = [r for (m, _, _), r in res.results.items() if m == "dissection"]
    kinds = set(np.asarray(result["concept_kind"].values).astype(str))
    assert "local" in kinds  # facial parts from the recording's landmarks
    assert "no landmarks" not in json.dumps(result.attrs, default=str)
