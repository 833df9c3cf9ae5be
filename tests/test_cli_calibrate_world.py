"""The CLI's `calibrate` command and `simulate --world` (issues 21 and 22)."""

from __future__ import annotations

import subprocess
import sys

import h5py
import pytest

from neurofacedis.cli import FLAGS


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neurofacedis", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_calibrate_prints_the_table_and_writes_the_figure(tmp_path):
    fig = tmp_path / "power.png"
    run = _cli("calibrate", "--n-null", "4", "--n-power", "2", "--permutations", "9",
               "--jobs", "1", "--figure", str(fig))
    assert run.returncode == 0, run.stderr
    assert "| test | printed as | null datasets |" in run.stdout
    assert "rsa_permutation" in run.stdout and "| axis | value | power |" in run.stdout
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = _cli("calibrate", "--n-null", "4", "--n-power", "0", "--figure", str(fig))
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "--figure" in again.stderr or str(fig) in again.stderr


def test_calibrate_flags_are_in_the_table():
    assert FLAGS["calibrate"]["n_null"] == "--n-null"
    assert FLAGS["calibrate"]["n_permutations"] == "--permutations"


@pytest.mark.parametrize("world", ["3d", "framed"])
def test_simulate_world_writes_that_world(tmp_path, world):
    out = tmp_path / "s.nwb"
    run = _cli("simulate", str(out), "--world", world, "--identities", "2", "--views", "2",
               "--neurons", "3", "--size", "32")
    assert run.returncode == 0, run.stderr
    with h5py.File(out, "r") as f:
        assert f["identifier"][()]  # a readable NWB file


def test_simulate_unknown_world_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "s.nwb"
    run = _cli("simulate", str(out), "--world", "cube")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: --world: unknown world 'cube'; known: ['3d', 'flat', 'framed']"]
    assert not out.exists()
