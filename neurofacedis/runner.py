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
import math
import time
import traceback
import zlib
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis import __version__
from neurofacedis._inputs import check_input_path
from neurofacedis.errors import InputError, NeurofacedisError, PluginError, UnknownNameError
from neurofacedis.progress import Reporter
from neurofacedis.specs import MetricContext, label_columns

__all__ = [
    "analyze", "AnalysisResult", "FitJob", "split_stimuli", "load_image_source",
    "load_training_set", "training_source_kind", "TrainingSet", "load_responses",
]


# --------------------------------------------------------------------------------- data types


@dataclass
class FitJob:
    """One model fit: a model name, one parameter setting and one seed."""

    label: str
    name: str
    params: dict[str, Any]
    seed: int
    entry: Any = None  # registry entry, None for ad-hoc model objects
    model: Any = None
    plugin: str = ""
    distribution: str = ""
    plugin_version: str = ""
    latents: np.ndarray | None = None
    unit_names: list[str] = field(default_factory=list)
    active: np.ndarray | None = None
    cache: str = "off"
    cache_key: str = ""
    fit_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    selected: bool = True
    udr: float | None = None

    @property
    def job_id(self) -> str:
        """Unique id of this fit within a run, e.g. ``beta_vae[beta=4]/seed1``."""
        return f"{self.label}/seed{self.seed}"


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


def split_stimuli(
    n: int,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test split of stimulus indices.

    With ``groups`` (e.g. identities) whole groups are held out, so test faces are novel
    identities; otherwise single stimuli are. Both index arrays are sorted.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test fraction must be in (0, 1), got {test_fraction}", obj="split")
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(n)
        n_test = max(1, int(round(n * test_fraction)))
        test = np.sort(order[:n_test])
    else:
        groups = np.asarray(groups)
        uniq = np.unique(groups)
        order = rng.permutation(len(uniq))
        n_test = max(1, int(round(len(uniq) * test_fraction)))
        test = np.sort(np.flatnonzero(np.isin(groups, uniq[order[:n_test]])))
    train = np.setdiff1d(np.arange(n), test)
    if len(train) < 2 and groups is not None and len(uniq) < 2:
        known = len(uniq) and str(uniq[0]) not in ("", "-1")  # "" / -1: identity unknown
        raise InputError((f"only 1 identity among {n} stimuli" if known else
                          f"no identity labels for the {n} stimuli (import them with --labels)")
                         + ": --split-by identity holds out whole identities; use --split-by "
                         "stimulus", obj="split")
    if len(train) < 2:
        raise InputError(f"only {n} stimuli: too few to split into train and test", obj="split")
    return train, test


@dataclass
class TrainingSet:
    """Images to fit models on, with the annotations an NWB source carries.

    ``labels`` (the stimulus table: identity, factors, ...) and ``landmarks`` ((N, L, 2) x, y
    pixels, rescaled with the images) come only from an NWB recording; a folder or an .npy
    stack gives images alone, so models that need labels (classifier) or landmarks (AAM)
    cannot fit on it.
    """

    images: np.ndarray
    labels: Any = None
    landmarks: np.ndarray | None = None


def training_source_kind(path: str | Path) -> str:
    """Return how :func:`load_training_set` reads ``path``: ``"folder"``, ``"npy"`` or ``"nwb"``.

    ``"nwb"`` is an .nwb file or an NWB Zarr folder, the only kind with labels and landmarks.
    """
    path = Path(path)
    if path.is_dir() and path.suffix != ".zarr":
        return "folder"
    return "npy" if path.suffix == ".npy" else "nwb"


def load_training_set(path: str | Path, shape: tuple[int, ...] | None = None) -> TrainingSet:
    """Training images from a folder of PNG/JPEG, an .npy stack or an NWB recording.

    Images come back as float32 in [0, 1], resized (scikit-image) to ``shape`` (H, W[, 3])
    when given. From an NWB recording the stimulus table and the landmarks come too, so every
    model (the AAM and the classifier included) can be fitted on another session's stimuli.
    """
    path = Path(path)
    path = check_input_path(path, what="--train-images", folder="images")  # no FIFO, device
    kind = training_source_kind(path)
    if kind == "folder":
        from skimage import io

        files = sorted(
            p for p in path.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp"}
        )
        if not files:
            raise InputError("folder holds no PNG/JPEG images", file=path, obj="--train-images")
        images = []
        for p in files:
            check_input_path(p, what="--train-images")
            try:
                images.append(io.imread(str(p)))
            except Exception as exc:  # noqa: BLE001 - any decoder failure is bad input
                raise InputError(f"cannot read image ({type(exc).__name__})", file=p,
                                 obj="--train-images") from None
        return TrainingSet(_stack_images(images, shape, path))
    if kind == "npy":
        from neurofacedis.importers import _load_array  # checks the header, never unpickles

        arr = _load_array(path, what="images")
        return TrainingSet(_stack_images(list(arr), shape, path))
    from neurofacedis.nwb import Recording

    with Recording.open(path) as rec:
        raw = rec.load_images()
        labels = rec.stimuli.reset_index(drop=True)
        landmarks = rec.landmarks
    arr = _stack_images(list(raw), shape, path)
    if landmarks is not None and arr.shape[1:3] != raw.shape[1:3]:
        # pixel centres scale with the image: (p + 0.5) * new / old - 0.5, per axis (x, y)
        ratio = np.array([arr.shape[2] / raw.shape[2], arr.shape[1] / raw.shape[1]])
        landmarks = (np.asarray(landmarks, float) + 0.5) * ratio - 0.5
    return TrainingSet(arr, labels, landmarks)


def load_image_source(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Training images alone (see :func:`load_training_set`)."""
    return load_training_set(path, shape).images


def _stack_images(images: list[np.ndarray], shape: tuple[int, ...] | None,
                  path: Path) -> np.ndarray:
    from skimage.color import gray2rgb, rgb2gray, rgba2rgb
    from skimage.transform import resize
    from skimage.util import img_as_float32

    out = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.ndim == 3 and img.shape[-1] == 4:
            img = rgba2rgb(img)
        img = img_as_float32(img) if img.dtype.kind in "ui" else img.astype(np.float32)
        if img.ndim not in (2, 3):
            raise InputError(f"image {i} has shape {img.shape}", file=path, obj="--train-images")
        if shape is not None:
            want_rgb = len(shape) == 3
            if want_rgb and img.ndim == 2:
                img = gray2rgb(img)
            elif not want_rgb and img.ndim == 3:
                img = rgb2gray(img)
            if img.shape[:2] != tuple(shape[:2]):
                img = resize(img, shape[:2], anti_aliasing=True, preserve_range=True)
        out.append(img.astype(np.float32))
    shapes = {a.shape for a in out}
    if len(shapes) != 1:
        raise InputError(f"images of mixed sizes {sorted(shapes)[:3]}", file=path, obj="images")
    arr = np.clip(np.stack(out), 0.0, 1.0)
    if not np.isfinite(arr).all():
        raise InputError("images contain NaN or inf", file=path, obj="images")
    return arr


def _normalise_overrides(params: Any, registry: Any) -> dict[str, dict[str, list[Any]]]:
    """CLI strings (``["beta_vae.beta=1,2"]``) or a dict -> {target: {param: [values]}}."""
    if params is None:
        return {}
    if isinstance(params, Mapping):
        out: dict[str, dict[str, list[Any]]] = {}
        for target, values in params.items():
            out[target] = {
                k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in values.items()
            }
        return out
    from neurofacedis.registry import parse_param_args

    return parse_param_args(list(params), registry)


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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
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
        ``"udr"``: among seeds of the same model and parameters, mark the one with the best UDR
        (Duan et al. 2020) as selected (label-free model selection, as Higgins et al. 2021).
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
        raise InputError("at least one seed is needed", obj="--seeds")
    if not models:
        raise InputError("no model given", obj="--model")
    if select not in (None, "udr"):
        raise UnknownNameError(f"unknown selection {select!r}; available: udr", obj="--select")
    metric_names = list(metrics) if metrics is not None else sorted(registry.metrics)
    metric_entries = {m: registry.metric(m) for m in metric_names}  # raises on unknown
    for target in overrides:
        if target in metric_entries:
            for k, v in overrides[target].items():
                if len(v) != 1:
                    raise InputError(
                        "metric parameters take one value (sweeps are for models)",
                        obj=f"--param {target}.{k}",
                    )

    if workers is not None and scheduler is not None:
        raise InputError("give --workers or --scheduler, not both", obj="--workers")
    if follow_links and (workers is not None or scheduler is not None):  # workers reopen it
        raise InputError("runs locally only, not with --workers/--scheduler", obj="--follow-links")
    if workers is not None and int(workers) < 1:
        raise InputError(f"--workers must be >= 1, got {workers}", obj="--workers")
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
            stimuli, train, test = data.stimuli, data.train, data.test
            images, landmarks, factors = data.images, data.landmarks, data.factors
            fit_images, fit_labels = data.fit_images, data.fit_labels
            fit_landmarks = data.fit_landmarks
            train_source, train_hash, stim_ids = data.train_source, data.train_hash, data.stim_ids
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
                raise InputError(f"model given twice: {dupes[0]}", obj="--model")

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

            # ---- label-free selection (UDR) ------------------------------------------------
            selection: dict[str, Any] = {}
            if select == "udr":
                selection = _select_udr(ok_jobs, warnings)

            # ---- metrics --------------------------------------------------------------------
            remote_metrics: list[tuple[str, Any, dict[str, Any], FitJob, list[FitJob]]] = []
            by_group: dict[str, list[FitJob]] = {}
            for job in ok_jobs:
                by_group.setdefault(job.label, []).append(job)
            for metric_name, mentry in metric_entries.items():
                mparams = mentry.spec.defaults()
                for k, v in overrides.get(metric_name, {}).items():
                    if k not in mparams:
                        raise UnknownNameError(f"unknown parameter {k!r}",
                                               obj=f"metric {metric_name}")
                    mparams[k] = v[0]
                for job in ok_jobs:
                    siblings = [j for j in by_group[job.label] if j is not job]
                    reason = _unmet(mentry.spec.requires, rec=rec, job=job, siblings=siblings,
                                    n_models=len(by_group))
                    if reason:
                        skipped.append({"metric": metric_name, "model": job.label,
                                        "seed": job.seed, "reason": reason})
                        continue
                    if dask_run is not None and dask_run.has(job):
                        remote_metrics.append((metric_name, mentry, mparams, job, siblings))
                        continue
                    ctx = _context(job, rec=rec, responses=responses, train=train, test=test,
                                   images=images, factors=factors, stimuli=stimuli,
                                   siblings=siblings, stim_ids=stim_ids, metric=metric_name,
                                   split_seed=split_seed, mean=mean_responses)
                    try:
                        metric = mentry.spec.factory(**mparams)
                        with reporter.task(f"{metric_name} · {job.job_id}") as cb:
                            ctx.progress = cb
                            result = metric.compute(ctx)
                        result = check_metric_result(mentry, result)
                        results[(metric_name, job.label, job.seed)] = result
                        metric_objects[(metric_name, job.label, job.seed)] = metric
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:
                        msg = _one_line(exc)
                        errors.append({"kind": "metric", "name": metric_name, "model": job.label,
                                       "seed": job.seed, "plugin": mentry.plugin,
                                       "distribution": mentry.distribution,
                                       "version": str(mentry.version), "error": msg,
                                       "traceback": _tb(exc)})
                        reporter.log(f"metric {metric_name} on {job.job_id} failed:", msg,
                                     style="red")
            if remote_metrics:
                outcomes = dask_run.metrics(remote_metrics, reporter=reporter)
                for (metric_name, mentry, _, job, _), outcome in zip(
                        remote_metrics, outcomes, strict=True):
                    if outcome.error is None:
                        results[(metric_name, job.label, job.seed)] = outcome.result
                        metric_objects[(metric_name, job.label, job.seed)] = outcome.metric
                        continue
                    errors.append({"kind": "metric", "name": metric_name, "model": job.label,
                                   "seed": job.seed, "plugin": mentry.plugin,
                                   "distribution": mentry.distribution,
                                   "version": str(mentry.version), "error": outcome.error,
                                   "traceback": outcome.traceback})
                    reporter.log(f"metric {metric_name} on {job.job_id} failed:",
                                 outcome.error, style="red")
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
class _Inputs:
    """A run's data besides the responses: stimuli, images, the split and the fit images."""

    stimuli: Any
    train: np.ndarray
    test: np.ndarray
    images: np.ndarray
    landmarks: np.ndarray | None
    factors: Any
    fit_images: np.ndarray
    fit_labels: Any
    fit_landmarks: np.ndarray | None
    train_source: str
    train_hash: str
    annotations_hash: str
    stim_ids: list[str]


def _annotations_sha256(labels: Any, landmarks: np.ndarray | None) -> str:
    """sha256 of the fit labels and landmarks: a fit's cache key changes when they do."""
    import hashlib

    import pandas as pd

    from neurofacedis.cache import array_sha256

    h = hashlib.sha256()
    if labels is not None:
        h.update(str(list(labels.columns)).encode())
        h.update(pd.util.hash_pandas_object(labels.astype(str), index=False).to_numpy().tobytes())
    h.update(b"|" + (array_sha256(landmarks).encode() if landmarks is not None else b"none"))
    return h.hexdigest()


def _load_inputs(rec, *, train_images, split_by: str, test_fraction: float,
                 split_seed: int) -> _Inputs:
    """Read the stimuli and images and make the seeded split (also run by Dask workers)."""
    from neurofacedis.cache import array_sha256

    stimuli = rec.stimuli
    groups = None
    if split_by == "identity":
        groups = stimuli["identity"].astype(str).to_numpy()
    elif split_by != "stimulus":
        raise InputError(f"unknown split {split_by!r}; use stimulus or identity", obj="--split-by")
    train, test = split_stimuli(rec.n_stimuli, test_fraction=test_fraction, seed=split_seed,
                                groups=groups)
    images = rec.load_images()
    landmarks = rec.landmarks
    if train_images is not None:
        train_set = load_training_set(train_images, images.shape[1:])
        fit_images, fit_labels = train_set.images, train_set.labels
        fit_landmarks = train_set.landmarks
        train_source = str(train_images)
    else:
        fit_images = images[train]
        fit_labels = stimuli.iloc[train].reset_index(drop=True)
        fit_landmarks = landmarks[train] if landmarks is not None else None
        train_source = "recording training stimuli"
    return _Inputs(
        stimuli=stimuli, train=train, test=test, images=images, landmarks=landmarks,
        factors=rec.factors, fit_images=fit_images, fit_labels=fit_labels,
        fit_landmarks=fit_landmarks, train_source=train_source,
        train_hash=array_sha256(fit_images),
        annotations_hash=_annotations_sha256(fit_labels, fit_landmarks),
        stim_ids=[str(s) for s in stimuli["stimulus_id"]],
    )


def load_responses(rec: Any, *, chunk_bytes: int = 64 << 20) -> tuple[Any, Any]:
    """Read a recording's responses and their repeat mean, one copy of the matrix in memory.

    The responses are read once (chunked reads from NWB/Zarr into one array); the NaN-aware
    mean over repeats is computed a block of stimuli at a time, so it never makes the
    full-size temporaries that ``responses.mean("repeat", skipna=True)`` does (NaN-replaced
    copy + mask: 1.25x the matrix). Values equal that call's exactly; every metric context
    shares the mean (:attr:`MetricContext.repeat_mean`).

    Returns
    -------
    responses, mean
        DataArrays (stimulus, neuron, repeat) and (stimulus, neuron).
    """
    responses = rec.responses
    responses = responses.load() if hasattr(responses, "load") else responses
    return responses, repeat_mean(responses, chunk_bytes=chunk_bytes)


def repeat_mean(responses: Any, *, chunk_bytes: int = 64 << 20) -> Any:
    """NaN-aware mean over the ``repeat`` axis, computed in blocks of stimuli.

    Blocks hold at most ``chunk_bytes`` and 1/16 of the matrix, so the temporaries of each
    block's mean (NaN-replaced copy + mask) stay small next to the responses.
    """
    import xarray as xr

    if "repeat" not in responses.dims:
        return responses
    n = int(responses.sizes["stimulus"])
    per_stimulus = max(1, responses.nbytes // max(n, 1))
    block = min(chunk_bytes, max(responses.nbytes // 16, 1 << 20))  # temporaries <= 1/16
    step = max(1, int(block // per_stimulus))
    first = responses.isel(stimulus=slice(0, step)).mean("repeat", skipna=True)
    axis = first.get_axis_num("stimulus")
    shape = list(first.shape)
    shape[axis] = n
    out = np.empty(shape, dtype=first.dtype)
    where: list[Any] = [slice(None)] * len(shape)
    where[axis] = slice(0, first.sizes["stimulus"])
    out[tuple(where)] = first.values
    for start in range(step, n, step):
        block = responses.isel(stimulus=slice(start, start + step)).mean("repeat", skipna=True)
        where[axis] = slice(start, start + block.sizes["stimulus"])
        out[tuple(where)] = block.values
    coords = {k: v for k, v in responses.coords.items() if "repeat" not in v.dims}
    return xr.DataArray(out, dims=first.dims, coords=coords, name=first.name, attrs=first.attrs)


def _fit_and_encode(job: FitJob, *, cache, cache_key, train_hash, annotations_hash, fit_images,
                    fit_labels, fit_landmarks, images, landmarks, reporter,
                    check_latents) -> None:
    """Fit (or load from the cache) one job's model, then encode every stimulus."""
    if job.entry is not None:
        model = job.entry.spec.factory(**job.params)
        key = _fit_key(job, train_hash, annotations_hash, cache_key)
    else:
        model = job.extra.pop("factory")()
        key = ""
    job.model = model

    def fit() -> dict[str, Any]:
        import warnings

        t0 = time.time()
        with reporter.task(f"fit {job.job_id}") as cb, \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(fit_images, fit_labels, seed=job.seed, progress=cb, landmarks=fit_landmarks)
        extra = dict(getattr(model, "provenance_extra", None) or {})
        # what the fit warned about (e.g. FastICA not converging) goes to the summary's
        # warnings, once per fit, and stays with the cached fit; developer-facing deprecation
        # notices are dropped
        said = {(str(w.message).strip().splitlines() or [""])[0] for w in caught
                if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning,
                                               FutureWarning))}
        said.discard("")
        if said:
            extra["fit_warnings"] = sorted(said)
        return {"fit_seconds": time.time() - t0, "extra": _json_safe(extra)}

    def set_ckpt(path: Path) -> None:
        if hasattr(model, "checkpoint_dir"):
            model.checkpoint_dir = path

    if key:
        outcome = cache.get_or_fit(key, fit=fit, save=model.save, load=model.load,
                                   checkpoint_dir=set_ckpt)
        meta = outcome.meta
        job.cache, job.cache_key = outcome.status, key
    else:
        meta = fit()
        job.cache = "off"
    job.fit_seconds = float(meta.get("fit_seconds", 0.0))
    job.extra = dict(meta.get("extra", {}))
    with reporter.task(f"encode {job.job_id}", total=len(images)) as cb:
        z = model.encode(images, landmarks=landmarks)
        cb(len(images))
    names = list(getattr(model, "unit_names", []) or [])
    if job.entry is not None:
        z = check_latents(job.entry, z, n_images=len(images), unit_names=names)
    else:
        z = _check_adhoc_latents(job, z, len(images), names)
    job.latents = np.asarray(z, dtype=np.float64)
    job.unit_names = [str(u) for u in names]
    active = None
    if hasattr(model, "active_units"):
        active = np.asarray(model.active_units(), dtype=bool)
        if active.shape != (job.latents.shape[1],):
            raise PluginError(f"active_units() has shape {active.shape}, expected "
                              f"({job.latents.shape[1]},)", obj=f"model {job.name}")
    if active is None or not active.any():
        active = np.ones(job.latents.shape[1], dtype=bool)
    # units constant over stimuli carry nothing; they cannot be standardised
    active &= job.latents.std(axis=0) > 1e-12
    if not active.any():
        raise PluginError("every latent unit is constant over stimuli", obj=f"model {job.name}")
    job.active = active


def _fit_key(job: FitJob, train_hash: str, annotations_hash: str, cache_key) -> str:
    """Return the model-cache key of a registered model's fit (:mod:`neurofacedis.cache`)."""
    return cache_key({
        "model": job.name, "plugin": job.plugin, "distribution": job.distribution,
        "plugin_version": job.plugin_version, "spec_version": job.entry.spec.version,
        "params": job.params, "seed": job.seed, "train_sha256": train_hash,
        "annotations_sha256": annotations_hash,
    })


def _check_adhoc_latents(job: FitJob, z: Any, n: int, names: list[str]) -> np.ndarray:
    z = np.asarray(z)
    where = f"model {job.name}"
    if z.ndim != 2 or z.shape[0] != n:
        raise PluginError(f"encode() returned shape {z.shape}, expected ({n}, k)", obj=where)
    if not np.issubdtype(z.dtype, np.number) or not np.isfinite(z).all():
        raise PluginError("encode() returned non-finite or non-numeric values", obj=where)
    if len(names) != z.shape[1]:
        raise PluginError(f"{len(names)} unit_names for {z.shape[1]} units", obj=where)
    return z.astype(np.float64)


def _select_udr(jobs: list[FitJob], warnings: list[str]) -> dict[str, Any]:
    """Per model label, mark the seed with the best UDR against its siblings."""
    try:
        from nfd_disentanglement.udr import udr_scores
    except ImportError:
        raise UnknownNameError(
            "--select udr needs the nfd_disentanglement plugin: not installed "
            "(run make test / pip install -e .)", obj="--select"
        ) from None
    groups: dict[str, list[FitJob]] = {}
    for j in jobs:
        groups.setdefault(j.label, []).append(j)
    out: dict[str, Any] = {}
    for label, members in groups.items():
        if len(members) < 2:
            warnings.append(f"--select udr: {label} has one seed; nothing to select")
            continue
        scores = np.asarray(
            udr_scores([m.latents for m in members], [m.active for m in members]), dtype=float
        )
        best = int(np.nanargmax(scores))
        for m, s in zip(members, scores, strict=True):
            m.udr = float(s)
            m.selected = m is members[best]
        out[label] = {"selected_seed": members[best].seed,
                      "udr": {str(m.seed): float(s) for m, s in zip(members, scores, strict=True)}}
    return out


def _unmet(requires: frozenset[str], *, rec, job: FitJob, siblings: list[FitJob],
           n_models: int) -> str | None:
    """Why a metric cannot run on this job, or None."""
    from neurofacedis.specs import REQUIREMENTS

    for req in sorted(requires):
        if req == "repeats" and rec.n_repeats < 2:
            return f"needs {REQUIREMENTS[req]}; the recording has {rec.n_repeats}"
        if req == "decoder" and not callable(getattr(job.model, "decode", None)):
            return f"needs {REQUIREMENTS[req]}; model '{job.name}' cannot decode"
        if req == "factors" and rec.factors is None:
            return f"needs {REQUIREMENTS[req]}; the recording has none"
        if req == "seeds" and not siblings:
            return f"needs {REQUIREMENTS[req]}"
        if req == "landmarks" and rec.landmarks is None:
            return f"needs {REQUIREMENTS[req]}; the recording has none"
        if req == "labels":
            ident = rec.stimuli["identity"].astype(str)
            if ident.nunique() < 2:
                return f"needs {REQUIREMENTS[req]}"
        if req == "models" and n_models < 2:
            return f"needs {REQUIREMENTS[req]}"
        if req == "attributes" and rec.factors is None and not label_columns(rec.stimuli):
            return f"needs {REQUIREMENTS[req]}; the recording has neither"
        if req == "units":
            n_active = (int(np.sum(job.active)) if job.active is not None
                        else 0 if job.latents is None else int(job.latents.shape[1]))
            if n_active < 2:
                return f"needs {REQUIREMENTS[req]}; this fit has {n_active}"
    return None


def _context(job: FitJob, *, rec, responses, train, test, images, factors, stimuli, siblings,
             stim_ids, metric: str, split_seed: int, mean=None) -> MetricContext:
    import xarray as xr

    active = job.active
    names = [job.unit_names[i] for i in np.flatnonzero(active)]
    coords_stim = {"stimulus": responses.coords["stimulus"].values}
    all_lat = xr.DataArray(job.latents, dims=("stimulus", "unit"),
                           coords={**coords_stim, "unit": job.unit_names})
    lat = all_lat.isel(unit=np.flatnonzero(active))
    sib = []
    for s in siblings:
        sib.append(xr.DataArray(s.latents[:, s.active], dims=("stimulus", "unit"),
                                coords={**coords_stim,
                                        "unit": [s.unit_names[i]
                                                 for i in np.flatnonzero(s.active)]}))
    fac = None
    if factors is not None:
        fac = xr.DataArray(np.asarray(factors, dtype=float), dims=("stimulus", "factor"),
                           coords={**coords_stim, "factor": [str(c) for c in factors.columns]})
    seed_seq = [split_seed, job.seed, zlib.crc32(metric.encode()), zlib.crc32(job.label.encode())]
    del names
    return MetricContext(
        responses=responses, latents=lat, train=train, test=test, model_name=job.label,
        seed=job.seed, images=lambda: images, factors=fac, model=job.model, all_latents=all_lat,
        sibling_latents=sib, stimuli=stimuli, rng=np.random.default_rng(seed_seq),
        truth=rec.truth, repeat_mean=mean,
    )


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


def _tb(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]


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


def _fdr_across_models(per_seed: dict[str, Any]) -> None:
    """Add ``p_value_fdr`` beside every metric's ``p_value``.

    Benjamini-Hochberg over all models and seeds of that metric (e.g. RSA's permutation
    p-values; Nili et al. 2014).
    """
    from statsmodels.stats.multitest import multipletests

    for by_label in per_seed.values():
        cells = [(lab, i, p) for lab, stats in sorted(by_label.items())
                 for i, p in enumerate(stats.get("p_value", [])) if np.isfinite(p)]
        if not cells:
            continue
        _, q, _, _ = multipletests([p for _, _, p in cells], method="fdr_bh")
        for stats in by_label.values():
            stats["p_value_fdr"] = [float("nan")] * len(stats.get("p_value", []))
        for (lab, i, _), qi in zip(cells, q, strict=True):
            by_label[lab]["p_value_fdr"][i] = float(qi)


def welch(a: Any, b: Any) -> tuple[float, float]:
    """Two-sided Welch t-test of two samples' finite values: ``(t, p)``.

    ``(nan, nan)`` when either has fewer than 2 values or all values are equal. Near-identical
    samples (seeds that converge to the same fit) make scipy warn of precision loss; the
    p-value stands, so the warning is not passed on to the user.
    """
    import warnings

    from scipy.stats import ttest_ind

    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2 or np.ptp(np.concatenate([a, b])) == 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t, p = ttest_ind(a, b, equal_var=False)
    return float(t), float(p)


def _compare(per_seed: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Run pairwise two-sided Welch t-tests between models per metric statistic.

    BH-FDR corrected across the pairs of each statistic (as Higgins et al. 2021 compare model
    families).
    """
    from itertools import combinations

    from statsmodels.stats.multitest import multipletests

    out: dict[str, list[dict[str, Any]]] = {}
    for metric, by_label in per_seed.items():
        labels = sorted(by_label)
        stats = sorted({k for lab in labels for k in by_label[lab] if k != "seed"})
        rows: list[dict[str, Any]] = []
        for stat in stats:
            block = []
            for a, b in combinations(labels, 2):
                va = np.asarray(by_label[a].get(stat, []), dtype=float)
                vb = np.asarray(by_label[b].get(stat, []), dtype=float)
                va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
                t, p = welch(va, vb)
                if not np.isfinite(p):
                    continue
                block.append({"stat": stat, "a": a, "b": b, "n_a": len(va), "n_b": len(vb),
                              "mean_a": float(va.mean()), "mean_b": float(vb.mean()),
                              "t": float(t), "p": float(p)})
            if block:
                reject, p_fdr, _, _ = multipletests([r["p"] for r in block], method="fdr_bh")
                for r, q, rj in zip(block, p_fdr, reject, strict=True):
                    r["p_fdr"] = float(q)
                    r["significant"] = bool(rj)
                rows.extend(block)
        if rows:
            out[metric] = rows
    return out


def _latents_records(jobs: list[FitJob], *, train_hash: str) -> list[Any]:
    from neurofacedis.nwb import LatentsData

    records = []
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for job in jobs:
        if job.latents is None or job.error is not None:
            continue
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in job.label).strip("_")
        records.append(LatentsData(
            name=f"latents_{safe}_seed{job.seed}",
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
