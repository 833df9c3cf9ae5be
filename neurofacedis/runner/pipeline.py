"""The analysis runner: recording -> split -> fit/load models -> latents -> metrics -> outputs.

``analyze(...)`` is the Python entry point behind ``neurofacedis analyze``. It never modifies its
input; it writes an output folder (analysis.nwb, results.nc, summary.json, figures/,
report.html) atomically. One broken plugin never stops the others: its error is recorded in the
summary and the run's exit status is non-zero.
"""

from __future__ import annotations

import copy
import importlib
import json
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis import __version__
from neurofacedis._util import json_safe as _json_safe
from neurofacedis._util import one_line as _one_line
from neurofacedis._util import safe_name
from neurofacedis._util import traceback_tail as _tb
from neurofacedis.errors import InputError, NeurofacedisError, UnknownNameError
from neurofacedis.jobs import FitJob, fit_and_encode, fit_key, metric_context
from neurofacedis.params import normalise_overrides as _normalise_overrides
from neurofacedis.progress import Reporter
from neurofacedis.run_inputs import (
    RunInputs,
    TrainingSet,
    annotations_sha256,
    load_image_source,
    load_inputs,
    load_responses,
    load_training_set,
    repeat_mean,
    split_stimuli,
    training_source_kind,
)
from neurofacedis.specs import MetricContext, RequirementContext
from neurofacedis.stats import fdr_across_models as _fdr_across_models
from neurofacedis.stats import pairwise_welch as _compare
from neurofacedis.stats import welch  # re-exported: neurofacedis.runner.welch

#: Kept importable for one release (the code moved to :mod:`neurofacedis.jobs` and
#: :mod:`neurofacedis.run_inputs`); new code imports from there.
_Inputs = RunInputs
_annotations_sha256 = annotations_sha256
_load_inputs = load_inputs
_fit_and_encode = fit_and_encode
_fit_key = fit_key

__all__ = [
    "analyze", "AnalysisResult", "FitJob", "split_stimuli", "load_image_source",
    "load_training_set", "training_source_kind", "TrainingSet", "load_responses",
    "repeat_mean", "welch",
]


# --------------------------------------------------------------------------------- data types


@dataclass
class AnalysisResult:
    """What :func:`analyze` returns: the summary dict, the full metric results and the jobs."""

    summary: dict[str, Any]
    results: dict[tuple[str, str, int], Any]
    jobs: list[FitJob]
    out: Path | None

    @property
    def ok(self) -> bool:
        """True when no plugin failed."""
        return not self.summary["errors"]


# ------------------------------------------------------------------------------------ helpers


def _label(name: str, params: dict[str, Any], defaults: dict[str, Any], varied: set[str]) -> str:
    shown = {k: v for k, v in params.items() if k in varied or defaults.get(k, object()) != v}
    if not shown:
        return name
    inner = ",".join(f"{k}={_fmt(v)}" for k, v in sorted(shown.items()))
    return f"{name}[{inner}]"


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _resolve_adhoc(model: Any) -> tuple[str, Any]:
    """Resolve a Model object, class/factory, or ``package.module:attr`` path -> (name, factory)."""
    if isinstance(model, str):
        module_name, _, attr = model.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise UnknownNameError(f"cannot import model: {_one_line(exc)}", obj=model) from None
        model = obj
    if isinstance(model, type) or (callable(model) and not hasattr(model, "encode")):
        name = getattr(model, "name", None) or getattr(model, "__name__", "model")
        return str(name).lower(), model
    name = getattr(model, "name", None) or type(model).__name__
    return str(name).lower(), lambda: copy.deepcopy(model)


# ---------------------------------------------------------------------------------- the runner


def analyze(
    recording: str | Path,
    *,
    models: Sequence[Any],
    metrics: Sequence[str] | None = None,
    seeds: int | Sequence[int] = 1,
    params: Any = None,
    out: str | Path | None = None,
    train_images: str | Path | None = None,
    test_fraction: float = 0.2,
    split_by: str = "stimulus",
    split_seed: int = 0,
    window: tuple[float, float] | None = None,
    select: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    into: bool = False,
    figures: bool = True,
    quiet: bool = True,
    strict: bool = False,
    console: Any = None,
    workers: int | None = None,
    scheduler: str | None = None,
    follow_links: bool = False,
) -> AnalysisResult:
    """Fit or load each model, store its latents, run the metrics and write the outputs.

    Parameters
    ----------
    recording
        Path of an NWB recording (HDF5 .nwb or a Zarr folder). Never modified (unless ``into``).
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
    window
        Spike-counting window (s after onset) when responses come from spike times.
    select
        ``"METRIC[:STAT]"``: run that metric on every fit and, among seeds of the same model
        and parameters, mark the one with the highest STAT (default: the statistic named like
        the metric) as selected. ``"udr"`` is label-free model selection (Duan et al. 2020),
        as Higgins et al. 2021 chose their β-VAE seeds.
    cache_dir, use_cache
        The fitted-model cache (default: platformdirs user cache).
    into
        Also add the latents to the recording file itself (atomically).
    quiet
        No progress bars.
    strict
        Plugin loading problems are errors instead of warnings.
    workers, scheduler
        Run fits and metric computations as Dask tasks (:mod:`neurofacedis.parallel`):
        ``workers=N`` starts a LocalCluster of N one-thread processes on loopback,
        ``scheduler="tcp://HOST:PORT"`` uses a running cluster; neither = in this process.
        Results are identical; fitted models and latents travel through the model cache.
    follow_links
        Read the recording's links to other files (refused by default); summary.json's
        ``recording.linked_files`` then lists each linked file and its sha256.
    """
    from neurofacedis.cache import ModelCache, cache_key
    from neurofacedis.nwb import Recording
    from neurofacedis.registry import check_latents, check_metric_result, expand_grid, get_registry

    t_start = time.time()
    registry = get_registry(strict=strict)
    overrides = _normalise_overrides(params, registry)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise InputError("at least one seed is needed", obj="seeds")
    if not models:
        raise InputError("no model given", obj="models")
    metric_names = list(metrics) if metrics is not None else sorted(registry.metrics)
    metric_entries = {m: registry.metric(m) for m in metric_names}  # raises on unknown
    chosen = _parse_select(select, metric_entries, registry)  # (metric, stat) or None
    for target in overrides:
        if target in metric_entries:
            for k, v in overrides[target].items():
                if len(v) != 1:
                    raise InputError(
                        "metric parameters take one value (sweeps are for models)",
                        obj=f"params {target}.{k}",
                    )

    if workers is not None and scheduler is not None:
        raise InputError("give --workers or --scheduler, not both", obj="workers")
    if follow_links and (workers is not None or scheduler is not None):  # workers reopen it
        raise InputError("runs locally only, not with --workers/--scheduler", obj="follow_links")
    if workers is not None and int(workers) < 1:
        raise InputError(f"--workers must be >= 1, got {workers}", obj="workers")
    recording_path = Path(recording)
    if out is not None:  # before any work: never an input, never a folder it did not write
        from neurofacedis._outputs import check_output_folder

        check_output_folder(out, kind="analyze", inputs=[recording_path, train_images])
    rec = Recording.open(recording_path, window=window, follow_links=follow_links)
    warnings: list[str] = list(registry.warnings)
    errors: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    cache = ModelCache(cache_dir, enabled=use_cache)
    reporter = Reporter(quiet=quiet, console=console)
    results: dict[tuple[str, str, int], Any] = {}
    model_figures: dict[str, Any] = {}
    metric_objects: dict[tuple[str, str, int], Any] = {}
    try:
        with reporter, ExitStack() as stack:
            # ---- data ----------------------------------------------------------------------
            responses, mean_responses = load_responses(rec)
            data = _load_inputs(rec, train_images=train_images, split_by=split_by,
                                test_fraction=test_fraction, split_seed=split_seed)
            warnings.extend(rec.warnings)  # the pixel rule's rescaling (neurofacedis._pixels)
            train, test = data.train, data.test
            images, landmarks = data.images, data.landmarks
            fit_images, fit_labels = data.fit_images, data.fit_labels
            fit_landmarks = data.fit_landmarks
            train_source, train_hash = data.train_source, data.train_hash
            dask_run = None
            if workers is not None or scheduler is not None:
                from neurofacedis import parallel

                client = stack.enter_context(parallel.open_client(workers=workers,
                                                                  scheduler=scheduler))
                dask_run = stack.enter_context(parallel.run_on(
                    client, recording=recording_path, window=window, train_images=train_images,
                    split_by=split_by, test_fraction=test_fraction, split_seed=split_seed,
                    cache=cache))

            # ---- build the fit jobs ----------------------------------------------------------
            jobs: list[FitJob] = []
            for m in models:
                if isinstance(m, str) and ":" not in m:
                    entry = registry.model(m)
                    spec = entry.spec
                    grid = expand_grid(spec, overrides.get(m, {}))
                    varied = {k for k, v in overrides.get(m, {}).items() if len(v) > 1}
                    for point in grid:
                        label = _label(m, point, spec.defaults(), varied)
                        for s in seed_list:
                            jobs.append(
                                FitJob(
                                    label=label,
                                    name=m,
                                    params=dict(point),
                                    seed=s,
                                    entry=entry,
                                    plugin=entry.plugin,
                                    distribution=entry.distribution,
                                    plugin_version=str(entry.version),
                                )
                            )
                else:
                    name, factory = _resolve_adhoc(m)
                    for s in seed_list:
                        jobs.append(
                            FitJob(label=name, name=name, params={}, seed=s, plugin="(ad hoc)",
                                   extra={"factory": factory})
                        )
            labels_seen: dict[str, int] = {}
            for job in jobs:
                labels_seen[job.job_id] = labels_seen.get(job.job_id, 0) + 1
            dupes = [k for k, c in labels_seen.items() if c > 1]
            if dupes:
                raise InputError(f"model given twice: {dupes[0]}", obj="models")

            # ---- fit / load, encode ---------------------------------------------------------
            remote_fits: list[FitJob] = []
            for job in jobs:
                spec_requires = job.entry.spec.requires if job.entry is not None else frozenset()
                if "landmarks" in spec_requires and (landmarks is None or fit_landmarks is None):
                    job.error = (
                        f"model '{job.name}' needs facial landmarks for every stimulus and "
                        f"{recording_path.name} has none: add them with `neurofacedis import "
                        "--landmarks L.npy` or `--detect-landmarks`"
                    ) if landmarks is None else (
                        f"model '{job.name}' fits on landmarks and the training images "
                        f"{Path(str(train_images)).name} have no landmarks"
                        + (" (a folder or .npy holds images only)"
                           if training_source_kind(str(train_images)) != "nwb" else "")
                        + ": train on an NWB file with landmarks, or leave out --train-images"
                    )
                    errors.append(_err("model", job, job.error))
                    continue
                if dask_run is not None and job.entry is not None:
                    remote_fits.append(job)  # fitted on the cluster below
                    continue
                try:
                    _fit_and_encode(
                        job, cache=cache, cache_key=cache_key, train_hash=train_hash,
                        annotations_hash=data.annotations_hash, fit_images=fit_images,
                        fit_labels=fit_labels, fit_landmarks=fit_landmarks,
                        images=images, landmarks=landmarks, reporter=reporter,
                        check_latents=check_latents,
                    )
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # a broken plugin never stops the others
                    job.error = _one_line(exc)
                    errors.append(_err("model", job, job.error, exc))
                    reporter.log(f"model {job.job_id} failed:", job.error, style="red")
            if remote_fits:
                for job, exc_text, tb in dask_run.fit(remote_fits, reporter=reporter):
                    errors.append({**_err("model", job, job.error or ""), "traceback": tb})
                    reporter.log(f"model {job.job_id} failed:", exc_text, style="red")

            ok_jobs = [j for j in jobs if j.error is None]
            for job in ok_jobs:
                for w in job.extra.get("fit_warnings", []):
                    warnings.append(f"model {job.job_id}: {w}")
                    reporter.log("warning", f"model {job.job_id}: {w}", style="yellow")

            # ---- label-free selection, then the metrics -----------------------------------
            run = _MetricRun(rec=rec, responses=responses, mean=mean_responses, data=data,
                             split_seed=split_seed, overrides=overrides, dask_run=dask_run,
                             reporter=reporter, requirements=registry.requirements,
                             check=check_metric_result, results=results,
                             objects=metric_objects, errors=errors, skipped=skipped)
            selection: dict[str, Any] = {}
            todo = dict(metric_entries)
            if chosen is not None:
                selection = run.select(ok_jobs, *chosen, metric_entries[chosen[0]],
                                       keep=chosen[0] in metric_names, warnings=warnings)
                todo.pop(chosen[0])  # computed once, by the selection
                if chosen[0] not in metric_names:
                    metric_entries.pop(chosen[0])
            run.run(todo, ok_jobs)
            # skipped metrics for whole model groups collapse to one line each
            skipped = _collapse_skipped(skipped)

            summary = _summarise(
                rec=rec, recording_path=recording_path, jobs=jobs, results=results,
                metric_names=metric_names, metric_entries=metric_entries, errors=errors,
                skipped=skipped, warnings=warnings, selection=selection, train=train, test=test,
                split_seed=split_seed, test_fraction=test_fraction, split_by=split_by,
                train_source=train_source, train_hash=train_hash, mparams_overrides=overrides,
                elapsed=time.time() - t_start,
            )

            # ---- outputs ------------------------------------------------------------------
            out_path = Path(out) if out is not None else None
            latents_records = _latents_records(jobs, train_hash=train_hash)
            if out_path is not None:
                from neurofacedis.results import write_outputs

                if figures:
                    model_figures = _model_figures(ok_jobs, images, test, reporter, warnings)
                with reporter.task("writing outputs"):
                    write_outputs(
                        out_path, summary=summary, results=results, jobs=jobs, recording=rec,
                        latents=latents_records, metric_objects=metric_objects,
                        model_figures=model_figures, figures=figures,
                        inputs=[recording_path, train_images],
                    )
                summary["outputs"] = {
                    k: str(out_path / v) for k, v in {
                        "analysis_nwb": "analysis.nwb", "results_nc": "results.nc",
                        "summary_json": "summary.json", "report_html": "report.html",
                        "figures": "figures"}.items()
                }
    finally:
        rec.close()
    if into and latents_records:
        from neurofacedis.nwb import add_latents

        add_latents(recording_path, latents_records)
    return AnalysisResult(summary=summary, results=results, jobs=jobs, out=out_path)


# ------------------------------------------------------------------------------ runner steps


@dataclass
class _MetricRun:
    """Compute metrics on fits, in this process or on the Dask cluster, into shared stores."""

    rec: Any
    responses: Any
    mean: Any
    data: Any
    split_seed: int
    overrides: dict[str, dict[str, list[Any]]]
    dask_run: Any
    reporter: Any
    requirements: Any
    check: Any
    results: dict[tuple[str, str, int], Any]
    objects: dict[tuple[str, str, int], Any]
    errors: list[dict[str, Any]]
    skipped: list[dict[str, Any]]

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
        remote: list[tuple[str, Any, dict[str, Any], FitJob, list[FitJob]]] = []
        for name, entry in entries.items():
            mparams = self.params(name, entry)
            for job in jobs:
                siblings = [j for j in groups[job.label] if j is not job]
                reason = _unmet(entry.spec.requires, rec=self.rec, job=job, siblings=siblings,
                                n_models=len(groups), table=self.requirements)
                if reason:
                    self.skipped.append({"metric": name, "model": job.label, "seed": job.seed,
                                         "reason": reason})
                elif self.dask_run is not None and self.dask_run.has(job):
                    remote.append((name, entry, mparams, job, siblings))
                else:
                    self._local(name, entry, mparams, job, siblings)
        if remote:
            outcomes = self.dask_run.metrics(remote, reporter=self.reporter)
            for (name, entry, _, job, _), outcome in zip(remote, outcomes, strict=True):
                if outcome.error is None:
                    self.results[(name, job.label, job.seed)] = outcome.result
                    self.objects[(name, job.label, job.seed)] = outcome.metric
                else:
                    self._failed(name, entry, job, outcome.error, outcome.traceback)

    def _local(self, name: str, entry: Any, mparams: dict[str, Any], job: FitJob,
               siblings: list[FitJob]) -> None:
        d = self.data
        ctx = metric_context(job, truth=self.rec.truth, responses=self.responses,
                             train=d.train, test=d.test, images=d.images, factors=d.factors,
                             stimuli=d.stimuli, siblings=siblings, metric=name,
                             split_seed=self.split_seed, mean=self.mean)
        try:
            metric = entry.spec.factory(**mparams)
            with self.reporter.task(f"{name} · {job.job_id}") as cb:
                ctx.progress = cb
                result = metric.compute(ctx)
            self.results[(name, job.label, job.seed)] = self.check(entry, result)
            self.objects[(name, job.label, job.seed)] = metric
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a broken plugin never stops the others
            self._failed(name, entry, job, _one_line(exc), _tb(exc))

    def _failed(self, name: str, entry: Any, job: FitJob, msg: str, tb: str) -> None:
        self.errors.append({"kind": "metric", "name": name, "model": job.label,
                            "seed": job.seed, "plugin": entry.plugin,
                            "distribution": entry.distribution, "version": str(entry.version),
                            "error": msg, "traceback": tb})
        self.reporter.log(f"metric {name} on {job.job_id} failed:", msg, style="red")

    def select(self, jobs: list[FitJob], metric: str, stat: str, entry: Any, *, keep: bool,
               warnings: list[str]) -> dict[str, Any]:
        """Run ``metric`` on every fit; per model label, select the seed with the best ``stat``.

        See :func:`_select`. The metric's results stay only when the run asked for it
        (``keep``); its errors always do.
        """
        self.run({metric: entry}, jobs)
        scores: dict[str, float] = {}
        for job in jobs:
            key = (metric, job.label, job.seed)
            result = self.results.get(key)
            if result is not None and stat in result.attrs:
                scores[job.job_id] = float(result.attrs[stat])
            if not keep:
                self.results.pop(key, None)
                self.objects.pop(key, None)
        if not keep:
            self.skipped[:] = [s for s in self.skipped if s["metric"] != metric]
        return _select(jobs, scores, metric, stat, warnings)


def _parse_select(select: str | None, metric_entries: dict[str, Any], registry: Any
                  ) -> tuple[str, str] | None:
    """``"METRIC[:STAT]"`` -> (metric, statistic); STAT defaults to the metric's name."""
    if select is None:
        return None
    metric, _, stat = str(select).partition(":")
    metric, stat = metric.strip(), stat.strip() or metric.strip()
    if not metric or metric not in registry.metrics:
        available = ", ".join(sorted(registry.metrics)) or "none"
        raise UnknownNameError(f"unknown selection {select!r}: a metric, METRIC[:STAT]; "
                               f"available: {available}", obj="select")
    metric_entries.setdefault(metric, registry.metric(metric))
    return metric, stat


def _select(jobs: list[FitJob], scores: dict[str, float], metric: str, stat: str,
            warnings: list[str]) -> dict[str, Any]:
    """Per model label, mark the seed with the highest ``stat`` of ``metric`` as selected.

    ``scores`` maps job ids to the statistic (NaN or absent: not comparable). Ties keep the
    first seed; a label with one seed has nothing to select (a warning says so).
    """
    groups: dict[str, list[FitJob]] = {}
    for j in jobs:
        groups.setdefault(j.label, []).append(j)
    out: dict[str, Any] = {}
    where = metric if stat == metric else f"{metric}:{stat}"
    for label, members in groups.items():
        if len(members) < 2:
            warnings.append(f"--select {where}: {label} has one seed; nothing to select")
            continue
        values = np.array([scores.get(m.job_id, np.nan) for m in members], dtype=float)
        if not np.isfinite(values).any():
            warnings.append(f"--select {where}: {label}: no seed has a finite {stat}")
            continue
        best = int(np.nanargmax(values))
        for m, v in zip(members, values, strict=True):
            m.score = float(v)
            m.udr = float(v) if metric == "udr" else None  # summary.json's fits[].udr
            m.selected = m is members[best]
        per_seed = {str(m.seed): float(v) for m, v in zip(members, values, strict=True)}
        out[label] = {"selected_seed": members[best].seed, "metric": metric, "stat": stat,
                      "scores": per_seed, metric: per_seed}
    return out


def _unmet(requires: frozenset[str], *, rec, job: FitJob | None, siblings: list[FitJob],
           n_models: int, table: Any = None) -> str | None:
    """Why a metric cannot run on this job, or None (:mod:`neurofacedis.requirements`).

    ``table`` is the registry's requirement table; None means the built-ins.
    """
    from neurofacedis.requirements import builtin_requirements, unmet

    if table is None:
        table = {r.name: r for r in builtin_requirements()}
    ctx = RequirementContext(
        recording=rec, model=getattr(job, "model", None), model_name=getattr(job, "name", ""),
        latents=getattr(job, "latents", None), active=getattr(job, "active", None),
        n_seeds=len(siblings) + 1, n_models=n_models,
    )
    return unmet(requires, ctx, table)


def _context(job: FitJob, *, rec, responses, train, test, images, factors, stimuli, siblings,
             metric: str, split_seed: int, mean=None, stim_ids=None) -> MetricContext:
    """:func:`neurofacedis.jobs.metric_context` with the recording's truth (kept for callers)."""
    del stim_ids  # unused; accepted for callers of the old signature
    return metric_context(job, truth=rec.truth, responses=responses, train=train, test=test,
                          images=images, factors=factors, stimuli=stimuli, siblings=siblings,
                          metric=metric, split_seed=split_seed, mean=mean)


def _collapse_skipped(skipped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for s in skipped:
        key = (s["metric"], s["model"], s["reason"])
        if key in seen:
            seen[key]["seeds"].append(s["seed"])
        else:
            seen[key] = {"metric": s["metric"], "model": s["model"], "seeds": [s["seed"]],
                         "reason": s["reason"]}
    return list(seen.values())


def _err(kind: str, job: FitJob, msg: str, exc: BaseException | None = None) -> dict[str, Any]:
    d = {"kind": kind, "name": job.name, "model": job.label, "seed": job.seed,
         "plugin": job.plugin, "distribution": job.distribution, "version": job.plugin_version,
         "error": msg}
    if exc is not None:
        d["traceback"] = _tb(exc)
    return d


def _headline_stats(result: Any) -> dict[str, float]:
    out = {}
    for k, v in result.attrs.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = float(v)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[k] = float(v)
    return out


def _summarise(*, rec, recording_path, jobs, results, metric_names, metric_entries, errors,
               skipped, warnings, selection, train, test, split_seed, test_fraction, split_by,
               train_source, train_hash, mparams_overrides, elapsed) -> dict[str, Any]:
    """Build summary.json's content (documented in docs/outputs.md)."""
    models: dict[str, Any] = {}
    for job in jobs:
        m = models.setdefault(job.label, {
            "model": job.name, "plugin": job.plugin, "distribution": job.distribution,
            "plugin_version": job.plugin_version, "params": _json_safe(job.params), "fits": [],
        })
        m["fits"].append(_json_safe({
            "seed": job.seed, "cache": job.cache, "cache_key": job.cache_key,
            "n_units": None if job.latents is None else int(job.latents.shape[1]),
            "n_active": None if job.active is None else int(job.active.sum()),
            "fit_seconds": round(job.fit_seconds, 3), "extra": job.extra, "error": job.error,
            "udr": job.udr, "selected": job.selected,
        }))
    per_seed: dict[str, dict[str, dict[str, list[float]]]] = {}
    for (metric, label, seed), res in sorted(results.items(),
                                             key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        stats = _headline_stats(res)
        slot = per_seed.setdefault(metric, {}).setdefault(label, {})
        slot.setdefault("seed", []).append(seed)
        for k, v in stats.items():
            slot.setdefault(k, []).append(v)
    _fdr_across_models(per_seed)
    means: dict[str, Any] = {}
    sds: dict[str, Any] = {}
    for metric, by_label in per_seed.items():
        for label, stats in by_label.items():
            for k, vals in stats.items():
                if k == "seed":
                    continue
                arr = np.asarray(vals, dtype=float)
                means.setdefault(metric, {}).setdefault(label, {})[k] = float(np.nanmean(arr))
                sds.setdefault(metric, {}).setdefault(label, {})[k] = (
                    float(np.nanstd(arr, ddof=1)) if len(arr) > 1 else 0.0)
    comparisons = _compare(per_seed)
    selected: dict[str, Any] = {}
    for label, info in selection.items():
        seed = info["selected_seed"]
        selected[label] = {**info, "metrics": {
            metric: {k: v[by[label]["seed"].index(seed)]
                     for k, v in by[label].items() if k != "seed"}
            for metric, by in per_seed.items() if label in by and seed in by[label]["seed"]}}
    return _json_safe({
        "schema_version": 1,
        "neurofacedis_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_seconds": round(elapsed, 2),
        "recording": {
            "path": str(recording_path), "identifier": rec.identifier, "sha256": rec.sha256(),
            **({"linked_files": rec.linked_files} if rec.linked_files else {}),  # follow_links
            "n_stimuli": rec.n_stimuli, "n_neurons": rec.n_neurons, "n_repeats": rec.n_repeats,
            "response_source": rec.responses.attrs.get("source", ""),
            "window": list(rec.responses.attrs.get("window", [])),
        },
        "split": {"by": split_by, "seed": split_seed, "test_fraction": test_fraction,
                  "n_train": len(train), "n_test": len(test)},
        "training_images": {"source": train_source, "sha256": train_hash},
        "models": models,
        "metrics": means,
        "metrics_sd": sds,
        "per_seed": per_seed,
        "comparisons": comparisons,
        "selection": selected,
        "metric_params": {m: {**metric_entries[m].spec.defaults(),
                              **{k: v[0] for k, v in mparams_overrides.get(m, {}).items()}}
                          for m in metric_names},
        "skipped": skipped,
        "errors": [{k: v for k, v in e.items() if k != "traceback"} for e in errors],
        "warnings": warnings,
    })


def _latents_records(jobs: list[FitJob], *, train_hash: str) -> list[Any]:
    from neurofacedis.nwb import LatentsData

    records = []
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for job in jobs:
        if job.latents is None or job.error is not None:
            continue
        records.append(LatentsData(
            name=f"latents_{safe_name(job.label)}_seed{job.seed}",
            data=job.latents.astype(np.float32),
            unit_names=list(job.unit_names),
            provenance={
                "model": job.name, "plugin": job.plugin, "plugin_version": job.plugin_version,
                "parameters": json.dumps(_json_safe(job.params), sort_keys=True),
                "seed": int(job.seed), "training_images_sha256": train_hash,
                "package_version": __version__, "created": created,
            },
        ))
    return records


def _model_figures(jobs: list[FitJob], images: np.ndarray, test: np.ndarray, reporter,
                   warnings: list[str]) -> dict[str, Any]:
    """Figures a model draws of itself (e.g. latent traversals), first seed of each label."""
    figs: dict[str, Any] = {}
    done: set[str] = set()
    for job in jobs:
        draw = getattr(job.model, "figures", None)
        if job.label in done or not callable(draw):
            continue
        done.add(job.label)
        try:
            for name, fig in (draw(images[test]) or {}).items():
                figs[f"{job.label}_{name}"] = fig
        except Exception as exc:
            warnings.append(f"model {job.label}: figures failed: {_one_line(exc)}")
    return figs


def describe_error(exc: NeurofacedisError) -> str:
    """One-line rendering used by the CLI."""
    return exc.one_line()
