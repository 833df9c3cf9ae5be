"""The pixel rule: how any image stack becomes uint8, in one place.

Every reader of images (the NWB reader, the importers, ``--train-images``, landmark detection)
converts through :func:`pixel_rule`, decided once per stack from its dtype and value range, so
every image of a stack is converted the same way whichever rows are read:

=================  ==========================================================================
dtype              rule
=================  ==========================================================================
uint8              as is
bool               False -> 0, True -> 255
uint16             value / 257, rounded (65535 -> 255); a warning when no value exceeds 255
                   (8-bit values stored as uint16 would turn nearly black)
other integers     as is when every value lies in 0..255, else refused
float              non-finite (NaN, inf) refused; negative refused; max <= 1: value x 255,
                   rounded; 1 < max <= 255: read as 0-255 values, rounded, with a warning;
                   max > 255 refused
anything else      refused (complex, text, compound, object references)
=================  ==========================================================================

A refusal is an :class:`~neurofacedis.errors.InputError` naming the file and the object; a
warning is returned as text for the caller to record (the runner copies the recording's
warnings into summary.json) and also issued as a :class:`PixelWarning`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["PixelRange", "PixelRule", "PixelWarning", "pixel_rule", "to_uint8", "needs_range"]


class PixelWarning(UserWarning):
    """An image stack was rescaled by a rule other than the plain one for its dtype."""


@dataclass
class PixelRange:
    """Running minimum, maximum and count of non-finite values over blocks of one stack."""

    lo: float = float("inf")
    hi: float = float("-inf")
    nonfinite: int = 0

    def update(self, block: np.ndarray) -> None:
        """Fold one block of pixels into the range (nothing is kept but three numbers)."""
        block = np.asarray(block)
        if block.size == 0 or block.dtype.kind not in "biuf":
            return
        if block.dtype.kind == "f":
            finite = np.isfinite(block)
            bad = int(block.size - np.count_nonzero(finite))
            if bad:
                self.nonfinite += bad
                block = block[finite]
                if block.size == 0:
                    return
        self.lo = min(self.lo, float(block.min()))
        self.hi = max(self.hi, float(block.max()))


@dataclass(frozen=True)
class PixelRule:
    """How one stack's values become uint8: ``rint(value * scale)``; ``scale`` None = as is."""

    scale: float | None
    warning: str | None = None

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Convert a block of the stack (any rows) to uint8."""
        block = np.asarray(block)
        if self.scale is None:
            return block if block.dtype == np.uint8 else block.astype(np.uint8)
        out = np.rint(block.astype(np.float64 if block.dtype.itemsize > 4 else np.float32)
                      * self.scale)
        return np.clip(out, 0, 255).astype(np.uint8)


def needs_range(dtype: Any) -> bool:
    """Whether :func:`pixel_rule` needs the stack's value range for this dtype."""
    dtype = np.dtype(dtype)
    return dtype != np.uint8 and dtype != np.bool_ and dtype.kind in "iuf"


def pixel_rule(
    dtype: Any, seen: PixelRange | None, *, file: str | Path | None, obj: str | None
) -> PixelRule:
    """Decide how a stack of ``dtype`` whose values span ``seen`` becomes uint8.

    Parameters
    ----------
    dtype
        The stack's dtype.
    seen
        Its value range (:class:`PixelRange` over every pixel); needed when
        :func:`needs_range` says so, ignored otherwise.
    file, obj
        Named in a refusal or a warning.

    Returns
    -------
    PixelRule
        The scale and, when the values were rescaled unusually, a one-line warning.
    """
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return PixelRule(None)
    if dtype == np.bool_:
        return PixelRule(255.0)
    if dtype.kind not in "iuf":
        raise InputError(f"pixels must be numbers, got dtype {dtype}", file=file, obj=obj)
    seen = seen if seen is not None else PixelRange()
    where = ": ".join(str(p) for p in (file, obj) if p)
    empty = seen.hi < seen.lo
    if dtype.kind == "f":
        if seen.nonfinite:
            raise InputError(f"non-finite pixel values ({seen.nonfinite} NaN or inf)",
                             file=file, obj=obj)
        if empty or seen.hi <= 1.0:
            if not empty and seen.lo < 0:
                raise InputError(f"negative pixel values (min {seen.lo:g}); float pixels must "
                                 "lie in [0, 1]", file=file, obj=obj)
            return PixelRule(255.0)
        if seen.lo < 0 or seen.hi > 255:
            raise InputError(f"float pixels must lie in [0, 1] (or 0-255), found "
                             f"{seen.lo:g} to {seen.hi:g}", file=file, obj=obj)
        return PixelRule(1.0, f"{where}: float pixels reach {seen.hi:g}, above 1: read as "
                              "0-255 values (float images should lie in [0, 1])")
    if empty:
        return PixelRule(1.0 / 257.0 if dtype == np.uint16 else 1.0)
    if dtype == np.uint16:
        if seen.hi <= 255:
            return PixelRule(1.0 / 257.0, f"{where}: uint16 pixels never exceed {seen.hi:g}: "
                                          "scaled by 1/257 they are nearly black (store 8-bit "
                                          "values as uint8)")
        return PixelRule(1.0 / 257.0)
    if seen.lo < 0 or seen.hi > 255:
        raise InputError(f"integer pixels must lie in 0..255 (or be uint16), found "
                         f"{seen.lo:g} to {seen.hi:g}", file=file, obj=obj)
    return PixelRule(1.0)


def to_uint8(
    images: Any, *, file: str | Path | None, obj: str | None, notes: list[str] | None = None
) -> np.ndarray:
    """Convert an in-memory image stack (or one image) to uint8 by :func:`pixel_rule`.

    A warning is appended to ``notes`` when given and issued as a :class:`PixelWarning`.
    """
    images = np.asarray(images)
    seen = None
    if needs_range(images.dtype):
        seen = PixelRange()
        seen.update(images)
    rule = pixel_rule(images.dtype, seen, file=file, obj=obj)
    if rule.warning:
        if notes is not None:
            notes.append(rule.warning)
        warnings.warn(rule.warning, PixelWarning, stacklevel=2)
    return rule.apply(images)
