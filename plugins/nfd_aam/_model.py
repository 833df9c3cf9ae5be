"""The Active Appearance Model (Cootes, Edwards & Taylor 2001) as Chang & Tsao (2017) used it.

Landmarks are aligned by generalised Procrustes analysis and summarised by PCA (shape
parameters); every face is warped piecewise-affinely onto the mean shape and the shape-free
pixels are summarised by a second PCA (appearance parameters). Latents are the shape
parameters followed by the appearance parameters. Photometric normalisation of the texture,
used in some AAM variants, is left out: overall brightness is a face property a neuron may
encode, and Chang & Tsao's appearance dimensions keep it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.errors import InputError

from ._geometry import MeanShapeFrame, align_to, generalized_procrustes, pose_to_image

if TYPE_CHECKING:
    import pandas as pd

    from neurofacedis.specs import ProgressCallback

__all__ = ["ActiveAppearanceModel", "MISSING_LANDMARKS"]

#: The one-line problem raised when a recording has no landmarks.
MISSING_LANDMARKS = (
    "no facial landmarks for the stimuli; the aam model needs (x, y) landmarks per image: "
    "add them with `neurofacedis import --landmarks FILE` or detect them with "
    "`neurofacedis import --detect-landmarks` (pip install 'neurofacedis[landmarks]')"
)

_FORMAT = "nfd_aam/1"


def _as_nhwc(images: np.ndarray) -> np.ndarray:
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 3:
        return arr[..., None]
    if arr.ndim == 4 and arr.shape[-1] in (1, 3):
        return arr
    raise InputError(
        f"images must be (n, H, W) or (n, H, W, 3), got shape {arr.shape}", obj="aam"
    )


def _check_landmarks(
    landmarks: np.ndarray | None, n: int, labels: pd.DataFrame | None = None
) -> np.ndarray:
    if landmarks is None:
        raise InputError(MISSING_LANDMARKS, obj="aam")
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[2] != 2 or lm.shape[0] != n:
        raise InputError(
            f"landmarks must be ({n}, L, 2) (x, y pixels), got shape {lm.shape}", obj="aam"
        )
    if lm.shape[1] < 3:
        raise InputError("landmarks need at least 3 points per face", obj="aam")
    bad = np.flatnonzero(~np.isfinite(lm).all(axis=(1, 2)))
    if bad.size:
        if labels is not None and "stimulus_id" in labels:
            names = [str(v) for v in np.asarray(labels["stimulus_id"])[bad[:10]]]
        else:
            names = [str(i) for i in bad[:10]]
        more = f" and {bad.size - 10} more" if bad.size > 10 else ""
        raise InputError(
            f"landmarks missing (NaN) for {bad.size} stimuli: {', '.join(names)}{more}; "
            "detection failed there: give landmarks with `neurofacedis import --landmarks` "
            "or leave those images out",
            obj="aam",
        )
    return lm


def _pca(data: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit PCA with scikit-learn; return (mean, components (k, d), explained variance ratio)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, svd_solver="auto", random_state=seed).fit(data)
    return (
        pca.mean_.astype(np.float64),
        pca.components_.astype(np.float64),
        pca.explained_variance_ratio_.astype(np.float64),
    )


class ActiveAppearanceModel:
    """Active Appearance Model: latents = [shape parameters, appearance parameters].

    Parameters
    ----------
    n_shape
        Shape PCA components (capped by the data: n - 1 and 2L - 4).
    n_appearance
        Appearance PCA components (capped by n - 1 and the pixel count).
    pose
        Append the 4 similarity (pose) parameters Procrustes removes: centroid x, y in
        pixels, log scale relative to the mean, in-plane angle (radians). Off by default, as
        in Chang & Tsao's 25 + 25 face space.
    """

    def __init__(self, n_shape: int = 25, n_appearance: int = 25, pose: bool = False):
        if int(n_shape) < 1 or int(n_appearance) < 1:
            raise InputError("n_shape and n_appearance must be >= 1", obj="aam")
        self.n_shape = int(n_shape)
        self.n_appearance = int(n_appearance)
        self.pose = bool(pose)
        self.unit_names: list[str] = []
        self.history: dict[str, np.ndarray] = {}
        self._state: dict[str, np.ndarray] = {}
        self._meta: dict[str, Any] = {}
        self._frame: MeanShapeFrame | None = None

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        images: np.ndarray,
        labels: pd.DataFrame | None,
        *,
        seed: int,
        progress: ProgressCallback,
        landmarks: np.ndarray | None = None,
    ) -> None:
        """Align the shapes, warp every face to the mean shape and fit both PCAs."""
        imgs = _as_nhwc(images)
        n, h, w, n_ch = imgs.shape
        lm = _check_landmarks(landmarks, n, labels)
        if n < 2:
            raise InputError("the aam model needs at least 2 training faces", obj="aam")
        n_points = lm.shape[1]
        progress(0, total=3, description="aam: shape model")
        aligned, mean_shape, pose = generalized_procrustes(lm)
        k_shape = min(self.n_shape, n - 1, 2 * n_points - 4)
        s_mean, s_comp, s_ratio = _pca(aligned.reshape(n, -1), k_shape, seed)
        progress(1, description="aam: warping to the mean shape")
        mean_scale = float(np.exp(np.log(pose[:, 2]).mean()))
        reference = mean_shape * mean_scale + pose[:, :2].mean(axis=0)
        frame = MeanShapeFrame.build(reference, (h, w))
        if len(frame.pixels) == 0:
            raise InputError("the mean shape covers no pixel of the images", obj="aam")
        texture = frame.to_mean_frame(imgs, lm).reshape(n, -1)
        progress(1, description="aam: appearance model")
        k_app = min(self.n_appearance, n - 1, texture.shape[1])
        a_mean, a_comp, a_ratio = _pca(texture, k_app, seed)
        progress(1)
        self._state = {
            "mean_shape": mean_shape,
            "reference": reference,
            "triangles": frame.triangles,
            "shape_mean": s_mean,
            "shape_components": s_comp,
            "appearance_mean": a_mean,
            "appearance_components": a_comp,
            "background": imgs.mean(axis=0).astype(np.float64),
            "pose_mean": np.array([*pose[:, :2].mean(axis=0), mean_scale, 0.0]),
            "shape_explained_variance_ratio": s_ratio,
            "appearance_explained_variance_ratio": a_ratio,
        }
        self._meta = {
            "image_shape": [h, w, n_ch],
            "gray": np.asarray(images).ndim == 3,
            "n_points": n_points,
        }
        # C-contiguous float64 copies: the same bits as after a save/load round trip
        self._state = {k: np.ascontiguousarray(v) for k, v in self._state.items()}
        self._frame = frame
        self._set_units()

    def _set_units(self) -> None:
        k_s = len(self._state["shape_components"])
        k_a = len(self._state["appearance_components"])
        names = [f"shape_{i:02d}" for i in range(k_s)]
        names += [f"appearance_{i:02d}" for i in range(k_a)]
        if self.pose:
            names += ["pose_x", "pose_y", "pose_log_scale", "pose_angle"]
        self.unit_names = names
        self.history = {
            "shape_explained_variance_ratio": self._state["shape_explained_variance_ratio"],
            "appearance_explained_variance_ratio": self._state[
                "appearance_explained_variance_ratio"
            ],
        }

    def _require_fitted(self) -> MeanShapeFrame:
        if self._frame is None:
            raise InputError("the aam model is not fitted (call fit or load first)", obj="aam")
        return self._frame

    # -- encoding / decoding ------------------------------------------------------------------
    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Shape parameters then appearance parameters (then pose, if enabled): (n, k)."""
        frame = self._require_fitted()
        imgs = _as_nhwc(images)
        if list(imgs.shape[1:]) != list(self._meta["image_shape"]):
            raise InputError(
                f"images are {imgs.shape[1:]}, the model was fitted on "
                f"{tuple(self._meta['image_shape'])}",
                obj="aam",
            )
        lm = _check_landmarks(landmarks, len(imgs))
        if lm.shape[1] != self._meta["n_points"]:
            raise InputError(
                f"landmarks have {lm.shape[1]} points, the model was fitted on "
                f"{self._meta['n_points']}",
                obj="aam",
            )
        st = self._state
        aligned, pose = align_to(lm, st["mean_shape"])
        shape_p = (aligned.reshape(len(lm), -1) - st["shape_mean"]) @ st["shape_components"].T
        texture = frame.to_mean_frame(imgs, lm).reshape(len(lm), -1)
        app_p = (texture - st["appearance_mean"]) @ st["appearance_components"].T
        parts = [shape_p, app_p]
        if self.pose:
            rel = pose.copy()
            rel[:, 2] = np.log(pose[:, 2] / st["pose_mean"][2])
            parts.append(rel)
        return np.concatenate(parts, axis=1)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Synthesise the appearance and warp it onto the synthesised shape: images in [0, 1].

        Without pose units the face is placed at the training faces' mean position and size;
        pixels outside the face mesh show the mean training image.
        """
        frame = self._require_fitted()
        st = self._state
        z = np.atleast_2d(np.asarray(latents, dtype=np.float64))
        if z.shape[1] != len(self.unit_names):
            raise InputError(
                f"latents have {z.shape[1]} units, the model has {len(self.unit_names)}",
                obj="aam",
            )
        k_s = len(st["shape_components"])
        k_a = len(st["appearance_components"])
        n = len(z)
        aligned = (z[:, :k_s] @ st["shape_components"] + st["shape_mean"]).reshape(n, -1, 2)
        if self.pose:
            pose = z[:, k_s + k_a :].copy()
            pose[:, 2] = st["pose_mean"][2] * np.exp(pose[:, 2])
        else:
            pose = np.broadcast_to(st["pose_mean"], (n, 4))
        shapes = pose_to_image(aligned, pose)
        n_ch = self._meta["image_shape"][2]
        app = (z[:, k_s : k_s + k_a] @ st["appearance_components"] + st["appearance_mean"])
        app = app.reshape(n, -1, n_ch).astype(np.float32)
        out = frame.from_mean_frame(app, shapes, st["background"].astype(np.float32))
        out = np.clip(out, 0.0, 1.0)
        return out[..., 0] if self._meta["gray"] else out

    def mean_shape_pixels(self) -> np.ndarray:
        """Return the reference (mean) shape in pixel coordinates, (L, 2) x, y."""
        self._require_fitted()
        return self._state["reference"].copy()

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write ``aam.safetensors`` (arrays) and ``aam.json`` (parameters, layout)."""
        from safetensors.numpy import save_file

        self._require_fitted()
        directory = Path(directory)
        save_file({k: np.ascontiguousarray(v) for k, v in self._state.items()},
                  str(directory / "aam.safetensors"))
        config = {
            "format": _FORMAT,
            "params": {
                "n_shape": self.n_shape,
                "n_appearance": self.n_appearance,
                "pose": self.pose,
            },
            **self._meta,
        }
        (directory / "aam.json").write_text(json.dumps(config, indent=1))

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote."""
        from safetensors.numpy import load_file

        from neurofacedis._util import read_saved

        config, files = read_saved(directory, "aam.json", {"aam.safetensors": load_file},
                                   fmt=_FORMAT, what="a saved aam model")
        state = files["aam.safetensors"]
        params = config.pop("params")
        config.pop("format")
        self.n_shape = int(params["n_shape"])
        self.n_appearance = int(params["n_appearance"])
        self.pose = bool(params["pose"])
        self._state = dict(state)
        self._meta = config
        h, w, _ = config["image_shape"]
        self._frame = MeanShapeFrame.build(
            state["reference"], (h, w), triangles=state["triangles"]
        )
        self._set_units()
