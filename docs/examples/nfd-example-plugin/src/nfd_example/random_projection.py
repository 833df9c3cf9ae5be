"""The ``random_projection`` model: pixels on seeded Gaussian random directions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RandomProjection"]


class RandomProjection:
    """Pixels, centred on the training mean, projected on seeded random directions.

    The ``n_components`` directions are drawn N(0, 1/n_components) from the fit seed, as in
    sklearn's GaussianRandomProjection.

    Parameters
    ----------
    n_components
        Number of directions (units).
    """

    def __init__(self, n_components: int = 10) -> None:
        self.n_components = int(n_components)
        self.unit_names: list[str] = []
        self._mean: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._shape: tuple[int, ...] = ()

    def fit(
        self,
        images: np.ndarray,
        labels: Any = None,
        *,
        seed: int,
        progress: Any = None,
        landmarks: np.ndarray | None = None,
    ) -> None:
        """Draw the directions from ``seed`` and remember the training mean."""
        X = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        rng = np.random.default_rng(seed)
        self._weights = rng.normal(0.0, 1.0 / np.sqrt(self.n_components),
                                   size=(X.shape[1], self.n_components))
        self._mean = X.mean(axis=0)
        self._shape = tuple(images.shape[1:])
        self.unit_names = [f"rp{i}" for i in range(self.n_components)]

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Latents (n, n_components), float64."""
        if self._weights is None or self._mean is None:
            raise RuntimeError("random_projection: fit or load before encode")
        X = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        return (X - self._mean) @ self._weights

    def save(self, directory: Path) -> None:
        """Weights as safetensors, parameters as JSON: no pickle."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        save_file({"weights": self._weights, "mean": self._mean},
                  str(directory / "state.safetensors"))
        config = {"n_components": self.n_components, "image_shape": list(self._shape),
                  "unit_names": self.unit_names}
        (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if config["n_components"] != self.n_components:
            raise ValueError(f"saved with n_components={config['n_components']}")
        arrays = load_file(str(directory / "state.safetensors"))
        # own, C-contiguous copies: the same memory layout as after fit, so same results
        self._weights = np.array(arrays["weights"], order="C")
        self._mean = np.array(arrays["mean"], order="C")
        self._shape = tuple(config["image_shape"])
        self.unit_names = list(config["unit_names"])
