"""Fit jobs: one model x parameter setting x seed, fitted (or loaded) and encoded.

:class:`FitJob` holds one fit's *request* (label, name, parameters, seed, registry entry,
plugin) and, once an executor ran it, its *outcome* (model, latents, active units, cache
status, timing, error) and the selection's verdict. :func:`build_jobs` turns the models,
parameter grids and seeds of a run into jobs; :func:`fit_and_encode` runs one job through the
model cache and :func:`metric_context` builds what a metric computes on. Both executors
(:mod:`neurofacedis.runner.local`, and the Dask workers of :mod:`neurofacedis.runner.dask`)
call these same functions, so both give identical results.
"""

from __future__ import annotations

import copy
import importlib
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis._util import json_safe, one_line
from neurofacedis.errors import InputError, PluginError, UnknownNameError
from neurofacedis.specs import MetricContext

__all__ = ["FitJob", "build_jobs", "job_label", "resolve_adhoc", "fit_and_encode", "fit_key",
           "check_adhoc_latents", "metric_context"]


@dataclass
class FitJob:
    """One model fit: a model name, one parameter setting and one seed.

    The first eight fields are the request; an executor fills the outcome (``model`` to
    ``error``); :mod:`neurofacedis.runner.select` sets ``selected``, ``score`` and ``udr``.
    """

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
    #: The selection metric's statistic for this fit (``analyze(select=...)``), or None.
    score: float | None = None
    udr: float | None = None  # the score when the selection metric is udr (summary.json)

    @property
    def job_id(self) -> str:
        """Unique id of this fit within a run, e.g. ``beta_vae[beta=4]/seed1``."""
        return f"{self.label}/seed{self.seed}"


def build_jobs(models: Sequence[Any], seeds: Sequence[int], overrides: dict[str, Any],
               registry: Any) -> list[FitJob]:
    """One job per model x parameter-grid point x seed, in that order.

    ``models`` holds registered model names or ad-hoc models (see :func:`resolve_adhoc`);
    ``overrides`` maps a model name to its parameter values (lists are swept as a grid).
    Raises :class:`~neurofacedis.errors.InputError` when two jobs would have the same id.
    """
    from neurofacedis.params import expand_grid

    jobs: list[FitJob] = []
    for m in models:
        if not (isinstance(m, str) and ":" not in m):
            name, factory = resolve_adhoc(m)
            jobs.extend(FitJob(label=name, name=name, params={}, seed=s, plugin="(ad hoc)",
                               extra={"factory": factory}) for s in seeds)
            continue
        entry = registry.model(m)
        varied = {k for k, v in overrides.get(m, {}).items() if len(v) > 1}
        for point in expand_grid(entry.spec, overrides.get(m, {})):
            label = job_label(m, point, entry.spec.defaults(), varied)
            jobs.extend(FitJob(label=label, name=m, params=dict(point), seed=s, entry=entry,
                               plugin=entry.plugin, distribution=entry.distribution,
                               plugin_version=str(entry.version)) for s in seeds)
    counts = Counter(job.job_id for job in jobs)
    dupes = [k for k, c in counts.items() if c > 1]
    if dupes:
        raise InputError(f"model given twice: {dupes[0]}", obj="models")
    return jobs


def job_label(name: str, params: dict[str, Any], defaults: dict[str, Any],
              varied: set[str]) -> str:
    """Return a model's label: its name and the parameters that differ from the defaults or vary."""
    shown = {k: v for k, v in params.items() if k in varied or defaults.get(k, object()) != v}
    if not shown:
        return name
    inner = ",".join(f"{k}={_fmt(v)}" for k, v in sorted(shown.items()))
    return f"{name}[{inner}]"


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def resolve_adhoc(model: Any) -> tuple[str, Any]:
    """Resolve a Model object, class/factory, or ``package.module:attr`` path -> (name, factory)."""
    if isinstance(model, str):
        module_name, _, attr = model.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise UnknownNameError(f"cannot import model: {one_line(exc)}", obj=model) from None
        model = obj
    if isinstance(model, type) or (callable(model) and not hasattr(model, "encode")):
        name = getattr(model, "name", None) or getattr(model, "__name__", "model")
        return str(name).lower(), model
    name = getattr(model, "name", None) or type(model).__name__
    return str(name).lower(), lambda: copy.deepcopy(model)


def fit_and_encode(job: FitJob, *, cache, cache_key, train_hash, annotations_hash, fit_images,
                    fit_labels, fit_landmarks, images, landmarks, reporter,
                    check_latents, fit_factors=None, factors=None) -> None:
    """Fit (or load from the cache) one job's model, then encode every stimulus.

    A model that requires ``factors`` gets the known factors of the images it sees as
    ``factors=`` in ``fit`` (``fit_factors``) and ``encode`` (``factors``), as landmarks.
    """
    needs = job.entry is not None and "factors" in job.entry.spec.requires
    fit_known = {"factors": fit_factors} if needs and fit_factors is not None else {}
    known = {"factors": factors} if needs and factors is not None else {}
    if job.entry is not None:
        model = job.entry.spec.factory(**job.params)
        key = fit_key(job, train_hash, annotations_hash, cache_key)
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
            model.fit(fit_images, fit_labels, seed=job.seed, progress=cb, landmarks=fit_landmarks,
                      **fit_known)
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
        return {"fit_seconds": time.time() - t0, "extra": json_safe(extra)}

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
        z = model.encode(images, landmarks=landmarks, **known)
        cb(len(images))
    names = list(getattr(model, "unit_names", []) or [])
    if job.entry is not None:
        z = check_latents(job.entry, z, n_images=len(images), unit_names=names)
    else:
        z = check_adhoc_latents(job, z, len(images), names)
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


def fit_key(job: FitJob, train_hash: str, annotations_hash: str, cache_key) -> str:
    """Return the model-cache key of a registered model's fit (:mod:`neurofacedis.cache`)."""
    return cache_key({
        "model": job.name, "plugin": job.plugin, "distribution": job.distribution,
        "plugin_version": job.plugin_version, "spec_version": job.entry.spec.version,
        "params": job.params, "seed": job.seed, "train_sha256": train_hash,
        "annotations_sha256": annotations_hash,
    })


def check_adhoc_latents(job: FitJob, z: Any, n: int, names: list[str]) -> np.ndarray:
    """Check an ad-hoc model's latents (registered ones go through the registry's check)."""
    z = np.asarray(z)
    where = f"model {job.name}"
    if z.ndim != 2 or z.shape[0] != n:
        raise PluginError(f"encode() returned shape {z.shape}, expected ({n}, k)", obj=where)
    if not np.issubdtype(z.dtype, np.number) or not np.isfinite(z).all():
        raise PluginError("encode() returned non-finite or non-numeric values", obj=where)
    if len(names) != z.shape[1]:
        raise PluginError(f"{len(names)} unit_names for {z.shape[1]} units", obj=where)
    return z.astype(np.float64)


def metric_context(job: FitJob, *, truth, responses, train, test, images, factors, stimuli,
                   siblings, metric: str, split_seed: int, mean=None,
                   landmarks=None, behaviour=None) -> MetricContext:
    """Build the context a metric computes on for one fit (same RNG seeding everywhere).

    The RNG is seeded from the split seed, the fit's seed, the metric's and the model label's
    CRC32, so the in-process and Dask executors give a metric the same draws.
    """
    import xarray as xr

    active = job.active
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
    return MetricContext(
        responses=responses, latents=lat, train=train, test=test, model_name=job.label,
        seed=job.seed, images=lambda: images, factors=fac, model=job.model, all_latents=all_lat,
        sibling_latents=sib, stimuli=stimuli, rng=np.random.default_rng(seed_seq),
        truth=truth, repeat_mean=mean, landmarks=landmarks, behaviour=behaviour,
    )
