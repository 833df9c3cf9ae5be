"""Stimulus sets as labs store them in plain NWB, read without conversion.

Candidates, in ``stimulus_template`` and ``stimulus``:

* an ``Images`` container of GrayscaleImage / RGBImage (in ``order_of_images`` when given,
  else by name);
* an ``ImageSeries`` or ``OpticalSeries`` whose ``data`` stacks the frames (N, H, W[, 3]);
* an ``ImageSeries`` with ``external_file``: image files (any format Pillow reads; a
  multi-frame TIFF/GIF counts its frames, checked against ``starting_frame``) at paths
  relative to the NWB file, confined to its folder unless ``follow_links``.

One candidate is used as it is; with several, the one an IndexSeries points to
(``indexed_images``, or the legacy ``indexed_timeseries``), else ``stimuli=NAME`` chooses and
the error without it lists the candidates. Stimulus ids: an image's name in an ``Images``
container, the file name for external files (``name#k`` for frame k of a multi-frame file),
``SERIES_0000``... for frames of a stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.errors import InputError, MissingDataError
from neurofacedis.nwb._lazy import LazyImages, check_dataset, read_dataset

__all__ = ["StimulusSet", "plain_candidates", "choose_set", "build_set", "index_targets"]

#: Pillow modes read as they are (grey / RGB of uint8, uint16, int32, float32).
_DIRECT_MODES = {"L", "RGB", "I;16", "I;16B", "I;16L", "I", "F"}


@dataclass
class StimulusSet:
    """A plain file's stimulus set: where it is, its lazy images and stimulus ids."""

    where: str
    obj: Any
    images: LazyImages
    ids: list[str]
    #: Every name a presentation table may use for an image (ids, file names, base names).
    aliases: dict[str, int] = field(default_factory=dict)
    #: External files read: path and the name the file gives.
    files: list[tuple[Path, str]] = field(default_factory=list)


def _type_name(obj: Any) -> str:
    return str(getattr(obj, "neurodata_type", ""))


def _is_image_series(obj: Any) -> bool:
    from pynwb.image import ImageSeries

    return isinstance(obj, ImageSeries)


def plain_candidates(nwbfile: Any) -> dict[str, Any]:
    """NWB path -> object of every plain stimulus-set candidate."""
    out: dict[str, Any] = {}
    for group in ("stimulus_template", "stimulus"):
        for name, obj in (getattr(nwbfile, group, None) or {}).items():
            if _type_name(obj) == "Images" or _is_image_series(obj):
                out[f"{group}/{name}"] = obj
    return out


def index_targets(nwbfile: Any) -> list[Any]:
    """Objects IndexSeries in ``stimulus`` point to (``indexed_images`` or legacy target)."""
    out = []
    for series in (nwbfile.stimulus or {}).values():
        if _type_name(series) != "IndexSeries":
            continue
        target = getattr(series, "indexed_images", None)
        if target is None:
            target = getattr(series, "indexed_timeseries", None)
        if target is not None:
            out.append(target)
    return out


def choose_set(nwbfile: Any, name: str | None, *, file: Path) -> tuple[str, Any]:
    """Pick the stimulus set: by ``name`` (or NWB path), the only one, or the one indexed."""
    found = plain_candidates(nwbfile)
    listed = ", ".join(sorted(found)) or "none"
    if name is not None:
        hits = [w for w in found if w == name or w.rsplit("/", 1)[1] == name]
        if len(hits) != 1:
            problem = "no such" if not hits else "several candidates named"
            raise InputError(f"{problem} stimulus set {name!r} (candidates: {listed})",
                             file=file, obj="stimuli")
        return hits[0], found[hits[0]]
    if len(found) == 1:
        return next(iter(found.items()))
    if not found:
        raise MissingDataError(
            "no stimuli: no FaceStimulusSet, and no Images container or ImageSeries in "
            "stimulus_template or stimulus",
            file=file, obj="stimulus_template",
        )
    targets = index_targets(nwbfile)
    referenced = [(w, o) for w, o in found.items() if any(t is o for t in targets)]
    if len(referenced) == 1:
        return referenced[0]
    raise InputError(
        f"several stimulus sets ({listed}); choose one with `stimuli`",
        file=file, obj="stimulus_template",
    )


def build_set(where: str, obj: Any, *, file: Path, follow_links: bool) -> StimulusSet:
    """Read a candidate's layout (nothing but metadata and image headers)."""
    if _type_name(obj) == "Images":
        return _from_images(where, obj, file)
    if getattr(obj, "external_file", None) is not None and len(obj.external_file):
        return _from_external(where, obj, file, follow_links)
    return _from_stack(where, obj, file)


def common_shape(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Return the size rule's shape: the most common (H, W) (ties: earliest), RGB if any is."""
    counts: dict[tuple[int, int], int] = {}
    for s in shapes:
        counts[s[:2]] = counts.get(s[:2], 0) + 1
    best = max(counts.values())
    hw = next(s[:2] for s in shapes if counts[s[:2]] == best)
    return (*hw, 3) if any(len(s) == 3 for s in shapes) else hw


def _per_image(sources: list[Any], shapes: list[tuple[int, ...]], file: Path, where: str,
               names: list[str]) -> LazyImages:
    """Per-image sources as one stack; other sizes fitted to the common shape (a warning)."""
    dtypes = sorted({str(np.dtype(s.dtype)) for s in sources})
    if len(dtypes) > 1:  # one pixel rule per stack: refused before anything is read
        raise InputError(f"images differ in dtype: {dtypes[:3]}", file=file, obj=where)
    target = common_shape(shapes)
    images = LazyImages(per_image=sources, image_shape=target, file=file, where=where,
                        names=names, fit=True)
    odd = [n for n, s in zip(names, shapes, strict=True) if s != target]
    if odd:
        size = "x".join(map(str, target[:2])) + (" RGB" if len(target) == 3 else " grey")
        images.warnings.append(
            f"{file}: {where}: {len(odd)} of {len(shapes)} images brought to the set's common "
            f"size {size} (bilinear resize / grey repeated to RGB), first {odd[0]}"
        )
    return images


def _aliases(ids: list[str]) -> dict[str, int]:
    return {sid: i for i, sid in enumerate(ids)}


def _from_images(where: str, container: Any, file: Path) -> StimulusSet:
    if container.order_of_images is not None:
        frames = read_dataset(container.order_of_images.data, file=file,
                              obj=f"{where}/order_of_images", expect="references")
    else:
        frames = [container.images[k] for k in sorted(container.images)]
    if not frames:
        raise MissingDataError("no stimuli (empty Images container)", file=file, obj=where)
    for f in frames:
        if getattr(f, "data", None) is None:
            raise InputError("must point to images, got a reference to another object",
                             file=file, obj=f"{where}/order_of_images")
        check_dataset(f.data, file=file, obj=f"{where}/{f.name}")
    shapes = [tuple(f.data.shape[:2]) + ((3,) if len(f.data.shape) == 3 else ())
              for f in frames]
    images = _per_image([f.data for f in frames], shapes, file, where,
                        [f"{where}/{f.name}" for f in frames])
    ids = [f.name for f in frames]
    return StimulusSet(where, container, images, ids, _aliases(ids))


def _from_stack(where: str, series: Any, file: Path) -> StimulusSet:
    data = series.data
    obj = f"{where}/data"
    if data is None or not getattr(data, "shape", None):
        raise InputError("no stimuli (neither data nor external_file)", file=file, obj=where)
    check_dataset(data, file=file, obj=obj)
    shape = tuple(int(s) for s in data.shape)
    if not (len(shape) == 3 or (len(shape) == 4 and shape[-1] == 3)) or shape[0] == 0:
        raise InputError(f"expected frames (N, H, W) or (N, H, W, 3), got shape {shape}",
                         file=file, obj=obj)
    width = max(4, len(str(shape[0] - 1)))
    ids = [f"{series.name}_{i:0{width}d}" for i in range(shape[0])]
    images = LazyImages(stacked=data, file=file, where=obj)
    return StimulusSet(where, series, images, ids, _aliases(ids))


class _ExternalFrame:
    """One frame of an external image file, dataset-like (``shape``, ``dtype``, ``[()]``)."""

    def __init__(self, path: Path, frame: int, *, file: Path, obj: str) -> None:
        self.path, self.frame, self._file, self._obj = path, frame, file, obj
        with self._open() as img:
            self.mode = img.mode
            width, height = img.size
        probe = np.asarray(self._convert_mode_only(self.mode))
        self.dtype = probe.dtype
        self.shape = (height, width, 3) if probe.ndim == 1 else (height, width)

    @staticmethod
    def _convert_mode_only(mode: str) -> np.ndarray:
        """Dtype and channels Pillow gives for ``mode`` after :meth:`_target` (a 1x1 probe)."""
        from PIL import Image

        img = Image.new(_ExternalFrame._target(mode), (1, 1))
        arr = np.asarray(img)
        return arr[0, 0]

    @staticmethod
    def _target(mode: str) -> str:
        if mode in _DIRECT_MODES:
            return mode
        return "L" if mode in ("1", "LA", "La") else "RGB"

    def _open(self) -> Any:
        from PIL import Image

        try:
            img = Image.open(self.path)
            if self.frame:
                img.seek(self.frame)
        except (OSError, EOFError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"cannot read image file {self.path.name!r} ({exc})",
                             file=self._file, obj=self._obj) from None
        return img

    def __getitem__(self, key: Any) -> np.ndarray:
        with self._open() as img:
            try:
                mode = self._target(img.mode)
                arr = np.asarray(img if img.mode == mode else img.convert(mode))
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot decode image file {self.path.name!r} ({exc})",
                                 file=self._file, obj=self._obj) from None
        return arr[key] if key != () else arr


def _frame_counts(paths: list[Path], names: list[str], where: str, file: Path) -> list[int]:
    from PIL import Image

    counts = []
    for path, name in zip(paths, names, strict=True):
        try:
            with Image.open(path) as img:
                counts.append(int(getattr(img, "n_frames", 1)))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"external file {name!r} is not an image Pillow reads ({exc})",
                             file=file, obj=f"{where}/external_file") from None
    return counts


def _from_external(where: str, series: Any, file: Path, follow_links: bool) -> StimulusSet:
    from neurofacedis._inputs import check_external_file

    obj = f"{where}/external_file"
    names = [str(n) for n in read_dataset(series.external_file, file=file, obj=obj,
                                          expect="text")]
    paths = [check_external_file(file, n, follow_links=follow_links, obj=obj) for n in names]
    counts = _frame_counts(paths, names, where, file)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    given = getattr(series, "starting_frame", None)
    if given is not None and len(given):
        given = np.asarray(read_dataset(given, file=file, obj=f"{where}/starting_frame"))
        if given.shape != starts.shape or not np.array_equal(given, starts):
            raise InputError(
                f"starting_frame {given.tolist()[:6]} does not match the files' frame counts "
                f"{counts[:6]} (expected {starts.tolist()[:6]})",
                file=file, obj=f"{where}/starting_frame",
            )
    frames, ids, aliases = [], [], {}
    for path, name, count in zip(paths, names, counts, strict=True):
        for k in range(count):
            sid = name if count == 1 else f"{name}#{k}"
            aliases[sid] = len(ids)
            if count == 1:
                for alias in {Path(name).name, Path(name).stem} - {sid}:
                    before = aliases.get(alias, len(ids))
                    aliases[alias] = len(ids) if before == len(ids) else -1  # -1: ambiguous
            frames.append(_ExternalFrame(path, k, file=file, obj=obj))
            ids.append(sid)
    images = _per_image(frames, [f.shape for f in frames], file, obj,
                        [f"{obj}/{n}" for n in ids])
    aliases = {k: v for k, v in aliases.items() if v >= 0}
    return StimulusSet(where, series, images, ids, aliases,
                       [(p, n) for p, n in zip(paths, names, strict=True)])
