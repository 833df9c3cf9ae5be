"""The user guide builds without warnings, its CLI reference is current, and every
`neurofacedis ...` command shown in a code block of the docs (and README.md) runs.

Commands run in a temporary folder through ``neurofacedis.cli.main`` on a small simulated
recording. What the test changes, so that each command runs in seconds (:func:`adapt`):

- file names: every ``*.nwb`` recording named in the docs is a copy of one small virtual face
  patch (64 faces, 30 neurons, 3 repeats, 32 x 32, plus ``gender``/``age``/``valence`` label
  columns); ``faces/``, ``counts.npy``, ``vggface.pt`` (a tiny TorchScript net) are written
  from it; absolute paths (``/shared/...``) become relative ones;
- placeholders of synopsis lines (:data:`PLACEHOLDERS`) get values and ``[optional]`` groups
  are kept without their brackets;
- size: each named model and metric gets its ``testing_params`` (the conformance kit's small
  settings, e.g. 4 training steps) and its :data:`DOC_SIZES` (fewer AAM parameters, one face
  at each end of a dissection dictionary row) unless the command sets that parameter;
  ``--seeds N`` is capped at 2; ``--scale quick|full`` becomes ``--scale test``; ``demo``
  without ``--model`` runs ``--model pca --metric alignment``; ``--scheduler ADDRESS``
  becomes ``--workers 1`` (a local Dask cluster); the model cache is a temporary folder
  (NEUROFACEDIS_CACHE).

Not collected: docs/cli.md (generated from the app: its usage lines are synopses, checked by
``test_cli_reference_is_current``) and docs/examples/ (needs the example plugin installed;
tests/test_example_plugin.py installs it and runs its commands).
"""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Synopsis placeholders -> values (``NAME`` depends on the option it follows).
PLACEHOLDERS = {
    "FILE...": "rec.nwb", "FILE": "rec.nwb", "DIR": "out-dir", "PATH": "manifest.yaml",
    "ID": "s01", "OUT.nwb.zarr": "rec.nwb.zarr", "RECORDING": "rec.nwb",
}
_NAME = {"fetch": "virtual-face-patch", "--name": "test-dataset"}
#: Recording names used in the docs; each becomes a copy of the small recording.
_RECORDINGS = re.compile(r"^(?:.*/)?[\w.-]+\.nwb$")
#: Options whose value is a file the command writes (never pre-created).
_OUTPUT_FLAGS = {"--out", "-o", "--zarr"}


@dataclass(frozen=True)
class DocCommand:
    """A ``neurofacedis`` command found in a code block."""

    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def _doc_files() -> list[Path]:
    files = [p for p in sorted(DOCS.rglob("*.md"))
             if p.name != "cli.md" and "examples" not in p.relative_to(DOCS).parts]
    return [*files, ROOT / "README.md"]


def collect_commands(path: Path) -> list[DocCommand]:
    """Every ``neurofacedis`` command in the fenced and indented code blocks of ``path``.

    Continuations: a trailing backslash, or (in indented blocks) a deeper-indented line that
    does not start a new command. Python/YAML/TOML blocks are skipped; ``$ `` prompts dropped.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = str(path.relative_to(ROOT))
    found: list[DocCommand] = []
    fence: str | None = None
    lang = ""
    indented = False  # inside an indented code block
    prev_blank = True
    current: list[str] | None = None
    start = base = 0

    def flush() -> None:
        nonlocal current
        if current:
            found.append(DocCommand(rel, start, " ".join(p.strip() for p in current)))
        current = None

    for i, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        body = re.sub(r"^\$\s+", "", stripped)
        opening = re.match(r"^\s*(```+|~~~+)\s*(\w*)", raw)
        if fence is None and opening:
            flush()
            fence, lang, indented = opening.group(1), opening.group(2), False
        elif fence is not None and stripped.startswith(fence):
            flush()
            fence = None
        elif fence is not None:
            if lang in ("python", "py", "yaml", "toml"):
                continue
            if current is not None and current[-1].endswith("\\"):
                current[-1] = current[-1][:-1]
                current.append(body)
            else:
                flush()
                if body.startswith("neurofacedis "):
                    current, start = [body], i
        else:
            indented = indent >= 4 and (indented or prev_blank) if stripped else indented
            if not indented:
                flush()
            elif body.startswith("neurofacedis "):
                flush()
                current, start, base = [body], i, indent
            elif current is not None and stripped and indent > base:
                current.append(body)
            else:
                flush()
        prev_blank = not stripped
    flush()
    return found


def all_commands() -> list[DocCommand]:
    """Every command of every collected page."""
    return [c for f in _doc_files() for c in collect_commands(f)]


def _registry():
    from neurofacedis.registry import get_registry

    return get_registry()


def adapt(text: str) -> list[str]:
    """Turn a command shown in the docs into the argv the test runs (module docstring)."""
    tokens = shlex.split(text, comments=True)
    assert tokens[0] == "neurofacedis", text
    args: list[str] = []
    for tok in tokens[1:]:
        if tok.startswith("[") or tok.endswith("]"):
            tok = tok.strip("[]")
        if tok == "NAME":
            tok = _NAME["--name"] if args and args[-1] == "--name" else _NAME["fetch"]
        tok = PLACEHOLDERS.get(tok, tok)
        if tok.startswith("/shared/"):
            tok = Path(tok).name if _RECORDINGS.match(tok) else tok.replace("/shared/", "")
        if _RECORDINGS.match(tok) and not tok.endswith(".zarr"):
            tok = Path(tok).name
        args.append(tok)
    # size: scheduler -> local cluster, seeds capped, scale test, demo on linear models
    out: list[str] = []
    it = iter(range(len(args)))
    for i in it:
        a = args[i]
        if a == "--scheduler":
            out += ["--workers", "1"]
            next(it, None)
        elif a == "--seeds" and i + 1 < len(args):
            out += ["--seeds", str(min(int(args[i + 1]), 2))]
            next(it, None)
        elif a == "--scale" and i + 1 < len(args):
            out += ["--scale", "test"]
            next(it, None)
        elif a in ("--param", "-p") and i + 1 < len(args) and "," in args[i + 1]:
            out += [a, _two_values(args[i + 1])]
            next(it, None)
        else:
            out.append(a)
    if out[0] == "demo" and "--model" not in out and "-m" not in out:
        out += ["--model", "pca", "--metric", "alignment"]
    if out[0] == "analyze":
        out += _testing_params(out)
    return out


def _two_values(param: str) -> str:
    """``m.beta=1,2,4,8`` -> ``m.beta=1,2``: a sweep is shown working with two values."""
    key, _, values = param.partition("=")
    return f"{key}={','.join(values.split(',')[:2])}"


def same_run(argv: list[str]) -> tuple[str, ...]:
    """``argv`` without its output folder names: two doc commands equal here run once."""
    return tuple("OUT" if i and argv[i - 1] in _OUTPUT_FLAGS else a for i, a in enumerate(argv))


@functools.cache  # every parametrised command asks; the docs do not change during a run
def _first_of_each_run() -> dict[tuple[str, ...], str]:
    first: dict[tuple[str, ...], str] = {}
    for cmd in all_commands():
        first.setdefault(same_run(adapt(cmd.text)), str(cmd))
    return first


def _named(args: list[str], *flags: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a in flags]


#: Sizes on top of the plugins' ``testing_params`` (same rule: what the command sets is kept).
#: Figures cost most in these runs and grow with units and faces per unit: the face dictionary
#: of the default AAM (50 units x 8 faces, 400 axes) took 12 s of aam.md's 23 s run.
DOC_SIZES = {
    "aam": {"n_shape": 4, "n_appearance": 4},
    "dissection": {"n_faces": 1},
}


def _testing_params(args: list[str]) -> list[str]:
    reg = _registry()
    given = {p.split("=", 1)[0] for p in _named(args, "--param", "-p")}
    metrics = _named(args, "--metric") or sorted(reg.metrics)
    extra = []
    for name in _named(args, "--model", "-m"):
        if name in reg.models:
            sizes = {**reg.models[name].spec.testing_params, **DOC_SIZES.get(name, {})}
            extra += [f"{name}.{k}={v}" for k, v in sizes.items()]
    for name in metrics:
        if name in reg.metrics:
            sizes = {**reg.metrics[name].spec.testing_params, **DOC_SIZES.get(name, {})}
            extra += [f"{name}.{k}={v}" for k, v in sizes.items()]
    return [x for e in extra if e.split("=", 1)[0] not in given for x in ("--param", e)]


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with everything the docs' commands name (module docstring)."""
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    d = tmp_path_factory.mktemp("docs-commands")
    data = simulate_session(n_identities=16, n_views=4, n_neurons=30, n_repeats=3,
                            image_size=32, seed=0)
    rng = np.random.default_rng(0)
    ident = np.asarray(data.identity)
    data.labels["gender"] = np.where(ident % 2 == 0, "f", "m")
    data.labels["age"] = (20 + 3 * (ident % 7)).astype(float)
    data.labels["valence"] = rng.uniform(-1, 1, len(ident))
    # the recording carries two raters' choices too (`analyze --target behaviour` commands)
    import pandas as pd

    from neurofacedis.nwb._behaviour import behaviour_from_table

    ids = list(data.stimulus_ids)
    n = len(ids)
    truth = np.where(data.factors.iloc[:, 0].to_numpy() > 0, "positive", "negative")
    choices = [truth, truth, np.where(np.arange(n) % 4 == 0, truth[::-1], truth)]
    frame = pd.DataFrame({"stimulus_id": ids * 3, "subject_id": np.repeat(["p1", "p2", "p3"], n),
                          "choice": np.concatenate(choices), "target": np.tile(truth, 3)})
    write_session(d / "rec.nwb", data, overwrite=True,
                  behaviour=behaviour_from_table(frame, stimulus_ids=ids))
    from skimage.io import imsave

    (d / "faces").mkdir()
    for i, img in enumerate(np.asarray(data.images)):
        imsave(d / "faces" / f"face{i:03d}.png", img, check_contrast=False)
    np.save(d / "counts.npy", np.asarray(data.responses, dtype=np.float32))
    # two raters' choices on every image, for `import --ratings`
    truth = np.where(data.factors.iloc[:, 0].to_numpy() > 0, "positive", "negative")
    rows = [f"face{i:03d},p{s},{truth[i] if (i + s) % 5 else truth[::-1][i]},{1 + i % 7},"
            f"{truth[i]}" for s in (1, 2, 3) for i in range(len(data.images))]
    (d / "ratings.csv").write_text("stimulus,subject,choice,rating,target\n" + "\n".join(rows)
                                   + "\n")
    _torchscript(d / "vggface.pt")
    shutil.copy(ROOT / "data_manifest.yaml", d / "manifest.yaml")
    return d


def _torchscript(path: Path) -> None:
    import warnings

    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; the plugin reads it
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(net.eval(), torch.zeros(1, 3, 32, 32)), str(path))


def _prepare(workdir: Path, argv: list[str], run_dir: Path) -> None:
    run_dir.mkdir()
    outputs = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in _OUTPUT_FLAGS}
    if argv[0] == "simulate":
        outputs.add(argv[1])
    for tok in argv:
        if _RECORDINGS.match(tok) and tok not in outputs and tok != "rec.nwb":
            shutil.copy(workdir / "rec.nwb", run_dir / tok)
    for name in ("rec.nwb", "faces", "counts.npy", "vggface.pt", "manifest.yaml", "ratings.csv"):
        src = workdir / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, run_dir / name)


# -------------------------------------------------------------------------------------- tests


def test_docs_show_commands_and_collection_finds_continuations():
    cmds = all_commands()
    assert len(cmds) >= 20
    texts = [c.text for c in cmds]
    # a backslash continuation and an indented synopsis continuation are joined
    assert any("classifier.weights=vggface.pt" in t and "finetune=true" in t for t in texts)
    assert any(t.startswith("neurofacedis data pack") and "--dandi-layout" in t for t in texts)
    assert any(t.startswith("neurofacedis reproduce higgins2021") for t in texts)


def test_adapt_maps_files_placeholders_and_sizes():
    argv = adapt("neurofacedis analyze /shared/data/am_session1.nwb -m beta_vae "
                 "-p beta_vae.beta=1,2 --seeds 10 --scheduler tcp://head:8786 -o /shared/res")
    assert argv[:2] == ["analyze", "am_session1.nwb"]
    assert "--scheduler" not in argv and argv[argv.index("--workers") + 1] == "1"
    assert argv[argv.index("--seeds") + 1] == "2"
    assert "beta_vae.steps=4" in argv and "res" in argv
    assert "beta_vae.beta=1,2" in argv  # sweeps are shown with two values
    argv = adapt("neurofacedis analyze rec.nwb -m aam -p aam.n_shape=10 --metric dissection")
    assert "aam.n_appearance=4" in argv and "dissection.n_faces=1" in argv  # DOC_SIZES
    assert "aam.n_shape=4" not in argv and "aam.n_shape=10" in argv  # the command's own kept
    argv = adapt("neurofacedis analyze rec.nwb -m pca -p pca.n_components=2,4,8 -o x")
    assert "pca.n_components=2,4" in argv
    assert same_run(argv) == same_run(adapt("neurofacedis analyze rec.nwb -m pca "
                                            "-p pca.n_components=2,4 -o y"))
    argv = adapt("neurofacedis data pack FILE... --name NAME [--manifest PATH]")
    assert argv == ["data", "pack", "rec.nwb", "--name", "test-dataset", "--manifest",
                    "manifest.yaml"]
    assert adapt("neurofacedis data fetch NAME [--dest DIR]") == [
        "data", "fetch", "virtual-face-patch", "--dest", "out-dir"]


def test_cli_reference_is_current():
    gen = ROOT / "docs" / "gen_cli.py"
    done = subprocess.run([sys.executable, str(gen), "--check"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr + " (run: python docs/gen_cli.py)"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
         str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "site" / "reproduce.html").exists()
    assert (tmp_path / "site" / "cli.html").exists()
    assert "WARNING" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("cmd", all_commands(), ids=str)
def test_doc_command_runs(cmd: DocCommand, workdir, tmp_path, monkeypatch, capsys):
    from neurofacedis.cli import main

    argv = adapt(cmd.text)
    first = _first_of_each_run()[same_run(argv)]
    if first != str(cmd):  # e.g. `reproduce --scale quick` on two pages: one run checks both
        pytest.skip(f"runs as {first}")
    run_dir = tmp_path / "run"
    _prepare(workdir, argv, run_dir)
    monkeypatch.chdir(run_dir)
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(workdir / "cache"))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    assert exc.value.code == 0, f"{cmd}: neurofacedis {' '.join(argv)}\n{out.out[-2000:]}" \
                                f"\n{out.err[-2000:]}"
