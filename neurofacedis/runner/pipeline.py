"""The analysis pipeline: recording -> split -> fit/load models -> latents -> metrics -> outputs.

:func:`analyze` is the Python entry point behind ``neurofacedis analyze``; it reads as its
steps: check the options (:func:`plan_run`), read the inputs (:mod:`~neurofacedis.runner.
inputs`), build the jobs (:mod:`~neurofacedis.runner.jobs`), fit them on an executor
(:mod:`~neurofacedis.runner.local` or :mod:`~neurofacedis.runner.dask`), select seeds
(:mod:`~neurofacedis.runner.select`), compute the metrics, summarise
(:mod:`~neurofacedis.runner.summary`) and write. It never modifies its input; it writes an
output folder (analysis.nwb, results.nc, summary.json, figures/, report.html) atomically.
One broken plugin never stops the others: its error is recorded in the summary.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurofacedis._util import one_line
from neurofacedis.errors import InputError, UnknownNameError
from neurofacedis.params import normalise_overrides
from neurofacedis.progress import Reporter
from neurofacedis.runner.executor import Executor, MetricTask
from neurofacedis.runner.inputs import (
    RunInputs,
    load_inputs,
    load_responses,
    open_recording,
    recording_paths,
    training_source_kind,
)
from neurofacedis.runner.jobs import FitJob, build_jobs
from neurofacedis.runner.local import LocalExecutor
from neurofacedis.runner.requirements import check_requirements
from neurofacedis.runner.result import AnalysisResult
from neurofacedis.runner.select import parse_select, select_seeds
from neurofacedis.runner.summary import (
    RunRecords,
    collapse_skipped,
    latents_records,
    summarise,
)

__all__ = ["analyze", "AnalysisResult", "RunPlan", "plan_run", "MetricPhase", "TARGETS"]

#: What a run's metrics are computed against: neural responses, or human behaviour besides.
TARGETS = ("neurons", "behaviour")


def analyze(
    recording: str | Path, *, models: Sequence[Any], metrics: Sequence[str] | None = None,
    seeds: int | Sequence[int] = 1, params: Any = None, out: str | Path | None = None,
    train_images: str | Path | None = None, test_fraction: float = 0.2,
    split_by: str = "stimulus", split_seed: int = 0, window: tuple[float, float] | None = None,
    select: str | None = None, cache_dir: str | Path | None = None, use_cache: bool = True,
    into: bool = False, figures: bool = True, quiet: bool = True, strict: bool = False,
    console: Any = None, workers: int | None = None, scheduler: str | None = None,
    follow_links: bool = False, units: str | None = None, min_rate: float | None = None,
    stimuli: str | None = None, presentations: str | None = None,
    stimuli_match: str = "intersect", target: str = "neurons", behaviour: str | Path | None = None,
) -> AnalysisResult:
    """Fit or load each model, store its latents, run the metrics and write the outputs.

    Parameters
    ----------
    recording
        Path of an NWB recording (HDF5 .nwb or a Zarr folder), several paths, or a folder of
        .nwb files: several sessions are pooled (``stimuli_match``). Never modified.
    models
        Model names (registered plugins), Model objects, factories, or ``"pkg.mod:attr"`` paths.
    metrics
        Metric names; None runs every installed metric (those whose requirements the data or
        model cannot meet are skipped, with the reason in the summary).
    seeds
        Number of seeds (0..N-1) or an explicit list; each model is fitted once per seed.
    params
        Parameter overrides: CLI strings ``["beta_vae.beta=1,2,4", "alignment.alpha=0.05"]`` or a
        dict ``{"beta_vae": {"beta": [1, 2, 4]}}``; model lists are swept as a grid.
    out
        Output folder (written atomically); None writes nothing.
    train_images
        Fit on these images (folder, .npy or NWB) instead of the recording's training stimuli.
        An NWB recording brings its stimulus table and landmarks too (classifier, AAM).
    test_fraction, split_by, split_seed
        The seeded train/test split of stimuli; ``split_by="identity"`` holds out identities.
    select
        ``"METRIC[:STAT]"``: run that metric on every fit and, per model label, mark the seed
        with the highest STAT (default: the statistic named like the metric) as selected.
        ``"udr"`` is label-free selection (Duan et al. 2020), as Higgins et al. 2021 chose.
    cache_dir, use_cache, into
        The fitted-model cache (default: platformdirs user cache); ``into`` also adds the
        latents to the recording file itself (atomically).
    quiet, figures, strict
        No progress bars; no figures; plugin loading problems are errors, not warnings.
    workers, scheduler
        Fits and metrics as Dask tasks (:mod:`~neurofacedis.runner.dask`): ``workers=N``
        starts a LocalCluster of N one-thread processes on loopback, ``scheduler=ADDRESS``
        uses a running cluster; neither = in this process. Results are identical.
    window, follow_links, units, min_rate, stimuli, presentations
        Given to every file's :meth:`Recording.open`: the spike-counting window (s after
        onset), links to other files (``recording.linked_files`` in summary.json), the unit
        selection (``recording.unit_selection``, also in the latents' provenance), stimulus set
        and presentation table. ``stimuli_match``: pool by ``"intersect"`` or ``"union"``.
    target, behaviour
        ``"neurons"``, or ``"behaviour"``: the file's human behaviour (choices, ratings, RDMs;
        docs/data-model.md), or that of the NWB file ``behaviour`` (matched to the recording's
        stimuli by id), goes to every metric as ``ctx.behaviour`` (in-process only); a file
        without neurons is analysed too, its neural metrics skipped.
    """
    from neurofacedis.cache import ModelCache
    from neurofacedis.nwb import add_latents

    t_start = time.time()
    opening = dict(window=window, follow_links=follow_links, units=units, min_rate=min_rate,
                   stimuli=stimuli, presentations=presentations, match=stimuli_match)
    plan = plan_run(recording, models=models, metrics=metrics, seeds=seeds, params=params,
                    select=select, workers=workers, scheduler=scheduler, opening=opening,
                    strict=strict, out=out, train_images=train_images, into=into, target=target,
                    behaviour=behaviour)
    rec, records = plan.open(), RunRecords(list(plan.registry.warnings))
    reporter = Reporter(quiet=quiet, console=console)
    split = {"by": split_by, "seed": split_seed, "test_fraction": test_fraction}
    try:
        with reporter, ExitStack() as stack:
            responses, mean, data = open_inputs(rec, plan, split, records)
            jobs = build_jobs(models, plan.seeds, plan.overrides, plan.registry)
            local = LocalExecutor(data, truth=rec.truth, responses=responses, mean=mean,
                                  split_seed=split_seed, reporter=reporter,
                                  cache=ModelCache(cache_dir, enabled=use_cache))
            executor = stack.enter_context(open_executor(local, plan, split=split))
            ok_jobs = fit_jobs(executor, jobs, data, records, recording=plan.paths[0],
                               train_images=train_images, reporter=reporter)
            phase = MetricPhase(executor, rec, plan.overrides, plan.registry.requirements,
                                records, data.behaviour)
            selection = phase.select(ok_jobs, plan) if plan.chosen is not None else {}
            phase.run(plan.todo(), ok_jobs)
            summary, latents = finish_run(rec, plan, jobs, records, selection=selection,
                                          data=data, split=split, t_start=t_start, out=out,
                                          figures=figures, reporter=reporter)
    finally:
        rec.close()
    if into and latents:
        add_latents(plan.paths[0], latents)
    return AnalysisResult(summary=summary, results=records.results, jobs=jobs,
                          objects=records.objects, out=Path(out).absolute() if out else None)


# ------------------------------------------------------------------------------------ steps


@dataclass
class RunPlan:
    """A run's checked options: parameter overrides, seeds, metrics and the selection."""

    registry: Any
    overrides: dict[str, dict[str, list[Any]]]
    seeds: list[int]
    metric_names: list[str]
    metric_entries: dict[str, Any]
    chosen: tuple[str, str] | None  # (metric, statistic) of ``select``
    paths: list[Path] = field(default_factory=list)  # the recording files (several: pooled)
    opening: dict[str, Any] = field(default_factory=dict)  # Recording.open keywords + match
    train_images: str | Path | None = None
    workers: int | None = None
    scheduler: str | None = None
    target: str = "neurons"  # or "behaviour": the file's behaviour goes to every metric
    behaviour: Path | None = None  # the behaviour's own file (target behaviour), or None

    @property
    def inputs(self) -> list[Any]:
        """Every input path: the recording files, the training images, the behaviour file."""
        return [*self.paths, self.train_images, self.behaviour]

    def open(self) -> Any:
        """Open the recording files (:func:`~neurofacedis.runner.inputs.open_recording`).

        With target behaviour a file without neurons opens too (a behaviour-only file).
        """
        if self.target == "behaviour":
            return open_recording(self.paths, **self.opening, require_neurons=False)
        return open_recording(self.paths, **self.opening)

    def todo(self) -> dict[str, Any]:
        """Return the metrics left to compute after the selection (which computes its own once)."""
        return {m: e for m, e in self.metric_entries.items()
                if self.chosen is None or m != self.chosen[0]}

    def metric_params(self) -> dict[str, Any]:
        """Each asked-for metric's parameters as run (summary.json's ``metric_params``)."""
        return {m: {**self.metric_entries[m].spec.defaults(),
                    **{k: v[0] for k, v in self.overrides.get(m, {}).items()}}
                for m in self.metric_names}


def finish_run(rec: Any, plan: RunPlan, jobs: list[FitJob], records: RunRecords, *,
               selection: dict[str, Any], data: RunInputs, split: dict[str, Any],
               t_start: float, out: str | Path | None, figures: bool,
               reporter: Any) -> tuple[dict[str, Any], list[Any]]:
    """Summarise the run, build its latents records and write the output folder (``out``)."""
    records.skipped = collapse_skipped(records.skipped)  # one line per model group
    summary = summarise(rec=rec, recording_path=plan.paths[0], jobs=jobs, records=records,
                        metric_params=plan.metric_params(), selection=selection, data=data,
                        split=split, elapsed=time.time() - t_start)
    latents = latents_records(jobs, train_hash=data.train_hash, rec=rec)
    if out is not None:
        write_run(Path(out), summary=summary, records=records, jobs=jobs, rec=rec,
                  latents=latents, data=data, figures=figures, reporter=reporter,
                  inputs=plan.inputs)
    return summary, latents


def plan_run(recording: str | Path | Sequence[str | Path], *, models: Sequence[Any],
             metrics: Sequence[str] | None, seeds: int | Sequence[int], params: Any,
             select: str | None, workers: int | None, scheduler: str | None,
             opening: dict[str, Any], strict: bool, out: str | Path | None,
             train_images: str | Path | None = None, into: bool = False,
             target: str = "neurons", behaviour: str | Path | None = None) -> RunPlan:
    """Check :func:`analyze`'s options before any work; raise InputError on bad ones.

    Loads the plugins (``strict``: loading problems are errors). ``recording`` is one path,
    several or a folder (:func:`~neurofacedis.runner.inputs.recording_paths`); ``opening``
    holds :meth:`Recording.open`'s keywords and ``match`` (how several files are pooled).
    ``out`` must be neither an input nor a folder this package did not write; ``behaviour``
    (a file of its own) needs ``target`` behaviour.
    """
    from neurofacedis.nwb._pool import MATCHES
    from neurofacedis.registry import get_registry

    paths = recording_paths(recording)
    inputs = [*paths, train_images, behaviour]
    match = opening.get("match", "intersect")
    if match not in MATCHES:
        raise InputError(f"must be one of {', '.join(MATCHES)}, got {match!r}",
                         obj="stimuli_match")
    if into and len(paths) > 1:
        raise InputError("adds latents to one recording; several were given", obj="into")
    follow_links = bool(opening.get("follow_links"))

    registry = get_registry(strict=strict)
    overrides = normalise_overrides(params, registry)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise InputError("at least one seed is needed", obj="seeds")
    if not models:
        raise InputError("no model given", obj="models")
    metric_names = list(metrics) if metrics is not None else sorted(registry.metrics)
    metric_entries = {m: registry.metric(m) for m in metric_names}  # raises on unknown
    chosen = parse_select(select, metric_entries, registry)
    for name in overrides:
        if name in metric_entries:
            for k, v in overrides[name].items():
                if len(v) != 1:
                    raise InputError("metric parameters take one value (sweeps are for "
                                     "models)", obj=f"params {name}.{k}")
    if workers is not None and scheduler is not None:
        raise InputError("give `workers` or `scheduler`, not both", obj="workers")
    if follow_links and (workers is not None or scheduler is not None):  # workers reopen it
        raise InputError("runs locally only, not with `workers` or `scheduler`", obj="follow_links")
    if workers is not None and int(workers) < 1:
        raise InputError(f"`workers` must be >= 1, got {workers}", obj="workers")
    _check_target(target, paths, workers, scheduler, behaviour)
    if out is not None:
        from neurofacedis._outputs import check_output_folder

        check_output_folder(out, kind="analyze", inputs=list(inputs))
    return RunPlan(registry, overrides, seed_list, metric_names, metric_entries, chosen,
                   paths=paths, opening=dict(opening), train_images=train_images,
                   workers=workers, scheduler=scheduler, target=target,
                   behaviour=None if behaviour is None else Path(behaviour))


def _check_target(target: str, paths: list[Path], workers: int | None,
                  scheduler: str | None, behaviour: str | Path | None = None) -> None:
    """``target`` is neurons or behaviour; behaviour runs on one file, in this process."""
    if target not in TARGETS:
        raise InputError(f"must be one of {', '.join(TARGETS)}, got {target!r}", obj="target")
    if behaviour is not None and target != "behaviour":
        raise InputError("is read with `target` behaviour; the target is neurons",
                         file=behaviour, obj="behaviour")
    if target == "behaviour" and len(paths) > 1:
        raise InputError("behaviour is read from one file; several were given", obj="target")
    if target == "behaviour" and (workers is not None or scheduler is not None):
        raise InputError("behaviour runs in this process, not with `workers` or `scheduler`",
                         obj="target")


def open_inputs(rec: Any, plan: RunPlan, split: dict[str, Any],
                records: RunRecords) -> tuple[Any, Any, RunInputs]:
    """Read the responses (and their mean), the images and the split.

    With target behaviour also the behaviour (the recording's own, or ``plan.behaviour``'s),
    matched to the stimuli by id: every behaviour stimulus must be one of them.
    """
    responses, mean = load_responses(rec)
    data = load_inputs(rec, train_images=plan.train_images, split_by=split["by"],
                       test_fraction=split["test_fraction"], split_seed=split["seed"])
    records.warnings.extend(rec.warnings)  # the pixel rule's rescaling (_pixels)
    if plan.target == "behaviour":
        from neurofacedis.nwb._behaviour import read_behaviour

        source = plan.behaviour or plan.paths[0]
        data.behaviour = read_behaviour(source, follow_links=bool(
            plan.opening.get("follow_links")), stimuli=None if plan.behaviour else
            plan.opening.get("stimuli"))
        data.behaviour.rows_in(data.stim_ids, what=f"the stimuli of {plan.paths[0]}")
    return responses, mean, data


@contextmanager
def open_executor(local: LocalExecutor, plan: RunPlan, *,
                  split: dict[str, Any]) -> Iterator[Executor]:
    """``local`` itself, or a Dask executor (``plan.workers``/``scheduler``) closed at the end.

    Workers reopen ``plan.paths`` with the same :meth:`Recording.open` keywords and match.
    """
    if plan.workers is None and plan.scheduler is None:
        yield local
        return
    from neurofacedis.runner.dask import dask_executor

    opening = plan.opening
    options = {k: v for k, v in opening.items()
               if k not in ("window", "follow_links", "match") and v is not None}
    with dask_executor(local, workers=plan.workers, scheduler=plan.scheduler,
                       recording=plan.paths[0], window=opening.get("window"),
                       train_images=plan.train_images, split_by=split["by"],
                       test_fraction=split["test_fraction"], split_seed=split["seed"],
                       cache=local.cache, recordings=plan.paths, options=options,
                       match=opening.get("match", "intersect")) as executor:
        yield executor


def landmarks_problem(job: FitJob, data: RunInputs, *, recording: Path,
                      train_images: str | Path | None) -> str | None:
    """Why ``job``'s model (which fits on landmarks) cannot fit on this data, or None."""
    requires = job.entry.spec.requires if job.entry is not None else frozenset()
    if "landmarks" not in requires or (data.landmarks is not None
                                       and data.fit_landmarks is not None):
        return None
    if data.landmarks is None:
        return (f"model '{job.name}' needs facial landmarks for every stimulus and "
                f"{recording.name} has none: add them with `neurofacedis import "
                "--landmarks L.npy` or `--detect-landmarks`")
    return (f"model '{job.name}' fits on landmarks and the training images "
            f"{Path(str(train_images)).name} have no landmarks"
            + (" (a folder or .npy holds images only)"
               if training_source_kind(str(train_images)) != "nwb" else "")
            + ": train on an NWB file with landmarks, or leave out `train_images`")


def fit_jobs(executor: Executor, jobs: list[FitJob], data: RunInputs, records: RunRecords, *,
             recording: Path, train_images: str | Path | None, reporter: Any) -> list[FitJob]:
    """Fit every job the data can serve; record the failures in job order; return the fits."""
    runnable = []
    for job in jobs:
        job.error = landmarks_problem(job, data, recording=recording, train_images=train_images)
        if job.error is None:
            runnable.append(job)
    outcomes = {id(o.job): o for o in executor.fit(runnable)}
    for job in jobs:
        outcome = outcomes.get(id(job))
        if outcome is None or not outcome.ok:
            records.model_failed(job, job.error or "", "" if outcome is None
                                 else outcome.traceback)
    ok_jobs = [j for j in jobs if j.error is None]
    for job in ok_jobs:
        for w in job.extra.get("fit_warnings", []):
            records.warnings.append(f"model {job.job_id}: {w}")
            reporter.log("warning", f"model {job.job_id}: {w}", style="yellow")
    return ok_jobs


class MetricPhase:
    """Compute metrics on fits through an executor, skipping those whose requirements fail."""

    def __init__(self, executor: Executor, rec: Any, overrides: dict[str, Any],
                 requirements: Any, records: RunRecords, behaviour: Any = None) -> None:
        self.behaviour = behaviour  # target behaviour: what the behaviour metrics need
        self.executor = executor
        self.rec = rec
        self.overrides = overrides
        self.requirements = requirements
        self.records = records

    def params(self, name: str, entry: Any) -> dict[str, Any]:
        """Return the metric's defaults with this run's overrides."""
        mparams = entry.spec.defaults()
        for k, v in self.overrides.get(name, {}).items():
            if k not in mparams:
                raise UnknownNameError(f"unknown parameter {k!r}", obj=f"metric {name}")
            mparams[k] = v[0]
        return mparams

    def run(self, entries: dict[str, Any], jobs: list[FitJob]) -> None:
        """Compute every metric of ``entries`` on every job whose requirements are met."""
        groups: dict[str, list[FitJob]] = {}
        for job in jobs:
            groups.setdefault(job.label, []).append(job)
        tasks = []
        for name, entry in entries.items():
            mparams = self.params(name, entry)
            for job in jobs:
                siblings = [j for j in groups[job.label] if j is not job]
                reason = check_requirements(entry.spec.requires, recording=self.rec, job=job,
                                            siblings=siblings, n_models=len(groups),
                                            table=self.requirements,
                                            behaviour=self.behaviour)
                if reason:
                    self.records.skipped.append({"metric": name, "model": job.label,
                                                 "seed": job.seed, "reason": reason})
                else:
                    tasks.append(MetricTask(name, entry, mparams, job, siblings))
        for task, outcome in zip(tasks, self.executor.metrics(tasks), strict=True):
            key = (task.name, task.job.label, task.job.seed)
            if outcome.error is None:
                self.records.results[key] = outcome.result
                self.records.objects[key] = outcome.metric
            else:
                self.records.metric_failed(task.name, task.entry, task.job, outcome.error,
                                           outcome.traceback)

    def select(self, jobs: list[FitJob], plan: RunPlan) -> dict[str, Any]:
        """Run the selection metric on every fit; per model label, select the best seed.

        See :func:`~neurofacedis.runner.select.select_seeds`. The metric's results stay only
        when the run asked for it as a metric too; its errors always do.
        """
        metric, stat = plan.chosen  # type: ignore[misc]
        keep = metric in plan.metric_names
        self.run({metric: plan.metric_entries[metric]}, jobs)
        scores: dict[str, float] = {}
        for job in jobs:
            key = (metric, job.label, job.seed)
            result = self.records.results.get(key)
            if result is not None and stat in result.attrs:
                scores[job.job_id] = float(result.attrs[stat])
            if not keep:
                self.records.results.pop(key, None)
                self.records.objects.pop(key, None)
        if not keep:
            self.records.skipped[:] = [s for s in self.records.skipped if s["metric"] != metric]
        return select_seeds(jobs, scores, metric, stat, self.records.warnings)


def write_run(out: Path, *, summary: dict[str, Any], records: RunRecords, jobs: list[FitJob],
              rec: Any, latents: list[Any], data: RunInputs, figures: bool, reporter: Any,
              inputs: list[Any]) -> None:
    """Write the output folder (:func:`neurofacedis.results.write_outputs`).

    Its files are noted in ``summary["outputs"]``.
    """
    from neurofacedis.results import write_outputs

    ok_jobs = [j for j in jobs if j.error is None]
    model_figures = (model_figures_of(ok_jobs, data.images[data.test], records.warnings)
                     if figures else {})
    with reporter.task("writing outputs"):
        write_outputs(out, summary=summary, results=records.results, jobs=jobs, recording=rec,
                      latents=latents, metric_objects=records.objects,
                      model_figures=model_figures, figures=figures, inputs=inputs)
    summary["outputs"] = {
        k: str(out / v) for k, v in {
            "analysis_nwb": "analysis.nwb", "results_nc": "results.nc",
            "summary_json": "summary.json", "report_html": "report.html",
            "figures": "figures"}.items()
    }


def model_figures_of(jobs: list[FitJob], test_images: Any, warnings: list[str]
                     ) -> dict[str, Any]:
    """Figures a model draws of itself (e.g. latent traversals), first seed of each label."""
    figs: dict[str, Any] = {}
    done: set[str] = set()
    for job in jobs:
        draw = getattr(job.model, "figures", None)
        if job.label in done or not callable(draw):
            continue
        done.add(job.label)
        try:
            for name, fig in (draw(test_images) or {}).items():
                figs[f"{job.label}_{name}"] = fig
        except Exception as exc:
            warnings.append(f"model {job.label}: figures failed: {one_line(exc)}")
    return figs
