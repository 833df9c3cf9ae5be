"""What a run reports: error records, skipped metrics, summary.json and the latents records.

:class:`RunRecords` collects a run's results, errors, skips and warnings as the pipeline
goes; every error record (a model that failed to fit, a metric that raised, a model the data
cannot serve) is made by :func:`error_record`, in one shape. :func:`summarise` builds
summary.json's content (documented in docs/outputs.md) and :func:`latents_records` the
ModelLatents written to analysis.nwb.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis import __version__
from neurofacedis._util import json_safe, safe_name
from neurofacedis.runner.inputs import PooledView, RunInputs, recording_files, unit_selection
from neurofacedis.runner.jobs import FitJob
from neurofacedis.runner.verdict import verdict
from neurofacedis.stats import fdr_across_models, pairwise_welch

__all__ = ["RunRecords", "error_record", "collapse_skipped", "headline_stats", "summarise",
           "latents_records"]


def error_record(kind: str, *, name: str, model: str, seed: int, plugin: str,
                 distribution: str, version: str, error: str,
                 traceback: str = "") -> dict[str, Any]:
    """One entry of summary.json's ``errors`` (the traceback stays out of the file)."""
    return {"kind": kind, "name": name, "model": model, "seed": seed, "plugin": plugin,
            "distribution": distribution, "version": version, "error": error,
            "traceback": traceback}


@dataclass
class RunRecords:
    """A run's metric results (and metric objects, for figures), errors, skips and warnings.

    Results and objects are keyed ``(metric, model label, seed)``.
    """

    warnings: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    results: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    objects: dict[tuple[str, str, int], Any] = field(default_factory=dict)

    def model_failed(self, job: FitJob, error: str, traceback: str = "") -> None:
        """Record that ``job``'s model could not be fitted or encoded."""
        self.errors.append(error_record(
            "model", name=job.name, model=job.label, seed=job.seed, plugin=job.plugin,
            distribution=job.distribution, version=job.plugin_version, error=error,
            traceback=traceback))

    def metric_failed(self, name: str, entry: Any, job: FitJob, error: str,
                      traceback: str = "") -> None:
        """Record that metric ``name`` (registry ``entry``) failed on ``job``."""
        self.errors.append(error_record(
            "metric", name=name, model=job.label, seed=job.seed, plugin=entry.plugin,
            distribution=entry.distribution, version=str(entry.version), error=error,
            traceback=traceback))


def collapse_skipped(skipped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (metric, model label, reason), with the seeds it holds for."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for s in skipped:
        key = (s["metric"], s["model"], s["reason"])
        if key in seen:
            seen[key]["seeds"].append(s["seed"])
        else:
            seen[key] = {"metric": s["metric"], "model": s["model"], "seeds": [s["seed"]],
                         "reason": s["reason"]}
    return list(seen.values())


def headline_stats(result: Any) -> dict[str, float]:
    """Return a metric result's numeric attrs (its headline statistics) as floats."""
    out = {}
    for k, v in result.attrs.items():
        if isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
            out[k] = float(v)
    return out


def _models_table(jobs: list[FitJob]) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for job in jobs:
        m = models.setdefault(job.label, {
            "model": job.name, "plugin": job.plugin, "distribution": job.distribution,
            "plugin_version": job.plugin_version, "params": json_safe(job.params), "fits": [],
        })
        m["fits"].append(json_safe({
            "seed": job.seed, "cache": job.cache, "cache_key": job.cache_key,
            "n_units": None if job.latents is None else int(job.latents.shape[1]),
            "n_active": None if job.active is None else int(job.active.sum()),
            "fit_seconds": round(job.fit_seconds, 3), "extra": job.extra, "error": job.error,
            "udr": job.udr, "selected": job.selected,
        }))
    return models


def _target(behaviour: Any, recording_path: Path) -> dict[str, Any]:
    """Say what the metrics were computed against: neurons, or human behaviour besides.

    Behaviour read from a file of its own names that file's sha256 too (provenance).
    """
    if behaviour is None:
        return {"kind": "neurons"}
    b = behaviour
    own = {}
    if b.source and Path(b.source).resolve() != Path(recording_path).resolve():
        from neurofacedis.nwb._write import file_sha256

        own = {"sha256": file_sha256(Path(b.source))}
    return {"kind": "behaviour", "source": str(b.source), **own, "n_stimuli": b.n_stimuli,
            "n_subjects": len(b.subjects), "n_trials": int(len(b.trials)),
            "choices": list(b.choice_labels), "has_targets": b.targets is not None,
            "has_ratings": b.mean_rating is not None, "has_rdms": b.rdms is not None}


def _per_seed(results: dict[tuple[str, str, int], Any]) -> dict[str, Any]:
    """Map metric -> label -> {"seed": [...], STAT: [...]}, FDR-adjusted across models."""
    per_seed: dict[str, dict[str, dict[str, list[float]]]] = {}
    for (metric, label, seed), res in sorted(results.items(), key=lambda kv: kv[0]):
        slot = per_seed.setdefault(metric, {}).setdefault(label, {})
        slot.setdefault("seed", []).append(seed)
        for k, v in headline_stats(res).items():
            slot.setdefault(k, []).append(v)
    fdr_across_models(per_seed)
    return per_seed


def _mean_sd(per_seed: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
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
    return means, sds


def _selected(selection: dict[str, Any], per_seed: dict[str, Any]) -> dict[str, Any]:
    """Each selected seed with its metrics."""
    selected: dict[str, Any] = {}
    for label, info in selection.items():
        seed = info["selected_seed"]
        selected[label] = {**info, "metrics": {
            metric: {k: v[by[label]["seed"].index(seed)]
                     for k, v in by[label].items() if k != "seed"}
            for metric, by in per_seed.items() if label in by and seed in by[label]["seed"]}}
    return selected


def summarise(*, rec: Any, recording_path: Path, jobs: list[FitJob], records: RunRecords,
              metric_params: dict[str, Any], selection: dict[str, Any], data: RunInputs,
              split: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """Build summary.json's content (documented in docs/outputs.md).

    ``split`` is ``{"by", "seed", "test_fraction"}``; ``metric_params`` each metric's
    parameters as run. The records' ``skipped`` are expected collapsed already.
    """
    per_seed = _per_seed(records.results)
    means, sds = _mean_sd(per_seed)
    comparisons = pairwise_welch(per_seed)
    return json_safe({
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
            "files": recording_files(rec),  # every file read, with its sha256
            "unit_selection": unit_selection(rec),  # pooled: one per session identifier
            **({"stimuli_match": rec.match} if isinstance(rec, PooledView) else {}),
        },
        "target": _target(data.behaviour, recording_path),
        "split": {**split, "n_train": len(data.train), "n_test": len(data.test)},
        "training_images": {"source": data.train_source, "sha256": data.train_hash},
        "models": _models_table(jobs),
        "metrics": means,
        "metrics_sd": sds,
        "per_seed": per_seed,
        "comparisons": comparisons,
        "verdict": verdict(per_seed, comparisons),  # the report's opening table
        "selection": _selected(selection, per_seed),
        "metric_params": metric_params,
        "skipped": records.skipped,
        "errors": [{k: v for k, v in e.items() if k != "traceback"} for e in records.errors],
        "warnings": records.warnings,
    })


def latents_records(jobs: list[FitJob], *, train_hash: str, rec: Any = None) -> list[Any]:
    """Return the ModelLatents of every fitted job, with provenance, for analysis.nwb.

    With ``rec``, the provenance's ``extra`` holds its ``unit_selection`` and
    ``recording_files`` (every file read, with its sha256: a pooled run names each).
    """
    from neurofacedis.nwb import LatentsData

    records = []
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    extra = {} if rec is None else {"unit_selection": json_safe(unit_selection(rec)),
                                    "recording_files": recording_files(rec)}
    for job in jobs:
        if job.latents is None or job.error is not None:
            continue
        records.append(LatentsData(
            name=f"latents_{safe_name(job.label)}_seed{job.seed}",
            data=job.latents.astype(np.float32),
            unit_names=list(job.unit_names),
            provenance={
                "model": job.name, "plugin": job.plugin, "plugin_version": job.plugin_version,
                "parameters": json.dumps(json_safe(job.params), sort_keys=True),
                "seed": int(job.seed), "training_images_sha256": train_hash,
                "package_version": __version__, "created": created, **extra,
            },
        ))
    return records
