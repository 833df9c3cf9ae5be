"""fetch against a loopback HTTP server (127.0.0.1, one thread, stops itself)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from functools import partial
from http.server import (
    BaseHTTPRequestHandler,
    HTTPServer,
    SimpleHTTPRequestHandler,
    ThreadingHTTPServer,
)
from pathlib import Path

import numpy as np
import pytest

from neurofacedis.data.fetch import LOCK_NAME, fetch_dataset, read_lock
from neurofacedis.data.manifest import parse_manifest
from neurofacedis.errors import InputError

PAYLOAD = bytes(range(256)) * 1024  # 256 KiB, several chunks
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(SimpleHTTPRequestHandler):
    """Static files with optional ``Range: bytes=N-`` support; logs requests on the server."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 (http.server API)
        rng = self.headers.get("Range")
        self.server.log.append((self.path, rng))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if rng and self.server.ranges:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve_directory(directory: Path, *, ranges: bool = True, lifetime: float = 60.0):
    """Serve ``directory`` on 127.0.0.1 from a thread that ends by itself after ``lifetime``."""
    server = HTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(directory)))
    server.timeout = 0.05
    server.log = []
    server.ranges = ranges
    stop = threading.Event()
    deadline = time.monotonic() + lifetime

    def loop():
        while not stop.is_set() and time.monotonic() < deadline:
            server.handle_request()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROFACEDIS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "good.bin").write_bytes(PAYLOAD)
    (root / "corrupt.bin").write_bytes(PAYLOAD[:-1] + b"\x00")
    return root


def _manifest(base: str, **file_fields):
    f = {"path": "data/good.bin", "url": f"{base}/good.bin", "sha256": SHA,
         "size": len(PAYLOAD), **file_fields}
    if f.get("sha256") is None:
        f.pop("sha256")
        f["unverified"] = True
    return parse_manifest({
        "schema_version": 1,
        "datasets": [{"name": "ds", "description": "d", "kind": "images", "license": "CC0-1.0",
                      "citation": "c", "files": [f]}],
    })


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_good_file_is_fetched_verified_and_cached(site, tmp_path):
    dest = tmp_path / "dest"
    with serve_directory(site) as (server, base):
        res = fetch_dataset("ds", dest=dest, manifest=_manifest(base), progress=False)
        (f,) = res.files
        assert f.verified and f.sha256 == SHA and f.size == len(PAYLOAD)
        assert (dest / "data" / "good.bin").read_bytes() == PAYLOAD
        assert _files(dest) == ["data/good.bin", LOCK_NAME]
        n = len(server.log)
        fetch_dataset("ds", dest=dest, manifest=_manifest(base), progress=False)
        assert len(server.log) == n  # cached: verified on disk, not downloaded again
    lock = read_lock(dest)
    assert lock["datasets"]["ds"]["files"]["data/good.bin"]["sha256"] == SHA


def test_default_destination_is_the_user_cache(site, tmp_path):
    with serve_directory(site) as (_, base):
        res = fetch_dataset("ds", manifest=_manifest(base), progress=False)
    assert res.dest == tmp_path / "cache" / "data" / "ds"
    assert (res.dest / "data" / "good.bin").is_file()


def test_corrupted_file_is_refused_and_removed(site, tmp_path):
    dest = tmp_path / "dest"
    with serve_directory(site) as (_, base):
        m = _manifest(base, url=f"{base}/corrupt.bin", size=None)
        with pytest.raises(InputError) as exc:
            fetch_dataset("ds", dest=dest, manifest=m, progress=False)
    msg = str(exc.value)
    assert "\n" not in msg and "sha256 mismatch" in msg and "removed" in msg
    assert "ds/data/good.bin" in msg
    assert _files(dest) == []  # nothing left behind: no file, no .part, no temp file


def test_stale_local_file_with_wrong_hash_is_replaced(site, tmp_path):
    dest = tmp_path / "dest"
    (dest / "data").mkdir(parents=True)
    (dest / "data" / "good.bin").write_bytes(b"old")
    with serve_directory(site) as (_, base):
        fetch_dataset("ds", dest=dest, manifest=_manifest(base), progress=False)
    assert (dest / "data" / "good.bin").read_bytes() == PAYLOAD


def test_unverified_needs_the_flag_then_records_the_hash(site, tmp_path):
    dest = tmp_path / "dest"
    with serve_directory(site) as (server, base):
        m = _manifest(base, sha256=None)
        with pytest.raises(InputError, match="`allow_unverified`"):
            fetch_dataset("ds", dest=dest, manifest=m, progress=False)
        assert not server.log and not dest.exists()
        res = fetch_dataset("ds", dest=dest, manifest=m, allow_unverified=True, progress=False)
    (f,) = res.files
    assert not f.verified and f.sha256 == SHA
    assert SHA in res.notes[0]
    rec = json.loads((dest / LOCK_NAME).read_text())["datasets"]["ds"]["files"]["data/good.bin"]
    assert rec == {"sha256": SHA, "size": len(PAYLOAD), "digest": "file", "verified": False,
                   "url": f"{base}/good.bin"}
    # The recorded hash is then enforced: a changed file at the same URL is refused.
    (site / "good.bin").write_bytes(b"changed")
    (dest / "data" / "good.bin").unlink()
    with serve_directory(site) as (_, base2):
        m2 = _manifest(base2, sha256=None, url=f"{base2}/good.bin", size=None)
        with pytest.raises(InputError, match="sha256 mismatch"):
            fetch_dataset("ds", dest=dest, manifest=m2, allow_unverified=True, progress=False)
    assert not (dest / "data" / "good.bin").exists()


def test_traversal_names_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(InputError, match=r"files\[0\]\.path"):
        _manifest("http://127.0.0.1:9", path="../../escape.bin")


def test_resume_from_partial_download(site, tmp_path):
    dest = tmp_path / "dest"
    (dest / "data").mkdir(parents=True)
    half = len(PAYLOAD) // 2
    (dest / "data" / "good.bin.part").write_bytes(PAYLOAD[:half])
    with serve_directory(site) as (server, base):
        res = fetch_dataset("ds", dest=dest, manifest=_manifest(base), progress=False)
    assert server.log == [("/good.bin", f"bytes={half}-")]
    assert res.files[0].verified
    assert (dest / "data" / "good.bin").read_bytes() == PAYLOAD
    assert not (dest / "data" / "good.bin.part").exists()


def test_server_without_range_support_restarts(site, tmp_path):
    dest = tmp_path / "dest"
    (dest / "data").mkdir(parents=True)
    (dest / "data" / "good.bin.part").write_bytes(b"garbage!")
    with serve_directory(site, ranges=False) as (_, base):
        res = fetch_dataset("ds", dest=dest, manifest=_manifest(base), progress=False)
    assert res.files[0].verified
    assert (dest / "data" / "good.bin").read_bytes() == PAYLOAD


def test_oversized_response_is_refused(site, tmp_path):
    dest = tmp_path / "dest"
    with serve_directory(site) as (_, base):
        with pytest.raises(InputError, match="larger than the manifest"):
            fetch_dataset("ds", dest=dest, manifest=_manifest(base, size=100), progress=False)
    assert _files(dest) == []


def test_http_error_is_one_line(site, tmp_path):
    with serve_directory(site) as (_, base):
        with pytest.raises(InputError) as exc:
            fetch_dataset("ds", dest=tmp_path / "d", manifest=_manifest(base, url=f"{base}/nope"),
                          progress=False)
    assert "HTTP 404" in str(exc.value) and "\n" not in str(exc.value)


def test_file_url_and_base_url(site, tmp_path):
    local = _manifest("x", url=(site / "good.bin").as_uri())
    res = fetch_dataset("ds", dest=tmp_path / "a", progress=False, manifest=local,
                        allow_local_urls=True)
    assert res.files[0].verified
    # --base-url: every file from BASE/<path>
    (site / "data").mkdir()
    (site / "data" / "good.bin").write_bytes(PAYLOAD)
    with serve_directory(site) as (server, base):
        res = fetch_dataset("ds", dest=tmp_path / "b", manifest=_manifest("https://nowhere.invalid"),
                            base_url=base + "/", progress=False)
    assert server.log[0][0] == "/data/good.bin" and res.files[0].verified
    with pytest.raises(InputError, match="scheme"):
        fetch_dataset("ds", dest=tmp_path / "c", manifest=_manifest("x"), base_url="ftp://h/")


def test_local_urls_need_allow_local_urls(site, tmp_path, capsys):
    """Issue 18 class 4: a stranger's manifest cannot copy this machine's files."""
    from neurofacedis.cli import main

    secret = tmp_path / "secret.txt"  # stands for ~/.ssh/id_rsa or /proc/self/environ
    secret.write_text("private key\n")
    sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    local = _manifest("x", url=secret.as_uri(), sha256=sha, size=None)
    with pytest.raises(InputError) as exc:
        fetch_dataset("ds", dest=tmp_path / "a", manifest=local, progress=False)
    msg = str(exc.value)
    assert "\n" not in msg and "`allow_local_urls`" in msg and "datasets[0].files[0].url" in msg
    assert not (tmp_path / "a").exists()
    with pytest.raises(InputError, match="`allow_local_urls`"):  # a file:/// mirror too
        fetch_dataset("ds", dest=tmp_path / "b", manifest=_manifest("https://h"),
                      base_url=site.as_uri(), progress=False)
    assert not (tmp_path / "b").exists()
    # the user's own manifest: the flag copies the file
    path = tmp_path / "mine.json"
    doc = {"schema_version": 2, "datasets": [{
        "name": "ds", "description": "d", "kind": "images", "license": "l", "citation": "c",
        "files": [{"path": "s.txt", "url": secret.as_uri(), "sha256": sha}]}]}
    path.write_text(json.dumps(doc))
    argv = ["data", "fetch", "ds", "--manifest", str(path), "--dest", str(tmp_path / "c"), "-q"]
    with pytest.raises(SystemExit) as code:
        main(argv)
    assert code.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as code:
        main([*argv, "--allow-local-urls"])
    assert code.value.code == 0 and (tmp_path / "c" / "s.txt").read_text() == "private key\n"
    # a host in a file URL is never ignored: refused even with the flag
    doc["datasets"][0]["files"][0]["url"] = "file://evil.example" + secret.as_posix()
    path.write_text(json.dumps(doc))
    with pytest.raises(SystemExit) as code:
        main([*argv[:-1], "--dest", str(tmp_path / "d"), "--allow-local-urls"])
    err = capsys.readouterr().err
    assert code.value.code == 2 and err.count("\n") == 1 and "has a host" in err
    assert not (tmp_path / "d").exists()


def test_request_only_dataset_explains_where_to_ask(tmp_path):
    from neurofacedis.data.manifest import load_manifest

    m = load_manifest(Path(__file__).resolve().parents[1] / "data_manifest.yaml")
    with pytest.raises(InputError, match="request it from https://doi.org/10.1038"):
        fetch_dataset("higgins2021-face-images", dest=tmp_path, manifest=m)


def test_cli_fetch_exit_codes(site, tmp_path, capsys):
    from neurofacedis.cli import main

    evil = tmp_path / "evil.yaml"
    evil.write_text(
        "schema_version: 1\ndatasets:\n  - name: x\n    description: d\n    kind: nwb\n"
        "    license: l\n    citation: c\n    files:\n"
        f"      - path: ../../escape.bin\n        sha256: {SHA}\n"
    )
    with pytest.raises(SystemExit) as exc:
        main(["data", "fetch", "x", "--manifest", str(evil), "--dest", str(tmp_path / "d")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'..'" in err and "files[0].path (x)" in err
    assert not (tmp_path / "d").exists() and not (tmp_path.parent / "escape.bin").exists()

    good = tmp_path / "good.yaml"
    with serve_directory(site) as (_, base):
        good.write_text(evil.read_text().replace("../../escape.bin", "good.bin")
                        .replace("    files:", f"    base_url: {base}/\n    files:"))
        with pytest.raises(SystemExit) as exc:
            main(["data", "fetch", "x", "--manifest", str(good), "--dest", str(tmp_path / "d"),
                  "--json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["files"][0]["verified"] and out["files"][0]["sha256"] == SHA


def test_pack_fetch_analyze_gives_the_same_summary(tmp_path):
    """A collaborator's path: pack (DANDI layout) -> serve -> fetch elsewhere -> analyze."""
    from neurofacedis.data.pack import pack_files
    from neurofacedis.nwb import write_session
    from neurofacedis.runner import analyze
    from neurofacedis.simulate import simulate_session

    data = simulate_session(n_identities=8, n_views=4, n_neurons=12, n_repeats=3,
                            image_size=16, seed=2)
    original = write_session(tmp_path / "recording.nwb", data)
    share = tmp_path / "share"
    manifest = tmp_path / "data_manifest.yaml"
    with serve_directory(share) as (server, base):
        packed = pack_files([original], name="lab-session", manifest=manifest, base_url=base,
                            dandi_dir=share, subject="V1", sessions=["1"], citation="us")
        got = fetch_dataset("lab-session", dest=tmp_path / "collaborator", manifest=manifest,
                            progress=False)
    assert server.log == [("/sub-V1/sub-V1_ses-1.nwb", None)]
    (f,) = got.files
    assert f.verified and f.sha256 == packed.entry.files[0].sha256
    assert f.path == (tmp_path / "collaborator" / "sub-V1" / "sub-V1_ses-1.nwb").resolve()
    kw = dict(models=["pca"], metrics=["alignment"], figures=False, use_cache=False)
    a = analyze(original, **kw)
    b = analyze(f.path, **kw)
    assert b.summary["recording"]["sha256"] == a.summary["recording"]["sha256"]
    assert b.summary["metrics"] == a.summary["metrics"]
    assert np.isfinite(a.summary["metrics"]["alignment"]["pca"]["alignment"])


# ---- issue 18 class 5: downloads are bounded in size, encoding and time ----------------------

BOMB_PLAIN = bytes(8 << 20)  # 8 MiB of zeros: what the gzip body expands to
BOMB = gzip.compress(BOMB_PLAIN, compresslevel=9)  # ~8 KiB on the wire


class _HostileHandler(BaseHTTPRequestHandler):
    """``/bomb`` gzip-encoded, ``/bigger`` past its declared size, ``/endless`` with no size,
    ``/trickle`` one byte a second. Each request's headers are logged on the server."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.log.append((self.path, dict(self.headers)))
        self.send_response(200)
        if self.path == "/bomb":
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
        elif self.path == "/trickle":
            self.send_header("Content-Length", "1000")
        self.end_headers()  # no Content-Length otherwise: the body ends when the socket closes
        try:
            if self.path == "/bomb":
                self.wfile.write(BOMB)
            elif self.path == "/bigger":
                self.wfile.write(PAYLOAD * 4)
            elif self.path == "/endless":
                for _ in range(4096):  # 256 MiB at most, should the client never stop
                    self.wfile.write(PAYLOAD[:65536])
            elif self.path == "/trickle":
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1.0)
        except OSError:  # the client hung up: what a bounded download does
            pass


@contextmanager
def serve_hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    server.daemon_threads = True
    server.log = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _hostile_manifest(tmp_path: Path, url: str, **file_fields) -> Path:
    path = tmp_path / "hostile.json"
    f = {"path": "data/x.bin", "url": url, **file_fields}
    path.write_text(json.dumps({"schema_version": 2, "datasets": [{
        "name": "ds", "description": "d", "kind": "images", "license": "l", "citation": "c",
        "files": [f]}]}))
    return path


@pytest.mark.parametrize("case, file_fields, flags, problem", [
    # the manifest "declares" the hash of the 8 MiB expansion: stored as sent, it cannot match
    ("bomb", {"sha256": hashlib.sha256(BOMB_PLAIN).hexdigest()}, ("--max-size", "1048576"),
     "gzip-encoded (stored as sent, not decoded)"),
    ("bigger", {"sha256": SHA, "size": len(PAYLOAD)}, (), "larger than the manifest's size"),
    ("endless", {"sha256": SHA}, ("--max-size", "1048576"),
     "larger than the size cap (--max-size) (1048576 bytes)"),
    ("trickle", {"sha256": SHA}, ("--timeout", "2"), "not complete within the 2 s deadline"),
])
def test_hostile_server_ends_in_one_line_exit_2_and_no_partial_file(
        tmp_path, capsys, case, file_fields, flags, problem):
    from neurofacedis.cli import main

    dest = tmp_path / "dest"
    with serve_hostile() as (server, base):
        manifest = _hostile_manifest(tmp_path, f"{base}/{case}", **file_fields)
        start = time.monotonic()
        with pytest.raises(SystemExit) as exc:
            main(["data", "fetch", "ds", "--manifest", str(manifest), "--dest", str(dest),
                  "-q", *flags])
        elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1, err
    assert problem in err and "ds/data/x.bin" in err
    assert _files(dest) == []  # no file, no .part, no temporary file
    assert server.log[0][1].get("Accept-Encoding") == "identity"
    assert elapsed < 15


def test_download_reads_no_more_than_the_cap(tmp_path):
    """The downloader stops one byte past the cap; a declared size over the cap is refused
    before anything is requested; the default cap is 1 GiB."""
    from neurofacedis.data.fetch import DEFAULT_MAX_SIZE, DownloadRefused, ResumableDownloader

    assert DEFAULT_MAX_SIZE == 1 << 30
    part = tmp_path / "x.part"
    with serve_hostile() as (server, base):
        d = ResumableDownloader(part, progress=False, max_size=100_000)
        with pytest.raises(DownloadRefused, match="100000 bytes"):
            d(f"{base}/endless", tmp_path / "out", None)
        m = _hostile_manifest(tmp_path, f"{base}/endless", sha256=SHA, size=2 << 30)
        with pytest.raises(InputError, match=r"declared size 2147483648 bytes is over the "
                                             r"1073741824-byte cap; pass a larger `max_size`"):
            fetch_dataset("ds", dest=tmp_path / "d", manifest=m, progress=False)
        assert len(server.log) == 1 and not (tmp_path / "d").exists()
        # the bomb arrives as its compressed bytes: nothing is decoded
        d = ResumableDownloader(part, progress=False, max_size=1 << 20)
        d(f"{base}/bomb", tmp_path / "bomb.gz", None)
    assert (tmp_path / "bomb.gz").read_bytes() == BOMB and d.encoding == "gzip"
    assert not part.exists()


# ---- issue 18 class 3 / issue 19: generation through the dataset hook, no command line -------

SMALL = {"seed": 3, "identities": 2, "views": 2, "neurons": 3, "repeats": 2, "size": 16}


def _generated_manifest(generate, sha=None, path="virtual_face_patch.nwb") -> dict:
    f = {"path": path, "digest": "content"}
    f.update({"sha256": sha} if sha else {"unverified": True})
    return {"schema_version": 2, "datasets": [{
        "name": "gen", "description": "d", "kind": "generated", "license": "CC0-1.0",
        "citation": "c", "generate": generate, "files": [f]}]}


def test_generate_calls_the_registered_dataset_not_the_cli(tmp_path):
    """data fetch regenerates through registry.dataset(name).loader; neurofacedis.cli is never
    imported (no cli -> data -> cli cycle); the result equals the loader's own output."""
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(_generated_manifest(
        {"dataset": "virtual_face_patch", "params": SMALL})))
    code = f"""
import json, sys
from neurofacedis.data.fetch import fetch_dataset
from neurofacedis.data.digest import content_sha256
from neurofacedis.registry import get_registry
res = fetch_dataset("gen", dest={str(tmp_path / 'dest')!r}, manifest={str(manifest)!r},
                    allow_unverified=True, progress=False)
own = get_registry().dataset("virtual_face_patch").spec.loader({str(tmp_path / 'own')!r},
                                                                **{SMALL!r})
print(json.dumps([res.files[0].sha256, content_sha256(own), str(res.files[0].path),
                  "neurofacedis.cli" in sys.modules]))
"""
    env = {**os.environ, "NEUROFACEDIS_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    fetched, own, path, cli_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert fetched == own and not cli_loaded
    assert path == str((tmp_path / "dest" / "virtual_face_patch.nwb").resolve())
    assert _files(tmp_path / "dest") == [LOCK_NAME, "virtual_face_patch.nwb"]


def test_data_modules_import_neither_the_cli_nor_subprocess():
    """The library never runs its own CLI or a program named by a manifest."""
    import ast

    root = Path(__file__).resolve().parents[1] / "neurofacedis" / "data"
    found = []
    for py in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(py.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{py.name}: {n}" for n in names
                      if n in {"subprocess", "shlex"} or n.startswith("neurofacedis.cli")
                      or (py.name != "cli.py" and n == "typer")]
    assert found == []


def test_old_command_manifest_is_refused_and_nothing_is_written(tmp_path, capsys):
    """The old form could write outside the destination (`{dest}/../outside.nwb`)."""
    from neurofacedis.cli import main

    outside = tmp_path / "outside.nwb"
    outside.write_bytes(b"the user's file")
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(_generated_manifest({
        "command": "neurofacedis simulate {dest}/../outside.nwb --seed 3 --identities 2 "
                   "--views 2 --neurons 3 --repeats 2 --size 16 --overwrite", "seed": 3})))
    with pytest.raises(SystemExit) as exc:
        main(["data", "fetch", "gen", "--manifest", str(manifest), "--dest",
              str(tmp_path / "dest"), "--allow-unverified", "-q"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "datasets[0].generate (gen): 'generate.command' was replaced" in err
    assert "generate: {dataset: virtual_face_patch, params: {seed: 0" in err
    assert outside.read_bytes() == b"the user's file" and not (tmp_path / "dest").exists()


@pytest.mark.parametrize("generate, problem", [
    ({"dataset": "virtual_face_patc"},
     "generate.dataset: unknown dataset 'virtual_face_patc'; did you mean 'virtual_face_patch'?"),
    ({"dataset": "virtual_face_patch", "params": {"out": "/tmp/x.nwb"}},
     "generate.params.out: unknown parameter 'out' of dataset 'virtual_face_patch'"),
    ({"dataset": "virtual_face_patch", "params": {"identities": "75"}},
     "generate.params.identities: expected int, got str '75'"),
    ({"dataset": "virtual_face_patch", "params": {"identities": True}},
     "generate.params.identities: expected int, got bool True"),
    ({"dataset": "virtual_face_patch", "params": {"rgb": 1}},
     "generate.params.rgb: expected bool, got int 1"),
])
def test_generator_and_params_are_checked_before_anything_is_written(tmp_path, generate,
                                                                      problem):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_generated_manifest(generate)))
    with pytest.raises(InputError) as exc:
        fetch_dataset("gen", dest=tmp_path / "dest", manifest=path, allow_unverified=True,
                      progress=False)
    assert str(exc.value).startswith(f"{path}: gen: {problem}"), str(exc.value)
    assert "\n" not in str(exc.value) and not (tmp_path / "dest").exists()


def test_generated_files_are_checked_before_they_reach_the_destination(tmp_path):
    """Files the generator did not write, or with another digest, leave dest as it was."""
    gen = {"dataset": "virtual_face_patch", "params": SMALL}
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    m = parse_manifest(_generated_manifest(gen, path="other.nwb"))
    with pytest.raises(InputError, match="'virtual_face_patch' did not write this file "
                                         r"\(it wrote: virtual_face_patch.nwb\)"):
        fetch_dataset("gen", dest=dest, manifest=m, allow_unverified=True, progress=False)
    assert _files(dest) == ["keep.txt"]
    m = parse_manifest(_generated_manifest(gen, sha="0" * 64))
    with pytest.raises(InputError, match="differs from the manifest's 0000"):
        fetch_dataset("gen", dest=dest, manifest=m, progress=False)
    assert _files(dest) == ["keep.txt"] and sorted(p.name for p in dest.iterdir()) == [
        "keep.txt"]


def test_progress_bar_shows_the_download(site, tmp_path, monkeypatch, capsys):
    """With progress on, a rich bar (on a terminal) names the file and counts its bytes."""
    monkeypatch.setenv("FORCE_COLOR", "0")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    monkeypatch.setenv("COLUMNS", "120")
    with serve_directory(site) as (_, base):
        m = _manifest(base, path="data/[b]good.bin")
        res = fetch_dataset("ds", dest=tmp_path / "d", manifest=m, progress=True)
    assert res.files[0].verified
    err = capsys.readouterr().err
    assert "[b]good.bin" in err and "262.1 kB" in err
