"""Logs for machines (issue 24 item 3): off a terminal, progress is timestamped lines (at most
one per interval, first and last always), tables keep every column whole, and
``--log-format json`` writes one JSON object per line. The streams here are pipes/buffers,
never terminals."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

import neurofacedis.progress as progress
from neurofacedis.cli import main
from neurofacedis.progress import Reporter, set_log_format

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
LINE = re.compile(rf"^{STAMP} (?P<stage>.+) (?P<done>\d+)/(?P<total>\d+|\?)(?: bytes)?"
                  rf"(?: \(\d+%\))? elapsed \d+:\d\d:\d\d(?P<tail> eta \d+:\d\d:\d\d| done|)$")


@pytest.fixture(autouse=True)
def _restore_log_format():
    previous = set_log_format("auto")
    yield
    set_log_format(previous[0], interval=previous[1])


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    data = simulate_session(n_identities=6, n_views=3, n_neurons=8, n_repeats=2,
                            image_size=16, seed=4)
    return write_session(tmp_path_factory.mktemp("rec") / "logs.nwb", data)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_are_timestamped_and_at_most_one_per_interval(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    buffer = io.StringIO()
    set_log_format("auto", interval=10)
    with Reporter(console=Console(file=buffer)) as reporter:  # not a terminal: plain
        with reporter.task("fit pca[n_components=2]/seed0", total=50) as cb:
            for _ in range(50):  # one step a second: 50 s
                clock.now += 1
                cb(1)
        reporter.log("model aam failed:", "no landmarks")
    lines = buffer.getvalue().splitlines()
    matches = [LINE.match(x) for x in lines[:-1]]
    assert all(matches), lines
    assert {m["stage"] for m in matches} == {"fit pca[n_components=2]/seed0"}
    assert [int(m["done"]) for m in matches] == [0, 10, 20, 30, 40, 50, 50]
    assert matches[1]["tail"] == " eta 0:00:40" and matches[-1]["tail"] == " done"
    assert re.match(rf"^{STAMP} model aam failed: no landmarks$", lines[-1])


def test_json_lines_parse_one_object_per_event(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    buffer = io.StringIO()
    set_log_format("json", interval=0)
    with Reporter(console=Console(file=buffer, force_terminal=True)) as reporter:
        with reporter.task("download x[0].bin", total=4) as cb:
            clock.now += 2
            cb(1)
        reporter.log("warning", "model pca: slow")
    events = [json.loads(x) for x in buffer.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["progress", "progress", "progress", "log"]
    first, mid, last = events[:3]
    assert (first["done"], first["total"], first["stage"]) == (0, 4, "download x[0].bin")
    assert (mid["done"], mid["elapsed_s"], mid["eta_s"]) == (1, 2.0, 6.0)
    assert last["final"] and last["done"] == 4 and events[3]["message"] == "warning model pca: slow"
    assert all(re.match(STAMP, e["time"]) for e in events)


def test_a_stopped_step_says_stopped_not_done():
    buffer = io.StringIO()
    with pytest.raises(KeyboardInterrupt), Reporter(console=Console(file=buffer)) as reporter:
        with reporter.task("fit vae/seed0", total=3) as cb:
            cb(1)
            raise KeyboardInterrupt
    assert buffer.getvalue().splitlines()[-1].endswith(" stopped")


def test_tables_off_a_terminal_keep_every_column_whole(capsys):
    from neurofacedis.cli._render import render_summary

    names = ["alignment", "decoding_accuracy", "encoding_explained_variance", "rsa_spearman",
             "disentanglement_dci", "reconstruction_error"]
    summary = {"metrics": {m: {"beta_vae[beta=4,latent_dim=10]": {m: 0.123456}} for m in names}}
    render_summary(summary, as_json=False)
    out = capsys.readouterr().out
    assert "…" not in out and max(len(x) for x in out.splitlines()) > 120
    assert all(m in out for m in names) and "beta_vae[beta=4,latent_dim=10]" in out
    assert out.count("0.123") == len(names)


def _cli(args: list, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_analyze_with_a_pipe_as_stderr_logs_lines_and_json(recording, tmp_path, capsys):
    base = ["analyze", recording, "-m", "pca", "--metric", "alignment", "--no-figures",
            "--cache-dir", tmp_path / "c"]
    code, out, err = _cli([*base, "--out", tmp_path / "a"], capsys)
    assert code == 0, err
    stages = [m["stage"] for m in map(LINE.match, err.splitlines()) if m]
    assert "encode pca/seed0" in stages and "writing outputs" in stages
    assert "│ pca" in out and "━" not in err  # the table on stdout; no bars in the log
    code, out, err = _cli(["--log-format", "json", *base, "--out", tmp_path / "j"], capsys)
    assert code == 0, err
    events = [json.loads(x) for x in err.splitlines()]  # every stderr line is one object
    assert {"progress", "result"} <= {e["event"] for e in events}
    result = next(e for e in events if e["event"] == "result")
    assert set(result["summary"]["metrics"]["alignment"]) == {"pca"}
    code, out, err = _cli([*base, "-q", "--out", tmp_path / "q"], capsys)  # -q: no progress
    assert code == 0 and err == "" and "│ pca" in out


def test_errors_and_warnings_are_json_lines_too(tmp_path, capsys):
    code, _, err = _cli(["--log-format", "json", "analyze", tmp_path / "missing.nwb", "-m",
                         "pca"], capsys)
    assert code == 2
    (event,) = [json.loads(x) for x in err.splitlines()]
    assert event["event"] == "error" and event["message"].startswith("error: ")
    assert event["file"] == str(tmp_path / "missing.nwb")
    code, _, err = _cli(["--log-format", "yaml", "plugins"], capsys)
    assert code == 2 and "'yaml' is not one of auto, rich, plain, json" in err
