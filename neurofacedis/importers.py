"""Import the formats labs keep (image folders, .npy/.csv/.mat arrays) into one NWB file."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis._inputs import check_input_path
from neurofacedis.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from neurofacedis.nwb.session import SessionData, SessionMetadata

__all__ = [
    "IMAGE_SUFFIXES",
    "natural_key",
    "image_files",
    "describe_order",
    "read_images",
    "read_responses",
    "read_landmarks",
    "read_labels",
    "load_session",
    "import_recording",
    "SkippedStimuliWarning",
]

#: Image files taken from a folder (case-insensitive), in natural name order (see image_files).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

_NUMBER = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sort key of a file name: text runs case-folded, digit runs as numbers, suffix ignored.

    ``2.png`` < ``10.png``; ``face9`` < ``face10`` < ``house1``. Positions alternate text and
    number, so any two keys compare without mixing types.
    """
    parts = _NUMBER.split(Path(name).stem)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))


def image_files(folder: str | Path) -> list[Path]:
    """List the image files of ``folder`` (PNG/JPEG) in natural name order: numbers as numbers.

    Files are ordered by :func:`natural_key` (``1, 2, 10``; names with different prefixes,
    each numbered on its own, are grouped by prefix, then number). A folder whose order is
    ambiguous is refused with one line:

    - two names number the same stimulus: ``1.png`` and ``01.png`` (also ``a1.png`` and
      ``A1.jpg``: letter case and suffix do not tell stimuli apart);
    - numbers at the same place in otherwise equal names are padded inconsistently:
      ``01.png`` beside ``2.png`` or ``001.png`` (text order and number order disagree);
    - every name holds one number, no number recurs under two prefixes (one numbering
      across the folder), yet grouping by prefix breaks it: ``face1, face2, img3, face4``.
    """
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    for p in files:  # the input gate: regular files with UTF-8 names, before any is read
        check_input_path(p, what="images")
    files.sort(key=lambda p: (natural_key(p.name), p.name))
    problem = _order_problem([p.name for p in files])
    if problem:
        raise InputError(f"ambiguous image order: {problem}", file=folder)
    return files


def describe_order(names: Sequence[str], shown: int = 3) -> str:
    """One line naming the first and last few of ``names``, in the order used."""
    names = [str(n) for n in names]
    listed = ", ".join(names) if len(names) <= 2 * shown else (
        f"{', '.join(names[:shown])} … {', '.join(names[-shown:])}"
    )
    return f"{len(names)} images in natural name order (numbers as numbers): {listed}"


def _order_problem(names: list[str]) -> str:
    """Say what makes the naturally sorted ``names`` ambiguous ("" when nothing does)."""
    keys = [natural_key(n) for n in names]
    for i in range(1, len(names)):
        (a, ka), (b, kb) = (names[i - 1], keys[i - 1]), (names[i], keys[i])
        if ka == kb:
            numbers = [str(k) for k in ka[1::2]]
            same = f"both number {', '.join(numbers)}" if numbers else "name the same stimulus"
            return f"{a!r} and {b!r} {same} (give each stimulus one name)"
    digits: dict[tuple[tuple[str | int, ...], int], list[tuple[str, str]]] = {}
    for name in names:
        parts = _NUMBER.split(Path(name).stem)
        template = tuple(p.casefold() for p in parts[0::2])
        for j, run in enumerate(parts[1::2]):
            digits.setdefault((template, j), []).append((run, name))
    for runs in digits.values():
        padded = [(len(r), n) for r, n in runs if len(r) > 1 and r[0] == "0"]  # natural order
        if not padded:
            continue
        width, name = max(padded, key=lambda wn: wn[0])  # the first of the widest
        narrow, other = min(padded, key=lambda wn: wn[0])
        if narrow != width:
            return (f"{name!r} is zero-padded to {width} digits but {other!r} to {narrow} "
                    "(pad every number to one width, or none)")
        short = next((n for r, n in runs if len(r) < width), None)
        if short is not None:
            return (f"{name!r} is zero-padded to {width} digits but {short!r} is not (pad every "
                    "number to one width, or none)")
    return _prefix_problem(names, keys)


def _prefix_problem(names: list[str], keys: list[tuple[str | int, ...]]) -> str:
    """One numbering across several prefixes that grouping by prefix would break."""
    if any(len(k) != 3 for k in keys):  # text, number, text: exactly one number per name
        return ""
    prefixes: dict[int, set[tuple[str | int, ...]]] = {}
    for k in keys:
        prefixes.setdefault(int(k[1]), set()).add((k[0], k[2]))
    if len({p for ps in prefixes.values() for p in ps}) < 2:
        return ""
    if any(len(ps) > 1 for ps in prefixes.values()):
        return ""  # each prefix numbered on its own: grouping by prefix is the order
    for i in range(1, len(names)):
        if int(keys[i][1]) < int(keys[i - 1][1]):
            a, b = names[i - 1], names[i]
            return (f"names mix prefixes in one numbering: {b!r} would come after {a!r} "
                    "(use one prefix, or number each prefix's images from 1)")
    return ""


def _as_uint8(images: np.ndarray, file: Path, obj: str) -> np.ndarray:
    """Convert images to uint8 by the one pixel rule (:mod:`neurofacedis._pixels`)."""
    from neurofacedis._pixels import to_uint8

    return to_uint8(images, file=file, obj=obj)


def read_images(source: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read stimulus images: a folder of PNG/JPEG files or an .npy stack.

    Returns uint8 images (N, H, W) or (N, H, W, 3) and stimulus ids (file stems in natural
    order, see :func:`image_files`; ``stim0000``... for a stack). Alpha channels are
    dropped; images must share a size.
    """
    source = check_input_path(source, what="images", folder="images")  # no FIFO, device
    if source.is_dir():
        from skimage import io

        files = image_files(source)  # natural order; ambiguous names refused
        if not files:
            raise InputError("no stimuli (no .png/.jpg/.jpeg files)", file=source)
        for f in files:  # names become stimulus ids, stored as UTF-8 text
            try:
                f.name.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(
                    f"file name {os.fsencode(f.name)!r} is not valid UTF-8 (rename it)",
                    file=source,
                ) from None
        frames = []
        for f in files:
            try:
                img = np.asarray(io.imread(f))
            except Exception as exc:  # noqa: BLE001 - any decoder failure is bad input
                raise InputError(f"cannot read image ({type(exc).__name__})", file=f) from None
            if img.ndim == 3 and img.shape[-1] == 4:
                img = img[..., :3]
            if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)):
                raise InputError(f"unsupported image shape {img.shape}", file=f)
            frames.append(_as_uint8(img, f, "pixels"))
        shapes = {fr.shape for fr in frames}
        if len(shapes) > 1:
            if {len(s) for s in shapes} == {2, 3} and len({s[:2] for s in shapes}) == 1:
                frames = [
                    np.repeat(fr[..., None], 3, axis=2) if fr.ndim == 2 else fr for fr in frames
                ]
            else:
                raise InputError(
                    f"images differ in size: {sorted(shapes)[:3]} (resize them first)", file=source
                )
        return np.stack(frames), [f.stem for f in files]
    arr = _load_array(source, what="images")
    if arr.ndim == 4 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] == 3)):
        raise InputError(f"expected (N, H, W) or (N, H, W, 3), got shape {arr.shape}", file=source)
    if arr.shape[0] == 0:
        raise InputError("no stimuli", file=source)
    width = max(4, len(str(arr.shape[0] - 1)))
    return _as_uint8(arr, source, "images"), [f"stim{i:0{width}d}" for i in range(arr.shape[0])]


def _load_array(path: Path, *, what: str, mat_var: str | None = None) -> np.ndarray:
    path = check_input_path(path, what="")  # regular files only: no FIFO, device, folder
    suffix = path.suffix.lower()
    if suffix == ".npy":
        _check_npy_size(path)
        try:
            return np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                f"not a readable .npy array ({type(exc).__name__})", file=path
            ) from None
    if suffix == ".csv":
        return _load_csv(path)
    if suffix == ".mat":
        return _load_mat(path, mat_var)
    raise InputError(f"unsupported {what} format {suffix!r} (use .npy, .csv or .mat)", file=path)


def _check_npy_size(path: Path) -> None:
    """Refuse an .npy whose header declares more bytes than the file holds (before reading).

    Why: ``np.load`` allocates the declared shape first, so a 100-byte file can ask for
    petabytes. Object (pickled) arrays are refused later by ``allow_pickle=False``.
    """
    from numpy.lib import format as npy_format

    try:
        with open(path, "rb") as fh:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(fh)
            else:
                return  # newer header versions: np.load checks them itself
            offset = fh.tell()
    except Exception as exc:  # noqa: BLE001 - any header failure is bad input
        raise InputError(f"not a readable .npy array ({type(exc).__name__})", file=path) from None
    if dtype.hasobject:
        return
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    available = path.stat().st_size - offset
    if declared > available:
        raise InputError(
            f"declares shape {tuple(shape)} ({declared:.3g} bytes) but holds {available} bytes",
            file=path,
        )


def _load_csv(path: Path) -> np.ndarray:
    import pandas as pd

    try:
        frame = pd.read_csv(path, header=None)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"not a readable CSV file ({type(exc).__name__})", file=path) from None
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    # a non-numeric first row is a header; a non-numeric first column holds row names
    if len(frame) and numeric.iloc[0].isna().all() and frame.iloc[0].notna().any():
        numeric = numeric.iloc[1:]
    if numeric.shape[1] and numeric.iloc[:, 0].isna().all():
        numeric = numeric.iloc[:, 1:]
    bad = numeric.isna() & ~frame.loc[numeric.index, numeric.columns].isna()
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputError(f"non-numeric value at row {row + 1}, column {col + 1}", file=path)
    return numeric.to_numpy(dtype=np.float64)


def _load_mat(path: Path, mat_var: str | None) -> np.ndarray:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
        arrays = {
            k: np.asarray(v)
            for k, v in content.items()
            if not k.startswith("__") and isinstance(v, np.ndarray) and v.dtype.kind in "biuf"
        }
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        import h5py

        with h5py.File(path, "r") as fh:
            arrays = {
                k: np.asarray(v[()]).T  # MATLAB stores column-major
                for k, v in fh.items()
                if isinstance(v, h5py.Dataset) and v.dtype.kind in "biuf"
            }
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"not a readable .mat file ({type(exc).__name__})", file=path) from None
    if mat_var is not None:
        if mat_var not in arrays:
            raise InputError(
                f"no numeric variable {mat_var!r} (have: {', '.join(sorted(arrays)) or 'none'})",
                file=path,
            )
        return arrays[mat_var]
    if len(arrays) != 1:
        raise InputError(
            f"{len(arrays)} numeric variables ({', '.join(sorted(arrays)) or 'none'}); "
            "choose one with `mat_var`",
            file=path,
        )
    return next(iter(arrays.values()))


def read_responses(path: str | Path, *, mat_var: str | None = None) -> np.ndarray:
    """Read responses (stimuli x neurons [x repeats]) from .npy, .csv or .mat as float32 (N, U, R).

    NaN marks a missing repeat; infinite values are rejected.
    """
    path = Path(path)
    arr = _load_array(path, what="responses", mat_var=mat_var)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"responses must be numeric, got {arr.dtype}", file=path)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise InputError(
            f"expected stimuli x neurons [x repeats], got shape {arr.shape}", file=path
        )
    if arr.shape[1] == 0:
        raise InputError("no neurons", file=path)
    if np.isinf(arr).any():
        raise InputError("non-finite (infinite) responses", file=path)
    with np.errstate(over="ignore"):
        arr = arr.astype(np.float32)
    if np.isinf(arr).any():
        raise InputError("responses too large for float32 (|value| > 3.4e38)", file=path)
    empty = np.isnan(arr).all(axis=2)
    if empty.any():
        s, u = (int(i[0]) for i in np.nonzero(empty))
        raise InputError(
            f"stimulus row {s}, neuron {u}: every repeat is NaN (NaN marks a missing repeat)",
            file=path,
        )
    return arr


def read_landmarks(path: str | Path) -> np.ndarray:
    """Read landmarks (N, L, 2) from .npy (or (N, 2L) from .csv, as x1, y1, x2, y2...)."""
    path = Path(path)
    arr = _load_array(path, what="landmarks")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"landmarks must be numeric, got {arr.dtype}", file=path)
    if arr.ndim == 2 and arr.shape[1] % 2 == 0 and arr.shape[1] > 0:
        arr = arr.reshape(arr.shape[0], -1, 2)
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise InputError(f"expected (N, L, 2), got shape {arr.shape}", file=path)
    if arr.shape[1] == 0:
        raise InputError("no landmarks (L = 0)", file=path)
    if not np.isfinite(arr).all():
        raise InputError("non-finite landmark coordinates", file=path)
    with np.errstate(over="ignore"):
        arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InputError("landmark coordinates too large for float32", file=path)
    return arr


def read_labels(path: str | Path, stimulus_ids: Sequence[str]) -> pd.DataFrame:
    """Read per-image labels (CSV with a header, one row per image).

    A ``stimulus_id`` column, when present, matches rows to images (any order); otherwise
    rows are taken in image order.
    """
    import pandas as pd

    path = check_input_path(path, what="")  # regular files only: no FIFO, device, folder
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"not a readable CSV file ({type(exc).__name__})", file=path) from None
    ids = [str(s) for s in stimulus_ids]
    if "stimulus_id" in frame.columns:
        frame["stimulus_id"] = frame["stimulus_id"].astype(str)
        missing = sorted(set(ids) - set(frame["stimulus_id"]))
        if missing:
            raise InputError(f"no row for stimulus {missing[0]!r}", file=path, obj="stimulus_id")
        if frame["stimulus_id"].duplicated().any():
            raise InputError("duplicate stimulus ids", file=path, obj="stimulus_id")
        frame = frame.set_index("stimulus_id").loc[ids].reset_index(drop=True)
    elif len(frame) != len(ids):
        raise InputError(f"{len(frame)} label rows but {len(ids)} images", file=path)
    return frame.reset_index(drop=True)


def load_session(
    images: str | Path,
    responses: str | Path,
    *,
    metadata: SessionMetadata,
    landmarks: str | Path | None = None,
    labels: str | Path | None = None,
    mat_var: str | None = None,
    response_unit: str = "spikes",
    window: tuple[float, float] | None = None,
    detect_landmarks: bool = False,
    skip_undetected: bool = False,
    progress: Any = None,
) -> SessionData:
    """Read lab files into a SessionData (nothing written). See :func:`import_recording`."""
    from neurofacedis.nwb.session import DEFAULT_WINDOW, SessionData

    if skip_undetected and not detect_landmarks:
        raise InputError("needs `detect_landmarks`", obj="skip_undetected")
    imgs, ids = read_images(images)
    resp = read_responses(responses, mat_var=mat_var)
    if resp.shape[0] != imgs.shape[0]:
        raise InputError(
            f"{resp.shape[0]} response rows but {imgs.shape[0]} images", file=responses
        )
    lm = read_landmarks(landmarks) if landmarks is not None else None
    if lm is not None and lm.shape[0] != imgs.shape[0]:
        raise InputError(f"{lm.shape[0]} landmark rows but {imgs.shape[0]} images", file=landmarks)
    if detect_landmarks:  # dlib, optional extra: see neurofacedis.landmarks
        if lm is not None:
            raise InputError("give `landmarks` or `detect_landmarks`, not both",
                             obj="landmarks")
        from neurofacedis.landmarks import detect_for_import

        lm, failed = detect_for_import(imgs, ids, skip_undetected=skip_undetected,
                                       progress=progress)
    identity = None
    label_frame = None
    if labels is not None:
        label_frame = read_labels(labels, ids)
        if "identity" in label_frame.columns:
            identity = np.asarray(label_frame.pop("identity").astype(str).tolist(), dtype=object)
        if len(label_frame.columns) == 0:
            label_frame = None
    if detect_landmarks and failed.size:  # --skip-undetected: leave them out, row for row
        keep = np.setdiff1d(np.arange(len(ids)), failed)
        metadata = _note_left_out(metadata, [ids[i] for i in failed], len(ids))
        imgs, resp, lm, ids = imgs[keep], resp[keep], lm[keep], [ids[i] for i in keep]
        identity = None if identity is None else identity[keep]
        if label_frame is not None:
            label_frame = label_frame.iloc[keep].reset_index(drop=True)
    return SessionData(
        images=imgs,
        stimulus_ids=ids,
        metadata=metadata,
        identity=identity,
        landmarks=lm,
        labels=label_frame,
        responses=resp,
        response_unit=response_unit,
        window=window or DEFAULT_WINDOW,
    )


class SkippedStimuliWarning(UserWarning):
    """Images left out of an import (``skip_undetected``): named here and in the file."""


def _note_left_out(metadata: SessionMetadata, names: list[str], n: int) -> SessionMetadata:
    """Warn about the images left out and return metadata whose description lists them all."""
    import dataclasses

    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    warnings.warn(
        SkippedStimuliWarning(
            f"left out {len(names)} of {n} images where no face was found (--skip-undetected), "
            f"with their response rows: {shown}"
        ),
        stacklevel=3,
    )
    note = f"left out at import, no face found (--skip-undetected): {', '.join(names)}"
    return dataclasses.replace(
        metadata, session_description=f"{metadata.session_description.rstrip('.')}; {note}"
    )


def import_recording(
    images: str | Path,
    responses: str | Path,
    out: str | Path,
    *,
    metadata: SessionMetadata | None = None,
    landmarks: str | Path | None = None,
    labels: str | Path | None = None,
    mat_var: str | None = None,
    response_unit: str = "spikes",
    window: tuple[float, float] | None = None,
    overwrite: bool = False,
    detect_landmarks: bool = False,
    skip_undetected: bool = False,
    progress: Any = None,
    ratings: str | Path | None = None,
) -> Path:
    """Convert lab files into one valid NWB recording.

    Parameters
    ----------
    images
        Folder of PNG/JPEG images (file stems = stimulus ids, in natural order: numbers as
        numbers, see :func:`image_files`) or an .npy stack.
    responses
        .npy, .csv or .mat array, stimuli x neurons or stimuli x neurons x repeats.
    out
        Output .nwb path (written atomically; nothing is written on bad input).
    metadata
        Session and subject metadata; fields left unset are written as neutral defaults and
        named in a ``UserWarning``.
    landmarks, labels
        Optional landmarks (.npy, (N, L, 2)) and per-image labels (.csv with header;
        an ``identity`` column becomes the identity).
    mat_var
        Variable to take from a .mat file holding several numeric arrays.
    response_unit, window
        What a response value is ("spikes" or "spikes/s") and its counting window (s).
    overwrite
        Replace an existing ``out`` (a regular file; never an input or a folder).
    detect_landmarks
        Detect the 68 standard landmarks with dlib (extra ``landmarks``); an InputError names
        the images where no face is found.
    skip_undetected
        With ``detect_landmarks``: leave out the images where no face is found, with their
        response rows and labels; a :class:`SkippedStimuliWarning` names them and the file's
        ``session_description`` lists them all.
    progress
        Optional ``progress(advance, total=None, description=None)`` callback (landmark
        detection reports through it).
    ratings
        Optional human behaviour on the images: a CSV with one row per trial (columns
        ``stimulus``/``stimulus_id``, ``subject``/``subject_id``, ``rating`` and/or ``choice``,
        optional ``reaction_time``, ``target``), stimuli named like the images; written
        beside the neurons for ``analyze --target behaviour`` (docs/data-model.md).
    """
    from neurofacedis._outputs import check_output_file
    from neurofacedis.nwb import metadata_defaults, write_session
    from neurofacedis.nwb.session import SessionMetadata

    out = Path(out)  # never an input, never a folder; replaced only with overwrite
    check_output_file(out, inputs=[images, responses, landmarks, labels, ratings],
                      overwrite=overwrite)
    meta = metadata or SessionMetadata(identifier=out.stem)
    data = load_session(
        images,
        responses,
        metadata=meta,
        landmarks=landmarks,
        labels=labels,
        mat_var=mat_var,
        response_unit=response_unit,
        window=window,
        detect_landmarks=detect_landmarks,
        skip_undetected=skip_undetected,
        progress=progress,
    )
    missing = metadata_defaults(meta)
    if missing:
        warnings.warn(
            f"{out}: metadata left at defaults: {', '.join(missing)}", UserWarning, stacklevel=2
        )
    behaviour = None
    if ratings is not None:  # read and matched to the images before anything is written
        from neurofacedis.nwb._behaviour import read_ratings

        behaviour = read_ratings(ratings, stimulus_ids=data.stimulus_ids)
    return write_session(out, data, overwrite=overwrite, behaviour=behaviour)
