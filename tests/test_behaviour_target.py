"""`analyze --target behaviour` end to end: a simulated session with simulated raters beside it.

The raters judge valence read out of the session's own generative factors, so the `factors`
model (those factors as latents) is the generating model: it must top agreement with the
humans; a pixel PCA must score lower. Without behaviour the file is refused in one line.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurofacedis.errors import InputError
from neurofacedis.runner import analyze

CHEAP = {"agreement": {"n_permutations": [50], "n_folds": [3]},
         "error_consistency": {"n_permutations": [50], "n_folds": [3]},
         "behaviour_rsa": {"n_permutations": [50]}}


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from pynwb import NWBHDF5IO

    from neurofacedis.nwb._behaviour import add_behaviour
    from neurofacedis.nwb._write import build_nwbfile
    from neurofacedis.simulate import simulate_session
    from neurofacedis.simulate._raters import simulate_raters

    root = tmp_path_factory.mktemp("behaviour-target")
    data = simulate_session(n_identities=20, n_views=4, n_neurons=8, n_repeats=2,
                            image_size=16, world="3d", seed=2)
    raters = simulate_raters(data.factors.to_numpy(), n_subjects=8, noise=0.3,
                             stimulus_ids=data.stimulus_ids, seed=3)
    nwb = build_nwbfile(data)
    add_behaviour(nwb, raters.behaviour)
    with NWBHDF5IO(str(root / "rec.nwb"), "w") as io:
        io.write(nwb)
    return root / "rec.nwb"


def test_the_generating_model_tops_agreement(recording, tmp_path):
    res = analyze(recording, models=["factors", "pca"], target="behaviour", params=CHEAP,
                  metrics=["agreement", "error_consistency", "behaviour_rsa", "alignment"],
                  out=tmp_path / "out", cache_dir=tmp_path / "cache", figures=False)
    assert res.ok, res.summary["errors"]
    agreement = res.summary["metrics"]["agreement"]
    assert agreement["factors"]["agreement"] > agreement["pca"]["agreement"] + 0.05
    assert agreement["factors"]["p_value"] < 0.05
    verdict = res.summary["verdict"]["agreement"]  # the factors are the control, shown apart
    assert verdict["best"] == "pca" and verdict["control"]["label"] == "factors"
    target = json.loads((tmp_path / "out" / "summary.json").read_text())["target"]
    assert target["kind"] == "behaviour" and target["n_subjects"] == 8
    assert target["n_stimuli"] == 80 and target["has_rdms"]
    # the neural metrics still run against the neurons of the same file
    assert "alignment" in res.summary["metrics"]


def test_target_neurons_skips_the_behaviour_metrics_with_the_reason(recording, tmp_path):
    res = analyze(recording, models=["pca"], metrics=["agreement"], params=CHEAP,
                  cache_dir=tmp_path / "cache")
    assert res.summary["target"] == {"kind": "neurons"}
    (skip,) = res.summary["skipped"]
    assert "human choices" in skip["reason"] and "with target behaviour" in skip["reason"]


def test_bad_targets_are_one_line(recording, tmp_path):
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    with pytest.raises(InputError, match="target: must be one of neurons, behaviour"):
        analyze(recording, models=["pca"], target="people", cache_dir=tmp_path / "c")
    with pytest.raises(InputError, match="not with `workers` or `scheduler`"):
        analyze(recording, models=["pca"], target="behaviour", workers=1,
                cache_dir=tmp_path / "c")
    plain = tmp_path / "plain.nwb"  # neurons only: no behaviour to read
    write_session(plain, simulate_session(n_identities=2, n_views=2, n_neurons=2,
                                          n_repeats=2, image_size=16))
    with pytest.raises(InputError) as info:
        analyze(plain, models=["pca"], target="behaviour", cache_dir=tmp_path / "c")
    assert "plain.nwb" in str(info.value) and "\n" not in str(info.value)
    assert not np.any([p.name.endswith("-analysis") for p in tmp_path.iterdir()])


def test_import_ratings_round_trip_and_bad_rows_are_one_line(tmp_path, capsys):
    """`import --ratings ratings.csv`: the behaviour lands in the file; a bad CSV writes nothing."""
    from skimage.io import imsave

    from neurofacedis.cli import main
    from neurofacedis.nwb._behaviour import read_behaviour

    rng = np.random.default_rng(0)
    (tmp_path / "faces").mkdir()
    for i in range(4):
        imsave(tmp_path / "faces" / f"face{i}.png", rng.integers(0, 255, (8, 8), np.uint8),
               check_contrast=False)
    np.save(tmp_path / "counts.npy", rng.poisson(3, (4, 2, 2)).astype(np.float32))
    (tmp_path / "ratings.csv").write_text(
        "stimulus,subject,rating,choice\nface0,p1,6,positive\nface2,p1,2,negative\n"
        "face0,p2,5,positive\nface3,p2,3,negative\n")
    argv = ["import", "--images", str(tmp_path / "faces"), "--responses",
            str(tmp_path / "counts.npy"), "--out", str(tmp_path / "rec.nwb"), "-q"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--ratings", str(tmp_path / "ratings.csv")])
    assert exc.value.code in (0, None), capsys.readouterr().err
    b = read_behaviour(tmp_path / "rec.nwb")
    assert b.stimulus_ids == ("face0", "face1", "face2", "face3")
    assert b.subjects == ("p1", "p2") and len(b.trials) == 4
    np.testing.assert_allclose(b.mean_rating, [5.5, np.nan, 2.0, 3.0])
    assert b.choice_labels == ("negative", "positive")
    capsys.readouterr()
    (tmp_path / "bad.csv").write_text("stimulus,subject,rating\nface9,p1,4\n")
    with pytest.raises(SystemExit) as exc:
        main([*argv[:-2], str(tmp_path / "other.nwb"), "--ratings", str(tmp_path / "bad.csv")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "bad.csv" in err and "face9" in err
    assert not (tmp_path / "other.nwb").exists()
