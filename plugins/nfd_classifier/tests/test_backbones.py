"""AlexNet / VGG backbones (torchvision's names), the attention block, finetune end to end.

No torchvision and no real ImageNet weights: torchvision's parameter names and shapes are
recorded in tests/data/torchvision_state_dicts.json (written from torchvision/models/alexnet.py
and vgg.py), and "torchvision weights" are seeded random tensors under those names.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurofacedis.errors import InputError
from nfd_classifier import neurofacedis_register_models

HERE = Path(__file__).parent
RECORDED = json.loads((HERE / "data" / "torchvision_state_dicts.json").read_text())
FAST = {"size": 64, "steps": 2, "batch_size": 8, "hidden": 8, "n_components": 3,
        "holdout": 0.0, "threads": 1}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: spinning OpenMP threads make torch much slower
    yield
    torch.set_num_threads(before)


def _noop(*args, **kwargs):
    return None


def _model(**params):
    (spec,) = neurofacedis_register_models()
    return spec.factory(**{**spec.defaults(), **params})


def _faces(n: int = 8, size: int = 32, seed: int = 0):
    from neurofacedis.simulate import render_faces, sample_factors

    factors, identity = sample_factors(n // 2, 2, seed=seed)
    images, _ = render_faces(factors, size=size)
    valence = np.random.default_rng(seed).uniform(-1, 1, len(identity))
    return images.astype(np.float32) / 255.0, pd.DataFrame({"identity": identity,
                                                            "valence": valence})


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory):
    """A state dict with torchvision's AlexNet names and shapes (seeded He-scaled values),
    saved as safetensors as a user would save ``torchvision.models.alexnet().state_dict()``."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(7)
    state = {}
    for name, shape in RECORDED["state_dict"]["alexnet"].items():
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        scale = math.sqrt(2.0 / fan_in) if len(shape) > 1 else 0.01
        state[name] = torch.randn(shape, generator=gen) * scale
    path = tmp_path_factory.mktemp("weights") / "alexnet.safetensors"
    save_file(state, str(path))
    return path, state


def test_state_dicts_match_torchvision_names_and_shapes():
    """Each arch's parameters: torchvision's names, shapes, order and count (meta tensors)."""
    import torch

    from nfd_classifier._archs import TorchvisionNet

    for arch, recorded in RECORDED["state_dict"].items():
        with torch.device("meta"):
            net = TorchvisionNet(arch)
        got = [(k, list(v.shape)) for k, v in net.state_dict().items()]
        assert got == list(recorded.items()), arch
        assert sum(p.numel() for p in net.parameters()) == RECORDED["n_parameters"][arch]
        with torch.device("meta"):
            extra = TorchvisionNet(arch, attention=True).state_dict()
        assert [k for k in extra if k not in recorded] == [
            "attention.gamma", "attention.norm.weight", "attention.norm.bias",
            "attention.qkv.weight", "attention.qkv.bias", "attention.proj.weight",
            "attention.proj.bias"]


def test_layer_names_per_arch_and_no_torchvision_import():
    import torch

    from nfd_classifier._archs import TorchvisionNet
    from nfd_classifier._layers import arch_layers

    assert arch_layers("alexnet") == ("penultimate", "fc", "backbone", "conv1", "conv2",
                                      "conv3", "conv4", "conv5", "fc6", "fc7")
    assert arch_layers("vgg11")[3:] == ("conv1_1", "conv2_1", "conv3_1", "conv3_2", "conv4_1",
                                        "conv4_2", "conv5_1", "conv5_2", "fc6", "fc7")
    assert len(arch_layers("vgg16")) == 3 + 13 + 2 and arch_layers("small", True)[-1] == \
        "attention"
    for arch in ("alexnet", "vgg11", "vgg13", "vgg16"):
        with torch.device("meta"):
            net = TorchvisionNet(arch)
        convs = [i for i, m in enumerate(net.features) if isinstance(m, torch.nn.Conv2d)]
        assert list(net._taps.values()) == [i + 1 for i in convs]  # each conv's ReLU
        assert list(net._taps) == [n for n in arch_layers(arch) if n.startswith("conv")]
    with pytest.raises(InputError, match=r"layer 'conv1_1' is not one of .*conv5.*arch=alexnet"):
        _model(arch="alexnet", layer="conv1_1")
    with pytest.raises(InputError, match="arch 'resnet50' is not one of"):
        _model(arch="resnet50")
    for path in (HERE.parent).glob("*.py"):  # torchvision is never imported by the plugin
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any(n.split(".")[0] == "torchvision" for n in names), path


def _alexnet_reference(w, x):
    """torchvision's AlexNet.forward up to fc7 (eval mode), written with torch.nn.functional."""
    import torch
    import torch.nn.functional as F

    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    x = (x - mean) / std
    x = F.max_pool2d(F.relu(F.conv2d(x, w["features.0.weight"], w["features.0.bias"],
                                     stride=4, padding=2)), 3, 2)
    x = F.max_pool2d(F.relu(F.conv2d(x, w["features.3.weight"], w["features.3.bias"],
                                     padding=2)), 3, 2)
    for i in (6, 8, 10):
        x = F.relu(F.conv2d(x, w[f"features.{i}.weight"], w[f"features.{i}.bias"], padding=1))
    x = F.adaptive_avg_pool2d(F.max_pool2d(x, 3, 2), 6).flatten(1)
    x = F.relu(F.linear(x, w["classifier.1.weight"], w["classifier.1.bias"]))
    return F.relu(F.linear(x, w["classifier.4.weight"], w["classifier.4.bias"]))


def test_torchvision_weights_load_unchanged_and_grey_small_images_adapt(alexnet_file):
    """A torchvision-named file loads as is; 32 px grey faces become 64 px RGB, normalised."""
    import torch

    path, state = alexnet_file
    images, _ = _faces(6)
    model = _model(**{**FAST, "size": 32}, arch="alexnet", weights=str(path))
    model.fit(images, None, seed=0, progress=_noop)  # no labels: nothing is trained
    extra = model.provenance_extra
    assert extra["trained"] == "none" and extra["layer"] == "backbone"
    assert extra["input_size"] == [64, 64] and extra["arch"] == "alexnet"  # raised to 64
    loaded = model._net.backbone.state_dict()
    assert list(loaded) == list(state)
    for name, value in state.items():
        torch.testing.assert_close(loaded[name], value, rtol=0, atol=0)
    x = model._tensor(images)
    assert tuple(x.shape) == (6, 3, 64, 64)
    np.testing.assert_array_equal(x[:, 0].numpy(), x[:, 2].numpy())  # grey repeated
    with torch.no_grad():
        ref = _alexnet_reference(state, x).double().numpy()
    np.testing.assert_allclose(model._activations(x, "backbone"), ref, rtol=1e-4, atol=1e-5)
    assert model.encode(images).shape == (6, 3)
    for layer, dim in (("conv1", 64), ("conv5", 256), ("fc6", 4096), ("fc7", 4096)):
        assert model._activations(x, layer).shape == (6, dim)


def test_finetune_valence_end_to_end_on_a_recording(alexnet_file, tmp_path):
    """analyze with arch=alexnet, torchvision weights, finetune on a valence column."""
    import torch

    from neurofacedis.nwb import write_session
    from neurofacedis.runner import analyze
    from neurofacedis.simulate import simulate_session

    path, state = alexnet_file
    data = simulate_session(n_identities=5, n_views=2, n_neurons=4, n_repeats=2,
                            image_size=32, seed=0)
    data.labels["valence"] = np.random.default_rng(0).uniform(-1, 1, len(data.identity))
    rec = write_session(tmp_path / "rec.nwb", data)
    params = {**FAST, "arch": "alexnet", "weights": str(path), "finetune": True,
              "label": "valence:reg"}
    res = analyze(rec, models=["classifier"], metrics=["alignment"],
                  params={"classifier": params}, out=tmp_path / "out",
                  use_cache=False, figures=False)
    assert res.ok, res.summary["errors"]
    (job,) = res.jobs
    extra = job.model.provenance_extra
    assert extra["trained"] == "head" and extra["layer"] == "fc" and extra["arch"] == "alexnet"
    assert extra["labels"]["valence"]["kind"] == "regression"
    assert extra["input_size"] == [64, 64]
    assert len(extra["weights_sha256"]) == 64
    assert job.model.history["loss"].shape == (2,)
    backbone = job.model._net.backbone.state_dict()
    for name in ("features.0.weight", "classifier.4.weight"):  # frozen: the file's values
        torch.testing.assert_close(backbone[name], state[name], rtol=0, atol=0)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "alignment" in summary["metrics"]


def test_attention_block_is_identity_at_start_and_equivariant():
    """gamma = 0: the block passes its input; any gamma: permuting positions permutes it."""
    import torch

    from nfd_classifier._archs import SpatialSelfAttention

    torch.manual_seed(0)
    block = SpatialSelfAttention(12, heads=8)
    assert block.heads == 4  # the largest of 8, 4, 2, 1 that divides the channels
    x = torch.randn(2, 12, 3, 4)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)
    with torch.no_grad():
        block.gamma.fill_(1.0)
    y = block(x)
    assert (y - x).abs().max() > 1e-2
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    xp = x.flatten(2)[:, :, perm].reshape(x.shape)
    torch.testing.assert_close(block(xp).flatten(2), y.flatten(2)[:, :, perm])


def test_attention_trains_with_the_head_and_the_model_reloads(alexnet_file, tmp_path):
    """finetune + attention: the new block learns (gamma leaves 0), the rest stays frozen;
    save/load gives the same latents; a file without the block needs finetune."""
    import torch

    path, state = alexnet_file
    images, labels = _faces(8)
    model = _model(**FAST, arch="alexnet", weights=str(path), finetune=True, attention=True,
                   label="valence:reg", lr=0.05)
    model.fit(images, labels, seed=0, progress=_noop)
    net = model._net.backbone
    assert float(net.attention.gamma.detach().abs()) > 0
    torch.testing.assert_close(net.features[0].weight, state["features.0.weight"], rtol=0,
                               atol=0)
    z = model.encode(images)
    model.save(tmp_path)
    again = _model()
    again.load(tmp_path)
    assert again.params["arch"] == "alexnet" and again.params["attention"] is True
    np.testing.assert_array_equal(again.encode(images), z)
    with pytest.raises(InputError, match="missing attention.gamma.*set finetune=true"):
        _model(**FAST, arch="alexnet", weights=str(path), attention=True).fit(
            images, None, seed=0, progress=_noop)


def test_small_arch_with_attention_trains_end_to_end():
    images, labels = _faces(8)
    small = _model(steps=3, size=32, width=8, hidden=8, n_components=3, holdout=0.0,
                   attention=True, augment=False)
    small.fit(images, labels, seed=0, progress=_noop)
    assert float(small._net.backbone.attention.gamma.detach().abs()) > 0
    assert small.provenance_extra["layer"] == "fc" and small.provenance_extra["attention"]
    plain = _model(steps=3, size=32, width=8, hidden=8, n_components=3, holdout=0.0,
                   augment=False)
    plain.fit(images, labels, seed=0, progress=_noop)
    assert np.abs(small.encode(images) - plain.encode(images)).max() > 1e-4


def test_alexnet_from_scratch_trains_every_layer():
    images, labels = _faces(4)
    model = _model(**{**FAST, "steps": 1}, arch="alexnet", layer="conv5", label="identity")
    model.fit(images, labels, seed=0, progress=_noop)
    extra = model.provenance_extra
    assert extra["trained"] == "all" and extra["layer"] == "conv5"
    assert all(q.requires_grad for q in model._net.parameters())
    assert model.history["loss"].shape == (1,) and model.encode(images).shape == (4, 3)


def test_state_dict_of_another_arch_is_refused_in_one_line(alexnet_file, small_file):
    path, _ = alexnet_file
    images, _ = _faces(4)
    cases = [
        ({"arch": "vgg11", "weights": str(path)},
         r"not a state dict of the vgg11 network: missing .*wrong shape features\.0\.weight "
         r"\(64, 3, 11, 11\) \(expected \(64, 3, 3, 3\)\).*looks like arch=alexnet"),
        ({"arch": "small", "weights": str(path)},
         r"built-in network \(no backbone\.conv1\.0\.weight\) \(it looks like arch=alexnet\)"),
        ({"arch": "alexnet", "weights": str(small_file)},
         r"not a state dict of the alexnet network: missing features\.0\.weight.*"
         r"looks like arch=small"),
    ]
    for params, pattern in cases:
        with pytest.raises(InputError, match=pattern) as err:
            _model(**FAST, **params).fit(images, None, seed=0, progress=_noop)
        assert "\n" not in str(err.value) and err.value.obj == "classifier.weights"


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    images, labels = _faces(4)
    model = _model(steps=1, size=32, width=4, hidden=4, n_components=2, holdout=0.0)
    model.fit(images, labels, seed=0, progress=_noop)
    folder = tmp_path_factory.mktemp("small")
    model.save(folder)
    return folder / "classifier.safetensors"
