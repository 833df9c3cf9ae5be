"""Offline detection of the standard 68 facial landmarks (iBUG 300-W layout) with dlib.

Used by ``neurofacedis import --detect-landmarks`` so that models needing landmarks (the
Active Appearance Model) can run on photographs that come without them. Needs the optional
extra ``pip install 'neurofacedis[landmarks]'``: dlib's HOG face detector (``dlib-bin``
wheel) and its 68-point shape predictor (Kazemi & Sullivan 2014) shipped in
``face_recognition_models``. Faces where detection fails are reported, never dropped
silently: the import refuses, or leaves them out when asked (``--skip-undetected``) and says
which.

Citation: King DE (2009). Dlib-ml: a machine learning toolkit. JMLR 10:1755-1758.
Kazemi V, Sullivan J (2014). One millisecond face alignment with an ensemble of regression
trees. CVPR. Sagonas C et al. (2013). 300 Faces in-the-Wild Challenge. ICCV workshops.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.errors import InputError

__all__ = [
    "N_LANDMARKS",
    "CITATION",
    "LandmarkDetection",
    "detect_landmarks",
    "landmarks_for_import",
    "detect_for_import",
    "predictor_path",
]

#: Points per face in the iBUG 300-W layout dlib's predictor uses.
N_LANDMARKS = 68

CITATION = (
    "King DE (2009). Dlib-ml: a machine learning toolkit. JMLR 10:1755-1758. "
    "Kazemi V, Sullivan J (2014). One millisecond face alignment with an ensemble of "
    "regression trees. CVPR."
)

_EXTRA = "pip install 'neurofacedis[landmarks]' (dlib-bin, face_recognition_models)"
_PREDICTOR = "shape_predictor_68_face_landmarks.dat"


@dataclass
class LandmarkDetection:
    """What :func:`detect_landmarks` found.

    Attributes
    ----------
    landmarks
        (n, 68, 2) float64 (x, y) pixel coordinates; NaN rows where no face was found.
    scores
        (n,) detector confidence of the face used (the best one); NaN where none.
    n_faces
        (n,) number of faces the detector saw in each image (the best one is used).
    """

    landmarks: np.ndarray
    scores: np.ndarray
    n_faces: np.ndarray

    @property
    def failed(self) -> np.ndarray:
        """Indices of the images with no face found."""
        return np.flatnonzero(self.n_faces == 0)

    def failure_message(self, stimulus_ids: Sequence[str] | None = None, limit: int = 10) -> str:
        """One line naming the images where detection failed ("" when none did)."""
        bad = self.failed
        if bad.size == 0:
            return ""
        names = [str(stimulus_ids[i]) if stimulus_ids is not None else str(i) for i in bad]
        more = f" and {bad.size - limit} more" if bad.size > limit else ""
        return (
            f"no face found in {bad.size} of {len(self.n_faces)} images: "
            f"{', '.join(names[:limit])}{more}"
        )


def predictor_path() -> Path:
    """Return the 68-point predictor file shipped in ``face_recognition_models``.

    Located without importing that package (its ``__init__`` needs setuptools'
    ``pkg_resources``, which recent environments lack).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"landmark detection needs {_EXTRA}", obj="face_recognition_models")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / _PREDICTOR
    if not path.is_file():
        raise InputError(f"predictor file missing; reinstall: {_EXTRA}", file=path)
    return path


def _dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise InputError(f"landmark detection needs {_EXTRA}", obj="dlib") from None
    return dlib


def _to_uint8(image: np.ndarray) -> np.ndarray:
    from neurofacedis._pixels import to_uint8  # the one pixel rule

    return np.ascontiguousarray(to_uint8(image, file=None, obj="images"))


def detect_landmarks(
    images: np.ndarray | Sequence[np.ndarray],
    *,
    upsample: int = 1,
    min_size: int = 100,
    predictor: str | Path | None = None,
    progress: Any = None,
) -> LandmarkDetection:
    """Detect the 68 standard landmarks on each face image, offline.

    dlib's HOG detector finds faces of roughly 80 pixels and more, so images whose shorter
    side is below ``min_size`` are enlarged (bilinear, scikit-image) before detection and the
    points mapped back; when several faces are found, the most confident one is used.

    Parameters
    ----------
    images
        (n, H, W) or (n, H, W, 3) uint8, or float in [0, 1]; or a list of such images.
    upsample
        Extra image-pyramid levels for the detector (finds smaller faces, slower).
    min_size
        Enlarge smaller images to this shorter side before detection (0: never).
    predictor
        A dlib 68-point shape-predictor file; default: the one in ``face_recognition_models``.
    progress
        Optional ``progress(advance, total=None, description=None)`` callback.

    Returns
    -------
    LandmarkDetection
        Landmarks (NaN rows where no face was found), scores and face counts.
    """
    from skimage.transform import resize

    dlib = _dlib()
    detector = dlib.get_frontal_face_detector()
    shape_predictor = dlib.shape_predictor(str(predictor or predictor_path()))
    n = len(images)
    out = np.full((n, N_LANDMARKS, 2), np.nan)
    scores = np.full(n, np.nan)
    n_faces = np.zeros(n, dtype=np.int64)
    if progress is not None:
        progress(0, total=n, description="detecting landmarks")
    for i in range(n):
        image = np.asarray(images[i])
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
            raise InputError(f"image {i} has shape {image.shape}", obj="images")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        img = _to_uint8(image)
        factor = 1.0
        short = min(img.shape[:2])
        if min_size and short < min_size:
            factor = min_size / short
            size = (round(img.shape[0] * factor), round(img.shape[1] * factor))
            img = _to_uint8(resize(img, size, order=1, anti_aliasing=False))
            factor = (size[0] / image.shape[0], size[1] / image.shape[1])
        rects, conf, _ = detector.run(img, int(upsample), 0.0)
        n_faces[i] = len(rects)
        if len(rects):
            best = int(np.argmax(conf))
            parts = shape_predictor(img, rects[best]).parts()
            pts = np.array([[p.x, p.y] for p in parts], dtype=np.float64)
            if factor != 1.0:
                fy, fx = factor  # pixel centres: x_old = (x_new + 0.5) / f - 0.5
                pts = (pts + 0.5) / np.array([fx, fy]) - 0.5
            out[i] = pts
            scores[i] = float(conf[best])
        if progress is not None:
            progress(1)
    return LandmarkDetection(landmarks=out, scores=scores, n_faces=n_faces)


def landmarks_for_import(
    images: np.ndarray, stimulus_ids: Sequence[str], *, progress: Any = None
) -> np.ndarray:
    """Landmarks (n, 68, 2) for every image, or an InputError naming the faces not found.

    What ``neurofacedis import --detect-landmarks`` calls: a recording gets landmarks for
    all of its stimuli or none, so a failed face is reported rather than dropped or left NaN.
    """
    return detect_for_import(images, stimulus_ids, progress=progress)[0]


def detect_for_import(
    images: np.ndarray,
    stimulus_ids: Sequence[str],
    *,
    skip_undetected: bool = False,
    progress: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Detect landmarks for an import; refuse, or (``skip_undetected``) report, faces not found.

    Returns
    -------
    landmarks, failed
        (n, 68, 2) landmarks (NaN rows where no face was found) and the indices of those
        images, empty unless ``skip_undetected``. An InputError names the images without a
        face when not skipping, or when no image has one.
    """
    found = detect_landmarks(images, progress=progress)
    failed = found.failed
    if failed.size and not skip_undetected:
        raise InputError(
            f"{found.failure_message(stimulus_ids)}; give landmarks for all images with "
            "`landmarks` FILE.npy, or leave those images and their response rows out with "
            "`skip_undetected`",
            obj="detect_landmarks",
        )
    if failed.size == len(found.n_faces):
        raise InputError(
            f"no face found in any of the {failed.size} images: nothing left to import",
            obj="detect_landmarks",
        )
    return found.landmarks, failed
