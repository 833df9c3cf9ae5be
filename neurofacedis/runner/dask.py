"""The Dask executor: the runner's grid (models x parameters x seeds x metrics) as tasks.

:func:`neurofacedis.runner.analyze` with ``workers=N`` (a LocalCluster of N one-thread
processes on loopback, dashboard off) or ``scheduler="tcp://HOST:PORT"`` (a running cluster)
runs through :class:`DaskExecutor`; without either, through
:class:`~neurofacedis.runner.local.LocalExecutor`. Both follow
:class:`~neurofacedis.runner.executor.Executor`; ad-hoc model objects (which cannot travel)
and their metrics run on the local executor.

Two kinds of task, both pure and idempotent, so the tasks of a lost worker simply rerun
(Dask reschedules them; infrastructure errors also get ``retries``):

- **fit** (one per model x parameters x seed): the worker opens the recording itself, by path,
  makes the same seeded split, fits the model through the shared :class:`~neurofacedis.cache.
  ModelCache` (file lock + atomic entries, so a rerun or a concurrent run fits once) and writes
  the latents beside the cached model (``latents/<images sha256>.safetensors``). Only a small
  dict of paths goes back through the scheduler; the client reads the latents and loads the
  fitted model from the cache folder.
- **metric** (one per metric x fit): the worker reads the responses (once per worker process),
  rebuilds the job from the cache, builds the same :class:`~neurofacedis.specs.MetricContext`
  as the in-process runner (same RNG seeding) and returns the metric's ``xarray.Dataset``.

The recording and the cache folder must be visible to every worker at the same path (a shared
filesystem on a real cluster; see docs/scale.md). Plugin errors are returned, not raised, and
recorded like in-process ones; progress bars stay on the client.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis._util import one_line as _one_line
from neurofacedis._util import safe_name
from neurofacedis._util import traceback_tail as _tb
from neurofacedis.errors import InputError
from neurofacedis.runner.executor import FitOutcome, MetricOutcome, MetricTask
from neurofacedis.runner.inputs import RunInputs, load_inputs, load_responses, open_recording
from neurofacedis.runner.jobs import FitJob, fit_and_encode, fit_key, metric_context

if TYPE_CHECKING:
    from distributed import Client

    from neurofacedis.cache import ModelCache
    from neurofacedis.runner.local import LocalExecutor

__all__ = [
    "open_client", "run_on", "dask_executor", "DaskExecutor", "DaskRun", "WorkerRun",
    "MetricOutcome", "RETRIES", "LOCAL_CLUSTER_CONFIG", "read_latents", "write_latents",
]

#: Extra attempts for a task that raised an infrastructure error (lost workers are rerun by
#: the scheduler regardless, up to ``distributed.scheduler.allowed-failures``).
RETRIES = 2

#: Dask settings of the LocalCluster that ``workers=N`` starts. No dashboard, so nobody reads
#: the workers' statistical profiles: the 10 ms stack sampler is off (it takes the GIL from
#: the fitting thread). glibc's default heap trimming instead of Dask's
#: ``MALLOC_TRIM_THRESHOLD_=65536``, which made β-VAE fits ~1.6x slower here (every
#: training step gives pages back and faults them in again).
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


# ------------------------------------------------------------------------------------ client


@contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """Connect to ``scheduler``, or start a LocalCluster of ``workers`` processes, and close it.

    The LocalCluster listens on 127.0.0.1 only, runs one thread per worker process (so N
    workers use N cores without oversubscribing BLAS/torch), has no dashboard and uses
    :data:`LOCAL_CLUSTER_CONFIG`; this process's environment is left as it was.
    """
    if (workers is None) == (scheduler is None):
        raise InputError("give exactly one of workers or scheduler", obj="workers")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("Dask execution needs dask.distributed: pip install "
                         "'neurofacedis[dask]'", obj="workers") from None
    cluster = None
    if scheduler is not None:
        try:
            client = Client(str(scheduler), timeout=30, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot connect to the Dask scheduler: {_one_line(exc)}",
                             obj=f"scheduler {scheduler}") from None
    else:
        n = int(workers)  # type: ignore[arg-type]
        if n < 1:
            raise InputError(f"`workers` must be >= 1, got {n}", obj="workers")
        import dask

        environ = dict(os.environ)  # the Nanny writes its pre-spawn variables into ours
        try:
            with dask.config.set(LOCAL_CLUSTER_CONFIG):
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
        finally:
            os.environ.clear()
            os.environ.update(environ)
        try:
            client = Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------ run on a client


@dataclass(frozen=True)
class WorkerRun:
    """What a worker needs to rebuild a run's inputs by itself: plain, small data."""

    recording: str
    window: tuple[float, float] | None
    train_images: str | None
    split_by: str
    test_fraction: float
    split_seed: int
    cache_root: str
    stamp: tuple[int, int]  # (size, mtime_ns) of the recording: a changed file is reread
    recordings: tuple[str, ...] = ()  # several: pooled (``match``); empty: ``recording``
    options: tuple[tuple[str, Any], ...] = ()  # Recording.open keywords (units, min_rate...)
    match: str = "intersect"

    def open(self) -> Any:
        """Open the run's recording (pooled when several) as the client did."""
        return open_recording(self.recordings or (self.recording,), match=self.match,
                              window=self.window, **dict(self.options))


class DaskExecutor:
    """Fits and metrics as Dask tasks (:class:`~neurofacedis.runner.executor.Executor`).

    Jobs of registered models are fitted on the cluster, and so are their metrics; ad-hoc
    model objects (and their metrics) run on ``local``. Outcomes come back in job (task)
    order, as the local executor gives them.
    """

    def __init__(self, client: Client, spec: WorkerRun, *, fresh: bool,
                 local: LocalExecutor) -> None:
        self.client = client
        self.spec = spec
        self.fresh = fresh  # use_cache=False: a run-scoped cache folder, reported as "off"
        self.local = local
        self.reporter = local.reporter
        self._refs: dict[str, dict[str, Any]] = {}

    def has(self, job: FitJob) -> bool:
        """Whether ``job`` was fitted on the cluster (its metrics then run there too)."""
        return job.job_id in self._refs

    def fit(self, jobs: Sequence[FitJob]) -> list[FitOutcome]:
        """Fit registered models' jobs as tasks, the others locally.

        Each remote job is filled from the cache folder; a failure sets ``job.error``, is
        logged and returned.
        """
        remote = [j for j in jobs if j.entry is not None]
        done = {id(o.job): o for o in self.local.fit([j for j in jobs if j.entry is None])}
        if remote:
            for outcome in self._fit_remote(remote):
                done[id(outcome.job)] = outcome
                if not outcome.ok:
                    self.reporter.log(f"model {outcome.job.job_id} failed:", outcome.error,
                                      style="red")
        return [done[id(j)] for j in jobs]

    def _fit_remote(self, jobs: Sequence[FitJob]) -> list[FitOutcome]:
        from dask.base import tokenize
        from distributed import as_completed

        futures = {}
        for job in jobs:
            ref = {"label": job.label, "name": job.name, "params": job.params,
                   "seed": int(job.seed), "plugin_version": job.plugin_version}
            key = f"nfd-fit-{safe_name(job.job_id)[:80]}-{tokenize(self.spec, ref)}"
            fut = self.client.submit(_fit_task, self.spec, ref, key=key, retries=RETRIES)
            futures[fut] = job
        outcomes: dict[str, dict[str, Any]] = {}
        with self.reporter.task(f"fit {len(jobs)} model(s) on Dask", total=len(jobs)) as cb:
            for fut in as_completed(list(futures), loop=self.client.loop):
                job = futures[fut]
                try:
                    outcomes[job.job_id] = fut.result()
                except Exception as exc:  # task failed past its retries, or a KilledWorker
                    outcomes[job.job_id] = {"ok": False, "error": _one_line(exc),
                                            "traceback": _tb(exc)}
                cb(1)
        result = []
        for job in jobs:  # job order, as the in-process runner reports
            out = outcomes[job.job_id]
            if out["ok"]:
                try:
                    self._fill(job, out)
                    result.append(FitOutcome(job))
                    continue
                except Exception as exc:
                    out = {"ok": False, "error": _one_line(exc), "traceback": _tb(exc)}
            job.error = out["error"]
            result.append(FitOutcome(job, out["error"], out["traceback"]))
        return result

    def _fill(self, job: FitJob, out: dict[str, Any]) -> None:
        job.cache = "off" if self.fresh else out["cache"]
        job.cache_key = out["key"]
        job.fit_seconds = float(out["fit_seconds"])
        job.extra = dict(out["extra"])
        job.latents, job.active, job.unit_names = read_latents(Path(out["latents"]))
        model = job.entry.spec.factory(**job.params)
        model.load(Path(out["entry"]))
        job.model = model
        self._refs[job.job_id] = {
            "label": job.label, "name": job.name, "params": job.params, "seed": int(job.seed),
            "entry": out["entry"], "latents": out["latents"],
        }

    def metrics(self, tasks: Sequence[MetricTask]) -> list[MetricOutcome]:
        """Compute the tasks on fits made on the cluster there, the others locally."""
        remote = [i for i, t in enumerate(tasks) if self.has(t.job)]
        local = [i for i, t in enumerate(tasks) if not self.has(t.job)]
        done = dict(zip(local, self.local.metrics([tasks[i] for i in local]), strict=True))
        if remote:
            outs = self._metrics_remote([tasks[i] for i in remote])
            done.update(zip(remote, outs, strict=True))
        return [done[i] for i in range(len(tasks))]

    def _metrics_remote(self, tasks: Sequence[MetricTask]) -> list[MetricOutcome]:
        from dask.base import tokenize
        from distributed import as_completed

        futures = {}
        for i, task in enumerate(tasks):
            ref = self._refs[task.job.job_id]
            sibs = [self._refs[s.job_id] for s in task.siblings]
            token = tokenize(self.spec, ref, sibs, task.params)
            key = (f"nfd-metric-{safe_name(task.name)[:80]}-"
                   f"{safe_name(task.job.job_id)[:80]}-{token}")
            fut = self.client.submit(_metric_task, self.spec, task.name, task.params, ref, sibs,
                                     key=key, retries=RETRIES)
            futures[fut] = i
        raw: dict[int, dict[str, Any]] = {}
        with self.reporter.task(f"{len(tasks)} metric computation(s) on Dask",
                                total=len(tasks)) as cb:
            for fut in as_completed(list(futures), loop=self.client.loop):
                try:
                    raw[futures[fut]] = fut.result()
                except Exception as exc:
                    raw[futures[fut]] = {"ok": False, "error": _one_line(exc),
                                         "traceback": _tb(exc)}
                cb(1)
        outcomes = []
        for i, task in enumerate(tasks):
            out = raw[i]
            if not out["ok"]:
                self.reporter.log(f"metric {task.name} on {task.job.job_id} failed:",
                                  out["error"], style="red")
                outcomes.append(MetricOutcome(error=out["error"], traceback=out["traceback"]))
                continue
            try:  # a fresh object draws the figures from the result, as after compute()
                metric = task.entry.spec.factory(**task.params)
            except Exception:
                metric = None
            outcomes.append(MetricOutcome(result=out["result"], metric=metric))
        return outcomes


#: The name this class had in :mod:`neurofacedis.parallel` (kept for one release).
DaskRun = DaskExecutor


@contextmanager
def run_on(
    client: Client,
    *,
    recording: str | Path,
    window: tuple[float, float] | None,
    train_images: str | Path | None,
    split_by: str,
    test_fraction: float,
    split_seed: int,
    cache: ModelCache,
    local: LocalExecutor,
    recordings: Sequence[str | Path] = (),
    options: dict[str, Any] | None = None,
    match: str = "intersect",
) -> Iterator[DaskExecutor]:
    """Prepare a :class:`DaskExecutor`: absolute paths, a cache root the workers can see.

    ``local`` runs what cannot travel (ad-hoc model objects). Workers open ``recordings``
    (several: pooled with ``match``; none: ``recording``) with :meth:`Recording.open`'s
    keywords ``options`` (units, min_rate, stimuli, presentations) and ``window``.

    With the cache disabled, fits still travel through a run-scoped folder under the cache
    root (removed at the end), since that folder is how workers hand models back.
    """
    path = Path(recording).resolve()
    root = Path(cache.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    fresh = not cache.enabled
    run_root = root / "runs" / uuid.uuid4().hex if fresh else root
    run_root.mkdir(parents=True, exist_ok=True)
    files = [Path(p).resolve() for p in recordings] or [path]
    stamps = [(p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (0, _tree_mtime(p))
              for p in files]
    spec = WorkerRun(
        recording=str(path),
        window=None if window is None else (float(window[0]), float(window[1])),
        train_images=None if train_images is None else str(Path(train_images).resolve()),
        split_by=split_by, test_fraction=float(test_fraction), split_seed=int(split_seed),
        cache_root=str(run_root),
        stamp=(sum(a for a, _ in stamps), max(b for _, b in stamps)),
        recordings=tuple(str(p) for p in files) if len(files) > 1 else (),
        options=tuple(sorted((options or {}).items())), match=match,
    )
    try:
        _check_workers_see(client, [*map(str, files), spec.cache_root]
                           + ([spec.train_images] if spec.train_images else []))
        yield DaskExecutor(client, spec, fresh=fresh, local=local)
    finally:
        if fresh:
            shutil.rmtree(run_root, ignore_errors=True)


@contextmanager
def dask_executor(local: LocalExecutor, *, workers: int | None, scheduler: str | None,
                  recording: str | Path, window: tuple[float, float] | None,
                  train_images: str | Path | None, split_by: str, test_fraction: float,
                  split_seed: int, cache: ModelCache, recordings: Sequence[str | Path] = (),
                  options: dict[str, Any] | None = None,
                  match: str = "intersect") -> Iterator[DaskExecutor]:
    """:func:`open_client` and :func:`run_on` in one: the executor of one run, then closed."""
    with open_client(workers=workers, scheduler=scheduler) as client, \
            run_on(client, recording=recording, window=window, train_images=train_images,
                   split_by=split_by, test_fraction=test_fraction, split_seed=split_seed,
                   cache=cache, local=local, recordings=recordings, options=options,
                   match=match) as executor:
        yield executor


def _check_workers_see(client: Client, paths: list[str]) -> None:
    seen = client.run(_missing_paths, paths)
    if not seen:
        raise InputError("the Dask cluster has no workers", obj="scheduler")
    for worker, missing in seen.items():
        if missing:
            raise InputError(f"worker {worker} cannot see {missing[0]}: put the recording and "
                             "the cache folder on a filesystem every worker mounts at the same "
                             "path (`cache_dir`)", obj="scheduler")


def _missing_paths(paths: list[str]) -> list[str]:
    return [p for p in paths if not os.path.exists(p)]


def _tree_mtime(path: Path) -> int:
    return max((p.stat().st_mtime_ns for p in path.rglob("*")), default=0)


# ------------------------------------------------------------------------- latents in the cache


def write_latents(path: Path, latents: np.ndarray, active: np.ndarray,
                  unit_names: Sequence[str]) -> None:
    """Write a fit's latents (safetensors, float64) atomically: temp file + rename."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:8]}-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({"latents": np.ascontiguousarray(latents, dtype=np.float64),
                   "active": np.ascontiguousarray(active, dtype=np.uint8)}, tmp,
                  metadata={"unit_names": json.dumps([str(u) for u in unit_names])})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_latents(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read what :func:`write_latents` wrote: (latents, active mask, unit names)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        names = json.loads((f.metadata() or {})["unit_names"])
        return f.get_tensor("latents"), f.get_tensor("active").astype(bool), names


# ------------------------------------------------------------------------------ worker side

#: Per worker process: the last run's inputs and a few fitted models (a memo; tasks stay pure).
_MEMO: dict[str, Any] = {}
_MODELS: OrderedDict[str, Any] = OrderedDict()


@dataclass
class _WorkerInputs:
    spec: WorkerRun
    data: RunInputs
    truth: Any
    encode_hash: str
    responses: Any = None
    mean: Any = None


def _worker_inputs(spec: WorkerRun, *, responses: bool) -> _WorkerInputs:
    from neurofacedis.cache import array_sha256

    cur = _MEMO.get("inputs")
    if cur is None or cur.spec != spec:
        _MEMO.clear()
        _MODELS.clear()
        with spec.open() as rec:
            data = load_inputs(rec, train_images=spec.train_images, split_by=spec.split_by,
                                test_fraction=spec.test_fraction, split_seed=spec.split_seed)
            truth = rec.truth
        h = array_sha256(data.images)
        if data.landmarks is not None:
            h = array_sha256(np.frombuffer((h + array_sha256(data.landmarks)).encode(), np.uint8))
        cur = _WorkerInputs(spec=spec, data=data, truth=truth, encode_hash=h)
        _MEMO["inputs"] = cur
    if responses and cur.responses is None:
        with spec.open() as rec:
            cur.responses, cur.mean = load_responses(rec)
    return cur


def _fit_task(spec: WorkerRun, ref: dict[str, Any]) -> dict[str, Any]:
    """Fit (or find in the cache) one model and store its latents beside it."""
    from neurofacedis.cache import ModelCache, cache_key
    from neurofacedis.progress import Reporter
    from neurofacedis.registry import check_latents, get_registry

    inputs = _worker_inputs(spec, responses=False)
    data = inputs.data
    try:
        entry = get_registry().model(ref["name"])
        if str(entry.version) != ref["plugin_version"]:
            raise InputError(f"this worker has version {entry.version} of the plugin, the "
                             f"client {ref['plugin_version']}: install the same on every "
                             "worker", obj=f"model {ref['name']}")
        job = FitJob(label=ref["label"], name=ref["name"], params=dict(ref["params"]),
                     seed=int(ref["seed"]), entry=entry, plugin=entry.plugin,
                     distribution=entry.distribution, plugin_version=str(entry.version))
        cache = ModelCache(spec.cache_root)
        key = fit_key(job, data.train_hash, data.annotations_hash, cache_key)
        entry_dir = cache.entry_dir(key)
        lat_file = entry_dir / "latents" / f"{inputs.encode_hash}.safetensors"
        meta_file = entry_dir / "meta.json"
        if meta_file.is_file() and lat_file.is_file():  # fitted and encoded before
            meta = json.loads(meta_file.read_text())
            return {"ok": True, "cache": "hit", "key": key, "entry": str(entry_dir),
                    "latents": str(lat_file), "fit_seconds": float(meta.get("fit_seconds", 0)),
                    "extra": dict(meta.get("extra", {}))}
        fit_and_encode(job, cache=cache, cache_key=cache_key, train_hash=data.train_hash,
                        annotations_hash=data.annotations_hash, fit_images=data.fit_images,
                        fit_labels=data.fit_labels,
                        fit_landmarks=data.fit_landmarks, images=data.images,
                        landmarks=data.landmarks, reporter=Reporter(quiet=True),
                        check_latents=check_latents,
                        fit_factors=data.fit_factors, factors=data.factors)
    except Exception as exc:  # a broken plugin: reported, not retried
        return {"ok": False, "error": _one_line(exc), "traceback": _tb(exc)}
    write_latents(lat_file, job.latents, job.active, job.unit_names)
    _remember_model(str(entry_dir), job.model)
    return {"ok": True, "cache": job.cache, "key": key, "entry": str(entry_dir),
            "latents": str(lat_file), "fit_seconds": job.fit_seconds, "extra": job.extra}


def _remember_model(entry_dir: str, model: Any) -> None:
    _MODELS[entry_dir] = model
    _MODELS.move_to_end(entry_dir)
    while len(_MODELS) > 4:
        _MODELS.popitem(last=False)


def _job_from_ref(ref: dict[str, Any], *, registry: Any, with_model: bool) -> FitJob:
    entry = registry.model(ref["name"])
    latents, active, names = read_latents(Path(ref["latents"]))
    job = FitJob(label=ref["label"], name=ref["name"], params=dict(ref["params"]),
                 seed=int(ref["seed"]), entry=entry, plugin=entry.plugin,
                 distribution=entry.distribution, plugin_version=str(entry.version),
                 latents=latents, unit_names=names, active=active)
    if with_model:
        model = _MODELS.get(ref["entry"])
        if model is None:
            model = entry.spec.factory(**job.params)
            model.load(Path(ref["entry"]))
        _remember_model(ref["entry"], model)
        job.model = model
    return job


def _metric_task(spec: WorkerRun, name: str, params: dict[str, Any], ref: dict[str, Any],
                 sibling_refs: list[dict[str, Any]]) -> dict[str, Any]:
    """Compute one metric on one fit, exactly as the in-process runner does."""
    from neurofacedis.registry import check_metric_result, get_registry

    inputs = _worker_inputs(spec, responses=True)
    data = inputs.data
    try:
        registry = get_registry()
        mentry = registry.metric(name)
        job = _job_from_ref(ref, registry=registry, with_model=True)
        siblings = [_job_from_ref(r, registry=registry, with_model=False) for r in sibling_refs]
        ctx = metric_context(job, truth=inputs.truth, responses=inputs.responses,
                             train=data.train, test=data.test, images=data.images,
                             factors=data.factors, stimuli=data.stimuli, siblings=siblings,
                             metric=name, split_seed=spec.split_seed, mean=inputs.mean,
                             landmarks=data.landmarks)
        result = mentry.spec.factory(**params).compute(ctx)
        result = check_metric_result(mentry, result)
    except Exception as exc:
        return {"ok": False, "error": _one_line(exc), "traceback": _tb(exc)}
    return {"ok": True, "result": result}
