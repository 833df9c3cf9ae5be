"""The ``factors`` model: known generative factors as latents (optionally rotated).

Nothing is learned. ``fit`` takes the factor names (and, with ``rotate``, draws a seeded
random rotation); ``encode`` returns each image's factors. Factors come with the call, as
landmarks do (``factors=`` in ``fit`` and ``encode``, for models that require ``factors``),
or from a table of images and factors given when the model is built
(:meth:`FactorsModel.for_recording`), looked up by exact pixel content. State is saved as
safetensors (the rotation) + JSON; no pickle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.errors import InputError
from neurofacedis.specs import REQUIREMENTS

__all__ = ["FactorsModel", "rotation"]

_STATE = "state.safetensors"
_CONFIG = "config.json"
_OBJ = "model factors"


def rotation(k: int, seed: int) -> np.ndarray:
    """Return a (k, k) random orthogonal matrix, uniform (Haar) over rotations, seeded.

    The Q of a QR decomposition of a standard-normal matrix, each column's sign fixed by
    R's diagonal (Mezzadri 2007), so the draw is uniform and deterministic for ``seed``.
    """
    g = np.random.default_rng(seed).standard_normal((k, k))
    q, r = np.linalg.qr(g)
    return np.ascontiguousarray(q * np.where(np.diag(r) < 0, -1.0, 1.0))


def _image_key(image: np.ndarray) -> str:
    """Identify an image by its exact float32 pixel content."""
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.float32).tobytes()).hexdigest()


def _missing(detail: str) -> InputError:
    """Return the ``factors`` requirement's one-line reason, with what is lacking."""
    return InputError(f"needs {REQUIREMENTS['factors']}; {detail}", obj=_OBJ)


def _as_frame(factors: Any, n: int, what: str) -> tuple[np.ndarray, list[str]]:
    """Factors (DataFrame or (n, F) array) -> finite float64 (n, F) values and names."""
    names = ([str(c) for c in factors.columns] if hasattr(factors, "columns") else None)
    values = np.asarray(factors, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != n or values.shape[1] < 1:
        raise InputError(f"{what}: expected ({n}, factors), got shape {values.shape}", obj=_OBJ)
    if not np.isfinite(values).all():
        raise InputError(f"{what}: non-finite factor values", obj=_OBJ)
    return values, names or [f"factor{i}" for i in range(values.shape[1])]


class FactorsModel:
    """The known generative factors of each stimulus as latent units.

    Parameters
    ----------
    rotate
        Return the factors times a random orthogonal matrix drawn from the fit seed: the
        same information in a basis no neuron is aligned with (the rotated control).
    table
        Optional ``(images, factors)``: images (n, H, W[, 3]) float32 as models see them and
        their factors (DataFrame or (n, F) array), for calls that pass no ``factors=``.
    """

    name = "factors"

    def __init__(self, rotate: bool = False, *,
                 table: tuple[np.ndarray, Any] | None = None) -> None:
        self.rotate = bool(rotate)
        self.unit_names: list[str] = []
        self._factor_names: list[str] = []
        self._rotation: np.ndarray | None = None
        self._fitted = False
        self._table: dict[str, np.ndarray] = {}
        self._table_names: list[str] = []
        if table is not None:
            self._set_table(*table)

    @classmethod
    def for_recording(cls, recording: str | Path, *, rotate: bool = False,
                      **open_kwargs: Any) -> FactorsModel:
        """Build the model holding a recording's images and factors (read through its reader).

        Raises
        ------
        InputError
            The recording has no known factors (the ``factors`` requirement's reason).
        """
        from neurofacedis.nwb import Recording

        with Recording.open(recording, **open_kwargs) as rec:
            factors = rec.factors
            if factors is None:
                raise InputError(f"needs {REQUIREMENTS['factors']}; the recording has none",
                                 file=recording, obj=_OBJ)
            images = rec.load_images()
        return cls(rotate=rotate, table=(images, factors))

    def _set_table(self, images: np.ndarray, factors: Any) -> None:
        values, names = _as_frame(factors, len(images), "table factors")
        table: dict[str, np.ndarray] = {}
        for image, row in zip(images, values, strict=True):
            key = _image_key(image)
            if key in table and not np.array_equal(table[key], row):
                raise InputError("two identical images have different factors", obj=_OBJ)
            table[key] = row
        self._table, self._table_names = table, names

    def _lookup(self, images: np.ndarray) -> np.ndarray:
        if not self._table:
            raise _missing("none were given (the runner passes factors= to models that "
                           "require them)")
        rows = [self._table.get(_image_key(image)) for image in images]
        unknown = [i for i, r in enumerate(rows) if r is None]
        if unknown:
            raise _missing(f"{len(unknown)} of {len(images)} images (first: #{unknown[0]}) "
                           "are not among the images whose factors the model holds")
        return np.stack(rows) if rows else np.empty((0, len(self._table_names)))

    def fit(self, images: np.ndarray, labels: Any = None, *, seed: int = 0,
            progress: Any = None, landmarks: np.ndarray | None = None,
            factors: Any = None) -> None:
        """Take the factor names (``factors`` or the table's); with ``rotate``, draw it."""
        if factors is not None:
            _, names = _as_frame(factors, len(images), "fit factors")
        elif self._table:
            self._lookup(images)  # every training image must be known
            names = list(self._table_names)
        else:
            raise _missing("fit got none (the runner passes factors= to models that require "
                           "them)")
        self._factor_names = names
        k = len(names)
        self._rotation = rotation(k, int(seed)) if self.rotate else None
        self.unit_names = [f"rot{i}" for i in range(k)] if self.rotate else list(names)
        self._fitted = True
        if progress is not None:
            progress(1, total=1, description="factors")

    def encode(self, images: np.ndarray, *, landmarks: np.ndarray | None = None,
               factors: Any = None) -> np.ndarray:
        """Return each image's factors (n, F) float64, rotated when ``rotate``."""
        if not self._fitted:
            raise RuntimeError("factors: fit or load the model before encoding")
        if factors is not None:
            values, names = _as_frame(factors, len(images), "encode factors")
            if hasattr(factors, "columns") and names != self._factor_names:
                raise InputError(f"encode factors {names} differ from the fitted "
                                 f"{self._factor_names}", obj=_OBJ)
        else:
            values = self._lookup(images)
        if values.shape[1] != len(self._factor_names):
            raise InputError(f"{values.shape[1]} factors, fitted with "
                             f"{len(self._factor_names)}", obj=_OBJ)
        if self._rotation is not None:
            return values @ self._rotation.T
        return np.array(values, dtype=np.float64, copy=True)

    def active_units(self) -> np.ndarray:
        """Every factor is a unit (a factor constant over the stimuli is dropped by the runner)."""
        return np.ones(len(self.unit_names), dtype=bool)

    def _config(self) -> dict[str, Any]:
        return {"model": "factors", "params": {"rotate": self.rotate},
                "factor_names": self._factor_names, "unit_names": self.unit_names}

    def save(self, directory: Path) -> None:
        """Write the factor names (config.json) and the rotation (state.safetensors)."""
        from safetensors.numpy import save_file

        if not self._fitted:
            raise RuntimeError("factors: nothing to save before fit")
        directory = Path(directory)
        if self._rotation is not None:
            save_file({"rotation": np.ascontiguousarray(self._rotation)},
                      str(directory / _STATE), metadata={"model": "factors"})
        (directory / _CONFIG).write_text(json.dumps(self._config(), indent=1),
                                         encoding="utf-8")

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote; ``rotate`` must match this instance's."""
        from safetensors.numpy import load_file

        path = Path(directory) / _CONFIG
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read saved model: {exc}", file=path) from None
        if config.get("model") != "factors" or config.get("params") != {"rotate": self.rotate}:
            raise InputError(f"saved {config.get('model')!r} with {config.get('params')}, "
                             f"expected 'factors' with {{'rotate': {self.rotate}}}", file=path)
        self._factor_names = _strings(config.get("factor_names"), path)
        self.unit_names = _strings(config.get("unit_names"), path)
        self._rotation = None
        if self.rotate:
            r = np.array(load_file(str(Path(directory) / _STATE))["rotation"], dtype=np.float64)
            k = len(self._factor_names)
            if r.shape != (k, k):
                raise InputError(f"rotation has shape {r.shape}, expected ({k}, {k})",
                                 file=path)
            self._rotation = r
        self._fitted = True


def _strings(value: Any, path: Path) -> list[str]:
    """Return a saved list of names, checked."""
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise InputError("names missing from the saved model", file=path)
    return [str(v) for v in value]
