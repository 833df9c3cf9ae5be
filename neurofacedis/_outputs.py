"""The one gate every output path passes: replace only what neurofacedis itself wrote.

Invariants (each refusal is one :class:`~neurofacedis.errors.InputError` line, before any work):

* An output is never an input, never holds one and never lies inside one. Paths are compared
  both as written (absolute) and resolved (symbolic links followed), and existing files by
  inode, so a link or a second name for the recording is caught too.
* The filesystem root, the home folder and the current folder (or a folder above either) are
  never an output folder: ``--out .`` or ``--out ~`` is refused.
* Every output folder the project writes carries :data:`MARKER` (run id, kind, creation time,
  package version and the list of everything written). An existing folder is replaced only
  when it carries a marker of the same kind and holds nothing its marker does not list; an
  empty folder may be used; anything else is refused, naming the folder and what to do.
  Replacing an earlier output is said on stderr (:func:`announce`), never silent.
* A single-file output (``simulate FILE``, ``import --out FILE``) is replaced only with
  ``overwrite`` and only when it is a regular file (or a link, which alone is replaced).
* :func:`swap_into_place` moves a finished temporary folder over the old output with two
  renames; the old one is kept until the new one is in place. :func:`output_lock` serialises
  writers of one path across processes (a file lock in the user cache, keyed by the resolved
  path), waiting at most :func:`lock_timeout` seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from neurofacedis.errors import InputError

__all__ = [
    "MARKER",
    "Earlier",
    "check_output_folder",
    "check_output_file",
    "check_not_input",
    "claim_folder",
    "write_marker",
    "read_marker",
    "announce",
    "swap_into_place",
    "output_lock",
    "lock_timeout",
]

#: The marker file inside every output folder neurofacedis writes (visible on purpose).
MARKER = "neurofacedis-output.json"
_MARKER_FORMAT = 1
_LOCK_TIMEOUT = 600.0  # seconds a writer waits for another one on the same path


@dataclass(frozen=True)
class Earlier:
    """An earlier neurofacedis output that is about to be replaced."""

    path: Path
    kind: str
    run_id: str
    created: str

    def line(self) -> str:
        """One line for stderr: what is replaced, from which run and when it was written."""
        return (f"replacing earlier output {self.path} ({self.kind} run {self.run_id[:12]}, "
                f"written {self.created})")


# ------------------------------------------------------------------------- path relations


def _forms(path: str | Path) -> set[str]:
    """Return the absolute path as written and the resolved one (links followed)."""
    p = os.fspath(path)
    return {os.path.abspath(p), os.path.realpath(p)}


def _under(inner: str, outer: str) -> bool:
    """Whether ``inner`` is ``outer`` or lies below it (both absolute, normalised)."""
    try:
        return os.path.commonpath([inner, outer]) == outer
    except ValueError:  # different drives
        return False


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _relation(out: str | Path, inp: str | Path) -> str | None:
    """How ``out`` relates to the input ``inp``: 'is', 'holds', 'lies inside' or None."""
    if _same_file(out, inp):
        return "is"
    outs, ins = _forms(out), _forms(inp)
    if outs & ins:
        return "is"
    if any(_under(i, o) for o in outs for i in ins):
        return "holds"
    if any(_under(o, i) for o in outs for i in ins):
        return "lies inside"
    return None


def check_not_input(out: str | Path, inputs: Iterable[Any], *, what: str = "out") -> None:
    """Refuse an output that is, holds or lies inside any of ``inputs`` (None entries skipped)."""
    for inp in inputs:
        if inp is None or not os.fspath(inp):
            continue
        rel = _relation(out, inp)
        if rel is not None:
            raise InputError(f"{rel} the input {inp}: choose an output outside the inputs",
                             file=out, obj=what)


def _protected(out: str | Path) -> str | None:
    """Why ``out`` may never be an output folder (root, home, current folder), or None."""
    outs = _forms(out)
    if any(o == os.path.abspath(os.sep) or Path(o).parent == Path(o) for o in outs):
        return "is the filesystem root"
    for name, where in (("the home folder", Path.home), ("the current folder", Path.cwd)):
        try:
            places = _forms(where())
        except (OSError, RuntimeError):  # no home, or the current folder was removed
            continue
        if outs & places:
            return f"is {name}"
        if any(_under(p, o) for o in outs for p in places):
            return f"holds {name}"
    return None


# ------------------------------------------------------------------------------- the marker


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """Return the marker of ``folder`` (a regular file holding a JSON object), or None."""
    path = Path(folder) / MARKER
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or path.stat().st_size > 64 << 20:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("neurofacedis_output") != _MARKER_FORMAT:
        return None
    return data


def _contents(folder: Path) -> list[str]:
    """Every entry below ``folder`` (files, folders, links; links not followed), sorted."""
    found = []
    for top, dirs, files in os.walk(folder):
        rel = os.path.relpath(top, folder)
        for name in [*dirs, *files]:
            entry = name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
            if entry != MARKER:
                found.append(entry)
    return sorted(found)


def write_marker(folder: str | Path, *, kind: str, run_id: str | None = None) -> dict[str, Any]:
    """Write :data:`MARKER` into ``folder``, listing everything in it now; return its content."""
    import neurofacedis

    folder = Path(folder)
    data = {
        "neurofacedis_output": _MARKER_FORMAT,
        "kind": kind,
        "run_id": run_id or uuid.uuid4().hex,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "package_version": neurofacedis.__version__,
        "contents": _contents(folder),
    }
    tmp = folder / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, folder / MARKER)
    return data


# ------------------------------------------------------------------------------ the checks


def _refuse(out: str | Path, problem: str, what: str) -> InputError:
    return InputError(problem, file=out, obj=what)


def check_output_folder(
    out: str | Path,
    *,
    kind: str,
    inputs: Iterable[Any] = (),
    overwrite: bool | None = None,
    whole: bool = True,
    what: str = "out",
) -> Earlier | None:
    """Raise InputError unless ``out`` may be written as a ``kind`` output folder.

    Parameters
    ----------
    out
        The output folder (need not exist).
    kind
        What writes it (``"analyze"``, ``"demo"``, ``"zarr-export"``...); an existing folder
        of another kind is not replaced.
    inputs
        Paths the run reads: ``out`` may not be, hold or lie inside any of them.
    overwrite
        None: an earlier output of this kind is replaced (and said so); False: an existing
        non-empty folder is refused; True: an earlier output or a regular file is replaced.
    whole
        The folder is replaced as a whole (everything in it must be listed in its marker);
        False: files are written into it in place (other files stay).
    what
        The option naming ``out`` in messages.

    Returns
    -------
    Earlier or None
        The earlier output that will be replaced, if any.
    """
    check_not_input(out, inputs, what=what)
    why = _protected(out)
    if why is not None:
        raise _refuse(out, f"{why}: choose a new folder for the outputs", what)
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(out, "is a symbolic link: give the folder itself", what)
    if not stat.S_ISDIR(st.st_mode):
        if overwrite and stat.S_ISREG(st.st_mode):
            return None
        raise _refuse(out, "exists and is not a folder", what)
    if not os.listdir(out):
        return None
    marker = read_marker(out)
    if marker is None:
        raise _refuse(out, f"exists and is not a neurofacedis output (no {MARKER}): choose a "
                           "new folder", what)
    if overwrite is False:
        raise _refuse(out, "already exists (pass --overwrite to replace it)", what)
    if marker.get("kind") != kind:
        raise _refuse(out, f"is a neurofacedis {marker.get('kind')} output, not {kind}: choose "
                           "a new folder", what)
    if whole:
        listed = set(marker.get("contents") or [])
        extra = [e for e in _contents(Path(out)) if e not in listed]
        if extra:
            more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
            raise _refuse(out, f"holds {extra[0]}{more}, not written by neurofacedis: move "
                               "it out or choose a new folder", what)
    return Earlier(Path(out), str(marker.get("kind")), str(marker.get("run_id", "?")),
                   str(marker.get("created", "?")))


def check_output_file(
    out: str | Path, *, inputs: Iterable[Any] = (), overwrite: bool, what: str = "out"
) -> None:
    """Raise InputError unless the single file ``out`` may be written.

    An existing ``out`` is replaced only with ``overwrite`` and only when it is a regular file
    or a symbolic link (the link alone is replaced, never what it points to).
    """
    check_not_input(out, inputs, what=what)
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return
    if not overwrite:
        raise _refuse(out, "already exists (pass --overwrite to replace it)", what)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise _refuse(out, f"is {kind}: --overwrite replaces only a file; choose a file name",
                      what)


def announce(earlier: Earlier | None) -> None:
    """Say on stderr that an earlier output is replaced (one line; nothing when None)."""
    if earlier is not None:
        sys.stderr.write(earlier.line() + "\n")
        sys.stderr.flush()


def claim_folder(
    out: str | Path, *, kind: str, inputs: Iterable[Any] = (), what: str = "out"
) -> Path:
    """Check ``out`` for an in-place writer (demo, reproduce), create it and mark it.

    Files the writer does not name stay in the folder; the marker is rewritten with the new
    run's id (an earlier run of the same kind is announced).
    """
    out = Path(out)
    earlier = check_output_folder(out, kind=kind, inputs=inputs, whole=False, what=what)
    announce(earlier)
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, kind=kind)
    return out


# ---------------------------------------------------------------------- swap and the lock


def swap_into_place(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp``; an old ``out`` is kept until the new one is in place.

    Whatever fails, ``out`` ends up the previous output or the new one, never absent while
    the previous one is still at hand. Call it only after :func:`check_output_folder`.
    """
    if not os.path.lexists(out):
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        if os.path.lexists(old) and not os.path.lexists(out):
            os.replace(old, out)  # put the previous output back
        raise
    finally:
        if os.path.lexists(old) and os.path.lexists(out):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def lock_timeout() -> float:
    """Seconds a writer waits for another on the same path: ``NEUROFACEDIS_LOCK_TIMEOUT``."""
    text = os.environ.get("NEUROFACEDIS_LOCK_TIMEOUT")
    if text is None:
        return _LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise InputError(f"must be a number of seconds >= 0, got {text!r}",
                         obj="NEUROFACEDIS_LOCK_TIMEOUT")
    return value


class _Lock:
    """A file lock that turns a timeout into one line naming the path."""

    def __init__(self, lock: Any, path: Path, doing: str, timeout: float):
        self._lock, self._path, self._doing, self._timeout = lock, path, doing, timeout

    def __enter__(self) -> _Lock:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=self._timeout)
        except Timeout:
            raise InputError(f"another neurofacedis run is {self._doing} it; waited "
                             f"{self._timeout:g} s (NEUROFACEDIS_LOCK_TIMEOUT): try again when "
                             "it ends", file=self._path) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()


def output_lock(path: str | Path, *, doing: str = "writing",
                timeout: float | None = None) -> _Lock:
    """Return a cross-process lock on ``path`` (user cache; beside ``path`` if read-only)."""
    import hashlib

    from filelock import FileLock

    from neurofacedis.cache import default_cache_dir

    path = Path(path)
    key = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:16]
    locks = default_cache_dir() / "locks"
    try:
        locks.mkdir(parents=True, exist_ok=True)
        usable = os.access(locks, os.W_OK)
    except OSError:
        usable = False
    file = locks / f"out-{key}.lock" if usable else path.parent / f".{path.name}.lock"
    wait = lock_timeout() if timeout is None else timeout
    return _Lock(FileLock(str(file)), path, doing, wait)
