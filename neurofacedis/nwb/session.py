"""In-memory content of one recording session.

What the NWB writer takes and what the simulator and importers produce. Pure numpy/pandas;
no NWB objects here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SessionData", "SessionMetadata", "DEFAULT_WINDOW"]

#: Default spike-counting window after stimulus onset, seconds (50-350 ms).
DEFAULT_WINDOW: tuple[float, float] = (0.05, 0.35)


@dataclass
class SessionMetadata:
    """Session and subject metadata written into the NWB file."""

    identifier: str
    session_description: str = "face-selective neurons recorded while viewing face images"
    session_start_time: datetime | None = None  # timezone-aware; None = now (UTC)
    subject_id: str | None = None
    species: str | None = None  # latin binomial, e.g. "Macaca mulatta"
    sex: str = "U"
    age: str | None = None  # ISO 8601 duration, e.g. "P5Y"
    lab: str | None = None
    institution: str | None = None
    experimenter: list[str] = field(default_factory=list)
    brain_region: str | None = None  # e.g. "AM"
    keywords: list[str] = field(default_factory=list)
    related_publications: list[str] = field(default_factory=list)


@dataclass
class SessionData:
    """One session: stimuli, and either or both kinds of neural data.

    Attributes
    ----------
    images
        uint8, (N, H, W) grayscale or (N, H, W, 3) RGB.
    stimulus_ids
        N unique strings.
    identity
        N identity labels (int or str); -1 / "" when unknown.
    factors
        Known generative factors (N rows, one float column per factor), or None.
    landmarks
        (N, L, 2) float, (x, y) pixel coordinates, or None.
    labels
        Extra per-image label columns (N rows), or None.
    responses
        (N, U, R) float32 processed responses (spike counts or rates in ``window``), NaN for a
        missing repeat; or None.
    response_unit
        What a response value is: "spikes" (count in window) or "spikes/s".
    window
        Counting window (start, stop) in seconds after onset.
    spike_times
        Per unit, sorted spike times in seconds; or None.
    presentations
        One row per presentation: ``start_time``, ``stop_time``, ``stimulus_index`` (row into
        the stimulus set), optional ``repeat``; or None.
    units
        Extra Units-table columns (U rows), e.g. ``location`` or simulator truth; or None.
    truth
        Simulator ground truth (``tuning_weights`` (U, F), ``factor_names``, ``code`` (U,),
        ``baseline`` (U,), ``gain`` (U,), ``params`` dict), or None.
    spike_time_resolution
        Smallest difference between two spike times, seconds (1/sampling rate); None writes
        1/30000.
    """

    images: np.ndarray
    stimulus_ids: list[str]
    metadata: SessionMetadata
    identity: np.ndarray | None = None
    factors: pd.DataFrame | None = None
    landmarks: np.ndarray | None = None
    labels: pd.DataFrame | None = None
    responses: np.ndarray | None = None
    response_unit: str = "spikes"
    window: tuple[float, float] = DEFAULT_WINDOW
    spike_times: list[np.ndarray] | None = None
    presentations: pd.DataFrame | None = None
    units: pd.DataFrame | None = None
    truth: dict[str, Any] | None = None
    spike_time_resolution: float | None = None

    @property
    def n_stimuli(self) -> int:
        """Number of stimulus images."""
        return int(self.images.shape[0])
