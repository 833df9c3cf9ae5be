"""Shared fixtures: tiny seeded sessions (a few images, neurons and repeats)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from neurofacedis.nwb.session import DEFAULT_WINDOW, SessionData, SessionMetadata


def build_session(
    n_stimuli: int = 6,
    n_units: int = 4,
    n_repeats: int = 3,
    *,
    seed: int = 0,
    rgb: bool = False,
    spikes: bool = True,
    processed: bool = True,
    size: int = 8,
) -> SessionData:
    """A small seeded session whose processed responses are spike counts in DEFAULT_WINDOW."""
    rng = np.random.default_rng(seed)
    shape = (n_stimuli, size, size, 3) if rgb else (n_stimuli, size, size)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    factors = pd.DataFrame(
        {"face_width": rng.normal(size=n_stimuli), "eye_size": rng.normal(size=n_stimuli)}
    )
    labels = pd.DataFrame(
        {
            "view": rng.choice(["front", "left"], n_stimuli),
            "age_group": rng.integers(0, 3, n_stimuli),
        }
    )
    landmarks = rng.uniform(0, size, size=(n_stimuli, 5, 2)).astype(np.float32)
    # presentations: every stimulus n_repeats times, shuffled, 0.5 s apart
    order = np.concatenate([rng.permutation(n_stimuli) for _ in range(n_repeats)])
    onsets = 1.0 + 0.5 * np.arange(order.size)
    pres = pd.DataFrame(
        {"start_time": onsets, "stop_time": onsets + 0.3, "stimulus_index": order.astype(np.int64)}
    )
    end = onsets[-1] + 1.0
    rates = rng.uniform(5, 40, size=n_units)
    spike_times = [np.sort(rng.uniform(0, end, rng.poisson(r * end))) for r in rates]
    w0, w1 = DEFAULT_WINDOW
    responses = np.full((n_stimuli, n_units, n_repeats), np.nan, dtype=np.float32)
    seen = np.zeros(n_stimuli, dtype=int)
    for onset, s in zip(onsets, order, strict=True):
        for u, st in enumerate(spike_times):
            responses[s, u, seen[s]] = np.sum((st >= onset + w0) & (st < onset + w1))
        seen[s] += 1
    return SessionData(
        images=images,
        stimulus_ids=[f"face{i:03d}" for i in range(n_stimuli)],
        metadata=SessionMetadata(
            identifier=f"tiny-{seed}",
            session_start_time=datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc),
            subject_id="M1",
            species="Macaca mulatta",
            sex="M",
            age="P6Y",
            lab="Face Lab",
            institution="Test University",
            experimenter=["Doe, Jane"],
            brain_region="AM",
            keywords=["face patch"],
        ),
        identity=np.arange(n_stimuli) % 3,
        factors=factors,
        landmarks=landmarks,
        labels=labels,
        responses=responses if processed else None,
        spike_times=spike_times if spikes else None,
        presentations=pres if spikes else None,
        units=pd.DataFrame({"unit_name": [f"u{i}" for i in range(n_units)], "snr": rates / 10}),
        truth={
            "tuning_weights": rng.normal(size=(n_units, 2)),
            "factor_names": ["face_width", "eye_size"],
            "code": ["axis", "mixed"] * (n_units // 2) + ["axis"] * (n_units % 2),
            "baseline": rates,
            "gain": np.ones(n_units),
            "params": {"seed": seed, "n_units": n_units},
        },
    )


@pytest.fixture
def make_session() -> Callable[..., SessionData]:
    """Factory for tiny seeded sessions (see build_session)."""
    return build_session


@pytest.fixture
def session_file(tmp_path, make_session):
    """A tiny session written with write_session: (path, SessionData)."""
    from neurofacedis.nwb import write_session

    data = make_session()
    path = write_session(tmp_path / "tiny.nwb", data)
    return path, data
