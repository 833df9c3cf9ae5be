"""Pooled sessions: ``analyze`` (pca + alignment) over 1, 10 and 100 small session files.

    python benchmarks/bench_pooled.py [COUNTS...]        # default 1 10 100

Each file is a small session (12 images of 8x8 pixels shown 3 times, 2 units with spike
times) written with write_session; every file shows the same images, so the pool has 2
neurons per file. Prints the wall time of each run and the per-file overhead
(t(largest) - t(1)) / (largest - 1), whose goal is < 0.3 s/file (issue 20, item 6). A
first one-file run warms up (imports, plugin loading) and is not counted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from neurofacedis.nwb import SessionData, SessionMetadata, write_session
from neurofacedis.nwb.session import DEFAULT_WINDOW
from neurofacedis.runner import analyze

N_STIM, N_UNITS, REPEATS, SIZE = 12, 2, 3, 8


def session(seed: int) -> SessionData:
    """One small session: the shared images (seed 0), this session's units (``seed``)."""
    images = np.random.default_rng(0).integers(0, 256, (N_STIM, SIZE, SIZE), dtype=np.uint8)
    rng = np.random.default_rng(seed + 1)
    order = np.concatenate([rng.permutation(N_STIM) for _ in range(REPEATS)])
    onsets = 1.0 + 0.5 * np.arange(order.size)
    drive = images.reshape(N_STIM, -1)[:, :N_UNITS * 8].reshape(N_STIM, N_UNITS, 8).mean(2)
    w0, w1 = DEFAULT_WINDOW
    trains, counts = [], np.zeros((N_STIM, N_UNITS, REPEATS), np.float32)
    seen = np.zeros(N_STIM, int)
    for u in range(N_UNITS):
        st = [t + rng.uniform(w0, w1, rng.poisson(2 + 20 * drive[k, u] / 255))
              for k, t in zip(order, onsets, strict=True)]
        trains.append(np.sort(np.concatenate(st)))
    for k, t in zip(order, onsets, strict=True):
        for u, st in enumerate(trains):
            counts[k, u, seen[k]] = np.sum((st >= t + w0) & (st < t + w1))
        seen[k] += 1
    import pandas as pd

    return SessionData(
        images=images, stimulus_ids=[f"face{i:02d}" for i in range(N_STIM)],
        metadata=SessionMetadata(identifier=f"s{seed:03d}",
                                 session_start_time=datetime(2024, 5, 1, tzinfo=timezone.utc)),
        identity=np.arange(N_STIM) % 4, responses=counts, spike_times=trains,
        presentations=pd.DataFrame({"start_time": onsets, "stop_time": onsets + 0.3,
                                    "stimulus_index": order.astype(np.int64)}),
    )


def main(counts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        files = [write_session(root / "in" / f"s{i:03d}.nwb", session(i))
                 for i in range(max(counts))]
        times = {}
        for n in [1, *counts]:  # the first run warms up (imports, plugins): not counted
            t0 = time.perf_counter()
            res = analyze(files[:n] if n > 1 else files[0], models=["pca"],
                          metrics=["alignment"], params=["pca.n_components=3"],
                          out=root / f"out{n}_{len(times)}", figures=False,
                          cache_dir=root / "cache")
            times[n] = time.perf_counter() - t0
            assert res.ok, res.summary["errors"]
            print(f"{n:4d} files  {res.summary['recording']['n_neurons']:4d} neurons  "
                  f"{times[n]:7.2f} s")
        big = max(counts)
        if big > 1 and 1 in times:
            per = (times[big] - times[1]) / (big - 1)
            print(f"per-file overhead: {per:.3f} s/file (goal < 0.3)")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 10, 100])
