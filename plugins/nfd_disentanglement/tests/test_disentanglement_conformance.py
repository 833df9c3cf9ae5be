from __future__ import annotations

import nfd_disentanglement
import pytest

from neurofacedis.testing import check_metric, make_registry


@pytest.mark.parametrize("name", ["udr", "dci", "mig"])
def test_conformance_kit(name):
    registry = make_registry(nfd_disentanglement)
    result = check_metric(registry.metric(name).spec)
    assert result.attrs
