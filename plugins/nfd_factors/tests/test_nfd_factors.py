from __future__ import annotations

import numpy as np
import pytest
from nfd_factors import FactorsModel, neurofacedis_register_models, rotation

from neurofacedis.errors import InputError
from neurofacedis.specs import REQUIREMENTS
from neurofacedis.testing import check_model, make_mock_recording


@pytest.fixture(scope="module")
def rec():
    return make_mock_recording(n_stimuli=20, size=16, seed=4)


def _fitted(rec, rotate=False, seed=0):
    m = FactorsModel(rotate=rotate)
    tr = rec.train
    m.fit(rec.images[tr], None, seed=seed, factors=rec.factors.iloc[tr])
    return m


def test_latents_are_the_factors(rec):
    m = _fitted(rec)
    z = m.encode(rec.images, factors=rec.factors)
    np.testing.assert_array_equal(z, rec.factors.to_numpy())
    assert m.unit_names == list(rec.factors.columns)


def test_rotated_latents_are_an_orthogonal_rotation_seeded_by_the_fit(rec):
    z = _fitted(rec, rotate=True, seed=2).encode(rec.images, factors=rec.factors)
    f = rec.factors.to_numpy()
    r = rotation(f.shape[1], 2)
    np.testing.assert_allclose(r @ r.T, np.eye(f.shape[1]), atol=1e-12)
    np.testing.assert_allclose(z, f @ r.T, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), np.linalg.norm(f, axis=1))
    assert not np.allclose(np.abs(z), np.abs(f))  # not a signed permutation
    z3 = _fitted(rec, rotate=True, seed=3).encode(rec.images, factors=rec.factors)
    assert not np.allclose(z, z3)


def test_table_looks_images_up_by_content(rec):
    m = FactorsModel(table=(rec.images, rec.factors))
    m.fit(rec.images[rec.train], None, seed=0)
    order = np.array([5, 0, 3])
    np.testing.assert_array_equal(m.encode(rec.images[order]), rec.factors.to_numpy()[order])
    other = rec.images[:1] * 0.5
    with pytest.raises(InputError, match=r"1 of 1 images \(first: #0\) are not among"):
        m.encode(other)


def test_without_factors_the_requirement_reason_is_one_line(rec):
    with pytest.raises(InputError) as err:
        FactorsModel().fit(rec.images, None, seed=0)
    msg = str(err.value)
    assert msg.startswith(f"model factors: needs {REQUIREMENTS['factors']}; fit got none")
    assert "\n" not in msg


def test_recording_without_factors_is_refused_naming_the_file(tmp_path):
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    data = simulate_session(n_identities=3, n_views=2, n_neurons=4, n_repeats=2, image_size=16)
    data.factors = None
    path = tmp_path / "nofactors.nwb"
    write_session(path, data)
    with pytest.raises(InputError, match=r"nofactors\.nwb: model factors: needs known gen"):
        FactorsModel.for_recording(path)


def test_conforms_and_save_load_keeps_the_rotation(rec, tmp_path):
    spec = neurofacedis_register_models()[0]
    assert spec.requires == frozenset({"factors"})
    z = check_model(spec, {"rotate": True}, recording=rec)
    assert z.shape == (20, rec.factors.shape[1])
    m = _fitted(rec, rotate=True, seed=5)
    m.save(tmp_path)
    loaded = FactorsModel(rotate=True)
    loaded.load(tmp_path)
    np.testing.assert_array_equal(loaded.encode(rec.images, factors=rec.factors),
                                  m.encode(rec.images, factors=rec.factors))
    with pytest.raises(InputError, match="expected 'factors' with {'rotate': False}"):
        FactorsModel().load(tmp_path)
