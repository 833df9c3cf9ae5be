"""Every bad input in the generated corpus (tests/reliability_corpus.py) is refused the same way.

Through the CLI (``neurofacedis.cli.main``, in-process; a few in real subprocesses): one line
on stderr naming the file, the object and the problem; exit code 2; no traceback (``--debug``
shows one); nothing written; no input changed (every file hashed before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_corpus import MARKER_NAME, build_corpus

from neurofacedis.cli import main
from neurofacedis.errors import NeurofacedisError

#: Kinds of bad input the issue names; each must appear in the corpus (by case name).
REQUIRED = (
    "text_bytes", "truncated", "string_responses", "inf_responses", "nan_cell", "zero_stimuli",
    "zero_neurons", "mixed", "stimulus_index_out_of_range", "duplicate_stimulus_ids",
    "presentations_out_of_order", "unit_without_spikes", "huge_declared", "non_utf8",
    "too-long", "unicode", "bad-yaml", "missing-files-field", "ftp-url", "hash-mismatch",
    "pickled",
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    cache = tmp_path_factory.mktemp("cache")  # locks and fits land here, outside the snapshot
    return root, cache, build_corpus(root)


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and 'dir' for every folder) under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            full = os.path.join(dirpath, f)
            mode = os.lstat(full).st_mode
            if not stat.S_ISREG(mode):  # never open a FIFO or a link to /dev/zero
                out[os.path.relpath(full, root)] = (
                    f"link {os.readlink(full)}" if stat.S_ISLNK(mode) else f"special {mode:o}")
                continue
            with open(full, "rb") as fh:
                out[os.path.relpath(full, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def run_cli(argv: list[str], capsys) -> tuple[object, str]:
    """Run ``main(argv)`` in-process: (exit code or the exception raised, stderr)."""
    capsys.readouterr()
    try:
        main(argv)
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException as exc:  # noqa: BLE001 - a traceback is what we look for
        code = exc
    return code, capsys.readouterr().err


def test_corpus_has_40_distinct_bad_inputs_of_every_kind(corpus):
    root, _, cases = corpus
    inputs = {c.file for c in cases}
    assert len(inputs) >= 40, len(inputs)
    assert len(cases) >= 80
    names = " ".join(c.name for c in cases)
    missing = [k for k in REQUIRED if k not in names]
    assert not missing
    commands = {c.argv[0] if c.argv[0] != "data" else " ".join(c.argv[:2]) for c in cases}
    assert commands == {"inspect", "analyze", "import", "data fetch", "data pack"}
    # regenerating writes the same inputs (seeded): compare the lab-format files' hashes
    again = build_corpus(root.parent / (root.name + "-again"))
    assert [c.name for c in again] == [c.name for c in cases]
    first = snapshot(root / "in")
    second = snapshot(root.parent / (root.name + "-again") / "in")
    same = [  # (manifests and pickle payloads hold the root's path, so they differ)
        k for k in first if k.endswith((".npy", ".csv", ".png")) and "pickled" not in k
    ]
    assert len(same) > 30 and all(first[k] == second[k] for k in same)


def test_every_bad_input_is_one_line_exit_2_and_nothing_changes(corpus, capsys, monkeypatch):
    root, cache, cases = corpus
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(cache))
    monkeypatch.setenv("COLUMNS", "200")
    failures = []
    after = snapshot(root)
    for case in cases:
        before = after  # nothing runs between two cases: the last snapshot is this one's before
        code, err = run_cli(list(case.argv), capsys)
        after = snapshot(root)
        lines = err.strip().splitlines()
        problems = []
        if code != 2:
            problems.append(f"exit {code!r}")
        if len(lines) != 1 or "Traceback" in err:
            problems.append(f"{len(lines)} stderr lines")
        line = lines[-1] if lines else ""
        if case.file not in line:
            problems.append("file not named")
        if case.obj is not None and case.obj not in line:
            problems.append(f"object {case.obj!r} not named")
        if case.problem not in line.lower():
            problems.append(f"problem {case.problem!r} not said")
        if after != before:
            changed = sorted(set(after.items()) ^ set(before.items()))[:3]
            problems.append(f"files changed: {changed}")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)} | {line[:200]}")
    assert not (root / MARKER_NAME).exists(), "a pickle or YAML payload ran"
    assert not failures, "\n".join(failures)


def test_debug_shows_the_traceback(corpus, capsys, monkeypatch):
    """``--debug`` lets the exception through (the traceback is shown), for a seeded sample."""
    root, cache, cases = corpus
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(cache))
    rng = np.random.default_rng(7)
    sample = [cases[i] for i in sorted(rng.choice(len(cases), 12, replace=False))]
    sample += [c for c in cases if c.name in ("inspect-name-too-long", "import-out-name-too-long")]
    for case in sample:
        code, _ = run_cli(["--debug", *case.argv], capsys)
        assert isinstance(code, (NeurofacedisError, OSError)), (case.name, code)
    assert not (root / "out").exists() or not any((root / "out").iterdir())


@pytest.mark.parametrize("name", ["inspect-truncated_unicode_path", "import-responses-inf",
                                  "fetch-ftp-url"])
def test_real_process_one_line_exit_2_and_debug_traceback(corpus, name):
    root, cache, cases = corpus
    case = next(c for c in cases if c.name == name)
    env = {**os.environ, "NEUROFACEDIS_CACHE": str(cache), "PYTHONIOENCODING": "utf-8"}
    exe = [sys.executable, "-m", "neurofacedis"]
    proc = subprocess.run([*exe, *case.argv], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert case.file in proc.stderr and case.problem in proc.stderr.lower()
    proc = subprocess.run([*exe, "--debug", *case.argv], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_data_validate_reports_unreadable_files_as_failures(corpus, capsys, monkeypatch):
    """``data validate`` is a report: unreadable files are failing findings, exit 1, no crash."""
    root, cache, _ = corpus
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(cache))
    files = [root / "in" / f"{n}.nwb" for n in ("text_bytes", "truncated_half", "hdf5_not_nwb")]
    before = snapshot(root)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["data", "validate", "--json", *map(str, files)])
    out, err = capsys.readouterr()
    assert exit_.value.code == 1 and "Traceback" not in err
    failed = {f["file"] for f in json.loads(out)["findings"] if f["status"] == "fail"}
    assert failed == {str(f) for f in files}
    assert snapshot(root) == before


def test_good_recording_at_a_unicode_path_works(corpus, capsys, monkeypatch, tmp_path):
    """Control: unicode in a path is not itself a problem."""
    import shutil

    root, cache, _ = corpus
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(cache))
    target = tmp_path / "données 顔" / "記録 😀.nwb"
    target.parent.mkdir()
    shutil.copy(root / "in" / "good.nwb", target)
    code, err = run_cli(["inspect", "--json", str(target)], capsys)
    assert code == 0, err
