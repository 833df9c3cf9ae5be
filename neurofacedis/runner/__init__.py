"""The analysis runner: recording -> split -> fit/load models -> latents -> metrics -> outputs.

``analyze(...)`` is the Python entry point behind ``neurofacedis analyze``. The package holds
the pipeline as its steps, one module each:

- :mod:`~neurofacedis.runner.pipeline`: :func:`analyze`, the steps in order;
- :mod:`~neurofacedis.runner.inputs`: the recording's stimuli, images, split and responses;
- :mod:`~neurofacedis.runner.jobs`: fit jobs (request, then outcome), fitting and the metric
  context;
- :mod:`~neurofacedis.runner.requirements`: the requirement table plugins extend;
- :mod:`~neurofacedis.runner.executor`: the interface of the two executors,
  :mod:`~neurofacedis.runner.local` (this process) and :mod:`~neurofacedis.runner.dask`;
- :mod:`~neurofacedis.runner.select`: the best seed per model (``select=``);
- :mod:`~neurofacedis.runner.summary`: error records and summary.json.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurofacedis.runner.inputs import (
    TrainingSet,
    load_image_source,
    load_responses,
    load_training_set,
    repeat_mean,
    split_stimuli,
    training_source_kind,
)
from neurofacedis.runner.jobs import FitJob
from neurofacedis.runner.pipeline import AnalysisResult, analyze
from neurofacedis.runner.requirements import check_requirements
from neurofacedis.stats import welch  # re-exported: neurofacedis.runner.welch

if TYPE_CHECKING:
    from neurofacedis.errors import NeurofacedisError

__all__ = [
    "analyze", "AnalysisResult", "FitJob", "split_stimuli", "load_image_source",
    "load_training_set", "training_source_kind", "TrainingSet", "load_responses",
    "repeat_mean", "welch", "describe_error",
]


def describe_error(exc: NeurofacedisError) -> str:
    """One-line rendering used by the CLI."""
    return exc.one_line()


def _unmet(requires: Any, *, rec: Any, job: Any, siblings: Any, n_models: int,
           table: Any = None) -> str | None:
    """Kept for one release: :func:`~neurofacedis.runner.requirements.check_requirements`."""
    return check_requirements(requires, recording=rec, job=job, siblings=siblings,
                              n_models=n_models, table=table)
