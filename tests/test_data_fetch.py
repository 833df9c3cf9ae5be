"""fetch against a loopback HTTP server (127.0.0.1, one thread, stops itself)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from contextlib import contextmanager
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler
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
        with pytest.raises(InputError, match="--allow-unverified"):
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
    res = fetch_dataset("ds", dest=tmp_path / "a", progress=False,
                        manifest=_manifest("x", url=(site / "good.bin").as_uri()))
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
