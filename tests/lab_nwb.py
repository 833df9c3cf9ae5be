"""Recordings as labs write them, with PLAIN pynwb only (nothing of neurofacedis imported).

Each writer builds one tiny seeded session: face-like images whose mean brightness in four
quadrants drives four tuned neurons (Poisson spikes in 50-350 ms after each onset), so that
``analyze --model pca --metric alignment`` has something to find. Used by
tests/test_conventions.py and tests/test_units_selection.py.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject

__all__ = [
    "N_STIM", "REPEATS", "pixels", "new_file", "schedule", "spike_trains", "add_units", "write",
]

N_STIM = 10
REPEATS = 3


def pixels(n: int = N_STIM, size: int = 8, *, rgb: bool = False, seed: int = 3) -> np.ndarray:
    """Seeded uint8 images (n, size, size[, 3])."""
    rng = np.random.default_rng(seed)
    shape = (n, size, size, 3) if rgb else (n, size, size)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def new_file(identifier: str = "lab") -> NWBFile:
    """An NWBFile with the metadata a lab fills in."""
    return NWBFile(
        session_description="AM face patch recording",
        identifier=identifier,
        session_start_time=datetime(2024, 5, 6, tzinfo=timezone.utc),
        subject=Subject(subject_id="M1", species="Macaca mulatta", sex="M", age="P6Y"),
    )


def schedule(n: int = N_STIM, repeats: int = REPEATS, seed: int = 4):
    """(shown stimulus index per presentation, onsets in s): each stimulus ``repeats`` times."""
    rng = np.random.default_rng(seed)
    shown = np.concatenate([rng.permutation(n) for _ in range(repeats)]).astype(np.int64)
    onsets = 1.0 + 0.5 * np.arange(shown.size) + rng.uniform(0.0, 0.02, shown.size)  # jitter
    return shown, onsets


def spike_trains(images: np.ndarray, shown, onsets, *, n_units: int = 4, seed: int = 5):
    """Per unit, sorted spike times: unit u fires with a quadrant's brightness (plus noise)."""
    rng = np.random.default_rng(seed)
    grey = images.mean(axis=-1) if images.ndim == 4 else images.astype(float)
    h, w = grey.shape[1] // 2, grey.shape[2] // 2
    quads = [grey[:, :h, :w], grey[:, :h, w:], grey[:, h:, :w], grey[:, h:, w:]]
    trains = []
    for u in range(n_units):
        drive = quads[u % 4].mean(axis=(1, 2)) / 255.0
        times = []
        for k, onset in zip(shown, onsets, strict=True):
            count = rng.poisson(1.0 + 12.0 * drive[k])
            times.append(onset + rng.uniform(0.06, 0.34, count))
        trains.append(np.sort(np.concatenate(times)) if times else np.zeros(0))
    return trains


def add_units(nwbfile: NWBFile, trains, **columns) -> None:
    """Add one Units row per spike train; ``columns`` maps a column name to per-unit values."""
    from pynwb.misc import Units

    nwbfile.units = Units(name="units", description="sorted units", resolution=1 / 30000)
    for name in columns:
        if name != "obs_intervals":
            nwbfile.add_unit_column(name=name, description=f"{name} of the unit")
    for u, st in enumerate(trains):
        nwbfile.add_unit(spike_times=st, **{k: v[u] for k, v in columns.items()})


def write(nwbfile: NWBFile, path) -> None:
    """Write with plain pynwb."""
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
