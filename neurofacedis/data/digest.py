"""A canonical content digest of an NWB (HDF5) file, for files whose bytes are not reproducible.

Two NWB files written from the same data differ byte for byte: hdmf gives every container a
random ``object_id`` (UUID4), pynwb stamps ``file_create_date``, and HDF5's layout depends
on the library version. :func:`content_sha256` hashes what the file *says* instead: every
group, dataset and attribute in sorted order (names, dtypes, shapes, values; object
references replaced by the path they point to; links by their target), leaving out only

* every ``object_id`` attribute (random per write),
* ``/file_create_date`` (the write time), and
* ``/specifications`` plus the root ``.specloc`` reference (the cached schema, which depends
  on the installed pynwb/hdmf versions, not on the recording).

So identifiers, session_start_time, stimuli, responses, spikes and latents all count.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis._inputs import check_input_path, hdf5_open_error, reading
from neurofacedis.errors import InputError

__all__ = ["content_sha256", "EXCLUDED_ATTRIBUTES", "EXCLUDED_PATHS"]

#: Attributes left out of the digest wherever they appear.
EXCLUDED_ATTRIBUTES = frozenset({"object_id"})
#: Objects (absolute HDF5 paths) left out of the digest, with everything below them.
EXCLUDED_PATHS = frozenset({"/file_create_date", "/specifications"})
_ROOT_EXCLUDED_ATTRIBUTES = frozenset({".specloc"})
_BLOCK = 1 << 24  # bytes per read when hashing a large dataset


def content_sha256(path: str | Path) -> str:
    """sha256 (hex) of an NWB HDF5 file's content, independent of write time and UUIDs.

    Raises
    ------
    InputError
        When the file is not a readable HDF5 file.
    """
    import h5py

    path = check_input_path(path, what="")
    h = hashlib.sha256()
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        if "unable to lock file" in str(exc):
            raise hdf5_open_error(exc, path) from None
        raise InputError(f"not a readable HDF5 file ({exc})", file=path) from None
    with f:
        _hash_group(f, f, h)
    return h.hexdigest()


def _put(h: Any, tag: str, payload: bytes) -> None:
    # Length-prefixed records: no two different sequences hash the same way.
    h.update(tag.encode())
    h.update(len(payload).to_bytes(8, "little"))
    h.update(payload)


def _hash_group(f: Any, group: Any, h: Any) -> None:
    import h5py

    _put(h, "G", group.name.encode())
    _hash_attrs(f, group, h)
    for key in sorted(group.keys()):
        child_path = f"{group.name.rstrip('/')}/{key}"
        if child_path in EXCLUDED_PATHS:
            continue
        link = group.get(key, getlink=True)
        if isinstance(link, h5py.SoftLink):
            _put(h, "S", f"{child_path}->{link.path}".encode())
            continue
        if isinstance(link, h5py.ExternalLink):
            _put(h, "X", f"{child_path}->{link.filename}:{link.path}".encode())
            continue
        obj = group[key]
        if isinstance(obj, h5py.Group):
            _hash_group(f, obj, h)
        else:
            _hash_dataset(f, obj, child_path, h)


def _hash_attrs(f: Any, obj: Any, h: Any) -> None:
    skip = EXCLUDED_ATTRIBUTES | (_ROOT_EXCLUDED_ATTRIBUTES if obj.name == "/" else frozenset())
    for name in sorted(obj.attrs.keys()):
        if name in skip:
            continue
        _put(h, "A", name.encode())
        _put(h, "v", _canonical(f, obj.attrs[name]))


def _hash_dataset(f: Any, ds: Any, path: str, h: Any) -> None:
    _put(h, "D", path.encode())
    _put(h, "t", str(ds.shape).encode())
    _hash_attrs(f, ds, h)
    with reading(ds):  # a damaged chunk: one line naming the file and the object
        _hash_values(f, ds, h)


def _hash_values(f: Any, ds: Any, h: Any) -> None:
    dt = ds.dtype
    if _is_plain(dt):
        tag = dt.newbyteorder("<").str if dt.kind in "iufc" else dt.str
        _put(h, "d", tag.encode())
        if ds.shape == () or ds.size == 0:
            _put(h, "b", _plain_bytes(ds[()]))
            return
        row_bytes = max(1, dt.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)))
        step = max(1, _BLOCK // row_bytes)
        for start in range(0, ds.shape[0], step):
            _put(h, "b", _plain_bytes(ds[start : start + step]))
    else:
        _put(h, "j", _canonical(f, ds[()]))


def _is_plain(dt: np.dtype) -> bool:
    """Tell whether a dtype is numeric / fixed-size, so its bytes can be hashed directly."""
    return dt.kind in "iufcbS" and dt.names is None and dt.metadata is None


def _plain_bytes(values: Any) -> bytes:
    arr = np.asarray(values)
    if arr.dtype.kind in "iufc":
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return np.ascontiguousarray(arr).tobytes()


def _canonical(f: Any, value: Any) -> bytes:
    """JSON bytes of a value, references replaced by their target paths."""
    return json.dumps(_plain(f, value), sort_keys=True, separators=(",", ":")).encode()


def _plain(f: Any, value: Any) -> Any:
    import h5py

    if isinstance(value, h5py.Reference):
        return {"ref": f[value].name} if value else {"ref": None}
    if isinstance(value, h5py.RegionReference):
        return {"regionref": f[value].name} if value else {"regionref": None}
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    if isinstance(value, np.void) and value.dtype.names:
        return {n: _plain(f, value[n]) for n in value.dtype.names}
    if isinstance(value, np.ndarray):
        if value.dtype.names:
            return {
                "shape": list(value.shape),
                "fields": {n: _plain(f, value[n]) for n in value.dtype.names},
            }
        if value.dtype.kind in "iufcb":
            arr = value.astype(value.dtype.newbyteorder("<"), copy=False)
            return {
                "dtype": arr.dtype.str,
                "shape": list(value.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest(),
            }
        return {"shape": list(value.shape), "items": [_plain(f, v) for v in value.ravel()]}
    if isinstance(value, np.generic):
        if value.dtype.kind in "fc":
            return {"dtype": value.dtype.str, "repr": repr(value.item())}
        return value.item() if not isinstance(value, np.bytes_) else _plain(f, bytes(value))
    if isinstance(value, float):
        return {"float": repr(value)}
    return value
