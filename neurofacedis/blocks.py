"""Loops of independent draws (permutations, bootstraps, subsets) in ordered parallel blocks.

:func:`run_blocks` is ``[fn(row) for row in rows]`` computed by ``n_jobs`` threads a block of
rows at a time, collected in order: the result equals the serial one whatever ``n_jobs`` is.
Metrics draw their random rows (permutations, subsets...) serially from their seeded
generator first, so the numbers never depend on the number of threads. Used by RSA
(permutations, bootstraps) and the alignment score (neuron subsets, rotations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["run_blocks", "workers"]


def workers(n_jobs: int) -> int:
    """Threads for ``n_jobs``: itself when >= 1, else every core this process may use."""
    if n_jobs >= 1:
        return int(n_jobs)
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _blocks(rows: Iterable[Any], size: int) -> Iterable[list[Any]]:
    block: list[Any] = []
    for row in rows:
        block.append(row)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def run_blocks(fn: Callable[[Any], Any], rows: Iterable[Any], n_jobs: int = 1,
               progress: Callable[[int], Any] | None = None) -> list[Any]:
    """Return ``[fn(row) for row in rows]``, computed in parallel blocks of rows.

    ``n_jobs`` threads (0 = every core; :func:`workers`) each take a block of consecutive
    rows at a time; blocks are collected in order, so the list equals the serial one
    whatever ``n_jobs`` is. At most two blocks per thread are drawn ahead of the one being
    collected (rows may be generated lazily, e.g. re-drawn permutations). scipy's counter and
    numpy's gathers release the GIL; each thread has its own buffers.
    """
    jobs = workers(n_jobs)
    count = len(rows) if hasattr(rows, "__len__") else None
    if jobs <= 1 or (count is not None and count <= 1):
        out = []
        for row in rows:
            out.append(fn(row))
            if progress is not None:
                progress(1)
        return out
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    size = max(1, min(16, -(-count // (4 * jobs)))) if count else 4

    def block(items: list[Any]) -> list[Any]:
        return [fn(row) for row in items]

    out, pending = [], deque()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for items in _blocks(rows, size):
            pending.append(pool.submit(block, items))
            if len(pending) >= 3 * jobs:
                out.extend(_collect(pending.popleft(), progress))
        while pending:
            out.extend(_collect(pending.popleft(), progress))
    return out


def _collect(future, progress) -> list[Any]:
    done = future.result()
    if progress is not None:
        progress(len(done))
    return done
