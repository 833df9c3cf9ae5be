"""The one gate every input path passes, and the checks on what a file points to.

Invariants (each refusal is one :class:`~neurofacedis.errors.InputError` line):

* :func:`check_input_path` accepts a regular file, or a folder only where one is expected (a
  Zarr store, an image folder). FIFOs, devices, sockets and links to them are refused from
  ``os.stat`` alone, before anything opens them (opening a FIFO blocks forever). A path
  whose bytes are not UTF-8 is refused before any work, shown with escapes.
* :func:`check_links` finds every way a recording reads another file: HDF5 external links,
  external raw storage, virtual-dataset sources, hdmf-zarr ``zarr_link`` entries and symbolic
  links leaving a Zarr store. They are refused unless ``follow_links``; then every linked
  file is gated too and returned with its sha256, for the provenance.
* :func:`check_zarr_store` refuses a store whose arrays use the ``pickle`` codec (compressor
  or filter), from the JSON metadata, before any chunk is read: unpickling runs code.
* :func:`reading` turns a failed read (a damaged compressed chunk) into one line naming the
  file and the object; :func:`damaged_objects` reads every chunk of every dataset, a block
  at a time, to find them.
* :func:`hdf5_open_error` says "in use by another program" for an HDF5 file lock, not
  "damaged".
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.errors import InputError

__all__ = [
    "Link",
    "shown",
    "check_input_path",
    "is_zarr_store",
    "check_zarr_store",
    "find_links",
    "check_links",
    "check_external_file",
    "hdf5_open_error",
    "reading",
    "damaged_objects",
    "MAX_BYTES_ENV",
    "parse_byte_size",
    "max_read_bytes",
    "check_declared_size",
]

_ZARR_MARKERS = (".zgroup", ".zarray", "zarr.json")
_METADATA_LIMIT = 16 << 20  # bytes: a Zarr metadata file larger than this is not metadata
_BLOCK = 16 << 20  # bytes read at a time when every chunk is checked
_LOCK_HINT = (
    "in use by another program (HDF5 file lock); close it there, or read it anyway with "
    "HDF5_USE_FILE_LOCKING=FALSE"
)


@dataclass(frozen=True)
class Link:
    """One way a file points outside itself."""

    obj: str  # where in the file: "/acquisition/x"
    kind: str  # "external link", "external storage", "virtual dataset source", ...
    target: str  # as written in the file, for the message
    file: Path  # the linked file, resolved as the reader would


def shown(path: str | os.PathLike[str] | bytes) -> str:
    """Return the path as text that prints anywhere (bytes that are not UTF-8 as escapes)."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def is_zarr_store(path: str | Path) -> bool:
    """Tell whether a folder holds Zarr metadata at its top (``.zgroup``, ``zarr.json``...)."""
    return any(os.path.lexists(os.path.join(path, m)) for m in _ZARR_MARKERS)


def check_input_path(path: str | Path, *, what: str, folder: str | None = None) -> Path:
    """Refuse at once any input path that is not a regular file (or an expected folder).

    Parameters
    ----------
    path
        The path the user (or a file) named.
    what
        What it is for, named in the message: ``"recording"``, ``"--responses"``...
    folder
        ``None``: a file only; ``"zarr"``: a Zarr store folder is accepted too;
        ``"images"``: any folder is accepted too.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.
    """
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the path is not valid UTF-8 (byte {raw[exc.start:exc.start + 1]!r}); rename it",
            file=shown(raw),
            obj=what,
        ) from None
    path = Path(os.fsdecode(raw))
    try:
        st = os.stat(path)  # follows a symbolic link: its target is what would be read
    except FileNotFoundError:
        problem = "a broken symbolic link" if os.path.islink(path) else "no such file"
        raise InputError(problem, file=path, obj=what) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", file=path, obj=what) from None
    if stat.S_ISREG(st.st_mode):
        return path
    via = f" (through a symbolic link to {shown(os.path.realpath(path))})" \
        if os.path.islink(path) else ""
    if stat.S_ISDIR(st.st_mode):
        if folder == "images":
            return path
        if folder == "zarr":
            if is_zarr_store(path):
                return path
            raise InputError(
                f"a folder that is not a Zarr store (no .zgroup){via}", file=path, obj=what
            )
        raise InputError(f"a folder, not a file{via}", file=path, obj=what)
    raise InputError(
        f"{_kind(st.st_mode)}{via}, not a regular file: refused", file=path, obj=what
    )


# --- Zarr stores --------------------------------------------------------------------------


def _read_metadata(path: str, store: Path) -> Any:
    rel = "/" + os.path.relpath(path, store)
    if os.path.getsize(path) > _METADATA_LIMIT:
        raise InputError(f"metadata file {rel} is over {_METADATA_LIMIT} bytes", file=store)
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise InputError(
            f"not a readable NWB Zarr store (bad JSON in {rel})", file=store
        ) from None


def _codec_ids(meta: Any) -> list[tuple[str, str]]:
    """(role, codec id) of every codec a Zarr v2 ``.zarray`` or v3 ``zarr.json`` names."""
    if not isinstance(meta, dict):
        return []
    out = []
    comp = meta.get("compressor")
    if isinstance(comp, dict):
        out.append(("compressor", str(comp.get("id", ""))))
    for f in meta.get("filters") or []:
        if isinstance(f, dict):
            out.append(("filter", str(f.get("id", ""))))
    for c in meta.get("codecs") or []:  # v3
        if isinstance(c, dict):
            cfg = c.get("configuration") if isinstance(c.get("configuration"), dict) else {}
            out.append(("codec", str(c.get("name", "")) + " " + str(cfg.get("id", ""))))
    return out


def _zarr_entry(store: Path, top: str, name: str, links: list[Link]) -> None:
    full = os.path.join(top, name)
    rel = "/" + os.path.relpath(full, store)
    st = os.lstat(full)
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(full)
        inside = os.path.commonpath([target, os.path.realpath(store)]) == os.path.realpath(store)
        if not inside:
            links.append(Link(rel, "symbolic link", os.readlink(full), Path(target)))
            return
        try:
            st = os.stat(full)
        except OSError:
            raise InputError("broken symbolic link in the store", file=store, obj=rel) from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise InputError(f"{_kind(st.st_mode)} inside the store: refused", file=store, obj=rel)


def check_zarr_store(store: str | Path) -> list[Link]:
    """Check a Zarr store before it is opened; return its links to other files.

    Every entry must be a regular file or folder; every array's codecs are read from its
    metadata and a ``pickle`` codec (compressor or filter) is refused.
    """
    store = Path(store)
    links: list[Link] = []
    for top, dirs, files in os.walk(store):  # does not descend into symbolic links
        for name in [*dirs, *files]:
            _zarr_entry(store, top, name, links)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]
        rel = os.path.relpath(top, store)
        here = "/" if rel == "." else "/" + rel
        for meta_name in (".zarray", "zarr.json"):
            if meta_name in files and not os.path.islink(os.path.join(top, meta_name)):
                meta = _read_metadata(os.path.join(top, meta_name), store)
                for role, codec in _codec_ids(meta):
                    if "pickle" in codec.lower():
                        raise InputError(
                            f"array uses the pickle codec ({role}); unpickling runs code, so "
                            "it is never decoded",
                            file=store,
                            obj=here,
                        )
        if ".zattrs" in files and not os.path.islink(os.path.join(top, ".zattrs")):
            attrs = _read_metadata(os.path.join(top, ".zattrs"), store)
            links.extend(_zarr_links(store, here, attrs))
    return links


def _zarr_links(store: Path, here: str, attrs: Any) -> list[Link]:
    entries = attrs.get("zarr_link") if isinstance(attrs, dict) else None
    out = []
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict):
            continue
        source = e.get("source")
        if source == ".":
            continue
        source = str(source if source is not None else e.get("path", ""))
        target = Path(os.path.normpath(os.path.join(store, source)))
        if target.resolve() == store.resolve():
            continue
        name = f"{here.rstrip('/')}/{e.get('name', '')}"
        out.append(Link(name, "zarr link", f"{source}:{e.get('path', '')}", target))
    return out


# --- HDF5 ---------------------------------------------------------------------------------


def hdf5_open_error(exc: BaseException, path: str | Path) -> InputError:
    """Return the one line for an HDF5 file h5py could not open: in use (locked) or damaged."""
    text = str(exc)
    if "unable to lock file" in text or getattr(exc, "errno", None) == 11:
        return InputError(_LOCK_HINT, file=path)
    first = (text.strip().splitlines() or [type(exc).__name__])[0][:160]
    return InputError(f"truncated or damaged HDF5 file ({first})", file=path)


def _open_hdf5(path: Path) -> Any:
    import h5py

    try:
        if not h5py.is_hdf5(path):
            raise InputError("not an HDF5 file (NWB files are HDF5 or Zarr)", file=path)
        return h5py.File(path, "r")
    except OSError as exc:
        raise hdf5_open_error(exc, path) from None


def _resolve(base: Path, name: str, *, relative_to_cwd: bool = False) -> Path:
    p = Path(name)
    if p.is_absolute():
        return p
    if relative_to_cwd:
        return Path.cwd() / p
    return base.parent / p


def _hdf5_links(path: Path) -> list[Link]:
    import h5py

    links: list[Link] = []

    def visit(name: str, link: Any) -> None:
        obj = "/" + name
        if isinstance(link, h5py.ExternalLink):
            links.append(Link(obj, "external link", f"{link.filename}:{link.path}",
                              _resolve(path, link.filename)))
            return
        if not isinstance(link, h5py.HardLink):
            return
        ds = f.get(name)
        if not isinstance(ds, h5py.Dataset):
            return
        for fname, _, _ in ds.external or []:
            fname = os.fsdecode(fname)
            links.append(Link(obj, "external storage", fname,
                              _resolve(path, fname, relative_to_cwd=True)))
        if ds.is_virtual:
            for src in ds.virtual_sources():
                if src.file_name != ".":
                    links.append(Link(obj, "virtual dataset source",
                                      f"{src.file_name}:{src.dset_name}",
                                      _resolve(path, src.file_name)))

    with _open_hdf5(path) as f:
        try:
            for name, link in _walk_links(f):
                visit(name, link)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:  # a damaged group or header
            raise hdf5_open_error(exc, path) from None
    return links


def _walk_links(f: Any) -> Iterator[tuple[str, Any]]:
    """Every link below the root, without following soft or external links (any h5py)."""
    import h5py

    seen = {f["/"].id}  # object ids compare by file and object: hard-link cycles end here
    todo = [f["/"]]
    while todo:
        group = todo.pop()
        for key in group:
            name = f"{group.name.rstrip('/')}/{key}".lstrip("/")
            link = group.get(key, getlink=True)
            yield name, link
            if isinstance(link, h5py.HardLink):
                child = group.get(key)
                if isinstance(child, h5py.Group) and child.id not in seen:
                    seen.add(child.id)
                    todo.append(child)


def find_links(path: str | Path) -> list[Link]:
    """Every link from the file (HDF5) or store (Zarr) at ``path`` to another file."""
    path = Path(path)
    return check_zarr_store(path) if path.is_dir() else _hdf5_links(path)


def _sha256(path: Path) -> str:
    from neurofacedis.nwb._write import file_sha256

    return file_sha256(path)


def check_links(path: str | Path, *, follow_links: bool = False) -> list[dict[str, Any]]:
    """Refuse links to other files, or (``follow_links``) gate them and return their hashes.

    Returns
    -------
    list of dict
        One ``{"path", "sha256", "links"}`` per linked file (followed transitively), empty
        when the file links nowhere.
    """
    path = Path(path)
    seen = {path.resolve()}
    out: list[dict[str, Any]] = []
    todo = [path]
    while todo:
        current = todo.pop(0)
        for link in find_links(current):
            if not follow_links:
                raise InputError(
                    f"{link.kind} to {link.target}: links to other files are refused "
                    "(--follow-links reads them and records their sha256)",
                    file=current,
                    obj=link.obj,
                )
            folder = "zarr" if link.kind in ("zarr link", "symbolic link") else None
            target = check_input_path(link.file, what=f"{link.kind} {link.obj}", folder=folder)
            key = target.resolve()
            entry = next((e for e in out if e["path"] == str(key)), None)
            if entry is None:
                if key in seen:
                    continue
                entry = {"path": str(key), "sha256": _sha256(key), "links": []}
                out.append(entry)
                seen.add(key)
                if link.kind != "external storage":  # raw bytes link nowhere
                    todo.append(key)
            entry["links"].append(f"{current}:{link.obj} -> {link.target}")
    return out


def check_external_file(
    recording: str | Path, name: str, *, follow_links: bool = False, obj: str = ""
) -> Path:
    """Resolve a file a recording names (an ImageSeries' ``external_file``) and gate it.

    ``name`` is relative to the recording's folder (NWB's rule). Without ``follow_links`` it
    must stay inside that folder once resolved (no absolute path, no ``..`` or symbolic link
    leading out): the same rule as links out of a file. The file then passes
    :func:`check_input_path`.
    """
    base = Path(recording).resolve().parent
    target = (base / name) if not os.path.isabs(name) else Path(name)
    if not follow_links:
        try:
            target.resolve().relative_to(base)
        except ValueError:
            raise InputError(
                f"external file {name!r} lies outside the recording's folder {shown(base)}; "
                "refused (allow with `follow_links`)",
                file=recording,
                obj=obj,
            ) from None
    try:
        return check_input_path(target, what=obj)
    except InputError as exc:
        raise InputError(f"external file {name!r}: {exc.problem}", file=recording,
                         obj=obj) from None


# --- bounded reads: the largest dataset a file may declare --------------------------------

#: Environment variable that sets the largest dataset (bytes) a recording may declare.
MAX_BYTES_ENV = "NEUROFACEDIS_MAX_BYTES"


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_byte_size(text: str, *, name: str = MAX_BYTES_ENV) -> int:
    """Parse a byte count: digits, optionally followed by K, M, G or T (powers of 1024).

    Anything else (``inf``, ``1e999``, ``nan``, a sign, a fraction, zero, garbage) is an
    :class:`~neurofacedis.errors.InputError` naming ``name``.
    """
    match = re.fullmatch(r"\s*([0-9]{1,30})\s*(?:([KMGT])(?:i?B)?|B)?\s*", text, re.IGNORECASE)
    value = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").upper()] if match else 0
    if value <= 0:
        raise InputError(
            f"must be a whole number of bytes > 0, optionally with K, M, G or T "
            f"(e.g. 67108864 or 64M), got {text!r}",
            obj=name,
        )
    return value


def max_read_bytes() -> int:
    """Largest dataset, in bytes, a file may declare: ``$NEUROFACEDIS_MAX_BYTES``, else RAM.

    Why: a file from a stranger can declare a terabyte-sized dataset in a few bytes of
    metadata; reading it would exhaust memory. Anything larger than this machine's memory
    cannot be analysed anyway. The setting is parsed strictly (:func:`parse_byte_size`).
    """
    env = os.environ.get(MAX_BYTES_ENV, "")
    if env.strip():  # unset or empty: the default
        return parse_byte_size(env)
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX: a generous fixed limit
        return 64 << 30


def check_declared_size(data: Any, *, file: str | Path, obj: str) -> None:
    """Refuse a dataset whose declared shape x item size exceeds :func:`max_read_bytes`.

    Only metadata (shape, dtype) is looked at: nothing is read or allocated.
    """
    shape = getattr(data, "shape", None)
    dtype = getattr(data, "dtype", None)
    if shape is None or dtype is None:
        return
    try:
        itemsize = max(int(np.dtype(dtype).itemsize), 1)
    except TypeError:  # hdmf's compound dtypes are lists: the dataset knows its size
        itemsize = max(int(getattr(getattr(data, "dataset", None), "dtype", np.dtype("V8"))
                           .itemsize), 1)
    nbytes = itemsize
    for s in shape:
        nbytes *= int(s)
    limit = max_read_bytes()
    if nbytes > limit:
        raise InputError(
            f"declares shape {tuple(int(s) for s in shape)} ({nbytes:.3g} bytes), more than "
            f"the {limit:.3g} bytes allowed (set {MAX_BYTES_ENV} to change)",
            file=file,
            obj=obj,
        )



# --- reading data -------------------------------------------------------------------------


def _names(dataset: Any) -> tuple[str | None, str | None]:
    h5file = getattr(dataset, "file", None)
    if h5file is not None and hasattr(h5file, "filename"):
        return h5file.filename, getattr(dataset, "name", None)
    root = None
    for store in (getattr(dataset, "chunk_store", None), getattr(dataset, "store", None)):
        while store is not None and root is None:  # wrappers (consolidated metadata) nest
            root = getattr(store, "path", None) or getattr(store, "root", None)
            store = getattr(store, "store", None)
    return (str(root) if root else None), "/" + str(getattr(dataset, "path", "") or "")


@contextmanager
def reading(dataset: Any) -> Iterator[None]:
    """Turn a failed read of ``dataset`` (HDF5 or Zarr) into one line naming file and object."""
    try:
        yield
    except (InputError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for a damaged chunk
        file, obj = _names(dataset)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise InputError(
            f"cannot read its data: a chunk is damaged or unreadable ({first})",
            file=file,
            obj=obj,
        ) from None


def _chunk_selection(offset: tuple[int, ...], chunks: tuple[int, ...],
                     shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(o, min(o + c, s)) for o, c, s in zip(offset, chunks, shape, strict=True))


def _stored_zarr_chunks(arr: Any, folder: Path) -> Iterator[tuple[int, ...]]:
    """Grid indices of the chunks a Zarr v2 array has on disk (missing ones hold fill)."""
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d.isdigit()]
        for name in files:
            key = os.path.relpath(os.path.join(top, name), folder).replace(os.sep, ".")
            if re.fullmatch(r"\d+(\.\d+)*", key) and key.count(".") == len(arr.shape) - 1:
                yield tuple(int(k) for k in key.split("."))


def _read_stored(ds: Any, folder: Path | None) -> None:
    """Read every chunk ``ds`` stores (HDF5, or Zarr in ``folder``), one chunk or block at a time.

    Only stored chunks are read: a dataset declaring a huge shape it never wrote costs
    nothing, and unstored chunks (fill values) cannot be damaged.
    """
    shape = tuple(int(s) for s in ds.shape)
    if not shape:
        ds[()]
        return
    if 0 in shape:
        return
    if folder is not None:  # zarr
        chunks = tuple(int(c) for c in ds.chunks)
        for idx in _stored_zarr_chunks(ds, folder):
            ds[_chunk_selection(tuple(i * c for i, c in zip(idx, chunks, strict=True)),
                                chunks, shape)]
        return
    if ds.chunks:
        chunks = tuple(int(c) for c in ds.chunks)
        for i in range(ds.id.get_num_chunks()):
            ds[_chunk_selection(tuple(ds.id.get_chunk_info(i).chunk_offset), chunks, shape)]
        return
    if ds.id.get_storage_size() == 0:
        return  # never written: fill values only
    row_bytes = max(1, ds.dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64)))
    step = max(1, _BLOCK // row_bytes)
    for start in range(0, shape[0], step):
        ds[start : start + step]


def _datasets(path: Path) -> Iterator[tuple[str, Any]]:
    if path.is_dir():
        import zarr

        root = zarr.open_group(str(path), mode="r")
        arrays: list[tuple[str, Any]] = []
        root.visititems(lambda n, o: arrays.append((n, o)) if isinstance(o, zarr.Array) else None)
        for name, arr in arrays:
            yield "/" + name, arr
        return
    import h5py

    with _open_hdf5(path) as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            yield "/" + name, f[name]


def damaged_objects(path: str | Path) -> Iterator[tuple[str, str]]:
    """Read every chunk of every dataset; yield ``(object, problem)`` for each unreadable one.

    Memory stays bounded: one chunk (or 16 MB of a contiguous dataset) at a time; only stored
    chunks are read, and a dataset declaring more than ``NEUROFACEDIS_MAX_BYTES`` is reported
    without reading. Links are not followed (check them first with :func:`check_links`).
    """
    max_read_bytes()  # a bad NEUROFACEDIS_MAX_BYTES is its own error, not a damaged object
    path = Path(path)
    if path.is_dir():
        check_zarr_store(path)  # no pickle codec is ever handed a chunk
    for name, ds in _datasets(path):
        if getattr(ds, "external", None) or getattr(ds, "is_virtual", False):
            continue  # other files: see check_links
        try:
            check_declared_size(ds, file=path, obj=name)
            with reading(ds):
                _read_stored(ds, path / name.lstrip("/") if path.is_dir() else None)
        except InputError as exc:
            yield name, exc.problem
