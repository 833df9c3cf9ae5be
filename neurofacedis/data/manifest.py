"""The data manifest: a versioned, validated list of the datasets neurofacedis knows.

``data_manifest.yaml`` is read with ``yaml.safe_load`` and validated with pydantic models
(unknown keys are errors, so typos surface). Every name and path is checked so that nothing
fetched can land outside the destination folder. A manifest holds data only: a ``generated``
dataset names a registered dataset plugin and its parameters (``generate: {dataset: ...,
params: {...}}``), never a command line. :func:`update_manifest` edits one entry
and keeps the rest of the file (comments, order) as it was, through ruamel.yaml's
round-trip mode. The schema is documented in docs/sharing.md.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from neurofacedis.errors import InputError, UnknownNameError

__all__ = [
    "SCHEMA_VERSION",
    "URL_SCHEMES",
    "Manifest",
    "DatasetEntry",
    "FileEntry",
    "Generator",
    "Source",
    "LOCAL_SCHEMES",
    "default_manifest_path",
    "load_manifest",
    "update_manifest",
    "safe_join",
    "check_relative_path",
]

#: Version of the manifest schema this package reads and writes. Bump it (and document the
#: change in docs/sharing.md) when a field changes meaning or becomes required.
#: Version 2: ``generate`` names a registered dataset and its parameters (version 1 held a
#: command line, now refused with a message saying how to write the new form).
SCHEMA_VERSION = 2

#: URL schemes a manifest may name; anything else (ftp, s3, javascript, ...) is refused.
URL_SCHEMES = frozenset({"https", "http", "file"})

#: Schemes that read this machine's files: fetched only with ``allow_local_urls=True``.
LOCAL_SCHEMES = frozenset({"file"})

_OLD_GENERATE = (
    "'generate.command' was replaced by structured generation (schema version 2): write "
    "generate: {dataset: virtual_face_patch, params: {seed: 0, identities: 75, ...}} "
    "(see docs/sharing.md)"
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_relative_path(text: str) -> str:
    """Return ``text`` if it is a safe relative POSIX path, else raise ``ValueError``.

    Safe: not empty, not absolute (POSIX or Windows), no drive, no backslash, no ``~``
    prefix, and no empty, ``.`` or ``..`` component. Why: a manifest comes from someone else;
    a path like ``../../.bashrc`` must never be written.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("path must be a non-empty string")
    if "\\" in text or "\x00" in text:
        raise ValueError(f"path {text!r} contains a backslash or NUL")
    if text.startswith("~"):
        raise ValueError(f"path {text!r} starts with '~'")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).anchor:
        raise ValueError(f"path {text!r} is absolute")
    parts = text.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"path {text!r} has an empty, '.' or '..' component")
    return text


def check_url(text: str) -> str:
    """Return ``text`` if it is an http(s) URL with a host or an absolute ``file:///`` URL.

    A file URL with a host (``file://host/path``) is refused: the host would be ignored and
    the path read on this machine. Whether a file URL may be *fetched* is decided by
    :func:`neurofacedis.data.fetch_dataset` (``allow_local_urls``).
    """
    parts = urlsplit(text)
    if parts.scheme not in URL_SCHEMES:
        raise ValueError(
            f"URL scheme {parts.scheme or '(none)'!r} not allowed (use one of "
            f"{', '.join(sorted(URL_SCHEMES))})"
        )
    if parts.scheme in {"http", "https"} and not parts.hostname:
        raise ValueError(f"URL {text!r} has no host")
    if parts.scheme == "file" and parts.netloc:
        raise ValueError(f"file URL {text!r} has a host; only file:///PATH (this machine) is read")
    if parts.scheme == "file" and not parts.path.startswith("/"):
        raise ValueError(f"file URL {text!r} must be absolute (file:///...)")
    return text


def safe_join(dest: Path, relpath: str) -> Path:
    """``dest / relpath``, refusing any result outside ``dest`` (symlinks resolved).

    Raises
    ------
    InputError
        When ``relpath`` is unsafe or resolves outside ``dest``.
    """
    try:
        check_relative_path(relpath)
    except ValueError as exc:
        raise InputError(str(exc), file=dest, obj=relpath) from None
    root = Path(dest).resolve()
    target = (root / relpath).resolve()
    if target != root and root not in target.parents:
        raise InputError("path escapes the destination folder", file=dest, obj=relpath)
    return target


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Model):
    """One file of a dataset.

    ``path`` is where the file goes, relative to the destination folder. ``url`` is where it
    comes from; when absent it is the dataset's ``base_url`` joined with ``path``. ``digest``
    says what ``sha256`` covers: the file's bytes (``file``) or the canonical NWB content
    (``content``, see :func:`neurofacedis.data.content_sha256`) for files whose bytes are not
    reproducible. A file without ``sha256`` must say ``unverified: true``.
    """

    path: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = Field(default=None, ge=0)
    digest: Literal["file", "content"] = "file"
    unverified: bool = False

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return check_relative_path(v)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v)

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.lower().removeprefix("sha256:")
        if not _SHA256.match(v):
            raise ValueError("sha256 must be 64 hexadecimal digits")
        return v

    @model_validator(mode="after")
    def _hash_or_unverified(self) -> FileEntry:
        if self.sha256 is None and not self.unverified:
            raise ValueError("a file without sha256 must be marked 'unverified: true'")
        if self.sha256 is not None and self.unverified:
            raise ValueError("a file with a sha256 cannot be 'unverified'")
        return self


#: A parameter value in ``generate.params``: a plain scalar (checked against the dataset's
#: declared :class:`~neurofacedis.specs.Param` types when fetched).
ParamValue = StrictBool | StrictInt | StrictFloat | StrictStr


class Generator(_Model):
    """How to regenerate a ``generated`` dataset: a registered dataset and its parameters.

    ``dataset`` names a :class:`~neurofacedis.specs.DatasetSpec` registered through the
    ``neurofacedis_register_datasets`` hook (``neurofacedis plugins`` lists them); ``params``
    are its keyword parameters (scalars; unknown names and wrong types are refused when
    fetched). The output folder is chosen by the fetcher, inside the destination: a manifest
    names only the expected files (``files``), never where a generator writes.
    """

    dataset: str
    params: dict[str, ParamValue] = Field(default_factory=dict)
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_command(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "command" in data:
            raise ValueError(_OLD_GENERATE)
        return data

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if not v.isidentifier():
            raise ValueError(f"dataset {v!r} is not a registered dataset name (an identifier)")
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in v if not k.isidentifier()]
        if bad:
            raise ValueError(f"parameter name {bad[0]!r} is not an identifier")
        return v


class Source(_Model):
    """Where (part of) a dataset comes from when it cannot be downloaded directly."""

    name: str
    url: str
    citation: str = ""
    doi: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_url(v)


class DatasetEntry(_Model):
    """One dataset: what it is, where its files come from, how to cite it.

    ``kind`` is ``nwb`` (recordings), ``images`` (stimulus images) or ``generated``
    (reproduced locally by the registered dataset ``generate.dataset``). ``access: request``
    marks data behind a licence agreement: fetch explains where to ask (``homepage``/
    ``sources``) instead of downloading. ``unverified: true`` marks every file of the entry
    as unhashed.
    """

    name: str
    description: str
    kind: Literal["nwb", "images", "generated"]
    license: str
    citation: str
    doi: str | None = None
    homepage: str | None = None
    base_url: str | None = None
    access: Literal["download", "request"] = "download"
    unverified: bool = False
    generate: Generator | None = None
    sources: tuple[Source, ...] = ()
    files: tuple[FileEntry, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _propagate_unverified(cls, data: Any) -> Any:
        # A dataset-level ``unverified: true`` applies to files that give no sha256.
        if isinstance(data, Mapping) and data.get("unverified") and data.get("files"):
            files = []
            for f in data["files"]:
                if isinstance(f, Mapping) and f.get("sha256") is None:
                    f = {**f, "unverified": True}
                files.append(f)
            data = {**data, "files": files}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"name {v!r} must be 1-128 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        return v

    @field_validator("homepage", "base_url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v)

    @model_validator(mode="after")
    def _consistent(self) -> DatasetEntry:
        if self.kind == "generated" and self.generate is None:
            raise ValueError("a 'generated' dataset needs 'generate' (dataset and params)")
        if self.kind != "generated" and self.generate is not None:
            raise ValueError("'generate' is only for kind 'generated'")
        if self.access == "request" and self.homepage is None and not self.sources:
            raise ValueError("'access: request' needs a homepage or sources to ask")
        paths = [f.path for f in self.files]
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        if dupes:
            raise ValueError(f"duplicate file paths: {dupes}")
        for f in self.files:
            if f.digest == "content" and not f.path.endswith(".nwb"):
                raise ValueError(f"{f.path}: 'digest: content' is only defined for .nwb files")
        return self

    def url_for(self, file: FileEntry, base_url: str | None = None) -> str | None:
        """Where ``file`` is downloaded from: its own URL, else ``base_url`` + its path."""
        if file.url is not None and base_url is None:
            return file.url
        base = base_url or self.base_url
        if base is None:
            return file.url
        return base.rstrip("/") + "/" + file.path


class Manifest(_Model):
    """The whole manifest: ``schema_version`` and the list of datasets (unique names)."""

    schema_version: int
    datasets: tuple[DatasetEntry, ...] = ()

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v > SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {v} is newer than this neurofacedis reads ({SCHEMA_VERSION}); "
                "upgrade neurofacedis"
            )
        if v < 1:
            raise ValueError("schema_version must be >= 1")
        return v

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        names = [d.name for d in self.datasets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate dataset names: {dupes}")
        return self

    def names(self) -> list[str]:
        """Dataset names in manifest order."""
        return [d.name for d in self.datasets]

    def get(self, name: str) -> DatasetEntry:
        """Return the dataset called ``name``; UnknownNameError lists the closest names."""
        for d in self.datasets:
            if d.name == name:
                return d
        close = difflib.get_close_matches(name, self.names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            f"no dataset named {name!r} (known: {', '.join(self.names()) or 'none'}){hint}",
            obj=name,
        )


def default_manifest_path() -> Path:
    """Return the path of the manifest shipped with neurofacedis.

    From a source checkout: the top-level ``data_manifest.yaml``; from a wheel: the copy
    packaged as ``neurofacedis/data/data_manifest.yaml``. ``NEUROFACEDIS_MANIFEST`` overrides
    both.
    """
    env = os.environ.get("NEUROFACEDIS_MANIFEST")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    packaged = here / "data_manifest.yaml"
    if packaged.exists():
        return packaged
    return here.parents[1] / "data_manifest.yaml"


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _one_line(exc: ValidationError, data: Any) -> tuple[str, str]:
    """(object, problem) of the first pydantic error, with dataset names where known."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    obj = _location(loc)
    if (
        len(loc) >= 2
        and loc[0] == "datasets"
        and isinstance(loc[1], int)
        and isinstance(data, Mapping)
    ):
        try:
            name = data["datasets"][loc[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            name = None
        if name:
            obj = f"{obj} ({name})"
    msg = str(err["msg"]).removeprefix("Value error, ")
    more = exc.error_count() - 1
    if more:
        msg += f" (+{more} more)"
    return obj, msg


def parse_manifest(data: Any, *, file: str | Path | None = None) -> Manifest:
    """Validate already-parsed YAML/JSON data into a :class:`Manifest` (InputError if bad)."""
    if not isinstance(data, Mapping):
        raise InputError("manifest must be a mapping with schema_version and datasets", file=file)
    if "schema_version" not in data:
        raise InputError("missing schema_version", file=file, obj="schema_version")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        obj, msg = _one_line(exc, data)
        raise InputError(msg, file=file, obj=obj) from None


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read and validate a manifest (``yaml.safe_load``); default: :func:`default_manifest_path`.

    Raises
    ------
    InputError
        Unreadable file, bad YAML, or a schema violation (one line naming the field).
    """
    import yaml

    path = Path(path) if path is not None else default_manifest_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read manifest: {exc.strerror or exc}", file=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read manifest: not UTF-8 text (byte {exc.start})", file=path
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", file=path, obj=where) from None
    return parse_manifest(data, file=path)


def _round_trip_yaml():
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 100
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _entry_to_mapping(entry: DatasetEntry) -> dict[str, Any]:
    """Convert ``entry`` to a plain dict in schema order, leaving out defaults."""
    data = entry.model_dump(mode="json", exclude_defaults=True)
    order = list(DatasetEntry.model_fields)
    out = {k: data[k] for k in order if k in data}
    if "files" in out:
        forder = list(FileEntry.model_fields)
        out["files"] = [{k: f[k] for k in forder if k in f} for f in out["files"]]
    return out


def update_manifest(path: str | Path, entry: DatasetEntry) -> Manifest:
    """Add ``entry`` to the manifest at ``path``, or replace the entry of the same name.

    The rest of the file (other entries, comments, key order, quoting) is kept byte for byte
    where ruamel.yaml's round trip allows; a missing file is created. The result is validated
    before it is written atomically (temporary file + rename).

    Returns
    -------
    Manifest
        The validated manifest as written.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    path = Path(path)
    rt = _round_trip_yaml()
    if path.exists():
        doc = rt.load(path.read_text(encoding="utf-8"))
        if doc is None:
            doc = CommentedMap()
        if not isinstance(doc, Mapping):
            raise InputError("manifest must be a mapping", file=path)
    else:
        doc = CommentedMap()
        doc["schema_version"] = SCHEMA_VERSION
        doc.yaml_set_start_comment(
            "neurofacedis data manifest (schema documented in docs/sharing.md)"
        )
    doc.setdefault("schema_version", SCHEMA_VERSION)
    datasets = doc.get("datasets")
    if datasets is None:
        datasets = CommentedSeq()
        doc["datasets"] = datasets
    new = CommentedMap()
    for key, value in _entry_to_mapping(entry).items():
        if key == "files":
            seq = CommentedSeq()
            for f in value:
                seq.append(CommentedMap(f))
            new[key] = seq
        elif key == "sources":
            new[key] = CommentedSeq([CommentedMap(s) for s in value])
        elif isinstance(value, dict):
            new[key] = CommentedMap(value)
        else:
            new[key] = value
    for i, existing in enumerate(datasets):
        if isinstance(existing, Mapping) and existing.get("name") == entry.name:
            datasets[i] = new
            break
    else:
        datasets.append(new)
    buf = io.StringIO()
    rt.dump(doc, buf)
    text = buf.getvalue()

    import yaml

    manifest = parse_manifest(yaml.safe_load(text), file=path)
    write_text_atomic(path, text)
    return manifest


def file_mode(path: Path) -> int:
    """Permission bits for a new file at ``path``: the existing file's, else 0o666 - umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (no partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
