"""`neurofacedis demo`: simulate the virtual face patch and analyse it end to end."""

from __future__ import annotations

import json

from neurofacedis.cli import main


def test_demo_writes_recording_and_full_analysis(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    try:
        main(["demo", "--out", str(out), "--model", "pca", "--metric", "alignment", "--json"])
    except SystemExit as exc:
        assert exc.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert (out / "demo.nwb").is_file()
    for name in ("analysis.nwb", "results.nc", "summary.json", "report.html"):
        assert (out / "analysis" / name).is_file()
    # the simulated axis code is partly recovered even by PCA, well above an all-mixed code
    pca = summary["metrics"]["alignment"]["pca"]
    assert pca["alignment"] > 0.1
    assert summary["recording"]["n_stimuli"] == 600
    # the factors control is always added: the ceiling a perfect model reaches
    control = summary["metrics"]["alignment"]["factors"]
    assert control["alignment"] > pca["alignment"] + 0.2
    assert control["alignment"] >= control["ceiling_mean"] - 2 * control["ceiling_sd"]
    report = (out / "analysis" / "report.html").read_text(encoding="utf-8")
    assert "factors" in report


def test_demo_defaults_train_the_beta_vae_fast():
    from neurofacedis.demo import DEFAULT_DEMO_MODELS, DEMO_PARAMS

    assert DEFAULT_DEMO_MODELS[0] == "beta_vae"
    assert DEMO_PARAMS["beta_vae"]["lr"] == [1e-3]


def test_demo_dissects_conv2_and_models_without_feature_maps_get_a_note():
    from neurofacedis.demo import DEMO_PARAMS
    from neurofacedis.registry import get_registry
    from neurofacedis.testing import check_metric

    assert DEMO_PARAMS["dissection"] == {"layer": ["conv2"]}
    spec = get_registry().metric("dissection").spec
    result = check_metric(spec, {"layer": "conv2", "n_permutations": 20})  # a pixel model
    assert result["best_concept"].attrs["local_concepts"] == (
        "left out: model 'mock' has no feature maps")
