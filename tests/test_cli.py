"""The CLI package (issue 19): one table maps library parameter names to flags; data and
findings print as written (square brackets included); the console script still resolves."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from neurofacedis.cli import FLAGS, _command, _flag_named, main
from neurofacedis.errors import InputError


def _cli(args: list, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_the_console_script_is_the_cli_main():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["neurofacedis"] == "neurofacedis.cli:main"


@pytest.mark.parametrize("argv,command", [
    (["analyze", "r.nwb", "--model", "pca"], "analyze"),
    (["--log-format", "json", "--debug", "data", "pack", "a.nwb"], "data pack"),
    (["--log-interval", "3", "data", "--help"], "data"),
    ([], ""),
])
def test_the_command_is_found_past_root_options(argv, command):
    assert _command(argv) == command


def test_parameter_names_become_the_flags_of_the_command_that_ran():
    exc = _flag_named(InputError("`dandi_dir` needs `subject`", obj="subject"), "data pack")
    assert exc.one_line() == "--subject: --dandi-layout needs --subject"
    exc = _flag_named(InputError("exists", file="x.zarr", obj="out"), "data export")
    assert exc.one_line() == "x.zarr: --zarr: exists"
    exc = _flag_named(InputError("exists", file="x", obj="out"), "analyze")
    assert exc.obj == "--out"
    # a name the command does not have, and data that merely looks like one, stay as written
    exc = _flag_named(InputError("see `other` and images", obj="images"), "analyze")
    assert exc.one_line() == "images: see `other` and images"
    assert all(f.startswith("--") or f == "FILE" for t in FLAGS.values() for f in t.values())


def test_data_pack_errors_name_the_flags_as_before(tmp_path, capsys):
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile

    path = tmp_path / "a.nwb"  # a valid NWB file that has no Subject
    with NWBHDF5IO(str(path), "w") as io:
        io.write(NWBFile(session_description="d", identifier="a",
                         session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc)))
    manifest = tmp_path / "m.yaml"
    code, _, err = _cli(["data", "pack", path, "--name", "x", "--manifest", manifest,
                         "--dandi-layout", tmp_path / "d"], capsys)
    assert (code, err) == (2, f"error: {path}: --subject: has no subject id "
                              "(subject.subject_id): give --subject\n")
    code, _, err = _cli(["data", "pack", path, "--name", "x", "--manifest", manifest,
                         "--dandi-layout", tmp_path / "d", "--session", "1", "--session", "2"],
                        capsys)
    assert (code, err) == (2, "error: --session: --dandi-layout needs one --session per file "
                              "when given (1 files, 2 sessions)\n")
    code, _, err = _cli(["data", "pack", path, "--name", "x", "--manifest", manifest,
                         "--base-url", "ftp://h/"], capsys)
    assert code == 2 and err.startswith("error: --base-url: ")
    with pytest.raises(InputError) as info:  # the library names its own parameters
        from neurofacedis.data.pack import pack_files

        pack_files([path], name="x", manifest=manifest, dandi_dir=tmp_path / "d")
    assert (info.value.obj, info.value.problem) == (
        "subject", "has no subject id (subject.subject_id): give `subject`")


def test_inspect_render_prints_bracketed_text_as_written():
    from neurofacedis.inspection import render

    report = {"file": "rec[0].nwb", "kind": "recording", "identifier": "[bold]id[/bold]",
              "labels": ["view[1]"], "findings": [
                  {"importance": "BEST_PRACTICE_SUGGESTION", "check": "check_x",
                   "location": "/acquisition/data[0]", "message": "value [red]x[/red] odd"}]}
    buffer = io.StringIO()
    render(report, Console(file=buffer, width=60))
    text = buffer.getvalue()
    for shown in ("rec[0].nwb", "[bold]id[/bold]", "view[1]", "/acquisition/data[0]",
                  "value [red]x[/red] odd"):
        assert shown in text, shown
    assert "…" not in text  # off a terminal, every cell whole


def test_data_validate_table_prints_bracketed_text_as_written(capsys):
    from neurofacedis.cli._render import print_table
    from neurofacedis.cli.data import _findings_table
    from neurofacedis.data.validate import ValidationReport
    from neurofacedis.inspection import Finding

    report = ValidationReport([Finding("s[1].nwb", "chunks", "fail", "/data[0]", "[b]bad[/b]")])
    print_table(_findings_table(report))
    out = capsys.readouterr().out
    assert "s[1].nwb" in out and "/data[0]" in out and "[b]bad[/b]" in out
    assert json.loads(report.to_json())["findings"][0]["location"] == "/data[0]"
