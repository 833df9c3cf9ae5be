"""The linear baseline models: PCA and ICA of pixels, and raw downsampled pixels.

Fitted state is saved as safetensors (float64 arrays) + JSON (parameters, image shape); no
pickle. sklearn and scikit-image are imported inside the methods that use them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.errors import InputError

__all__ = ["PCAModel", "ICAModel", "PixelsModel"]

_STATE = "state.safetensors"
_CONFIG = "config.json"


def _flatten(images: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """(n, H, W[, 3]) images -> float64 (n, H*W[*3]) rows and the per-image shape."""
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise InputError(f"expected images (n, H, W) or (n, H, W, 3), got shape {images.shape}")
    return images.reshape(len(images), -1).astype(np.float64), tuple(images.shape[1:])


def _own(array: np.ndarray) -> np.ndarray:
    """Copy to C-contiguous float64 owned by numpy (same memory layout after fit and load)."""
    return np.array(array, dtype=np.float64, order="C", copy=True)


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


class _Linear:
    """Shared save/load and shape bookkeeping of the three models."""

    model_name = ""
    prefix = ""

    def __init__(self) -> None:
        self.unit_names: list[str] = []
        self._shape: tuple[int, ...] | None = None
        self._arrays: dict[str, np.ndarray] = {}

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    def fit(
        self,
        images: np.ndarray,
        labels: Any = None,
        *,
        seed: int = 0,
        progress: Any = _noop,
        landmarks: np.ndarray | None = None,
    ) -> None:
        """Fit on the training images (labels and landmarks are not used; see ``_fit``)."""
        X, shape = _flatten(images)
        self._fit(images, X, shape, seed, progress)

    def _fit(self, images: np.ndarray, X: np.ndarray, shape: tuple[int, ...], seed: int,
             progress: Any) -> None:
        raise NotImplementedError

    def _rows(self, images: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError(f"{self.model_name}: fit or load the model before encoding")
        X, shape = _flatten(images)
        if shape != self._shape:
            raise InputError(
                f"{self.model_name}: model was fitted on images of shape {self._shape}, "
                f"got {shape}"
            )
        return X

    def save(self, directory: Path) -> None:
        """Write arrays to state.safetensors and parameters + image shape to config.json."""
        from safetensors.numpy import save_file

        if self._shape is None:
            raise RuntimeError(f"{self.model_name}: nothing to save before fit")
        directory = Path(directory)
        arrays = {k: np.ascontiguousarray(v) for k, v in self._arrays.items()}
        save_file(arrays, str(directory / _STATE), metadata={"model": self.model_name})
        config = {
            "model": self.model_name,
            "params": self._params(),
            "image_shape": list(self._shape),
            "unit_names": self.unit_names,
        }
        (directory / _CONFIG).write_text(json.dumps(config, indent=1), encoding="utf-8")

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote; the parameters must match this instance's."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        config_path = directory / _CONFIG
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read saved model: {exc}", file=config_path) from None
        if config.get("model") != self.model_name or config.get("params") != self._params():
            raise InputError(
                f"saved {config.get('model')!r} with {config.get('params')}, "
                f"expected {self.model_name!r} with {self._params()}",
                file=config_path,
            )
        # fresh C-contiguous copies, laid out as after fit, so BLAS gives identical results
        self._arrays = {k: _own(v) for k, v in load_file(str(directory / _STATE)).items()}
        self._shape = tuple(int(s) for s in config["image_shape"])
        self.unit_names = [str(u) for u in config["unit_names"]]


class _Components(_Linear):
    """PCA and ICA: ``n_components`` units from a decomposition of the flattened pixels."""

    n_components = 0

    def _fit(self, images: np.ndarray, X: np.ndarray, shape: tuple[int, ...], seed: int,
             progress: Any) -> None:
        limit = min(len(X) - 1, X.shape[1])
        if not 1 <= self.n_components <= limit:
            raise InputError(
                f"{self.model_name}: n_components={self.n_components} needs 1..{limit} "
                f"({len(X)} training images of {X.shape[1]} pixels)"
            )
        progress(0, total=1, description=self.model_name)
        arrays = self._decompose(X, seed)
        self._shape = shape
        self._arrays = arrays
        self.unit_names = [f"{self.prefix}{i}" for i in range(self.n_components)]
        progress(1)

    def _decompose(self, X: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        raise NotImplementedError


class PCAModel(_Components):
    """PCA of pixels (sklearn's ``PCA``): units are the top principal components.

    Parameters
    ----------
    n_components
        Number of components (units).
    whiten
        Divide each component by its standard deviation (sklearn's ``whiten=True``).
    """

    model_name = "pca"
    prefix = "pc"

    def __init__(self, n_components: int = 10, whiten: bool = False) -> None:
        super().__init__()
        self.n_components = int(n_components)
        self.whiten = bool(whiten)
        self.history: dict[str, np.ndarray] = {}

    def _params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "whiten": self.whiten}

    def _decompose(self, X: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Fit PCA on the flattened training images (randomised solvers use ``seed``)."""
        from sklearn.decomposition import PCA

        pca = PCA(n_components=self.n_components, whiten=self.whiten, random_state=seed).fit(X)
        self.history = {"explained_variance_ratio": np.asarray(pca.explained_variance_ratio_)}
        return {
            "mean": _own(pca.mean_),
            "components": _own(pca.components_),
            "explained_variance": _own(pca.explained_variance_),
        }

    def _scale(self) -> np.ndarray:
        scale = np.sqrt(self._arrays["explained_variance"])
        return np.maximum(scale, np.finfo(scale.dtype).eps)

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Project images on the components, as ``PCA.transform`` does."""
        X = self._rows(images)
        C = self._arrays["components"]
        Z = X @ C.T
        Z -= self._arrays["mean"].reshape(1, -1) @ C.T
        if self.whiten:
            Z /= self._scale()
        return Z

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images from latents (``PCA.inverse_transform``), clipped to [0, 1], float32."""
        C = self._arrays["components"]
        if self.whiten:
            C = np.sqrt(self._arrays["explained_variance"])[:, None] * C
        X = np.asarray(latents, dtype=np.float64) @ C + self._arrays["mean"]
        return np.clip(X, 0, 1).astype(np.float32).reshape((len(X), *self._shape))


class ICAModel(_Components):
    """FastICA of pixels (sklearn's ``FastICA``, unit-variance whitening): units are sources.

    Parameters
    ----------
    n_components
        Number of independent components (units).
    max_iter
        FastICA iterations before giving up on convergence.
    """

    model_name = "ica"
    prefix = "ic"

    def __init__(self, n_components: int = 10, max_iter: int = 1000) -> None:
        super().__init__()
        self.n_components = int(n_components)
        self.max_iter = int(max_iter)
        #: FastICA iterations used and whether it converged (stored in the provenance).
        self.provenance_extra: dict[str, Any] = {}

    def _params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "max_iter": self.max_iter}

    def _decompose(self, X: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Fit FastICA on the flattened training images; ``seed`` sets its initial unmixing."""
        from sklearn.decomposition import FastICA

        # sklearn's whitening fixes signs by the first pixel (u *= sign(u[0])): when that pixel
        # never changes (a plain background) every component becomes 0 and the fit NaN. Put the
        # most variable pixel first and back after the fit; otherwise X goes in as it is.
        order = np.arange(X.shape[1])
        if np.ptp(X[:, 0]) == 0:
            j = int(np.argmax(X.var(axis=0)))
            order[[0, j]] = order[[j, 0]]
        # One BLAS thread: FastICA that has not converged amplifies the last-bit differences of
        # multi-threaded BLAS (0.145 vs 0.149 alignment between a 2-thread process and a
        # one-thread Dask worker), so the same seed gives the same fit on any machine.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            ica = FastICA(
                n_components=self.n_components,
                whiten="unit-variance",
                max_iter=self.max_iter,
                random_state=seed,
            ).fit(X[:, order])
        back = np.argsort(order)
        n_iter = int(ica.n_iter_)
        self.provenance_extra = {"n_iter": n_iter, "converged": n_iter < self.max_iter}
        return {
            "mean": _own(ica.mean_[back]),
            "components": _own(ica.components_[:, back]),
            "mixing": _own(ica.mixing_[back]),
        }

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Unmix images into sources, as ``FastICA.transform`` does."""
        X = self._rows(images) - self._arrays["mean"]
        return X @ self._arrays["components"].T

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images from sources (``FastICA.inverse_transform``), clipped to [0, 1], float32."""
        X = np.asarray(latents, dtype=np.float64) @ self._arrays["mixing"].T + self._arrays["mean"]
        return np.clip(X, 0, 1).astype(np.float32).reshape((len(X), *self._shape))


class PixelsModel(_Linear):
    """Raw pixels as units: each image downsampled (anti-aliased) to ``size`` × ``size``.

    Parameters
    ----------
    size
        Side of the downsampled image; units = size² (× 3 for RGB).
    """

    model_name = "pixels"
    prefix = "px"

    def __init__(self, size: int = 16) -> None:
        super().__init__()
        self.size = int(size)

    def _params(self) -> dict[str, Any]:
        return {"size": self.size}

    def _small(self, images: np.ndarray) -> np.ndarray:
        from skimage.transform import resize

        images = np.asarray(images, dtype=np.float64)
        out_shape = (len(images), self.size, self.size, *images.shape[3:])
        return resize(images, out_shape, order=1, anti_aliasing=True, preserve_range=True)

    def _fit(self, images: np.ndarray, X: np.ndarray, shape: tuple[int, ...], seed: int,
             progress: Any) -> None:
        """Record the image shape and each pixel's training spread (for ``active_units``)."""
        if not 1 <= self.size <= min(shape[:2]):
            raise InputError(f"pixels: size={self.size} must be 1..{min(shape[:2])}")
        self._shape = shape
        Z = self._small(images).reshape(len(images), -1)
        self._arrays = {"train_std": _own(Z.std(axis=0))}
        grid = [f"px{r}_{c}" for r in range(self.size) for c in range(self.size)]
        self.unit_names = grid if len(shape) == 2 else [f"{g}_{ch}" for g in grid for ch in "rgb"]

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Downsampled pixel values, one column per pixel (row-major, channels last)."""
        self._rows(images)  # shape check
        return self._small(images).reshape(len(images), -1)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Upsample the pixel units back to the fitted image shape (bilinear), float32."""
        from skimage.transform import resize

        if self._shape is None:
            raise RuntimeError("pixels: fit or load the model before decoding")
        small = np.asarray(latents, dtype=np.float64).reshape(
            (len(latents), self.size, self.size, *self._shape[2:])
        )
        big = resize(small, (len(small), *self._shape), order=1, preserve_range=True)
        return np.clip(big, 0, 1).astype(np.float32)

    def active_units(self) -> np.ndarray:
        """Pixels that vary over the training images (constant background is inactive)."""
        return self._arrays["train_std"] > 1e-12
