"""What a new user trips on (issue 26): labels, help and errors printed as written, quiet runs
that still print errors and results, errors naming the real cause, one-line warnings."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.cli import main
from neurofacedis.errors import InputError


def _write(path: Path, *, landmarks: bool) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    data = simulate_session(n_identities=8, n_views=4, n_neurons=12, n_repeats=2,
                            image_size=24, seed=5)
    if not landmarks:
        data.landmarks = None
    return write_session(path, data)


@pytest.fixture(scope="module")
def bracketed(tmp_path_factory) -> Path:
    """A recording whose file name holds square brackets and which has no landmarks."""
    return _write(tmp_path_factory.mktemp("rec") / "rec[v2].nwb", landmarks=False)


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


# --- item 2: rich markup never eats square brackets ------------------------------------------


def test_results_table_and_progress_keep_bracketed_labels(bracketed, tmp_path, capsys):
    out = tmp_path / "out[1]"
    code, stdout, stderr = _cli(
        ["analyze", bracketed, "-m", "pca", "-p", "pca.n_components=2,3", "--metric",
         "alignment", "--out", out, "--cache-dir", tmp_path / "c", "--no-figures"], capsys)
    assert code == 0, stderr
    rows = [line for line in stdout.splitlines() if "│ pca" in line]
    assert [r.split("│")[1].strip() for r in rows] == ["pca[n_components=2]",
                                                       "pca[n_components=3]"]
    assert f"report: {out / 'report.html'}" in stdout
    assert "encode pca[n_components=2]/seed0" in stderr  # a progress line


def test_error_message_keeps_brackets(bracketed, tmp_path, capsys):
    code, stdout, stderr = _cli(
        ["analyze", bracketed, "-m", "aam", "-m", "pca", "--metric", "alignment", "--out",
         tmp_path / "o", "--cache-dir", tmp_path / "c", "--no-figures"], capsys)
    assert code == 1
    error = next(line for line in stderr.splitlines() if line.startswith("error model aam"))
    assert "rec[v2].nwb has none" in error and "`--detect-landmarks`" in error


def test_help_text_keeps_brackets(capsys):
    code, stdout, _ = _cli(["import", "--help"], capsys)
    assert code == 0
    text = " ".join(stdout.split())
    assert "Stimuli x neurons [x repeats]: .npy, .csv or .mat." in text
    code, stdout, _ = _cli(["demo", "--help"], capsys)
    text = " ".join(stdout.split())
    assert "Models to compare [pca, ica, and beta_vae if installed]." in text
    assert "Metrics [all installed]." in text


def test_progress_lines_keep_brackets():
    from rich.console import Console

    from neurofacedis.progress import Reporter

    buffer = io.StringIO()
    with Reporter(console=Console(file=buffer, width=200)) as reporter:
        with reporter.task("fit pca[n_components=2]/seed0", total=2) as cb:
            cb(1)
            cb(1, description="aam[shape]: warping")
        reporter.log("model aam[x]/seed0 failed:", "pip install 'neurofacedis[landmarks]'",
                     style="red")
    text = buffer.getvalue()
    assert "aam[shape]: warping" in text
    assert "model aam[x]/seed0 failed: pip install 'neurofacedis[landmarks]'" in text
    buffer = io.StringIO()
    with Reporter(console=Console(file=buffer, width=200)) as reporter:
        with reporter.task("fit pca[n_components=2]/seed0", total=1) as cb:
            cb(1)
    assert "fit pca[n_components=2]/seed0" in buffer.getvalue()


# --- item 4: quiet hides progress, never errors or the result -------------------------------


def test_quiet_still_prints_errors_and_the_result(bracketed, tmp_path, capsys):
    code, stdout, stderr = _cli(
        ["analyze", bracketed, "-m", "aam", "-m", "pca", "--metric", "alignment", "-q",
         "--out", tmp_path / "o", "--cache-dir", tmp_path / "c", "--no-figures"], capsys)
    assert code == 1
    assert [line for line in stderr.splitlines() if line.startswith("error model aam (aam")]
    assert "━" not in stderr  # no progress bars
    assert "│ pca " in stdout and "report: " in stdout
    code, stdout, stderr = _cli(
        ["analyze", bracketed, "-m", "aam", "--metric", "alignment", "-q", "--out",
         tmp_path / "o2", "--cache-dir", tmp_path / "c", "--no-figures"], capsys)
    assert code == 1 and "error model aam" in stderr and "has none" in stderr


# --- item 6: errors name the real cause ------------------------------------------------------


def test_split_by_identity_with_one_identity_names_it():
    from neurofacedis.runner import split_stimuli

    with pytest.raises(InputError, match="only 1 identity among 10 stimuli") as info:
        split_stimuli(10, groups=["same"] * 10)
    # the library names its parameter; the CLI shows the flag (one table, cli.FLAGS)
    assert "`split_by` identity" in str(info.value) and info.value.obj == "split_by"
    from neurofacedis.cli import _flag_named

    shown = _flag_named(info.value, "analyze").one_line()
    assert "--split-by identity" in shown and "--split-by stimulus" in shown
    with pytest.raises(InputError, match="only 1 stimuli: too few"):
        split_stimuli(1)


def test_aam_names_the_training_images_that_lack_landmarks(tmp_path):
    from neurofacedis.nwb import Recording
    from neurofacedis.runner import analyze

    rec = _write(tmp_path / "with-landmarks.nwb", landmarks=True)
    with Recording.open(rec) as opened:
        assert opened.landmarks is not None
        np.save(tmp_path / "train.npy", opened.load_images())
    res = analyze(rec, models=["aam", "pca"], metrics=["alignment"], train_images=tmp_path /
                  "train.npy", out=tmp_path / "o", cache_dir=tmp_path / "c", figures=False)
    errors = {e["name"]: e["error"] for e in res.summary["errors"]}
    assert set(errors) == {"aam"}
    assert "the training images train.npy have no landmarks" in errors["aam"]
    assert "stimuli" not in errors["aam"].split(":")[0]


# --- item 8: warnings are one line each, without paths ---------------------------------------


def _file_with_a_pynwb_warning(path: Path) -> Path:
    """An NWB file as other software may leave it: 10 data rows but 5 timestamps."""
    from datetime import datetime, timezone

    import h5py
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    nwb = NWBFile(session_description="x", identifier="w",
                  session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwb.add_acquisition(TimeSeries(name="odd", data=np.zeros((10, 3)), unit="a",
                                   timestamps=np.arange(10.0)))
    with NWBHDF5IO(path, "w") as nwb_io:
        nwb_io.write(nwb)
    with h5py.File(path, "a") as fh:
        group = fh["acquisition/odd"]
        attrs = dict(group["timestamps"].attrs)
        del group["timestamps"]
        group.create_dataset("timestamps", data=np.arange(5.0))
        group["timestamps"].attrs.update(attrs)
    return path


def test_pynwb_warning_is_one_line_without_a_path(tmp_path):
    path = _file_with_a_pynwb_warning(tmp_path / "other-software.nwb")
    proc = subprocess.run(
        [sys.executable, "-m", "neurofacedis", "analyze", str(path), "-m", "pca", "--out",
         str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert "site-packages" not in proc.stderr and "warn(" not in proc.stderr
    assert all(line.startswith(("warning: ", "error: ")) for line in lines), lines
    assert [line for line in lines if "Length of data does not match" in line] == [
        "warning: TimeSeries 'odd': Length of data does not match length of timestamps. Your "
        "data may be transposed. Time should be on the 0th dimension (UserWarning from pynwb)"
    ]
    assert lines[-1].startswith("error: ") and "no stimuli" in lines[-1]


def test_runtime_warnings_are_one_line_once(capsys):
    from neurofacedis.cli import _one_line_warnings

    restore = _one_line_warnings()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            for _ in range(3):  # as in a loop of Lasso fits
                warnings.warn_explicit("invalid value encountered\nin divide", RuntimeWarning,
                                       "/venv/lib/site-packages/numpy/_core/_methods.py", 10)
    finally:
        restore()
    assert capsys.readouterr().err == (
        "warning: invalid value encountered in divide (RuntimeWarning from numpy)\n"
    )
