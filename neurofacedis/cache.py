"""The fitted-model cache: one folder per fit, shared safely by concurrent runs.

Key = sha256 of (model name, plugin, plugin version, spec version, parameters, seed,
training-image sha256). Entries live in a platformdirs user cache folder (override with
``NEUROFACEDIS_CACHE`` or ``cache_dir=``); each is written into a temporary folder and renamed
into place (atomic), and a per-key file lock makes concurrent runs fit a model once.
Weights are whatever the model's ``save`` writes (safetensors + JSON by contract, never pickle);
``meta.json`` records each file's sha256, checked before an entry is used (a damaged entry is
fitted again). :func:`uninterrupted` holds Ctrl-C/SIGTERM over the renames that publish a
result, so an interrupt lands before or after them, never between.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ModelCache", "default_cache_dir", "cache_key", "array_sha256", "uninterrupted"]


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them.

    Why: Ctrl-C between creating a temporary file and arranging its removal, or between two
    renames, would leave litter or hide a previous result. Python runs signal handlers in the
    main thread only, so the handlers are swapped there (elsewhere nothing changes).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in wanted}
    for s in wanted:
        signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in dict.fromkeys(held):
            signal.raise_signal(s)  # handled by the restored handler, right after the block


def _file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative POSIX path -> hex)."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return out


def default_cache_dir() -> Path:
    """Return the cache root: ``$NEUROFACEDIS_CACHE`` or the platform's user cache folder."""
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
            if meta_file.is_file() and self._verified(final):
                load(final)
                return CacheOutcome("hit", key, final, json.loads(meta_file.read_text()))
            if checkpoint_dir is not None:
                ckpt = self.root / "checkpoints" / key
                ckpt.mkdir(parents=True, exist_ok=True)
                checkpoint_dir(ckpt)
            meta = fit()
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = None
            try:
                with uninterrupted():
                    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:8]}-", dir=final.parent))
                save(tmp)
                meta = {**meta, "files": _file_hashes(tmp)}
                (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
                with uninterrupted():
                    if final.exists():  # a stale entry: incomplete or damaged
                        shutil.rmtree(final)
                    os.replace(tmp, final)
            except BaseException:
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                raise
            if checkpoint_dir is not None:
                shutil.rmtree(self.root / "checkpoints" / key, ignore_errors=True)
            return CacheOutcome("miss", key, final, meta)

    @staticmethod
    def _verified(entry: Path) -> bool:
        """Whether every file ``meta.json`` lists still has its recorded sha256."""
        try:
            recorded = json.loads((entry / "meta.json").read_text()).get("files")
        except (OSError, ValueError):
            return False
        if not isinstance(recorded, dict):
            return False  # written before hashes were recorded: refit once
        for rel, sha in recorded.items():
            path = entry / rel
            if not path.is_file():
                return False
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != sha:
                return False
        return True
