"""The small helpers every part of the core uses, each defined once.

- :func:`one_line` / :func:`first_line`: an exception or a message as one bounded line.
- :func:`traceback_tail`: the end of a traceback, for error records (summary.json).
- :func:`json_safe`: numpy scalars/arrays, NaN and odd keys made JSON-ready.
- :func:`safe_name`: text made safe for file, group and NWB object names.
- :func:`file_sha256`: sha256 of a file, or of a Zarr folder (paths and bytes, sorted).
- :func:`read_saved`: a saved model's JSON config and weight files, format-checked.

Nothing here imports more than numpy; nothing here imports the rest of the package except
:mod:`neurofacedis.errors`.
"""

from __future__ import annotations

import hashlib
import json
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["one_line", "first_line", "traceback_tail", "json_safe", "safe_name", "file_sha256",
           "read_saved"]

#: The longest first line :func:`first_line` and :func:`one_line` keep (the rest is cut).
LINE_LIMIT = 300
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


def first_line(text: str, limit: int = LINE_LIMIT) -> str:
    """First line of ``text`` (stripped), cut to ``limit`` characters with ``...``."""
    lines = str(text).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return first[:limit] + "..." if len(first) > limit else first


def one_line(exc: BaseException) -> str:
    """``TypeName: first line of the message``; the type name alone for an empty message."""
    text = first_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def traceback_tail(exc: BaseException, limit: int = 4000) -> str:
    """Return the last ``limit`` characters of the formatted traceback of ``exc``."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-limit:]


def json_safe(value: Any) -> Any:
    """``value`` with numpy types as Python ones, non-finite floats as None, keys as str.

    Lists, tuples and arrays become lists; anything else that JSON cannot hold becomes its
    ``str``.
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def safe_name(text: str) -> str:
    """``text`` as a name for files, NetCDF groups, NWB objects and task keys.

    ASCII letters, digits and ``_ . = -`` are kept; every other run of characters becomes one
    ``_``; leading/trailing ``_`` are dropped; an empty result is ``"x"``:
    ``safe_name("beta_vae[beta=4]") == "beta_vae_beta=4"``.
    """
    return _UNSAFE.sub("_", str(text)).strip("_") or "x"


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, or of a Zarr folder (every file's relative path and bytes).

    A folder's files are visited in sorted order; each contributes its POSIX relative path,
    a NUL byte, then its bytes, so renaming a file changes the hash.

    Raises
    ------
    InputError
        ``path`` is neither a file nor a folder.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
            _update(digest, item)
        return digest.hexdigest()
    if not path.is_file():
        raise InputError("no such file", file=path)
    _update(digest, path)
    return digest.hexdigest()


def _update(digest: Any, path: Path) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)


def read_saved(
    directory: str | Path,
    config: str,
    files: dict[str, Callable[[str], Any]],
    *,
    fmt: str,
    what: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read what a model's ``save`` wrote: its JSON ``config`` and weight ``files``.

    ``files`` maps each file name to its loader (e.g. ``safetensors.numpy.load_file``),
    called with the path. Returns the config (its ``"format"`` equals ``fmt``) and the loaded
    files by name.

    Raises
    ------
    InputError
        Naming ``directory``: a file is missing or unreadable (``cannot read WHAT: ...``), or
        the config is of another format (``not WHAT (FORMAT)``).
    """
    directory = Path(directory)
    try:
        meta = json.loads((directory / config).read_text())
        loaded = {name: load(str(directory / name)) for name, load in files.items()}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what}: {exc}", file=directory) from None
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != fmt:
        raise InputError(f"not {what} ({found!r})", file=directory)
    return meta, loaded
