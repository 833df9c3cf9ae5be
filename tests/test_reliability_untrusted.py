"""Untrusted files: no code runs from data, hashes are checked before use, sizes before reads.

- The code base never unpickles: a scan of every Python file's syntax tree fails on pickle
  imports, ``torch.load`` without ``weights_only=True``, ``yaml.load`` without a safe loader,
  ``allow_pickle=True``, ``read_pickle``, ``eval``/``exec`` (and the docs' code on the same).
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


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: ``torch.load``, ``yaml.load``, ``np.load``..."""
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return "?"


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def unsafe_loads(source: str, filename: str = "<string>", *, tests: bool = False) -> list[str]:
    """Every place in ``source`` that could run code hidden in a data file.

    ``tests``: the file is a test, which may ``exec`` the project's own docs snippets.
    """
    found = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in PICKLE_MODULES:
                found.append(f"{where}: from {node.module} import")
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            last = name.rsplit(".", 1)[-1]
            if name.endswith("torch.load") or (name == "load" and "from torch import" in source):
                weights = _kw(node, "weights_only")
                if not (isinstance(weights, ast.Constant) and weights.value is True):
                    found.append(f"{where}: torch.load without weights_only=True")
            if name in ("yaml.load", "yaml.load_all"):
                loader = _kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
                if loader is None or _name(loader).rsplit(".", 1)[-1] not in YAML_SAFE_LOADERS:
                    found.append(f"{where}: {name} without a safe Loader")
            if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all"):
                found.append(f"{where}: {name}")
            allow = _kw(node, "allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and not allow.value):
                found.append(f"{where}: allow_pickle not False")
            if last in ("read_pickle", "to_pickle"):
                found.append(f"{where}: {name}")
            if name in ("eval", "exec") and not tests:
                found.append(f"{where}: {name}()")
            if last == "YAML":
                typ = _kw(node, "typ")
                if isinstance(typ, ast.Constant) and typ.value in ("unsafe", "full"):
                    found.append(f"{where}: ruamel YAML(typ={typ.value!r})")
    return found


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


def test_no_code_path_can_unpickle_or_run_data():
    files = python_files()
    assert len(files) > 50 and any("nfd_beta_vae" in str(p) for p in files)
    found = []
    for path in files:
        rel = path.relative_to(ROOT)
        text = path.read_text(encoding="utf-8")
        found += unsafe_loads(text, str(rel), tests="tests" in rel.parts)
    assert not found, "\n".join(found)


def test_docs_code_never_recommends_unsafe_loads():
    """The same scan over every code block of the docs (python blocks parsed, others grepped)."""
    fence = re.compile(r"```(\w*)\n(.*?)```", re.S)
    grep = re.compile(
        r"torch\.load\((?![^)]*weights_only\s*=\s*True)|yaml\.(?:unsafe_|full_)?load\("
        r"(?![^)]*SafeLoader)|allow_pickle\s*=\s*True|import pickle|read_pickle"
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
        assert "--allow-local-urls" in str(err.value) and "url" in err.value.obj
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
