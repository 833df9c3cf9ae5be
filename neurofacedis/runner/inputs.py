"""A run's inputs: the stimuli, images, the seeded split, the fit images and the responses.

Both executors (in-process and Dask workers) build a run's inputs with :func:`load_inputs`
and :func:`load_responses`, so a worker sees exactly what the client does. Training images
from another source (a folder, an .npy stack or an NWB recording) come through
:func:`load_training_set`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis._inputs import check_input_path
from neurofacedis.errors import InputError

__all__ = [
    "split_stimuli", "TrainingSet", "training_source_kind", "load_training_set",
    "load_image_source", "RunInputs", "annotations_sha256", "load_inputs", "load_responses",
    "repeat_mean", "recording_paths", "open_recording", "PooledView", "unit_selection",
    "recording_files",
]


def split_stimuli(
    n: int,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test split of stimulus indices.

    With ``groups`` (e.g. identities) whole groups are held out, so test faces are novel
    identities; otherwise single stimuli are. Both index arrays are sorted.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test fraction must be in (0, 1), got {test_fraction}", obj="split")
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(n)
        n_test = max(1, int(round(n * test_fraction)))
        test = np.sort(order[:n_test])
    else:
        groups = np.asarray(groups)
        uniq = np.unique(groups)
        order = rng.permutation(len(uniq))
        n_test = max(1, int(round(len(uniq) * test_fraction)))
        test = np.sort(np.flatnonzero(np.isin(groups, uniq[order[:n_test]])))
    train = np.setdiff1d(np.arange(n), test)
    if len(train) < 2 and groups is not None and len(uniq) < 2:
        known = len(uniq) and str(uniq[0]) not in ("", "-1")  # "" / -1: identity unknown
        raise InputError((f"only 1 identity among {n} stimuli" if known else
                          f"no identity labels for the {n} stimuli (import them: "
                          "`neurofacedis import --labels`)")
                         + ": `split_by` identity holds out whole identities; use "
                         "`split_by` stimulus", obj="split_by")
    if len(train) < 2:
        raise InputError(f"only {n} stimuli: too few to split into train and test", obj="split")
    return train, test


@dataclass
class TrainingSet:
    """Images to fit models on, with the annotations an NWB source carries.

    ``labels`` (the stimulus table: identity, factors, ...) and ``landmarks`` ((N, L, 2) x, y
    pixels, rescaled with the images) come only from an NWB recording; a folder or an .npy
    stack gives images alone, so models that need labels (classifier) or landmarks (AAM)
    cannot fit on it.
    """

    images: np.ndarray
    labels: Any = None
    landmarks: np.ndarray | None = None


def training_source_kind(path: str | Path) -> str:
    """Return how :func:`load_training_set` reads ``path``: ``"folder"``, ``"npy"`` or ``"nwb"``.

    ``"nwb"`` is an .nwb file or an NWB Zarr folder, the only kind with labels and landmarks.
    """
    path = Path(path)
    if path.is_dir() and path.suffix != ".zarr":
        return "folder"
    return "npy" if path.suffix == ".npy" else "nwb"


def load_training_set(path: str | Path, shape: tuple[int, ...] | None = None) -> TrainingSet:
    """Training images from a folder of PNG/JPEG, an .npy stack or an NWB recording.

    Images come back as float32 in [0, 1], resized (scikit-image) to ``shape`` (H, W[, 3])
    when given. From an NWB recording the stimulus table and the landmarks come too, so every
    model (the AAM and the classifier included) can be fitted on another session's stimuli.
    """
    path = Path(path)
    path = check_input_path(path, what="train_images", folder="images")  # no FIFO, device
    kind = training_source_kind(path)
    if kind == "folder":
        from skimage import io

        files = sorted(
            p for p in path.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp"}
        )
        if not files:
            raise InputError("folder holds no PNG/JPEG images", file=path, obj="train_images")
        images = []
        for p in files:
            check_input_path(p, what="train_images")
            try:
                images.append(io.imread(str(p)))
            except Exception as exc:  # noqa: BLE001 - any decoder failure is bad input
                raise InputError(f"cannot read image ({type(exc).__name__})", file=p,
                                 obj="train_images") from None
        return TrainingSet(_stack_images(images, shape, path))
    if kind == "npy":
        from neurofacedis._pixels import to_uint8  # the pixel rule, decided for the stack
        from neurofacedis.importers import _load_array  # checks the header, never unpickles

        arr = to_uint8(_load_array(path, what="images"), file=path, obj="train_images")
        return TrainingSet(_stack_images(list(arr), shape, path))
    from neurofacedis.nwb import Recording

    with Recording.open(path) as rec:
        raw = rec.load_images()
        labels = rec.stimuli.reset_index(drop=True)
        landmarks = rec.landmarks
    arr = _stack_images(list(raw), shape, path)
    if landmarks is not None and arr.shape[1:3] != raw.shape[1:3]:
        # pixel centres scale with the image: (p + 0.5) * new / old - 0.5, per axis (x, y)
        ratio = np.array([arr.shape[2] / raw.shape[2], arr.shape[1] / raw.shape[1]])
        landmarks = (np.asarray(landmarks, float) + 0.5) * ratio - 0.5
    return TrainingSet(arr, labels, landmarks)


def load_image_source(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Training images alone (see :func:`load_training_set`)."""
    return load_training_set(path, shape).images


def _stack_images(images: list[np.ndarray], shape: tuple[int, ...] | None,
                  path: Path) -> np.ndarray:
    from skimage.color import gray2rgb, rgb2gray, rgba2rgb
    from skimage.transform import resize

    from neurofacedis._pixels import to_uint8  # the pixel rule (uint16, floats, NaN...)

    out = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.ndim == 3 and img.shape[-1] == 4:
            img = rgba2rgb(img)
        img = to_uint8(img, file=path, obj="train_images").astype(np.float32) / 255.0
        if img.ndim not in (2, 3):
            raise InputError(f"image {i} has shape {img.shape}", file=path, obj="train_images")
        if shape is not None:
            want_rgb = len(shape) == 3
            if want_rgb and img.ndim == 2:
                img = gray2rgb(img)
            elif not want_rgb and img.ndim == 3:
                img = rgb2gray(img)
            if img.shape[:2] != tuple(shape[:2]):
                img = resize(img, shape[:2], anti_aliasing=True, preserve_range=True)
        out.append(img.astype(np.float32))
    shapes = {a.shape for a in out}
    if len(shapes) != 1:
        raise InputError(f"images of mixed sizes {sorted(shapes)[:3]}", file=path, obj="images")
    arr = np.clip(np.stack(out), 0.0, 1.0)
    if not np.isfinite(arr).all():
        raise InputError("images contain NaN or inf", file=path, obj="images")
    return arr



@dataclass
class RunInputs:
    """A run's data besides the responses: stimuli, images, the split and the fit images."""

    stimuli: Any
    train: np.ndarray
    test: np.ndarray
    images: np.ndarray
    landmarks: np.ndarray | None
    factors: Any
    fit_images: np.ndarray
    fit_labels: Any
    fit_landmarks: np.ndarray | None
    fit_factors: Any
    train_source: str
    train_hash: str
    annotations_hash: str
    stim_ids: list[str]
    behaviour: Any = None  # analyze(target="behaviour"): the human behaviour on the stimuli


def annotations_sha256(labels: Any, landmarks: np.ndarray | None) -> str:
    """sha256 of the fit labels and landmarks: a fit's cache key changes when they do."""
    import hashlib

    import pandas as pd

    from neurofacedis.cache import array_sha256

    h = hashlib.sha256()
    if labels is not None:
        h.update(str(list(labels.columns)).encode())
        h.update(pd.util.hash_pandas_object(labels.astype(str), index=False).to_numpy().tobytes())
    h.update(b"|" + (array_sha256(landmarks).encode() if landmarks is not None else b"none"))
    return h.hexdigest()


def _factor_columns(labels: Any, factors: Any) -> Any:
    """Return the training set's columns named like the recording's factors (None if any lacks)."""
    if labels is None or factors is None or not set(factors.columns) <= set(labels.columns):
        return None
    return labels[list(factors.columns)].astype(float).reset_index(drop=True)


def load_inputs(rec, *, train_images, split_by: str, test_fraction: float,
                split_seed: int) -> RunInputs:
    """Read the stimuli and images and make the seeded split (also run by Dask workers)."""
    from neurofacedis.cache import array_sha256

    stimuli = rec.stimuli
    groups = None
    if split_by == "identity":
        groups = stimuli["identity"].astype(str).to_numpy()
    elif split_by != "stimulus":
        raise InputError(f"unknown split {split_by!r}; use stimulus or identity", obj="split_by")
    train, test = split_stimuli(rec.n_stimuli, test_fraction=test_fraction, seed=split_seed,
                                groups=groups)
    images = rec.load_images()
    landmarks = rec.landmarks
    if train_images is not None:
        train_set = load_training_set(train_images, images.shape[1:])
        fit_images, fit_labels = train_set.images, train_set.labels
        fit_landmarks = train_set.landmarks
        fit_factors = _factor_columns(train_set.labels, rec.factors)
        train_source = str(train_images)
    else:
        fit_images = images[train]
        fit_labels = stimuli.iloc[train].reset_index(drop=True)
        fit_landmarks = landmarks[train] if landmarks is not None else None
        fit_factors = (None if rec.factors is None
                       else rec.factors.iloc[train].reset_index(drop=True))
        train_source = "recording training stimuli"
    return RunInputs(
        stimuli=stimuli, train=train, test=test, images=images, landmarks=landmarks,
        factors=rec.factors, fit_images=fit_images, fit_labels=fit_labels,
        fit_landmarks=fit_landmarks, fit_factors=fit_factors, train_source=train_source,
        train_hash=array_sha256(fit_images),
        annotations_hash=annotations_sha256(fit_labels, fit_landmarks),
        stim_ids=[str(s) for s in stimuli["stimulus_id"]],
    )


def recording_paths(recording: str | Path | Sequence[str | Path]) -> list[Path]:
    """Return a run's recording files: one path, several, or a folder's ``*.nwb`` (sorted)."""
    from neurofacedis.nwb._pool import expand_paths

    items = [recording] if isinstance(recording, (str, Path)) else list(recording)
    if not items:
        raise InputError("no recording given", obj="recording")
    return expand_paths(items)


def open_recording(paths: Sequence[str | Path], *, match: str = "intersect",
                   **open_kwargs: Any) -> Any:
    """:meth:`Recording.open` for one file, :meth:`PooledRecording.open` for several.

    ``open_kwargs`` (window, follow_links, units, min_rate, stimuli, presentations) go to
    every file's open; ``match`` says how several files' images are matched. Several files
    come back as a :class:`PooledView`.
    """
    from neurofacedis.nwb import Recording
    from neurofacedis.nwb._pool import PooledRecording

    if len(paths) == 1:
        return Recording.open(paths[0], **open_kwargs)
    return PooledView(PooledRecording.open(list(paths), match=match, **open_kwargs))


def unit_selection(rec: Any) -> dict[str, Any]:
    """Return the unit selection (``UnitSelection.as_dict``); pooled: one per session."""
    if isinstance(rec, PooledView):
        return {f["identifier"]: f["selection"] for f in rec.files}
    return rec.selection.as_dict()


def recording_files(rec: Any) -> list[dict[str, Any]]:
    """Every file read as the recording: path, identifier, sha256."""
    files = rec.files if isinstance(rec, PooledView) else [
        {"path": str(rec.path), "identifier": rec.identifier, "sha256": rec.sha256()}]
    return [{k: f[k] for k in ("path", "identifier", "sha256")} for f in files]


class PooledView:
    """A :class:`~neurofacedis.nwb._pool.PooledRecording` as the runner reads a recording.

    Everything is the pool's (stimuli, images, responses with ``session`` and ``unit_id``
    neuron coordinates, warnings, files); the counts come from the responses; session
    metadata and subject, which analysis.nwb's writer copies, come from the first file. The
    identifier is ``a+b+...`` and the sha256 is over the files' sha256 in order; the file
    list itself goes into summary.json and each ModelLatents' provenance.
    """

    def __init__(self, pooled: Any) -> None:
        self.pooled = pooled

    def __getattr__(self, name: str) -> Any:
        if name == "pooled":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.pooled, name)

    @property
    def first(self) -> Any:
        """The first session (its metadata and subject head analysis.nwb)."""
        return self.pooled.recordings[0]

    def __enter__(self) -> PooledView:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pooled.close()

    metadata = property(lambda self: self.first.metadata)
    session_start_time = property(lambda self: self.first.session_start_time)
    nwbfile = property(lambda self: self.first.nwbfile)
    n_neurons = property(lambda self: int(self.pooled.responses.sizes["neuron"]))
    n_repeats = property(lambda self: int(self.pooled.responses.sizes["repeat"]))


def load_responses(rec: Any, *, chunk_bytes: int = 64 << 20) -> tuple[Any, Any]:
    """Read a recording's responses and their repeat mean, one copy of the matrix in memory.

    The responses are read once (chunked reads from NWB/Zarr into one array); the NaN-aware
    mean over repeats is computed a block of stimuli at a time, so it never makes the
    full-size temporaries that ``responses.mean("repeat", skipna=True)`` does (NaN-replaced
    copy + mask: 1.25x the matrix). Values equal that call's exactly; every metric context
    shares the mean (:attr:`MetricContext.repeat_mean`).

    Returns
    -------
    responses, mean
        DataArrays (stimulus, neuron, repeat) and (stimulus, neuron).
    """
    responses = rec.responses
    responses = responses.load() if hasattr(responses, "load") else responses
    return responses, repeat_mean(responses, chunk_bytes=chunk_bytes)


def repeat_mean(responses: Any, *, chunk_bytes: int = 64 << 20) -> Any:
    """NaN-aware mean over the ``repeat`` axis, computed in blocks of stimuli.

    Blocks hold at most ``chunk_bytes`` and 1/16 of the matrix, so the temporaries of each
    block's mean (NaN-replaced copy + mask) stay small next to the responses.
    """
    import xarray as xr

    if "repeat" not in responses.dims:
        return responses
    n = int(responses.sizes["stimulus"])
    per_stimulus = max(1, responses.nbytes // max(n, 1))
    block = min(chunk_bytes, max(responses.nbytes // 16, 1 << 20))  # temporaries <= 1/16
    step = max(1, int(block // per_stimulus))
    first = responses.isel(stimulus=slice(0, step)).mean("repeat", skipna=True)
    axis = first.get_axis_num("stimulus")
    shape = list(first.shape)
    shape[axis] = n
    out = np.empty(shape, dtype=first.dtype)
    where: list[Any] = [slice(None)] * len(shape)
    where[axis] = slice(0, first.sizes["stimulus"])
    out[tuple(where)] = first.values
    for start in range(step, n, step):
        block = responses.isel(stimulus=slice(start, start + step)).mean("repeat", skipna=True)
        where[axis] = slice(start, start + block.sizes["stimulus"])
        out[tuple(where)] = block.values
    coords = {k: v for k, v in responses.coords.items() if "repeat" not in v.dims}
    return xr.DataArray(out, dims=first.dims, coords=coords, name=first.name, attrs=first.attrs)
