from __future__ import annotations

import nfd_beta_vae
import pytest

from neurofacedis.testing import check_model, make_registry


@pytest.mark.parametrize("name", ["beta_vae", "vae", "ae"])
def test_conformance_kit(name):
    registry = make_registry(nfd_beta_vae)
    z = check_model(registry.model(name).spec)
    assert z.shape[1] == 10
