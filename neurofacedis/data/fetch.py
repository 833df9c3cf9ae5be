"""Fetch a manifest dataset by name: pooch downloads, sha256-checked, cached and resumable.

Downloads go through :func:`pooch.retrieve` (temporary file, hash check, then rename, so a
file that fails its check never appears), with :class:`ResumableDownloader`, a pooch
downloader that resumes an interrupted transfer from a ``.part`` file with an HTTP Range
request and shows its progress (:mod:`neurofacedis.progress`: a rich bar, or log lines).
Files already present with the right hash are not downloaded again; the default destination
is the user cache (see :func:`neurofacedis.cache.default_cache_dir`). ``generated`` datasets
are regenerated through the dataset hook (:mod:`neurofacedis.data.generate`: a registered
:class:`~neurofacedis.specs.DatasetSpec`, never a command line) and checked against the
manifest's digest.

A manifest may come from a stranger, so every download is bounded: only ``https``/``http``
URLs are fetched (``file:///`` only with ``allow_local_urls``); at most the manifest's declared
size, else ``max_size`` (:data:`DEFAULT_MAX_SIZE`) bytes are read; the body is asked for and
stored as sent (``Accept-Encoding: identity``, never decoded, so a compressed body cannot
expand); and each file must arrive within ``timeout`` seconds overall (not per read). A
download refused for size or time leaves no partial file.

Every fetch writes ``neurofacedis-data.lock.json`` in the destination: the sha256 seen for
each file, which is how an ``unverified`` entry (fetched only with ``allow_unverified``)
gets a hash a collaborator can pin.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from neurofacedis._util import file_sha256
from neurofacedis.data.manifest import (
    LOCAL_SCHEMES,
    DatasetEntry,
    FileEntry,
    Manifest,
    check_url,
    load_manifest,
    safe_join,
    write_text_atomic,
)
from neurofacedis.errors import InputError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_TIMEOUT",
    "LOCK_NAME",
    "DownloadRefused",
    "FetchedFile",
    "FetchResult",
    "ResumableDownloader",
    "default_data_dir",
    "fetch_dataset",
    "file_sha256",
    "read_lock",
]

#: Name of the lock file written into every fetch destination.
LOCK_NAME = "neurofacedis-data.lock.json"

#: Bytes read for a file whose size the manifest does not declare (``max_size``; 1 GiB).
DEFAULT_MAX_SIZE = 1 << 30

#: Seconds one file may take to download, overall (``timeout``; one hour).
DEFAULT_TIMEOUT = 3600.0

#: Longest wait for one read from the server (never beyond the file's deadline).
READ_TIMEOUT = 30.0

_CHUNK = 1 << 16


def default_data_dir(name: str) -> Path:
    """Where a dataset is fetched when no destination is given: ``<cache>/data/<name>``."""
    from neurofacedis.cache import default_cache_dir

    return default_cache_dir() / "data" / name


@dataclass(frozen=True)
class FetchedFile:
    """One file in the destination after a fetch."""

    path: Path
    sha256: str
    size: int
    verified: bool
    digest: str = "file"
    url: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch_dataset` produced: files, where, and the lock file written."""

    dataset: str
    dest: Path
    files: tuple[FetchedFile, ...]
    lock_file: Path
    notes: tuple[str, ...] = field(default=())


class DownloadRefused(ValueError):
    """A download stopped by a bound (size cap, deadline); its partial file is removed."""


class ResumableDownloader:
    """A bounded pooch downloader for ``http``, ``https`` and ``file`` URLs that can resume.

    Bytes go to ``partial`` (kept when the connection breaks, so the next call sends
    ``Range: bytes=N-`` and appends); when complete, ``partial`` is moved onto pooch's
    temporary output file, which pooch hash-checks before renaming it into place. A server
    that ignores the Range header (200 instead of 206) makes it start over. The body is
    requested with ``Accept-Encoding: identity`` and stored exactly as sent (never decoded).

    Parameters
    ----------
    partial
        The ``.part`` file next to the destination.
    progress
        Show a rich progress bar on stderr.
    max_size
        Never read more than this many bytes (the manifest's ``size``, else a cap); a larger
        body is refused and its partial file removed. None: no cap (not used by fetch).
    timeout
        Seconds the whole file may take (an overall deadline, not per read); past it the
        download is refused and its partial file removed.
    """

    def __init__(
        self,
        partial: Path,
        *,
        progress: bool = True,
        max_size: int | None = DEFAULT_MAX_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
        label: str = "",
        size_hint: str = "the size cap",
    ) -> None:
        self.partial = Path(partial)
        self.progress = progress
        self.max_size = max_size
        self.timeout = timeout
        self.label = label or self.partial.name.removesuffix(".part")
        self.size_hint = size_hint
        #: Offsets this downloader resumed from (for tests and logs).
        self.resumed_from: list[int] = []
        #: The Content-Encoding the server sent (stored as sent, not decoded).
        self.encoding = "identity"
        self._deadline = float("inf")

    def __call__(self, url: str, output_file: Any, pooch: Any, check_only: bool = False) -> bool:
        """Download ``url`` into ``output_file`` (pooch's downloader protocol)."""
        if check_only:
            return self._exists(url)
        self._deadline = time.monotonic() + self.timeout
        if urlsplit(url).scheme == "file":
            self._copy_file(url)
        else:
            self._http(url)
        if isinstance(output_file, (str, os.PathLike)):
            os.replace(self.partial, output_file)
        else:  # a file object
            with open(self.partial, "rb") as src:
                while chunk := src.read(_CHUNK):
                    output_file.write(chunk)
            self.partial.unlink()
        return True

    # -- bounds ----------------------------------------------------------------------------

    def _left(self) -> float:
        return self._deadline - time.monotonic()

    def _check_deadline(self) -> None:
        if self._left() <= 0:
            self.partial.unlink(missing_ok=True)
            raise DownloadRefused(
                f"not complete within the {self.timeout:g} s deadline (`timeout`); "
                "partial download removed"
            )

    def _check_size(self, n: int) -> None:
        if self.max_size is not None and n > self.max_size:
            self.partial.unlink(missing_ok=True)
            raise DownloadRefused(
                f"download is larger than {self.size_hint} ({self.max_size} bytes); "
                "partial download removed"
            )

    def _room(self, done: int) -> int:
        """Bytes to ask for next: one past the cap at most, so a larger body is seen."""
        if self.max_size is None:
            return _CHUNK
        return max(1, min(_CHUNK, self.max_size + 1 - done))

    # -- helpers ---------------------------------------------------------------------------

    @contextmanager
    def _bar(self, total: int | None, done: int) -> Iterator[Any]:
        """Yield ``advance(nbytes)`` for this file's progress (rich bar or log lines)."""
        from neurofacedis.progress import Reporter

        with Reporter(quiet=not self.progress, unit="bytes", transient=True) as reporter, \
                reporter.task(self.label, total=total) as advance:
            if done:
                advance(done)
            yield advance

    def _exists(self, url: str) -> bool:
        if urlsplit(url).scheme == "file":
            return Path(unquote(urlsplit(url).path)).is_file()
        import requests

        headers = {"Accept-Encoding": "identity"}
        timeout = min(READ_TIMEOUT, self.timeout)
        with requests.head(url, headers=headers, timeout=timeout, allow_redirects=True) as r:
            return r.ok

    def _copy_file(self, url: str) -> None:
        src = Path(unquote(urlsplit(url).path))
        if not src.is_file():
            raise FileNotFoundError(f"no such file: {src}")
        self._check_size(src.stat().st_size)
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        done = 0
        with self._bar(src.stat().st_size, 0) as advance, open(src, "rb") as fin, \
                open(self.partial, "wb") as fout:
            while chunk := fin.read(self._room(done)):
                fout.write(chunk)
                done += len(chunk)
                advance(len(chunk))
                self._check_size(done)
                self._check_deadline()

    def _http(self, url: str) -> None:
        import requests

        self.partial.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(2):
            self._check_deadline()
            have = self.partial.stat().st_size if self.partial.exists() else 0
            if self.max_size is not None and have > self.max_size:
                self.partial.unlink()
                have = 0
            headers = {"Accept-Encoding": "identity"}
            if have:
                headers["Range"] = f"bytes={have}-"
            wait = max(0.01, min(READ_TIMEOUT, self._left()))
            with requests.get(url, headers=headers, stream=True, timeout=wait) as r:
                if have and r.status_code == 416:  # partial is stale or already complete
                    self.partial.unlink()
                    continue
                r.raise_for_status()
                if have and r.status_code == 206 and _range_start(r) == have:
                    mode = "ab"
                    self.resumed_from.append(have)
                else:
                    mode, have = "wb", 0
                self.encoding = r.headers.get("Content-Encoding", "identity") or "identity"
                length = r.headers.get("Content-Length")
                total = have + int(length) if length and length.isdigit() else None
                if total is not None:
                    self._check_size(total)
                done = self._stream(r, mode, have, total)
                if total is not None and done < total:
                    raise requests.exceptions.ConnectionError(
                        f"connection closed after {done} of {total} bytes"
                    )
            return
        raise ValueError("server refused the byte range twice")

    def _stream(self, response: Any, mode: str, have: int, total: int | None) -> int:
        """Copy the raw (undecoded) body to ``partial`` within the bounds; bytes now held."""
        import requests
        import urllib3

        raw = response.raw
        read = getattr(raw, "read1", None) or raw.read  # read1: what has arrived, no waiting
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        done = have
        with self._bar(total, have) as advance, open(self.partial, mode) as fh:
            while True:
                self._check_deadline()
                if sock is not None:  # a silent server may not outlast the deadline
                    sock.settimeout(max(0.01, min(READ_TIMEOUT, self._left())))
                try:
                    chunk = read(self._room(done), decode_content=False)
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    self._check_deadline()
                    raise requests.exceptions.ConnectionError(str(exc)) from None
                if not chunk:
                    return done
                fh.write(chunk)
                done += len(chunk)
                self._check_size(done)
                advance(len(chunk))


def _range_start(response: Any) -> int | None:
    text = response.headers.get("Content-Range", "")  # "bytes START-END/TOTAL"
    try:
        return int(text.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def read_lock(dest: str | Path) -> dict[str, Any]:
    """Read the lock file of a destination folder (an empty structure when there is none)."""
    path = Path(dest) / LOCK_NAME
    if not path.exists():
        return {"schema_version": 1, "datasets": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or not UTF-8
        raise InputError(f"unreadable lock file: {str(exc).splitlines()[0]}", file=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise InputError("lock file has no 'datasets' mapping", file=path)
    for name, entry in data["datasets"].items():
        files = entry.get("files") if isinstance(entry, dict) else None
        if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
            raise InputError("entry has no 'files' mapping of file records", file=path, obj=name)
    return data


def _write_lock(dest: Path, name: str, files: Sequence[FetchedFile]) -> Path:
    lock = read_lock(dest)
    entry = lock["datasets"].setdefault(name, {"files": {}})
    for f in files:
        rel = f.path.relative_to(dest.resolve()).as_posix()
        entry["files"][rel] = {
            "sha256": f.sha256,
            "size": f.size,
            "digest": f.digest,
            "verified": f.verified,
            "url": f.url,
        }
    path = dest / LOCK_NAME
    write_text_atomic(path, json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return path


def _digest(path: Path, digest: str) -> str:
    if digest == "content":
        from neurofacedis.data.digest import content_sha256

        return content_sha256(path)
    return file_sha256(path)


def _dest_lock(dest: Path):
    from filelock import FileLock

    from neurofacedis.cache import default_cache_dir

    key = hashlib.sha256(str(dest.resolve()).encode()).hexdigest()[:16]
    lock_dir = default_cache_dir() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_dir / f"data-{key}.lock"))


def fetch_dataset(
    name: str,
    *,
    dest: str | Path | None = None,
    manifest: Manifest | str | Path | None = None,
    allow_unverified: bool = False,
    base_url: str | None = None,
    progress: bool = True,
    allow_local_urls: bool = False,
    max_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> FetchResult:
    """Download (or regenerate) dataset ``name`` into ``dest`` and check every file's hash.

    Parameters
    ----------
    name
        Dataset name in the manifest.
    dest
        Destination folder; default :func:`default_data_dir` (the user cache).
    manifest
        A :class:`Manifest` or a path to one; default: the manifest shipped with neurofacedis.
    allow_unverified
        Fetch files the manifest gives no sha256 for; their hash is recorded in the lock file.
    base_url
        Download every file from ``base_url/<path>`` instead (a mirror, or where a packed
        dataset was uploaded).
    progress
        Show progress bars.
    allow_local_urls
        Copy ``file:///`` URLs (files of this machine); for your own manifest only. Without
        it only ``https`` and ``http`` are fetched.
    max_size
        Most bytes read for a file whose size the manifest does not declare (default
        :data:`DEFAULT_MAX_SIZE`, 1 GiB); a declared size above it is refused before download.
    timeout
        Seconds each file may take overall (default :data:`DEFAULT_TIMEOUT`).

    Raises
    ------
    InputError
        Unknown or unsafe names/paths, a local URL without ``allow_local_urls``, unverified
        files without ``allow_unverified``, data that must be requested, an unknown generator
        or parameter, download failures, a size or time bound exceeded, or a hash mismatch
        (the file is removed).
    """
    source = None if isinstance(manifest, Manifest) or manifest is None else Path(manifest)
    m = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    entry = m.get(name)
    dest = Path(dest) if dest is not None else default_data_dir(entry.name)
    cap = DEFAULT_MAX_SIZE if max_size is None else max_size
    if cap < 1 or not timeout > 0:
        what = "max_size" if cap < 1 else "timeout"
        raise InputError("must be positive", obj=what)
    if base_url is not None:
        try:
            check_url(base_url)
        except ValueError as exc:
            raise InputError(str(exc), obj="base_url") from None
    _check_entry(entry, allow_unverified)
    # Check every destination, URL and generator before writing anything.
    targets = [(f, safe_join(dest, f.path)) for f in entry.files]
    generator = None
    if entry.kind == "generated":
        from neurofacedis.data.generate import resolve_generator

        generator = resolve_generator(entry, file=source)
    else:
        _check_sources(m, entry, base_url, allow_local_urls, cap, source)
    if dest.exists() and not dest.is_dir():
        raise InputError("destination is not a folder", file=dest)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with _dest_lock(dest):
            if generator is not None:
                fetched = _generate(entry, generator, dest, targets)
            else:
                locked = read_lock(dest)["datasets"].get(entry.name, {}).get("files", {})
                bounds = {"cap": cap, "timeout": timeout, "progress": progress}
                fetched = [
                    _fetch_one(entry, f, target, base_url, bounds, locked.get(f.path))
                    for f, target in targets
                ]
            lock_file = _write_lock(dest, entry.name, fetched)
    except BaseException:
        if created and dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()  # a failed first fetch leaves nothing (a .part to resume is kept)
        raise
    notes = tuple(
        f"unverified {f.path.name}: sha256 seen {f.sha256} (recorded in {lock_file.name})"
        for f in fetched
        if not f.verified
    )
    return FetchResult(entry.name, dest, tuple(fetched), lock_file, notes)


def _check_entry(entry: DatasetEntry, allow_unverified: bool) -> None:
    """Refuse data that must be requested, an entry without files, and unverified files."""
    if entry.access == "request":
        where = entry.homepage or ", ".join(s.url for s in entry.sources)
        raise InputError(
            f"not downloadable (licensed data): request it from {where}, then run "
            f"'neurofacedis data pack FILE... --name {entry.name}'",
            obj=entry.name,
        )
    if not entry.files:
        raise InputError("the manifest lists no files for this dataset", obj=entry.name)
    unverified = [f for f in entry.files if f.sha256 is None]
    if unverified and not allow_unverified:
        raise InputError(
            f"{len(unverified)} file(s) have no sha256 in the manifest; pass "
            "`allow_unverified` to fetch them and record the hash seen",
            obj=f"{entry.name}/{unverified[0].path}",
        )


def _check_sources(
    m: Manifest,
    entry: DatasetEntry,
    base_url: str | None,
    allow_local_urls: bool,
    cap: int,
    source: Path | None,
) -> None:
    """Refuse local URLs (unless allowed) and declared sizes over the cap, before any write."""
    index = m.datasets.index(entry)
    for j, f in enumerate(entry.files):
        url = entry.url_for(f, base_url)
        where = f"datasets[{index}].files[{j}]"
        if url is not None and urlsplit(url).scheme in LOCAL_SCHEMES and not allow_local_urls:
            obj = "base_url" if base_url is not None else f"{where}.url ({entry.name})"
            raise InputError(
                f"{urlsplit(url).scheme} URL {url!r} reads a file of this machine; refused "
                "(for your own manifest pass `allow_local_urls`)",
                file=source,
                obj=obj,
            )
        if f.size is not None and f.size > cap:
            raise InputError(
                f"declared size {f.size} bytes is over the {cap}-byte cap; pass a larger "
                "`max_size` to fetch it",
                file=source,
                obj=f"{where}.size ({entry.name})",
            )


def _fetch_one(
    entry: DatasetEntry,
    f: FileEntry,
    target: Path,
    base_url: str | None,
    bounds: dict[str, Any],
    locked: dict[str, Any] | None,
) -> FetchedFile:
    import pooch
    import requests

    url = entry.url_for(f, base_url)
    obj = f"{entry.name}/{f.path}"
    if url is None:
        raise InputError(
            "no URL: give `base_url` or set base_url in the manifest entry", obj=obj
        )
    # Known hash: the manifest's (bytes), else the one recorded when first fetched.
    expected = f.sha256 if f.digest == "file" else None
    if expected is None and f.sha256 is None and locked and locked.get("digest") == "file":
        expected = locked.get("sha256")
    downloader = ResumableDownloader(
        target.with_name(target.name + ".part"),
        progress=bounds["progress"],
        max_size=f.size if f.size is not None else bounds["cap"],
        timeout=bounds["timeout"],
        label=f.path,
        size_hint="the manifest's size" if f.size is not None else "the size cap (`max_size`)",
    )
    logger = pooch.get_logger()
    level = logger.level
    if not bounds["progress"]:  # quiet: no "Downloading data from ..." line either
        logger.setLevel("WARNING")
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{expected}" if expected else None,
            fname=target.name,
            path=target.parent,
            downloader=downloader,
            progressbar=False,
        )
    except ValueError as exc:
        _remove_if_bad(target, expected)
        seen = str(exc).split("but got ")[-1].split(".")[0] if "but got" in str(exc) else ""
        encoded = (
            f"; the server sent it {downloader.encoding}-encoded (stored as sent, not decoded)"
            if downloader.encoding != "identity"
            else ""
        )
        problem = (
            f"sha256 mismatch (expected {expected}, got {seen}){encoded}; file refused and "
            "removed"
            if seen
            else f"download refused: {exc}"
        )
        raise InputError(problem, file=url, obj=obj) from None
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        reason = exc.response.reason if exc.response is not None else ""
        raise InputError(f"HTTP {code} {reason}".rstrip(), file=url, obj=obj) from None
    except (requests.exceptions.RequestException, OSError) as exc:
        kept = downloader.partial.exists()
        kept = " (partial download kept; run again to resume)" if kept else ""
        problem = f"download failed: {type(exc).__name__}{kept}"
        raise InputError(problem, file=url, obj=obj) from None
    finally:
        logger.setLevel(level)
    size = target.stat().st_size
    if f.size is not None and size != f.size:
        target.unlink()
        raise InputError(
            f"size {size} differs from the manifest's {f.size}; file refused and removed",
            file=url,
            obj=obj,
        )
    seen_hash = expected or _digest(target, f.digest)
    if f.sha256 is not None and f.digest == "content" and seen_hash != f.sha256:
        target.unlink()
        raise InputError(
            f"content sha256 mismatch (expected {f.sha256}, got {seen_hash}); file refused "
            "and removed",
            file=url,
            obj=obj,
        )
    return FetchedFile(target, seen_hash, size, f.sha256 is not None, f.digest, url)


def _remove_if_bad(target: Path, expected: str | None) -> None:
    """Remove a file left at ``target`` (e.g. an older copy) whose hash is not ``expected``."""
    if target.exists() and expected is not None and file_sha256(target) != expected:
        target.unlink()


def _generate(
    entry: DatasetEntry, generator: Any, dest: Path, targets: list[tuple[FileEntry, Path]]
) -> list[FetchedFile]:
    """Regenerate a ``generated`` dataset through its registered loader; check and move it.

    Files already in place with the manifest's digest are kept. Otherwise the loader writes
    into a temporary folder inside ``dest`` (:func:`~neurofacedis.data.generate.run_generator`);
    each expected file is checked there and only then moved onto its target, so a mismatch
    leaves ``dest`` as it was.
    """
    from neurofacedis.data.generate import discard, run_generator

    if all(t.is_file() for _, t in targets):
        done = [(f, t, _digest(t, f.digest)) for f, t in targets]
        if all(f.sha256 is None or h == f.sha256 for f, _, h in done):
            return [_fetched(f, t, h) for f, t, h in done]
    work, files = run_generator(generator, dest, [f.path for f, _ in targets])
    try:
        done = []
        for f, t in targets:
            h = _digest(files[f.path], f.digest)
            if f.sha256 is not None and h != f.sha256:
                raise InputError(
                    f"regenerated {f.digest} sha256 {h} differs from the manifest's {f.sha256} "
                    "(different library versions?); file removed",
                    file=t,
                    obj=entry.name,
                )
            done.append((f, t, h))
        for f, t, _ in done:
            t.parent.mkdir(parents=True, exist_ok=True)
            os.replace(files[f.path], t)
    finally:
        discard(work)
    return [_fetched(f, t, h) for f, t, h in done]


def _fetched(f: FileEntry, t: Path, h: str) -> FetchedFile:
    return FetchedFile(t, h, t.stat().st_size, f.sha256 is not None, f.digest, None)
