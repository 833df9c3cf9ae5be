"""Lazy array access: read only the rows asked for, from HDF5, Zarr or a list of datasets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["LazyImages", "normalize_index", "read_rows", "max_read_bytes", "check_declared_size"]

#: Environment variable that sets the largest dataset (bytes) a recording may declare.
MAX_BYTES_ENV = "NEUROFACEDIS_MAX_BYTES"


def max_read_bytes() -> int:
    """Largest dataset, in bytes, a file may declare: ``$NEUROFACEDIS_MAX_BYTES``, else RAM.

    Why: a file from a stranger can declare a terabyte-sized dataset in a few bytes of
    metadata; reading it would exhaust memory. Anything larger than this machine's memory
    cannot be analysed anyway.
    """
    env = os.environ.get(MAX_BYTES_ENV)
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise InputError(f"not a number of bytes: {env!r}", obj=MAX_BYTES_ENV) from None
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
    itemsize = max(int(np.dtype(dtype).itemsize), 1)
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
    from neurofacedis._inputs import reading

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


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.floating):
        return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    from skimage.util import img_as_ubyte

    return img_as_ubyte(image)


class LazyImages:
    """Read-only uint8 image stack (N, H, W[, 3]) that reads only the images indexed.

    Backed either by one stacked dataset (the FaceStimulusSet layout) or by one dataset per
    image (an NWB ``Images`` container of GrayscaleImage / RGBImage, in order_of_images).
    """

    def __init__(
        self,
        stacked: Any | None = None,
        per_image: Sequence[Any] | None = None,
        image_shape: tuple[int, ...] | None = None,
    ) -> None:
        self._stacked = stacked
        self._per_image = list(per_image) if per_image is not None else None
        if stacked is not None:
            self.shape: tuple[int, ...] = tuple(int(s) for s in stacked.shape)
        else:
            if self._per_image is None or image_shape is None:
                raise ValueError("give a stacked dataset, or per-image datasets and their shape")
            self.shape = (len(self._per_image), *image_shape)
        self.dtype = np.dtype(np.uint8)

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
            out = _to_uint8(read_rows(self._stacked, rows))
        else:
            picks = range(len(self))[rows] if isinstance(rows, slice) else rows.tolist()
            frames = [self._frame(i) for i in picks]
            out = np.stack(frames) if frames else np.empty((0, *self.shape[1:]), dtype=np.uint8)
        if scalar:
            out = out[0]
            return out[rest] if rest else out
        return out[(slice(None), *rest)] if rest else out

    def _frame(self, i: int) -> np.ndarray:
        from neurofacedis._inputs import reading

        with reading(self._per_image[i]):  # type: ignore[index]
            frame = np.asarray(self._per_image[i][()])  # type: ignore[index]
        if frame.ndim == 3 and frame.shape[-1] == 4:  # RGBA: drop alpha
            frame = frame[..., :3]
        return _to_uint8(frame)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[:]
        return arr.astype(dtype) if dtype is not None else arr

    def __repr__(self) -> str:
        return f"LazyImages(shape={self.shape}, dtype=uint8)"
