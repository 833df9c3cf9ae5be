"""The one interface both executors follow: fit jobs, then compute metrics on the fits.

:class:`~neurofacedis.runner.local.LocalExecutor` runs everything in this process;
:class:`~neurofacedis.runner.dask.DaskExecutor` sends registered models' fits and their
metrics to a Dask cluster (ad-hoc model objects stay local). The pipeline
(:mod:`neurofacedis.runner.pipeline`) only ever talks to an :class:`Executor`:

- ``fit(jobs)`` fits (or loads from the cache) and encodes every job, filling each job's
  outcome fields in place, and returns one :class:`FitOutcome` per job, in job order; a
  broken plugin gives an outcome with its error, never an exception.
- ``metrics(tasks)`` computes each :class:`MetricTask` and returns one
  :class:`MetricOutcome` per task, in task order, likewise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from neurofacedis.runner.jobs import FitJob

__all__ = ["Executor", "FitOutcome", "MetricTask", "MetricOutcome"]


@dataclass
class FitOutcome:
    """How fitting one job went: ``error`` (one line) and ``traceback`` are None/"" on success."""

    job: FitJob
    error: str | None = None
    traceback: str = ""

    @property
    def ok(self) -> bool:
        """True when the job was fitted and encoded."""
        return self.error is None


@dataclass
class MetricTask:
    """One metric on one fit.

    The metric's name, registry entry and parameters, the fit and the other seeds of the same
    model label (``siblings``, for metrics that need seeds).
    """

    name: str
    entry: Any
    params: dict[str, Any]
    job: FitJob
    siblings: list[FitJob] = field(default_factory=list)


@dataclass
class MetricOutcome:
    """One metric task's result: the Dataset and a metric object (for figures), or an error."""

    result: Any = None
    metric: Any = None
    error: str | None = None
    traceback: str = ""


class Executor(Protocol):
    """Where a run's fits and metric computations happen (see the module docstring)."""

    def fit(self, jobs: Sequence[FitJob]) -> list[FitOutcome]:
        """Fit and encode ``jobs``; one outcome per job, in job order."""
        ...

    def metrics(self, tasks: Sequence[MetricTask]) -> list[MetricOutcome]:
        """Compute ``tasks``; one outcome per task, in task order."""
        ...
