from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from neurofacedis.errors import InputError
from nfd_classifier import neurofacedis_register_models

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

TINY = {"steps": 3, "size": 32, "width": 8, "hidden": 16, "n_components": 6}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # the test machine's cores are shared: spinning OpenMP threads make torch ~15x slower
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _noop(*args, **kwargs):
    return None


def _faces(n_identities: int, n_views: int, *, size: int = 32, rgb: bool = False, seed: int = 0):
    from neurofacedis.simulate import render_faces, sample_factors

    factors, identity = sample_factors(n_identities, n_views, seed=seed)
    images, _ = render_faces(factors, size=size, rgb=rgb)
    return images.astype(np.float32) / 255.0, factors, identity


def _model(**params):
    (spec,) = neurofacedis_register_models()
    return spec.factory(**{**spec.defaults(), **params})


@pytest.fixture(scope="module")
def small():
    import torch

    torch.set_num_threads(1)
    images, factors, identity = _faces(6, 10, seed=1)
    labels = pd.DataFrame({"stimulus_id": [f"s{i}" for i in range(60)], "identity": identity})
    model = _model(**TINY)
    model.fit(images, labels, seed=0, progress=_noop)
    return model, images, labels


def test_spec_and_lazy_torch():
    (spec,) = neurofacedis_register_models()
    assert spec.name == "classifier" and "Higgins" in spec.citation
    assert spec.defaults()["label"] == "identity" and spec.defaults()["n_components"] == 10
    code = "import sys, nfd_classifier; nfd_classifier.neurofacedis_register_models(); " \
           "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_identity_accuracy_on_unseen_poses_and_lighting():
    images, factors, identity = _faces(12, 60, seed=0)
    seen = (factors["pose"] <= 0.5).to_numpy()  # tested on poses beyond any it trained on
    labels = pd.DataFrame({"identity": identity})
    model = _model(steps=200, size=32)
    ticks = []
    model.fit(images[seen], labels[seen], seed=0, progress=lambda *a, **k: ticks.append((a, k)))
    assert ticks[0][1]["total"] == 200 and sum(t[0][0] for t in ticks) == 200
    pred = model.predict(images[~seen])["identity"]
    accuracy = float(np.mean(pred == identity[~seen]))
    assert accuracy >= 0.9, accuracy
    report = model.provenance_extra
    assert report["trained"] == "all" and report["layer"] == "fc"
    assert report["labels"]["identity"]["heldout_accuracy"] >= 0.9
    assert report["labels"]["identity"]["n_classes"] == 12
    assert report["n_heldout"] == int(np.ceil(0.2 * seen.sum()))  # as scikit-learn splits
    loss = model.history["loss"]
    assert loss.shape == (200,) and loss[-10:].mean() < 0.2 * loss[:10].mean()
    z = model.encode(images)
    assert z.shape == (len(images), 10) and model.unit_names[0] == "pc_00"
    assert np.all(np.diff(z.std(axis=0)) <= 1e-9)  # PCA order


def test_same_seed_same_latents_and_save_load(small, tmp_path):
    model, images, labels = small
    z = model.encode(images)
    again = _model(**TINY)
    again.fit(images, labels, seed=0, progress=_noop)
    np.testing.assert_array_equal(again.encode(images), z)
    other = _model(**TINY)
    other.fit(images, labels, seed=1, progress=_noop)
    assert np.abs(other.encode(images) - z).max() > 1e-3
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "classifier.json", "classifier.safetensors", "pca.safetensors"]
    loaded = _model()
    loaded.load(tmp_path)
    np.testing.assert_array_equal(loaded.encode(images), z)
    assert loaded.unit_names == model.unit_names == [f"pc_{i:02d}" for i in range(6)]
    assert loaded.provenance_extra == model.provenance_extra
    np.testing.assert_array_equal(loaded.predict(images)["identity"],
                                  model.predict(images)["identity"])
    # a subset encodes to the same rows (batch norm in eval mode, per-image PCA)
    np.testing.assert_allclose(model.encode(images[5:9]), z[5:9], atol=1e-6)


def test_a_model_fitted_on_cuda_loads_on_a_cpu_machine(small, tmp_path):
    """device is where the loader computes: a GPU-fitted save (device=cuda) loads here."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    model, images, _ = small
    model.save(tmp_path)
    config = json.loads((tmp_path / "classifier.json").read_text())
    config["params"]["device"] = "cuda"  # as written by a fit with --param classifier.device=cuda
    (tmp_path / "classifier.json").write_text(json.dumps(config))
    loaded = _model()
    loaded.load(tmp_path)
    assert loaded.params["device"] == "auto"
    np.testing.assert_array_equal(loaded.encode(images), model.encode(images))
    with pytest.raises(InputError, match="CUDA is not available"):
        _model(device="cuda").load(tmp_path)


def test_layers(small):
    model, images, labels = small
    pen = model.encode(images)
    fc = _model(**TINY, layer="fc")
    fc.fit(images, labels, seed=0, progress=_noop)
    np.testing.assert_array_equal(fc.encode(images), pen)
    conv = _model(**TINY, layer="conv2")
    conv.fit(images, labels, seed=0, progress=_noop)
    zc = conv.encode(images)
    assert conv.provenance_extra["layer"] == "conv2" and zc.shape == (60, 6)
    assert np.abs(zc - pen).max() > 1e-3


def test_several_labels_classes_and_regression():
    images, factors, identity = _faces(8, 24, seed=2)
    gender = np.where(identity % 2 == 0, "f", "m")
    yaw = 29.0 * factors["pose"].to_numpy()  # a continuous attribute (head turn, degrees)
    labels = pd.DataFrame({"identity": identity, "gender": gender, "yaw": yaw})
    labels.loc[3, "yaw"] = np.nan  # unknown values are left out of the loss
    model = _model(label="identity, gender, yaw", steps=150, size=32, width=8, hidden=32)
    model.fit(images, labels, seed=0, progress=_noop)
    report = model.provenance_extra["labels"]
    assert report["identity"]["kind"] == "classification"
    assert report["gender"]["kind"] == "classification" and report["gender"]["n_classes"] == 2
    assert report["gender"]["heldout_accuracy"] >= 0.9
    assert report["yaw"]["kind"] == "regression"
    assert report["yaw"]["heldout_rmse"] < 0.6 * np.nanstd(yaw)  # well below the mean guess
    assert report["yaw"]["heldout_r2"] > 0.6
    pred = model.predict(images[:5])
    assert set(pred["gender"]) <= {"f", "m"} and pred["yaw"].dtype == np.float64
    # force a kind with a suffix
    forced = _model(label="identity:reg", **TINY)
    forced.fit(images, labels, seed=0, progress=_noop)
    assert forced.provenance_extra["labels"]["identity"]["kind"] == "regression"


def test_pretrained_safetensors_as_is_and_finetuned(small, tmp_path):
    import torch

    model, images, labels = small
    model.save(tmp_path)
    weights = str(tmp_path / "classifier.safetensors")
    as_is = _model(**TINY, weights=weights)
    as_is.fit(images, None, seed=5, progress=_noop)  # no labels needed: nothing is trained
    assert as_is.provenance_extra["trained"] == "none"
    assert len(as_is.provenance_extra["weights_sha256"]) == 64
    np.testing.assert_allclose(as_is.encode(images), model.encode(images), atol=1e-9)
    tuned = _model(**TINY, weights=weights, finetune=True)
    tuned.fit(images, labels, seed=0, progress=_noop)
    assert tuned.provenance_extra["trained"] == "head"
    assert "heldout_accuracy" in tuned.provenance_extra["labels"]["identity"]
    for name, value in model._net.backbone.state_dict().items():
        torch.testing.assert_close(tuned._net.backbone.state_dict()[name], value)
    assert tuned.encode(images).shape == (60, 6)


def test_torchscript_backbone(small, tmp_path):
    import torch

    model, images, labels = small
    path = tmp_path / "net.pt"
    example = model._tensor(images[:2])
    torch.jit.save(torch.jit.trace(model._net.backbone.eval(), example), str(path))
    as_is = _model(**TINY, weights=str(path), trust_code=True)
    as_is.fit(images, None, seed=0, progress=_noop)
    assert as_is.provenance_extra["layer"] == "backbone"
    feats = model._activations(model._tensor(images), "backbone")
    from sklearn.decomposition import PCA

    expected = PCA(n_components=6, random_state=0).fit_transform(feats)
    np.testing.assert_allclose(as_is.encode(images), expected, atol=1e-6)
    tuned = _model(**TINY, weights=str(path), finetune=True, trust_code=True)
    tuned.fit(images, labels, seed=0, progress=_noop)
    assert tuned.provenance_extra["layer"] == "fc"
    out = tmp_path / "saved"
    out.mkdir()
    tuned.save(out)
    loaded = _model(trust_code=True)
    loaded.load(out)
    np.testing.assert_array_equal(loaded.encode(images), tuned.encode(images))
    # the loader's own opt-in decides, not the saved parameters
    with pytest.raises(InputError, match="trust_code=true"):
        _model().load(out)
    with pytest.raises(InputError, match="conv2 exists only"):
        _model(**TINY, weights=str(path), layer="conv2", trust_code=True).fit(
            images, None, seed=0, progress=_noop)
    assert as_is.provenance_extra["arch"] == "torchscript"
    with pytest.raises(InputError, match="arch=vgg11 reads a safetensors state dict"):
        _model(**TINY, weights=str(path), arch="vgg11", trust_code=True).fit(
            images, None, seed=0, progress=_noop)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(InputError, match="missing or changed"):
        _model(trust_code=True).load(out)


def test_torchscript_rgb_network_takes_grey_images(tmp_path):
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(1))
    path = tmp_path / "rgb.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    images, _, _ = _faces(2, 3, size=16, seed=3)
    model = _model(weights=str(path), size=0, n_components=3, trust_code=True)
    model.fit(images, None, seed=0, progress=_noop)
    assert model.encode(images).shape == (6, 3)
    rgb = np.repeat(images[..., None], 3, axis=-1)
    ref = net(torch.from_numpy(rgb.transpose(0, 3, 1, 2).copy())).detach().double().numpy()
    from sklearn.decomposition import PCA

    np.testing.assert_allclose(
        model.encode(images), PCA(3, random_state=0).fit(ref).transform(ref), atol=1e-6)


def test_clear_errors(small, tmp_path):
    model, images, labels = small
    with pytest.raises(InputError, match="no label column 'age'.*identity"):
        _model(**TINY, label="age").fit(images, labels, seed=0, progress=_noop)
    with pytest.raises(InputError, match="stimulus table"):
        _model(**TINY).fit(images, None, seed=0, progress=_noop)
    with pytest.raises(InputError, match="finetune needs weights"):
        _model(finetune=True)
    with pytest.raises(InputError, match="no such file"):
        _model(weights=str(tmp_path / "nope.pt")).fit(images, None, seed=0, progress=_noop)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a network")
    with pytest.raises(InputError, match="not a safetensors file: a TorchScript"):
        _model(weights=str(bad)).fit(images, None, seed=0, progress=_noop)
    with pytest.raises(InputError, match="not a TorchScript file"):
        _model(weights=str(bad), trust_code=True).fit(images, None, seed=0, progress=_noop)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes((8).to_bytes(8, "little") + b'{"x": 1}')
    with pytest.raises(InputError, match="not a readable safetensors file"):
        _model(weights=str(damaged)).fit(images, None, seed=0, progress=_noop)
    with pytest.raises(InputError, match="channels"):
        model.encode(np.repeat(images[..., None], 3, axis=-1))
    with pytest.raises(InputError, match="not fitted"):
        _model().encode(images)


def test_passes_the_conformance_kit():
    import nfd_classifier
    from neurofacedis.testing import check_model, make_registry

    registry = make_registry(nfd_classifier)
    z = check_model(registry.model("classifier").spec, plugin="nfd_classifier")
    assert z.shape == (24, 10) and np.isfinite(z).all()


# ------------------------------------------------------------- weights that carry code


def _code_carrying_torchscript(path, victim) -> None:
    """Write a TorchScript file that overwrites ``victim`` when it is loaded (``__setstate__``).

    TorchScript is a program: this one memory-maps a file the user can write and fills it.
    """
    import warnings

    import torch

    class Overwrites(torch.nn.Module):
        def __init__(self, target: str):
            super().__init__()
            self.target = target
            self.written = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(1)

        @torch.jit.export
        def __getstate__(self) -> list[str]:
            return [self.target]

        @torch.jit.export
        def __setstate__(self, state: list[str]) -> None:
            self.target = state[0]
            self.training = False
            mapped = torch.from_file(self.target, shared=True, size=4, dtype=torch.uint8)
            self.written = int(mapped.fill_(33).sum())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(Overwrites(str(victim))), str(path))


def test_code_carrying_weights_are_refused_without_trust_code(tmp_path):
    """A TorchScript file runs code when loaded: refused (by content, whatever its name) unless
    trust_code=true, and the code never ran; with trust_code it loads (and its code runs)."""
    images, _, _ = _faces(2, 3, size=16, seed=3)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"clean")
    evil = tmp_path / "net.pt"
    _code_carrying_torchscript(evil, victim)
    disguised = tmp_path / "net.safetensors"
    disguised.write_bytes(evil.read_bytes())
    pickled = tmp_path / "legacy.pt"
    pickled.write_bytes(b"\x80\x04K\x01.")  # a pickle stream (torch.save's legacy format)
    for path, kind in ((evil, "zip archive"), (disguised, "zip archive"), (pickled, "pickle")):
        with pytest.raises(InputError) as err:
            _model(weights=str(path), size=0, n_components=2).fit(images, None, seed=0,
                                                                   progress=_noop)
        line = str(err.value)
        assert "\n" not in line and kind in line and str(path) in line
        assert "trust_code=true" in line and "--param classifier.trust_code=true" in line
        assert err.value.obj == "classifier.weights"
    assert victim.read_bytes() == b"clean"  # nothing was loaded, no code ran

    trusted = _model(weights=str(evil), trust_code=True, size=0, n_components=2)
    trusted.fit(images, None, seed=0, progress=_noop)
    assert trusted.encode(images).shape == (6, 2)
    assert victim.read_bytes() == b"!!!!n"  # the payload is live: the refusal is what stopped it


def test_weights_must_be_a_regular_file(tmp_path):
    import os

    images, _, _ = _faces(2, 3, size=16, seed=3)
    fifo = tmp_path / "weights.safetensors"
    os.mkfifo(fifo)  # opening it would block forever
    for path, problem in ((fifo, "named pipe"), (tmp_path, "a folder"),
                          (tmp_path / "nope.pt", "no such file")):
        with pytest.raises(InputError, match=problem):
            _model(weights=str(path), trust_code=True).fit(images, None, seed=0,
                                                           progress=_noop)


def test_a_damaged_or_foreign_save_is_refused_in_one_line(small, tmp_path):
    """load goes through neurofacedis._util.read_saved (shared with the AAM)."""
    model, _, _ = small
    model.save(tmp_path)
    config = json.loads((tmp_path / "classifier.json").read_text())
    (tmp_path / "classifier.json").write_text(json.dumps({**config, "format": "other/9"}))
    with pytest.raises(InputError, match=r"not a saved classifier \('other/9'\)"):
        _model().load(tmp_path)
    (tmp_path / "pca.safetensors").unlink()
    with pytest.raises(InputError, match="cannot read a saved classifier: .*pca.safetensors"):
        _model().load(tmp_path)


def test_feature_maps_for_spatial_dissection(small):
    """Conv maps (n, C, h, w) after ReLU; their spatial mean is the layer's pooled activation."""
    from neurofacedis.errors import InputError

    model, images, _ = small
    assert model.map_layers() == ("conv1", "conv2", "conv3", "conv4")
    maps = model.feature_maps(images[:5], layer="conv2")
    # width 8 -> conv2 has 16 channels; 32 px halved by two max pools -> 8 x 8
    assert maps.shape == (5, 16, 8, 8) and maps.dtype == np.float32 and maps.min() >= 0
    pooled = model._activations(model._tensor(images[:5]), "conv2")
    np.testing.assert_allclose(maps.mean(axis=(2, 3)), pooled, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="'conv5'.*conv1, conv2, conv3, conv4"):
        model.feature_maps(images[:2], layer="conv5")


def test_dissection_pairs_classifier_channels_with_facial_parts(tmp_path):
    """`dissection.layer=conv2` on the classifier: local concepts from the landmarks."""
    from neurofacedis.nwb import write_session
    from neurofacedis.runner import analyze
    from neurofacedis.simulate import simulate_session

    path = tmp_path / "sim.nwb"
    write_session(path, simulate_session(n_identities=6, n_views=4, n_neurons=6, n_repeats=2,
                                         image_size=32, seed=5))
    params = [f"classifier.{k}={v}" for k, v in TINY.items()] + [
        "dissection.layer=conv2", "dissection.n_permutations=20", "dissection.n_faces=1",
        "dissection.thumbnail=8"]
    res = analyze(path, models=["classifier"], metrics=["dissection"], params=params,
                  figures=False, cache_dir=tmp_path / "cache")
    assert res.ok, res.summary["errors"]
    (result,) = [r for (m, _, _), r in res.results.items() if m == "dissection"]
    kinds = set(np.asarray(result["concept_kind"].values).astype(str))
    assert "local" in kinds  # eyes, nose, mouth... from the simulated landmarks
    assert "local_concepts" not in result["best_concept"].attrs  # nothing left out
