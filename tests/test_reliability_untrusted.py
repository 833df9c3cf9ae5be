"""Untrusted files: no code runs from data, hashes are checked before use, sizes before reads.

- The code base never unpickles or runs a program from data: a scan of every Python file's
  syntax tree fails on pickle imports, ``torch.load`` without ``weights_only=True``,
  ``yaml.load`` without a safe loader, ``allow_pickle=True``, ``read_pickle``,
  ``eval``/``exec``, TorchScript loads (``torch.jit.load`` / ``script``), ``shell=True``, and
  in neurofacedis/ and plugins/ any ``subprocess``/``shlex``/``os.system``/``os.popen``,
  outside the reviewed places of ``ALLOWED`` (file + function, each with why); the docs' code
  on the same.
- A manifest URL must use an allowed scheme (https, http; file:/// only with
  ``allow_local_urls``, never with a host); nothing is fetched or created otherwise.
- Hashes are checked before use: a fetched file that does not match is refused and removed; a
  damaged model-cache entry is fitted again instead of loaded.
- Plugins load only from installed entry points of the ``neurofacedis`` group.
- A recording declaring absurd sizes is refused before memory is allocated.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
#: Where the project's code lives (everything that could load a file).
SCANNED = ("neurofacedis", "plugins", "tests", "benchmarks", "docs", "schemas")

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "joblib",
                  "marshal"}
YAML_SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
#: Calls that load or compile a program (TorchScript is compiled code, run when loaded), by
#: the last two parts of their dotted name; ``from torch.jit import load`` is caught too.
CODE_LOADS = {"jit.load", "jit.script", "jit.CompilationUnit", "jit._load_for_lite_interpreter",
              "_C.import_ir_module", "hub.load", "package.PackageImporter"}
#: Modules that start other programs or split command lines (in neurofacedis/ and plugins/).
PROCESS_MODULES = {"subprocess", "shlex", "pty", "commands"}
PROCESS_CALLS = re.compile(
    r"^(os\.(system|popen|exec\w*|spawn\w*|posix_spawnp?|startfile)"
    r"|asyncio\.create_subprocess_\w+|subprocess\.\w+|shlex\.\w+|pty\.spawn)$"
)
#: The reviewed places that may do what the scan otherwise refuses, (file, function): why.
#: An entry that no longer matches anything fails the scan, so none outlives its reason.
ALLOWED = {
    ("plugins/nfd_classifier/_model.py", "_load_torchscript"):
        "the TorchScript opt-in: reached only through _code_gate, and only when the user set "
        "trust_code=true (docs/models/classifier.md, 'A TorchScript file is a program')",
    ("plugins/nfd_classifier/tests/test_classifier.py", "_code_carrying_torchscript"):
        "scripts the hostile fixture from a class written in this test; nothing is loaded",
    ("plugins/nfd_classifier/tests/test_classifier.py",
     "test_torchscript_rgb_network_takes_grey_images"):
        "scripts a two-layer network written in this test; nothing is loaded",
}


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: ``torch.load``, ``yaml.load``, ``np.load``..."""
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return "?"


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _runs_own_python(call: ast.Call) -> bool:
    """``subprocess.run([sys.executable, ...])``: a test starting a fresh interpreter of its own."""
    argv = call.args[0] if call.args else _kw(call, "args")
    return isinstance(argv, ast.List) and bool(argv.elts) and \
        _name(argv.elts[0]) == "sys.executable"


def _data_loads(node: ast.Call, name: str, source: str, tests: bool) -> list[str]:
    """Unpickling, unsafe YAML, eval/exec: what a call of ``name`` may run from a data file."""
    found = []
    last = name.rsplit(".", 1)[-1]
    if name.endswith("torch.load") or (name == "load" and "from torch import" in source):
        weights = _kw(node, "weights_only")
        if not (isinstance(weights, ast.Constant) and weights.value is True):
            found.append("torch.load without weights_only=True")
    if name in ("yaml.load", "yaml.load_all"):
        loader = _kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
        if loader is None or _name(loader).rsplit(".", 1)[-1] not in YAML_SAFE_LOADERS:
            found.append(f"{name} without a safe Loader")
    if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all"):
        found.append(name)
    allow = _kw(node, "allow_pickle")
    if allow is not None and not (isinstance(allow, ast.Constant) and not allow.value):
        found.append("allow_pickle not False")
    if last in ("read_pickle", "to_pickle"):
        found.append(name)
    if name in ("eval", "exec") and not tests:
        found.append(f"{name}()")
    if last == "YAML":
        typ = _kw(node, "typ")
        if isinstance(typ, ast.Constant) and typ.value in ("unsafe", "full"):
            found.append(f"ruamel YAML(typ={typ.value!r})")
    return found


class _Scan(ast.NodeVisitor):
    """Walk one file, naming the innermost function around each finding."""

    def __init__(self, source: str, filename: str, tests: bool, project: bool):
        self.source, self.filename, self.tests, self.project = source, filename, tests, project
        self.stack: list[str] = []
        self.found: list[tuple[int, str, str]] = []  # (line, function, problem)

    def add(self, node: ast.AST, problem: str) -> None:
        self.found.append((getattr(node, "lineno", 0), ".".join(self.stack[-1:]), problem))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top in PICKLE_MODULES or (top in PROCESS_MODULES and self.project
                                         and not self.tests):
                self.add(node, f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        top = (node.module or "").split(".")[0]
        if top in PICKLE_MODULES or (top in PROCESS_MODULES and self.project and not self.tests):
            self.add(node, f"from {node.module} import")
        if node.module == "torch.jit" and {a.name for a in node.names} & {"load", "script"}:
            self.add(node, "from torch.jit import load/script")

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        for problem in _data_loads(node, name, self.source, self.tests):
            self.add(node, problem)
        if ".".join(name.rsplit(".", 2)[-2:]) in CODE_LOADS:
            self.add(node, f"{name} (loads or compiles a program)")
        shell = _kw(node, "shell")
        if shell is not None and not (isinstance(shell, ast.Constant) and not shell.value):
            self.add(node, f"{name}(shell=...)")
        if self.project and PROCESS_CALLS.match(name):
            own = self.tests and name.startswith("subprocess.") and _runs_own_python(node)
            if not own:
                what = "splits a command line" if name.startswith("shlex.") else \
                    "starts a program"
                self.add(node, f"{name} ({what})")
        self.generic_visit(node)


def scan(source: str, filename: str = "<string>", *, tests: bool = False,
         project: bool = False) -> list[tuple[int, str, str]]:
    """Every place in ``source`` that could run code from data: ``(line, function, problem)``.

    ``tests``: the file is a test, which may ``exec`` the project's own docs snippets and start
    ``sys.executable``. ``project``: the file is in neurofacedis/ or plugins/, where starting
    programs (``subprocess``, ``shlex``, ``os.system``, ``os.popen``...) is refused too.
    """
    visitor = _Scan(source, filename, tests, project)
    visitor.visit(ast.parse(source, filename))
    return visitor.found


def unsafe_loads(source: str, filename: str = "<string>", *, tests: bool = False,
                 project: bool = False, allowed: dict | None = None) -> list[str]:
    """Every finding of :func:`scan` outside ``allowed`` (default: none), as ``file:line: what``."""
    allowed = allowed or {}
    return [f"{filename}:{line}: {problem}"
            for line, func, problem in scan(source, filename, tests=tests, project=project)
            if (filename, func) not in allowed]


def python_files() -> list[Path]:
    out = []
    for top in SCANNED:
        out += [p for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts]
    return sorted(out)


def test_scanner_finds_known_unsafe_loads_and_passes_safe_ones():
    bad = """
import pickle
from dill import loads
import torch, yaml, numpy as np, pandas as pd
torch.load(f)
torch.load(f, weights_only=False)
yaml.load(text)
yaml.load(text, Loader=yaml.Loader)
yaml.unsafe_load(text)
np.load(f, allow_pickle=True)
pd.read_pickle(f)
eval(text)
"""
    good = """
import torch, yaml, numpy as np
torch.load(f, weights_only=True)
yaml.safe_load(text)
yaml.load(text, Loader=yaml.SafeLoader)
np.load(f, allow_pickle=False)
np.load(f)
"""
    assert len(unsafe_loads(bad)) == 10
    assert unsafe_loads(good) == []
    programs = """
import subprocess, shlex
from torch.jit import load
import torch, os, sys
torch.jit.load(f)
torch.jit.script(module)
os.system(cmd)
os.popen(cmd)
subprocess.run(shlex.split(text))
subprocess.run([sys.executable, "-c", code])
proc = subprocess.Popen("ls", shell=True)
"""
    project = unsafe_loads(programs, "plugins/x.py", project=True)
    assert len(project) == 12, project
    assert "plugins/x.py:2: import subprocess" in project
    assert "plugins/x.py:5: torch.jit.load (loads or compiles a program)" in project
    assert "plugins/x.py:11: subprocess.Popen(shell=...)" in project
    # a test may import subprocess and start sys.executable; nothing else changes
    in_tests = unsafe_loads(programs, "plugins/x/tests/t.py", tests=True, project=True)
    assert len(in_tests) == 9 and not any(":10:" in f or ":2:" in f for f in in_tests)
    # outside neurofacedis/ and plugins/: programs loaded and shell=True only
    assert len(unsafe_loads(programs, "tests/t.py", tests=True)) == 4
    # the allow-list names a file and a function, nothing wider
    reviewed = "def opt_in(p):\n    return torch.jit.load(p)\n"
    other = "def elsewhere(p):\n    return torch.jit.load(p)\n"
    allowed = {("plugins/x.py", "opt_in"): "why"}
    assert unsafe_loads(reviewed, "plugins/x.py", project=True, allowed=allowed) == []
    assert unsafe_loads(reviewed, "plugins/y.py", project=True, allowed=allowed) != []
    assert unsafe_loads(other, "plugins/x.py", project=True, allowed=allowed) != []


def test_no_code_path_can_unpickle_or_run_data():
    """No pickle, unsafe YAML, ``torch.load`` without ``weights_only=True``, TorchScript load,
    ``shell=True``, or (in neurofacedis/ and plugins/) started program, outside ``ALLOWED``;
    and every ``ALLOWED`` entry is still used."""
    files = python_files()
    assert len(files) > 50 and any("nfd_beta_vae" in str(p) for p in files)
    found, used = [], set()
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        parts = rel.split("/")
        text = path.read_text(encoding="utf-8")
        for line, func, problem in scan(text, rel, tests="tests" in parts,
                                        project=parts[0] in ("neurofacedis", "plugins")):
            if (rel, func) in ALLOWED:
                used.add((rel, func))
            else:
                found.append(f"{rel}:{line}: {problem} (in {func or 'module'})")
    assert not found, "\n".join(found)
    assert used == set(ALLOWED), f"allow-list entries that match nothing: {set(ALLOWED) - used}"


def test_docs_code_never_recommends_unsafe_loads():
    """The same scan over every code block of the docs (python blocks parsed, others grepped)."""
    fence = re.compile(r"```(\w*)\n(.*?)```", re.S)
    grep = re.compile(
        r"torch\.load\((?![^)]*weights_only\s*=\s*True)|yaml\.(?:unsafe_|full_)?load\("
        r"(?![^)]*SafeLoader)|allow_pickle\s*=\s*True|import pickle|read_pickle"
        r"|torch\.jit\.load\(|shell\s*=\s*True"
    )
    found, blocks = [], 0
    for path in [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md")]:
        for lang, code in fence.findall(path.read_text(encoding="utf-8")):
            blocks += 1
            where = str(path.relative_to(ROOT))
            if lang in ("python", "py"):
                try:
                    found += unsafe_loads(code, where)
                    continue
                except SyntaxError:  # a fragment: grep it like the rest
                    pass
            found += [f"{where}: {m.group(0)}" for m in grep.finditer(code)]
    assert blocks > 10
    assert not found, "\n".join(found)


# ------------------------------------------------------------------------------ manifests


def _manifest(tmp_path: Path, url: str, sha: str = "0" * 64) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(json.dumps({"schema_version": 1, "datasets": [{
        "name": "shared", "description": "x", "kind": "nwb", "license": "CC0-1.0",
        "citation": "x", "files": [{"path": "rec.nwb", "url": url, "sha256": sha}]}]}))
    return path


@pytest.mark.parametrize("url", [
    "ftp://example.org/rec.nwb", "sftp://example.org/rec.nwb", "s3://bucket/rec.nwb",
    "gs://bucket/rec.nwb", "javascript:alert(1)", "data:text/plain,hello", "file:rec.nwb",
    "//example.org/rec.nwb", "rec.nwb", "https:///rec.nwb", "smb://host/share/rec.nwb",
])
def test_manifest_urls_outside_the_allow_list_are_refused(tmp_path, url):
    from neurofacedis.data import fetch_dataset

    dest = tmp_path / "dest"
    with pytest.raises(InputError) as err:
        fetch_dataset("shared", manifest=_manifest(tmp_path, url), dest=dest, progress=False)
    assert "url" in (err.value.obj or "") and "\n" not in str(err.value)
    assert not dest.exists()


def test_file_urls_need_the_opt_in_and_never_have_a_host(tmp_path):
    """Issue 18 class 4: a stranger's manifest cannot copy this machine's files."""
    from neurofacedis.data import fetch_dataset

    secret = tmp_path / "id_rsa"
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    dest = tmp_path / "dest"
    for url in (secret.as_uri(), "file:///proc/self/environ"):
        with pytest.raises(InputError) as err:
            fetch_dataset("shared", manifest=_manifest(tmp_path, url, sha), dest=dest,
                          progress=False)
        # the library names its parameter; the CLI shows it as --allow-local-urls (FLAGS)
        assert "`allow_local_urls`" in str(err.value) and "url" in err.value.obj
        assert not dest.exists()
    for url in ("file://evil.example" + secret.as_posix(), "file://localhost/etc/passwd"):
        with pytest.raises(InputError, match="has a host"):
            fetch_dataset("shared", manifest=_manifest(tmp_path, url, sha), dest=dest,
                          allow_local_urls=True, progress=False)
        assert not dest.exists()
    res = fetch_dataset("shared", manifest=_manifest(tmp_path, secret.as_uri(), sha), dest=dest,
                        allow_local_urls=True, progress=False)  # the user's own manifest
    assert res.files[0].verified and (dest / "rec.nwb").read_bytes() == secret.read_bytes()


def test_fetched_file_with_wrong_hash_is_refused_before_use(tmp_path):
    from neurofacedis.data import fetch_dataset

    site = tmp_path / "site.nwb"
    site.write_bytes(b"tampered content")
    dest = tmp_path / "dest"
    with pytest.raises(InputError, match="sha256 mismatch"):
        fetch_dataset("shared", manifest=_manifest(tmp_path, site.as_uri()), dest=dest,
                      allow_local_urls=True, progress=False)
    assert not (dest / "rec.nwb").exists() and not dest.exists()


# ---------------------------------------------------------------------------- model cache


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    path = tmp_path_factory.mktemp("untrusted-rec") / "tiny.nwb"
    write_session(path, simulate_session(n_identities=6, n_views=4, n_neurons=12, n_repeats=2,
                                         image_size=16, seed=3))
    return path


def test_cache_holds_only_safetensors_and_json_and_refits_a_damaged_entry(recording, tmp_path):
    from safetensors.numpy import load_file

    from neurofacedis.runner import analyze

    cache = tmp_path / "cache"
    kw = dict(models=["pca", "ica"], metrics=["alignment"], cache_dir=cache, figures=False)
    first = analyze(recording, **kw)
    files = [p for p in cache.glob("models/**/*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".safetensors", ".json"}
    for p in files:
        if p.suffix == ".safetensors":
            load_file(p)  # plain tensors, no code
    # damage one weight file: the entry no longer matches its recorded hash
    victim = next(p for p in files if p.suffix == ".safetensors" and "models" in p.parts)
    victim.write_bytes(victim.read_bytes()[:-7] + b"garbage")
    second = analyze(recording, **kw)
    status = {fit["cache_key"]: fit["cache"] for m in second.summary["models"].values()
              for fit in m["fits"]}
    assert sorted(status.values()) == ["hit", "miss"]  # only the damaged one is refitted
    assert status[victim.parent.name] == "miss"
    assert second.summary["metrics"] == first.summary["metrics"]
    from neurofacedis.cache import ModelCache

    assert ModelCache._verified(victim.parent)


# ------------------------------------------------------------------------------- plugins


def test_plugins_come_only_from_installed_entry_points(tmp_path):
    from importlib import metadata

    from neurofacedis.registry import GROUP, get_registry

    installed = {ep.name for ep in metadata.entry_points(group=GROUP)}
    assert set(get_registry().plugins) <= installed | {"core"}
    # a module that merely sits in the working folder is never imported
    marker = tmp_path / "imported"
    for name in ("nfd_evil", "neurofacedis_plugin", "conftest"):
        (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    proc = subprocess.run([sys.executable, "-m", "neurofacedis", "plugins", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = {row["plugin"] for row in json.loads(proc.stdout)}
    assert not marker.exists() and "nfd_evil" not in names


# ---------------------------------------------------------------------- absurd declared sizes

RSS = r"""
import resource, sys, json
from neurofacedis.nwb import Recording
from neurofacedis.errors import InputError
try:
    with Recording.open(sys.argv[1]) as rec:
        rec.images[:]
        outcome = "read"
except InputError as exc:
    outcome = "refused: " + exc.problem
print(json.dumps({"outcome": outcome,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_absurd_declared_size_is_refused_before_memory_is_allocated(tmp_path):
    """A 216 MB image stack declared in a tiny file: read under the default limit, refused
    without the memory under a 64 MB limit (peak RSS measured in a fresh process)."""
    import shutil

    from reliability_corpus import _huge_dataset, base_session

    from neurofacedis.nwb import write_session

    path = tmp_path / "sparse.nwb"
    write_session(path, base_session())
    shutil.copy(path, tmp_path / "small.nwb")
    _huge_dataset(path, "processing/neurofacedis/stimulus_set/images", (6, 6000, 6000), "uint8")
    assert path.stat().st_size < 1 << 20  # the file stays small: nothing is stored

    def measure(file: Path, limit: str | None) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "NEUROFACEDIS_MAX_BYTES"}
        if limit:
            env["NEUROFACEDIS_MAX_BYTES"] = limit
        proc = subprocess.run([sys.executable, "-c", RSS, str(file)], capture_output=True,
                              text=True, env=env, timeout=180)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    small = measure(tmp_path / "small.nwb", None)
    read = measure(path, None)
    refused = measure(path, str(64 << 20))
    assert small["outcome"] == read["outcome"] == "read"
    assert refused["outcome"].startswith("refused: declares shape (6, 6000, 6000)")
    assert read["max_rss_mb"] > small["max_rss_mb"] + 150  # the read really allocates
    assert refused["max_rss_mb"] < small["max_rss_mb"] + 30  # the refusal does not


def test_npy_header_declaring_more_than_the_file_holds_is_refused(tmp_path):
    from reliability_corpus import _npy

    from neurofacedis.importers import read_responses

    path = tmp_path / "r.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (50000, 50000, 4), }"
    path.write_bytes(_npy(header, np.zeros(16, np.float32).tobytes()))
    with pytest.raises(InputError, match="declares shape .* but holds 64 bytes"):
        read_responses(path)
