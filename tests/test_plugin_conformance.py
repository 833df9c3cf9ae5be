"""The conformance kit (neurofacedis.testing) over every registered model and metric.

First- and third-party plugins alike; heavy models run with their spec's ``testing_params``.
"""

from __future__ import annotations

import warnings

import pytest

from neurofacedis.registry import PluginWarning, get_registry, spec_problems
from neurofacedis.testing import check_metric, check_model, check_model_spec


def _registry():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # test_registry reports those
        return get_registry()


REGISTRY = _registry()


@pytest.mark.filterwarnings("ignore:FastICA did not converge")  # 18 mock images
@pytest.mark.parametrize("name", sorted(REGISTRY.models))
def test_model_conforms(name):
    entry = REGISTRY.model(name)
    check_model_spec(entry.spec)
    latents = check_model(entry.spec, plugin=entry.plugin)
    assert latents.shape[0] == 24 and latents.shape[1] >= 1


@pytest.mark.parametrize("name", sorted(REGISTRY.metrics))
def test_metric_conforms(name):
    entry = REGISTRY.metric(name)
    if "models" in entry.spec.requires:
        pytest.skip("compares several models; the mock context holds one")
    if any(r.startswith("behaviour_") for r in entry.spec.requires):
        pytest.skip("needs human behaviour: tests/test_behaviour.py runs the kit with it")
    result = check_metric(entry.spec, plugin=entry.plugin)
    assert result.attrs


@pytest.mark.parametrize("name", sorted(REGISTRY.datasets))
def test_dataset_spec_is_valid(name):
    entry = REGISTRY.dataset(name)
    assert spec_problems(entry.spec, "dataset") == []
    assert entry.spec.citation.strip(), f"dataset {name} has no citation"


class _ProjectionModel:
    """A plugin author's model: a fixed random projection, kept as its fit leaves it.

    ``fortran``: the projection is Fortran-ordered, as sklearn's ``components_.T`` or
    ``np.linalg`` results often are; safetensors writes the bytes as if C-ordered.
    """

    def __init__(self, fortran: bool = False) -> None:
        self.fortran = fortran
        self.unit_names: list[str] = []

    def fit(self, images, labels, *, seed, progress, landmarks=None) -> None:
        import numpy as np

        d = images[0].size
        w = np.random.default_rng(seed).normal(size=(3, d)).T  # (d, 3), Fortran-ordered
        self._w = w if self.fortran else np.ascontiguousarray(w)
        self.unit_names = ["u0", "u1", "u2"]

    def encode(self, images, *, landmarks=None):
        return images.reshape(len(images), -1).astype("float64") @ self._w

    def save(self, directory) -> None:
        from safetensors.numpy import save_file

        save_file({"w": self._w}, str(directory / "state.safetensors"))

    def load(self, directory) -> None:
        import numpy as np
        from safetensors.numpy import load_file

        self._w = np.array(load_file(str(directory / "state.safetensors"))["w"])
        self.unit_names = ["u0", "u1", "u2"]


def test_round_trip_failure_says_to_save_contiguous_arrays():
    """safetensors scrambles a Fortran-ordered array without a word: the kit names the array
    and the fix (issue 26, item 7)."""
    from neurofacedis.errors import PluginError
    from neurofacedis.specs import ModelSpec, Param

    def spec(fortran: bool) -> ModelSpec:
        return ModelSpec("projection", lambda fortran: _ProjectionModel(fortran),
                         (Param("fortran", fortran, bool, "keep the Fortran order"),),
                         summary="toy", citation="none (a test)")

    assert check_model(spec(False), plugin="toy").shape == (24, 3)
    with pytest.raises(PluginError) as err:
        check_model(spec(True), plugin="toy")
    message = str(err.value)
    assert "save/load round trip changes the latents" in message
    assert "save contiguous arrays (np.ascontiguousarray)" in message
    assert "Fortran-ordered: _w" in message and "\n" not in message
