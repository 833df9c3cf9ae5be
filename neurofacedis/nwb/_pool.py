"""Pool neurons recorded in several sessions that showed the same images.

Images are matched by content: the sha256 of each image's uint8 pixels (after the pixel
rule) and shape, never by name. ``match="intersect"`` keeps the images every session showed
(in the first session's order); ``"union"`` keeps every image (in order of first
appearance) and leaves NaN where a session's neurons did not see one. Neurons keep their
session: the ``neuron`` axis counts 0..U-1 and carries ``session`` (the file's identifier)
and ``unit_id`` coordinates. Every file is listed with its sha256 in :attr:`files`.

:class:`PooledRecording` answers what the runner asks a :class:`~neurofacedis.nwb.Recording`
(stimulus ids, images, responses, warnings, provenance), so a pooled analysis is one
recording to every later step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError

__all__ = ["PooledRecording", "image_digest", "expand_paths", "MATCHES"]

#: How stimuli seen in only some sessions are handled.
MATCHES = ("intersect", "union")


def image_digest(image: np.ndarray) -> str:
    """Return the content key of one uint8 image: sha256 of its shape and pixels."""
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    return hashlib.sha256(repr(arr.shape).encode() + arr.tobytes()).hexdigest()


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given; a folder that is not a Zarr store gives its ``*.nwb`` (any depth, sorted)."""
    from neurofacedis._inputs import is_zarr_store

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not is_zarr_store(p):
            found = sorted(q for q in p.rglob("*.nwb") if q.is_file() or is_zarr_store(q))
            if not found:
                raise InputError("a folder without .nwb files", file=p, obj="recordings")
            out.extend(found)
        else:
            out.append(p)
    return out


class PooledRecording:
    """Several recordings' neurons over the images they share (see the module docstring)."""

    def __init__(self, recordings: Sequence[Any], *, match: str = "intersect") -> None:
        if match not in MATCHES:
            raise InputError(f"must be one of {', '.join(MATCHES)}, got {match!r}",
                             obj="stimuli_match")
        if not recordings:
            raise InputError("no recordings to pool", obj="recordings")
        self.recordings = list(recordings)
        self.match = match
        keys = [[image_digest(im) for im in rec.images[:]] for rec in self.recordings]
        for rec, k in zip(self.recordings, keys, strict=True):
            if len(set(k)) != len(k):
                dup = rec.stimulus_ids[k.index(next(x for x in k if k.count(x) > 1))]
                raise InputError(f"two stimuli have the same pixels ({dup!r}); pooling matches "
                                 "images by content", file=rec.path, obj="images")
        order: list[str] = []
        for k in keys:
            order.extend(x for x in k if x not in order)
        if match == "intersect":
            common = set.intersection(*(set(k) for k in keys))
            order = [x for x in keys[0] if x in common]
        if not order:
            raise InputError("the sessions share no image (matched by pixel content); "
                             "use `stimuli_match` union", obj="recordings")
        self._keys = keys
        self._order = order
        # where each pooled stimulus comes from: the first session that showed it
        self._source = [next((r, k.index(x)) for r, k in enumerate(keys) if x in k)
                        for x in order]
        self._responses: Any = None

    # --- what the runner reads ----------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The first session's path (each file is in :attr:`files`)."""
        return Path(self.recordings[0].path)

    @property
    def identifier(self) -> str:
        """The sessions' identifiers joined by ``+``."""
        return "+".join(rec.identifier for rec in self.recordings)

    @property
    def n_stimuli(self) -> int:
        """Number of pooled stimuli."""
        return len(self._order)

    @property
    def stimulus_ids(self) -> list[str]:
        """Stimulus ids, as the first session showing each image names it."""
        return [self.recordings[r].stimulus_ids[i] for r, i in self._source]

    @property
    def stimuli(self) -> pd.DataFrame:
        """Per-image table: stimulus_id, identity (from the first session showing each)."""
        rows = [self.recordings[r].stimuli.iloc[i] for r, i in self._source]
        return pd.DataFrame(rows).reset_index(drop=True)[["stimulus_id", "identity"]]

    factors = None
    landmarks = None
    truth = None

    @property
    def images(self) -> np.ndarray:
        """uint8 images (N, H, W[, 3]) in pooled order."""
        return np.stack([self.recordings[r].images[i] for r, i in self._source])

    def load_images(self, indices: Any = None) -> np.ndarray:
        """Images as float32 in [0, 1] (all, or the given indices)."""
        raw = self.images if indices is None else self.images[np.asarray(indices)]
        return raw.astype(np.float32) / np.float32(255.0)

    @property
    def responses(self) -> Any:
        """Responses (stimulus, neuron, repeat); NaN where a session did not show an image."""
        if self._responses is None:
            self._responses = self._pool_responses()
        return self._responses

    def _pool_responses(self) -> Any:
        import xarray as xr

        blocks = [rec.responses for rec in self.recordings]
        units = {str(b.attrs.get("unit")) for b in blocks}
        windows = {tuple(b.attrs.get("window", ())) for b in blocks}
        if len(units) > 1 or len(windows) > 1:
            raise InputError(f"sessions differ in response unit or window ({sorted(units)}, "
                             f"{sorted(windows)}); pool like with like", obj="recordings")
        n_rep = max(b.shape[2] for b in blocks)
        parts, sessions, unit_ids = [], [], []
        for rec, block, keys in zip(self.recordings, blocks, self._keys, strict=True):
            out = np.full((self.n_stimuli, block.shape[1], n_rep), np.nan, dtype=np.float32)
            where = {k: i for i, k in enumerate(keys)}
            for s, key in enumerate(self._order):
                if key in where:
                    out[s, :, : block.shape[2]] = block.values[where[key]]
            parts.append(out)
            sessions += [rec.identifier] * block.shape[1]
            unit_ids += [int(u) for u in block.coords["neuron"].values]
        data = np.concatenate(parts, axis=1)
        return xr.DataArray(
            data, dims=("stimulus", "neuron", "repeat"),
            coords={"stimulus": self.stimulus_ids, "neuron": np.arange(data.shape[1]),
                    "session": ("neuron", sessions), "unit_id": ("neuron", unit_ids),
                    "repeat": np.arange(n_rep)},
            attrs={**blocks[0].attrs, "pooled": self.match}, name="responses",
        )

    @property
    def files(self) -> list[dict[str, Any]]:
        """Every pooled file: path, identifier, sha256 and its unit selection."""
        return [{"path": str(rec.path), "identifier": rec.identifier, "sha256": rec.sha256(),
                 "selection": rec.selection.as_dict()} for rec in self.recordings]

    @property
    def linked_files(self) -> list[dict[str, Any]]:
        """Files each session reads besides itself."""
        return [e for rec in self.recordings for e in rec.linked_files]

    @property
    def warnings(self) -> list[str]:
        """Every session's warnings, each naming its file."""
        return [f"{rec.identifier}: {w}" for rec in self.recordings for w in rec.warnings]

    def sha256(self) -> str:
        """sha256 over the sessions' sha256 in order."""
        joined = "".join(rec.sha256() for rec in self.recordings)
        return hashlib.sha256(joined.encode()).hexdigest()

    def close(self) -> None:
        """Close every session."""
        for rec in self.recordings:
            rec.close()

    def __enter__(self) -> PooledRecording:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @classmethod
    def open(cls, paths: Sequence[str | Path], *, match: str = "intersect",
             **open_kwargs: Any) -> PooledRecording:
        """Open each path with :meth:`Recording.open` (same keyword arguments) and pool them."""
        from neurofacedis.nwb._recording import Recording

        opened: list[Any] = []
        try:
            for p in expand_paths(paths):
                opened.append(Recording.open(p, **open_kwargs))
            return cls(opened, match=match)
        except BaseException:
            for rec in opened:
                rec.close()
            raise
