"""The in-process executor: fits and metrics run one after another in this process.

It is the default (no ``workers``/``scheduler``) and the Dask executor's fallback for
ad-hoc model objects, which cannot travel to a worker. Fits go through the model cache
(:func:`~neurofacedis.runner.jobs.fit_and_encode`); a metric computes on the same
:func:`~neurofacedis.runner.jobs.metric_context` a Dask worker builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from neurofacedis._util import one_line, traceback_tail
from neurofacedis.runner.executor import FitOutcome, MetricOutcome, MetricTask
from neurofacedis.runner.inputs import RunInputs
from neurofacedis.runner.jobs import FitJob, fit_and_encode, metric_context

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Run fits and metrics in this process (:class:`~neurofacedis.runner.executor.Executor`).

    Parameters
    ----------
    data
        The run's inputs (:func:`~neurofacedis.runner.inputs.load_inputs`).
    truth
        The recording's known answer (simulated sessions), or None.
    responses, mean
        The responses and their repeat mean (:func:`~neurofacedis.runner.inputs.load_responses`).
    split_seed
        Seeds each metric's RNG, with the fit's seed and the metric and label names.
    cache
        The :class:`~neurofacedis.cache.ModelCache`.
    reporter
        Progress bars and log lines (:class:`~neurofacedis.progress.Reporter`).
    """

    def __init__(self, data: RunInputs, *, truth: Any, responses: Any, mean: Any,
                 split_seed: int, cache: Any, reporter: Any) -> None:
        self.data = data
        self.truth = truth
        self.responses = responses
        self.mean = mean
        self.split_seed = split_seed
        self.cache = cache
        self.reporter = reporter

    def fit(self, jobs: Sequence[FitJob]) -> list[FitOutcome]:
        """Fit (or load) and encode each job in turn; a failure is logged and returned."""
        from neurofacedis.cache import cache_key
        from neurofacedis.registry import check_latents

        d = self.data
        outcomes = []
        for job in jobs:
            try:
                fit_and_encode(job, cache=self.cache, cache_key=cache_key,
                               train_hash=d.train_hash, annotations_hash=d.annotations_hash,
                               fit_images=d.fit_images, fit_labels=d.fit_labels,
                               fit_landmarks=d.fit_landmarks, images=d.images,
                               landmarks=d.landmarks, reporter=self.reporter,
                               check_latents=check_latents,
                               fit_factors=d.fit_factors, factors=d.factors)
                outcomes.append(FitOutcome(job))
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # a broken plugin never stops the others
                job.error = one_line(exc)
                outcomes.append(FitOutcome(job, job.error, traceback_tail(exc)))
                self.reporter.log(f"model {job.job_id} failed:", job.error, style="red")
        return outcomes

    def metrics(self, tasks: Sequence[MetricTask]) -> list[MetricOutcome]:
        """Compute each task in turn, with a progress bar; a failure is returned."""
        return [self._metric(task) for task in tasks]

    def _metric(self, task: MetricTask) -> MetricOutcome:
        from neurofacedis.registry import check_metric_result

        d, job = self.data, task.job
        ctx = metric_context(job, truth=self.truth, responses=self.responses, train=d.train,
                             test=d.test, images=d.images, factors=d.factors,
                             stimuli=d.stimuli, siblings=task.siblings, metric=task.name,
                             split_seed=self.split_seed, mean=self.mean,
                             landmarks=d.landmarks, behaviour=d.behaviour)
        try:
            metric = task.entry.spec.factory(**task.params)
            with self.reporter.task(f"{task.name} · {job.job_id}") as cb:
                ctx.progress = cb
                result = metric.compute(ctx)
            return MetricOutcome(result=check_metric_result(task.entry, result), metric=metric)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a broken plugin never stops the others
            msg = one_line(exc)
            self.reporter.log(f"metric {task.name} on {job.job_id} failed:", msg, style="red")
            return MetricOutcome(error=msg, traceback=traceback_tail(exc))
