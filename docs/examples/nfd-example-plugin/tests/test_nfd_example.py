"""The plugin's own tests: what a third-party author writes with neurofacedis.testing."""

from __future__ import annotations

import nfd_example
import numpy as np
from nfd_example import linear_cka

from neurofacedis.testing import check_metric, check_model, make_registry


def test_specs_register_and_pass_the_conformance_kit():
    """Both specs are valid and their objects pass neurofacedis.testing's checks."""
    registry = make_registry(nfd_example)  # strict: an invalid spec raises
    check_model(registry.model("random_projection").spec)
    check_metric(registry.metric("linear_cka").spec)


def test_cka_known_answers():
    """CKA is 1 under rotation, scale and shift, and low for unrelated data."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 5))
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert np.isclose(linear_cka(x, 3.0 * x @ q + 1.0), 1.0)  # rotation, scale, shift
    assert linear_cka(x, rng.normal(size=(50, 5))) < 0.5
