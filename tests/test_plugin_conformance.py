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
    result = check_metric(entry.spec, plugin=entry.plugin)
    assert result.attrs


@pytest.mark.parametrize("name", sorted(REGISTRY.datasets))
def test_dataset_spec_is_valid(name):
    entry = REGISTRY.dataset(name)
    assert spec_problems(entry.spec, "dataset") == []
    assert entry.spec.citation.strip(), f"dataset {name} has no citation"
