"""Real NWB files written by other software (issue 20, item 5).

tests/data/real_nwb/ holds files from pynwb's back-compatibility suite (tests/back_compat,
commit e938202b of NeurodataWithoutBorders/pynwb), written by pynwb 1.0.2, 1.1.2, 1.5.1 and
2.1.0, redistributed under pynwb's BSD-style licence (LICENSE-pynwb.txt beside them). None
holds both stimuli and neural data, so every command must refuse each one in one line naming
what is missing, exit 2, write nothing and leave the file unchanged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from neurofacedis.cli import main

REAL = Path(__file__).parent / "data" / "real_nwb"
FILES = sorted(REAL.glob("*.nwb"))
MISSING = "stimulus_template: no stimuli: no FaceStimulusSet, and no Images container or " \
    "ImageSeries in stimulus_template or stimulus"


def _run(argv, capsys):
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_the_corpus_and_its_licence_are_there():
    assert [f.name for f in FILES] == [
        "1.0.2_nwbfile.nwb", "1.1.2_nwbfile.nwb", "1.5.1_imageseries_no_data.nwb",
        "2.1.0_imageseries_nonmatch_starting_frame.nwb",
    ]
    assert "Regents of the University of California" in (REAL / "LICENSE-pynwb.txt").read_text()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_inspect_describes_and_analyze_names_what_is_missing(path, capsys, tmp_path):
    import json

    before = hashlib.sha256(path.read_bytes()).hexdigest()
    capsys.readouterr()
    try:
        main(["inspect", "--json", str(path)])
        code = 0
    except SystemExit as exc:
        code = exc.code
    report = json.loads(capsys.readouterr().out)
    assert code in (0, None)
    assert report["kind"] == "nwb (not analysable)"
    assert report["missing_for_analysis"] == MISSING
    assert report["identifier"] and "acquisition" in report and "findings" in report
    code, err = _run(["analyze", str(path), "--model", "pca", "--metric", "alignment",
                      "--out", str(tmp_path / "out")], capsys)
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2, err
    assert lines == [f"error: {path}: {MISSING}"], err
    assert not (tmp_path / "out").exists()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_data_validate_reports_them_as_not_analysable():
    from neurofacedis.data.validate import validate_files

    report = validate_files(FILES[:2], quick=True)
    analysis = [f for f in report.findings if f.check == "analysis"]
    assert [(f.status, f.message) for f in analysis] == [
        ("fail", MISSING.split(": ", 1)[1])
    ] * 2
