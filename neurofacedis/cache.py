"""The fitted-model cache: one folder per fit, shared safely by concurrent runs.

Key = sha256 of (model name, plugin, plugin version, spec version, parameters, seed,
training-image sha256). Entries live in a platformdirs user cache folder (override with
``NEUROFACEDIS_CACHE`` or ``cache_dir=``); each is written into a temporary folder and renamed
into place (atomic), and a per-key file lock makes concurrent runs fit a model once.
Weights are whatever the model's ``save`` writes (safetensors + JSON by contract, never pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ModelCache", "default_cache_dir", "cache_key", "array_sha256"]


def default_cache_dir() -> Path:
    """The cache root: ``$NEUROFACEDIS_CACHE`` or the platform's user cache folder."""
    env = os.environ.get("NEUROFACEDIS_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("neurofacedis"))


def array_sha256(array: Any) -> str:
    """sha256 of an array's dtype, shape and bytes (C order): the training-image hash."""
    import numpy as np

    arr = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(str(arr.dtype).encode())
    h.update(str(arr.shape).encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def cache_key(payload: dict[str, Any]) -> str:
    """Stable sha256 of a JSON-serialisable description of a fit."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CacheOutcome:
    """What :meth:`ModelCache.get_or_fit` did: ``status`` is "hit", "miss" or "off"."""

    status: str
    key: str
    path: Path | None
    meta: dict[str, Any]


class ModelCache:
    """A folder of fitted models, keyed by :func:`cache_key`."""

    def __init__(self, root: str | Path | None = None, *, enabled: bool = True):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.enabled = enabled

    def entry_dir(self, key: str) -> Path:
        """Folder holding the fitted model for ``key``."""
        return self.root / "models" / key[:2] / key

    def _lock(self, key: str):
        from filelock import FileLock

        lock_dir = self.root / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(lock_dir / f"{key}.lock"))

    def get_or_fit(
        self,
        key: str,
        *,
        fit: Callable[[], dict[str, Any]],
        save: Callable[[Path], None],
        load: Callable[[Path], None],
        checkpoint_dir: Callable[[Path], None] | None = None,
    ) -> CacheOutcome:
        """Load the model for ``key`` if cached, else fit, save atomically and record it.

        ``fit()`` returns metadata (JSON-able) stored beside the weights; ``checkpoint_dir``, when
        given, is told where an interrupted fit may keep a resumable checkpoint.
        """
        if not self.enabled:
            meta = fit()
            return CacheOutcome("off", key, None, meta)
        final = self.entry_dir(key)
        with self._lock(key):
            meta_file = final / "meta.json"
            if meta_file.is_file():
                load(final)
                return CacheOutcome("hit", key, final, json.loads(meta_file.read_text()))
            if checkpoint_dir is not None:
                ckpt = self.root / "checkpoints" / key
                ckpt.mkdir(parents=True, exist_ok=True)
                checkpoint_dir(ckpt)
            meta = fit()
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key[:8]}-", dir=final.parent))
            try:
                save(tmp)
                (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
                if final.exists():  # a stale, incomplete entry (no meta.json)
                    shutil.rmtree(final)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            if checkpoint_dir is not None:
                shutil.rmtree(self.root / "checkpoints" / key, ignore_errors=True)
            return CacheOutcome("miss", key, final, meta)
