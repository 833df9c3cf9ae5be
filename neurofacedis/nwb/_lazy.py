"""Lazy array access: read only the rows asked for, from HDF5, Zarr or a list of datasets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis._inputs import (  # the bounded-read helpers live in the input gate
    MAX_BYTES_ENV,
    check_declared_size,
    max_read_bytes,
    parse_byte_size,
    reading,
)
from neurofacedis.errors import InputError

__all__ = [
    "LazyImages",
    "normalize_index",
    "read_rows",
    "max_read_bytes",
    "MAX_BYTES_ENV",
    "parse_byte_size",
    "check_declared_size",
    "check_dataset",
    "dataset_kind",
    "read_dataset",
]

def dataset_kind(data: Any) -> str:
    """Say what a dataset holds, from its metadata only (nothing is read).

    One of ``"number"`` (bool, int, float), ``"text"``, ``"references"`` (HDF5 object or
    region references, hdmf-zarr references), ``"compound"`` (a table of named fields) or
    ``"other"`` (complex, opaque...). Plain Python lists count as text or numbers.
    """
    names = {cls.__name__ for cls in type(data).__mro__}
    if names & {"AbstractH5TableDataset", "AbstractZarrTableDataset"}:
        return "compound"
    if any("ReferenceDataset" in n or n == "DatasetOfReferences" for n in names):
        return "references"
    inner = getattr(data, "dataset", data)
    dtype = getattr(inner, "dtype", None)
    if dtype is None:
        dtype = np.asarray(data).dtype
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return "other"
    if dtype.names is not None:
        return "compound"
    if dtype.kind in "biuf":
        return "number"
    if dtype.kind in "SU":
        return "text"
    if dtype.kind == "O":
        import h5py

        if h5py.check_ref_dtype(dtype) is not None:
            return "references"
        return "text"  # h5py / zarr variable-length strings
    return "other"


def _describe(data: Any, kind: str) -> str:
    """Words for what a dataset holds, for a refusal."""
    if kind == "references":
        return "HDF5 object references"
    inner = getattr(data, "dataset", data)
    dtype = getattr(inner, "dtype", None)
    if kind == "compound":
        fields = ", ".join(getattr(np.dtype(dtype), "names", None) or ()) if dtype else ""
        return f"a compound type (fields {fields})" if fields else "a compound type"
    return f"{kind} (dtype {dtype})" if kind == "text" else f"dtype {dtype}"


_WANT = {"number": "numeric", "text": "text", "value": "numbers or text",
         "references": "object references"}
_ALLOWED = {"number": {"number"}, "text": {"text", "number"}, "value": {"text", "number"},
            "references": {"references"}}


def check_dataset(data: Any, *, file: str | Path, obj: str, expect: str = "number") -> str:
    """Check a dataset's element kind and declared size before anything is read.

    ``expect`` is ``"number"``, ``"text"`` (text; numbers are shown as text), ``"value"``
    (numbers or text) or ``"references"``. Returns :func:`dataset_kind`.
    """
    kind = dataset_kind(data)
    if kind not in _ALLOWED[expect]:
        raise InputError(f"must be {_WANT[expect]}, got {_describe(data, kind)}",
                         file=file, obj=obj)
    check_declared_size(data, file=file, obj=obj)
    return kind


def read_dataset(
    data: Any, *, file: str | Path, obj: str, expect: str = "number", index: Any = None
) -> np.ndarray | list:
    """Read ``data[index]`` after checking it: the one bounded read of a recording's datasets.

    The declared size (:func:`check_declared_size`) and the element kind
    (:func:`check_dataset`) are checked from metadata first; text comes back as an object
    array of ``str`` (invalid UTF-8 is refused), references as a list of objects, anything
    else as a numpy array. ``index`` defaults to everything (``[()]`` for a scalar).
    """
    if data is None:
        return np.asarray([], dtype=object)
    if isinstance(data, (str, bytes)):
        data = [data]
    kind = check_dataset(data, file=file, obj=obj, expect=expect)
    with reading(data):
        try:
            if isinstance(data, (list, tuple)):
                raw = list(data) if index is None else data[index]
            elif index is None:
                raw = data[()] if getattr(data, "shape", None) == () else data[:]
            else:
                raw = data[index]
        except UnicodeDecodeError as exc:
            raise InputError(
                f"text is not valid UTF-8 (byte {exc.object[exc.start:exc.start + 1]!r})",
                file=file, obj=obj,
            ) from None
    if kind == "references":
        return list(raw) if not isinstance(raw, list) else raw
    arr = np.asarray(raw)
    if kind == "text" or arr.dtype.kind in "OSU":
        return _as_text(arr, file=file, obj=obj)
    return arr


def _as_text(arr: np.ndarray, *, file: str | Path, obj: str) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    flat = out.reshape(-1)
    for i, v in enumerate(arr.reshape(-1)):
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"text is not valid UTF-8 (byte {exc.object[exc.start:exc.start + 1]!r})",
                    file=file, obj=obj,
                ) from None
        flat[i] = v if isinstance(v, str) else str(v)
    return out


def normalize_index(index: Any, n: int) -> tuple[np.ndarray | slice, bool]:
    """Turn a first-axis index into a slice or an int array; say whether it was a scalar."""
    if isinstance(index, slice):
        return index, False
    if isinstance(index, (int, np.integer)):
        i = int(index)
        if i < -n or i >= n:
            raise IndexError(f"index {i} out of range for {n} images")
        return np.array([i % n]), True
    arr = np.asarray(index)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise IndexError(f"boolean index of shape {arr.shape} for {n} images")
        return np.flatnonzero(arr), False
    arr = arr.astype(np.int64).ravel()
    if arr.size and (arr.min() < -n or arr.max() >= n):
        raise IndexError(f"index out of range for {n} images")
    return arr % n if arr.size else arr, False


def read_rows(dataset: Any, rows: np.ndarray | slice, rest: tuple = ()) -> np.ndarray:
    """Read ``dataset[rows, *rest]`` touching only those rows.

    HDF5 fancy indexing needs increasing unique indices, so rows are sorted and de-duplicated
    for the read and put back in the asked order afterwards; Zarr arrays use ``oindex``.
    A read that fails (a damaged chunk) is one line naming the file and the object.
    """
    with reading(dataset):
        return _read_rows(dataset, rows, rest)


def _read_rows(dataset: Any, rows: np.ndarray | slice, rest: tuple) -> np.ndarray:
    if isinstance(rows, slice):
        return np.asarray(dataset[(rows, *rest)])
    if rows.size == 0:
        shape = np.empty(dataset.shape, dtype=bool)[(slice(0, 0), *rest)].shape
        return np.empty(shape, dtype=dataset.dtype)
    uniq, inverse = np.unique(rows, return_inverse=True)
    lo, hi = int(uniq[0]), int(uniq[-1]) + 1
    if hi - lo == uniq.size:  # contiguous: one slice read
        block = np.asarray(dataset[(slice(lo, hi), *rest)])
    elif hasattr(dataset, "oindex"):  # zarr
        block = np.asarray(dataset.oindex[(uniq, *rest)])
    else:  # h5py and numpy accept a sorted index list on one axis
        block = np.asarray(dataset[(uniq.tolist(), *rest)])
    return block[inverse]


def fit_frame(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bring one uint8 image to ``shape`` (H, W[, 3]): grey repeated to RGB, bilinear resize.

    Pillow's bilinear filter (antialiased when shrinking), applied once, on uint8 values.
    """
    from PIL import Image

    if len(shape) == 3 and frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    if frame.shape[:2] != tuple(shape[:2]):
        resized = Image.fromarray(frame).resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
        frame = np.asarray(resized, dtype=np.uint8)
    return frame


class LazyImages:
    """Read-only uint8 image stack (N, H, W[, 3]) that reads only the images indexed.

    Backed either by one stacked dataset (the FaceStimulusSet layout) or by one dataset per
    image (an NWB ``Images`` container of GrayscaleImage / RGBImage, in order_of_images, or
    external image files). With ``fit``, per-image sources of other sizes are brought to
    ``image_shape`` by :func:`fit_frame` as they are read.
    Values become uint8 by the pixel rule (:mod:`neurofacedis._pixels`), decided once for the
    whole stack: when the dtype needs it (not uint8 or bool), the first read scans every
    image once, a block at a time, for the value range. Refusals name ``file`` and the
    dataset; a rescaling warning is kept in :attr:`warnings`.
    """

    #: Bytes read at a time when the value range is scanned.
    SCAN_BYTES = 32 << 20

    def __init__(
        self,
        stacked: Any | None = None,
        per_image: Sequence[Any] | None = None,
        image_shape: tuple[int, ...] | None = None,
        *,
        file: str | Path | None = None,
        where: str | None = None,
        names: Sequence[str] | None = None,
        fit: bool = False,
    ) -> None:
        self._stacked = stacked
        self._fit = fit
        self._per_image = list(per_image) if per_image is not None else None
        if stacked is not None:
            self.shape: tuple[int, ...] = tuple(int(s) for s in stacked.shape)
        else:
            if self._per_image is None or image_shape is None:
                raise ValueError("give a stacked dataset, or per-image datasets and their shape")
            self.shape = (len(self._per_image), *image_shape)
        self.dtype = np.dtype(np.uint8)
        self._file = file
        self._where = where
        self._names = list(names) if names is not None else None
        self._rule: Any = None
        #: Warnings of the pixel rule (rescaled values), one line each.
        self.warnings: list[str] = []

    @property
    def ndim(self) -> int:
        """Number of dimensions (3 grayscale, 4 RGB)."""
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        rest: tuple = ()
        if isinstance(index, tuple):
            index, rest = index[0], index[1:]
        rows, scalar = normalize_index(index, len(self))
        if self._stacked is not None:
            out = self.rule().apply(read_rows(self._stacked, rows))
        else:
            picks = range(len(self))[rows] if isinstance(rows, slice) else rows.tolist()
            frames = [self._frame(i) for i in picks]
            out = np.stack(frames) if frames else np.empty((0, *self.shape[1:]), dtype=np.uint8)
        if scalar:
            out = out[0]
            return out[rest] if rest else out
        return out[(slice(None), *rest)] if rest else out

    def rule(self) -> Any:
        """Return the stack's :class:`~neurofacedis._pixels.PixelRule` (decided on first use)."""
        if self._rule is None:
            self._rule = self._decide()
        return self._rule

    def _decide(self) -> Any:
        import warnings

        from neurofacedis._pixels import PixelRange, PixelWarning, needs_range, pixel_rule

        sources = [self._stacked] if self._stacked is not None else list(self._per_image or [])
        names = self._names or [None] * len(sources)
        dtypes = {np.dtype(s.dtype) for s in sources}
        if len(dtypes) != 1:
            raise InputError(f"images differ in dtype: {sorted(map(str, dtypes))[:3]}",
                             file=self._file, obj=self._where)
        dtype = dtypes.pop()
        seen, culprit = None, None
        if needs_range(dtype):
            seen = PixelRange()
            for source, name in zip(sources, names, strict=True):
                before = seen.nonfinite
                self._scan(source, seen)
                if culprit is None and seen.nonfinite > before:
                    culprit = name  # name the first image holding NaN / inf
        rule = pixel_rule(dtype, seen, file=self._file, obj=culprit or self._where)
        if rule.warning:
            self.warnings.append(rule.warning)
            warnings.warn(rule.warning, PixelWarning, stacklevel=3)
        return rule

    def _scan(self, source: Any, seen: Any) -> None:
        n = int(source.shape[0]) if len(source.shape) else 0
        if len(source.shape) < 3 or n == 0:  # one image (per-image layout): read it whole
            seen.update(read_rows(source, slice(None)) if len(source.shape) else source[()])
            return
        row = max(1, int(np.prod(source.shape[1:], dtype=np.int64)) * source.dtype.itemsize)
        step = max(1, self.SCAN_BYTES // row)
        for start in range(0, n, step):
            seen.update(read_rows(source, slice(start, start + step)))

    def _frame(self, i: int) -> np.ndarray:
        rule = self.rule()
        with reading(self._per_image[i]):  # type: ignore[index]
            frame = np.asarray(self._per_image[i][()])  # type: ignore[index]
        if frame.ndim == 3 and frame.shape[-1] == 4:  # RGBA: drop alpha
            frame = frame[..., :3]
        out = rule.apply(frame)
        if self._fit and out.shape != self.shape[1:]:
            out = fit_frame(out, self.shape[1:])
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[:]
        return arr.astype(dtype) if dtype is not None else arr

    def __repr__(self) -> str:
        return f"LazyImages(shape={self.shape}, dtype=uint8)"
