"""Kept importable for one release: the Dask executor is :mod:`neurofacedis.runner.dask`.

New code imports from there; ``DaskRun`` is now
:class:`~neurofacedis.runner.dask.DaskExecutor` and ``run_on`` takes the local executor that
runs what cannot travel (``local=``).
"""

from __future__ import annotations

from neurofacedis.runner.dask import (
    LOCAL_CLUSTER_CONFIG,
    RETRIES,
    DaskExecutor,
    DaskRun,
    MetricOutcome,
    WorkerRun,
    dask_executor,
    open_client,
    read_latents,
    run_on,
    write_latents,
)

__all__ = [
    "open_client", "run_on", "dask_executor", "DaskExecutor", "DaskRun", "WorkerRun",
    "MetricOutcome", "RETRIES", "LOCAL_CLUSTER_CONFIG", "read_latents", "write_latents",
]
