"""analyze's CLI flags for real recordings (issue 20): --units, --min-rate, several files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from neurofacedis.cli import app, main
from tests.test_runner_wiring import _lab, _trains


def test_units_min_rate_and_pooling_from_the_command_line(tmp_path):
    trains = _trains()
    trains[2] = np.array([0.1, 0.2])  # silent
    path = _lab(tmp_path / "lab.nwb", trains, quality=["good", "good", "good", "mua"])
    common = ["-m", "pca", "--metric", "alignment", "-p", "pca.n_components=3", "--no-figures",
              "--cache-dir", str(tmp_path / "c"), "-q"]
    run = CliRunner().invoke(app, ["analyze", str(path), *common, "--units",
                                   "quality == 'good'", "--min-rate", "0.5",
                                   "-o", str(tmp_path / "out")])
    assert run.exit_code == 0, run.output
    sel = json.loads((tmp_path / "out" / "summary.json").read_text())["recording"][
        "unit_selection"]
    assert sel["kept"] == [0, 1] and "2" in sel["dropped"] and sel["min_rate"] == 0.5

    (tmp_path / "s").mkdir()
    a = _lab(tmp_path / "s" / "a.nwb", trains[:2])
    b = _lab(tmp_path / "s" / "b.nwb", trains[3:])
    pooled = CliRunner().invoke(app, ["analyze", str(a), str(b), *common,
                                      "-o", str(tmp_path / "pooled")])
    assert pooled.exit_code == 0, pooled.output
    rec = json.loads((tmp_path / "pooled" / "summary.json").read_text())["recording"]
    assert [f["path"] for f in rec["files"]] == [str(a), str(b)]


def test_pooling_without_out_and_unsafe_units_are_one_line(tmp_path, capsys):
    path = _lab(tmp_path / "lab.nwb", _trains())
    with pytest.raises(SystemExit) as code:
        main(["analyze", str(path), str(path), "-m", "pca"])
    err = capsys.readouterr().err
    assert code.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: --out: several recordings are pooled")
    with pytest.raises(SystemExit) as code:
        main(["analyze", str(path), "-m", "pca", "--units", "__import__('os').system('true')",
              "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code.value.code == 2 and err.count("\n") == 1 and "--units" in err
    assert not (tmp_path / "o").exists()
