"""Write and lazily read a stimuli x neurons float32 response matrix: Recording vs plain h5py.

    python benchmarks/bench_nwb_io.py [N_STIMULI N_NEURONS [SLICE]]   # default 20000 10000 100

Prints times and ratios (goal: within 1.5x of h5py on the same array) and the peak memory
of a SLICE-neuron read, which must be a small fraction of the whole array (the read touches
only the chunk columns it needs).
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from neurofacedis.nwb import Recording, SessionData, SessionMetadata, write_session
from neurofacedis.nwb._write import response_chunks


def best_of(fn, repeats: int = 5) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main(n_stim: int, n_units: int, n_slice: int) -> None:
    rng = np.random.default_rng(0)
    responses = rng.poisson(5.0, size=(n_stim, n_units, 1)).astype(np.float32)
    images = rng.integers(0, 256, size=(n_stim, 8, 8), dtype=np.uint8)
    size_mib = responses.nbytes / 2**20
    print(
        f"responses {n_stim} x {n_units} x 1 float32 = {size_mib:.0f} MiB; slice {n_slice} neurons"
    )
    data = SessionData(
        images=images,
        stimulus_ids=[f"s{i}" for i in range(n_stim)],
        metadata=SessionMetadata(
            identifier="bench",
            session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
            subject_id="b",
            species="Macaca mulatta",
            age="P5Y",
        ),
        responses=responses,
    )
    chunks = response_chunks(responses.shape)
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        nwb_path, h5_path = Path(tmp) / "bench.nwb", Path(tmp) / "plain.h5"

        def write_nwb():
            write_session(nwb_path, data, overwrite=True)

        def write_h5():
            with h5py.File(h5_path, "w") as fh:
                fh.create_dataset("responses", data=responses, chunks=chunks)
                fh.create_dataset(
                    "images", data=images, chunks=(1, 8, 8), compression="gzip", compression_opts=4
                )

        t_w_nwb, _ = best_of(write_nwb, 1)
        t_w_h5, _ = best_of(write_h5, 1)
        key = "processing/neurofacedis/responses/data"

        def rec_full():
            with Recording.open(nwb_path) as rec:
                return rec.responses.values

        def h5_full():
            with h5py.File(nwb_path, "r") as fh:
                return fh[key][:]

        def rec_slice():
            with Recording.open(nwb_path) as rec:
                return rec.read_responses(neurons=slice(0, n_slice)).values

        def h5_slice():
            with h5py.File(nwb_path, "r") as fh:
                return fh[key][:, :n_slice, :]

        t_open_rec, _ = best_of(lambda: Recording.open(nwb_path).close())
        t_open_h5, _ = best_of(lambda: h5py.File(nwb_path, "r").close())
        t_s_rec, a = best_of(rec_slice)
        t_s_h5, b = best_of(h5_slice)
        assert np.array_equal(a, b), "slice differs"  # noqa: S101 - benchmark sanity check
        t_f_rec, a = best_of(rec_full)
        t_f_h5, b = best_of(h5_full)
        assert np.array_equal(a, b), "full read differs"  # noqa: S101
        del a, b
        # reads on an already open file: what repeated access in an analysis costs
        with Recording.open(nwb_path) as rec, h5py.File(nwb_path, "r") as fh:
            ds = fh[key]
            r_s_rec, _ = best_of(lambda: rec.read_responses(neurons=slice(0, n_slice)).values)
            r_s_h5, _ = best_of(lambda: ds[:, :n_slice, :])
            r_f_rec, _ = best_of(lambda: rec.read_responses().values)
            r_f_h5, _ = best_of(lambda: ds[:])
        m_slice = peak_mib(rec_slice)
        m_full = peak_mib(rec_full)
        print(f"{'step':<40}{'neurofacedis':>14}{'h5py':>10}{'ratio':>8}")
        rows = [
            ("write (responses + images)", t_w_nwb, t_w_h5),
            ("open file", t_open_rec, t_open_h5),
            ("open + read all responses", t_f_rec, t_f_h5),
            (f"open + read {n_slice}-neuron slice", t_s_rec, t_s_h5),
            ("read all (file already open)", r_f_rec, r_f_h5),
            (f"read {n_slice}-neuron slice (file open)", r_s_rec, r_s_h5),
        ]
        for name, ours, ref in rows:
            print(f"{name:<40}{ours:>13.3f}s{ref:>9.3f}s{ours / ref:>8.2f}")
        slice_mib = n_stim * n_slice * 4 / 2**20
        print(
            f"peak traced memory: slice read {m_slice:.1f} MiB (slice itself {slice_mib:.1f} MiB), "
            f"full read {m_full:.0f} MiB, array {size_mib:.0f} MiB "
            f"-> slice read uses {100 * m_slice / size_mib:.1f}% of the array"
        )
        print(f"chunks {chunks}; file {nwb_path.stat().st_size / 2**20:.0f} MiB")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]] + [20000, 10000, 100][len(sys.argv) - 1 :]
    main(*args[:3])
