"""Model selection (``analyze(select="METRIC[:STAT]")``): the best seed per model label.

The selection metric is computed on every fit like any other metric (label-free ``udr`` is
how Higgins et al. 2021 chose their β-VAE seeds); :func:`select_seeds` then marks, among the
seeds of each model label, the one with the highest statistic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurofacedis.errors import UnknownNameError
from neurofacedis.runner.jobs import FitJob

__all__ = ["parse_select", "select_seeds"]


def parse_select(select: str | None, metric_entries: dict[str, Any], registry: Any
                 ) -> tuple[str, str] | None:
    """``"METRIC[:STAT]"`` -> (metric, statistic); STAT defaults to the metric's name.

    The metric's registry entry is added to ``metric_entries`` when the run did not ask for it.
    """
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


def select_seeds(jobs: list[FitJob], scores: dict[str, float], metric: str, stat: str,
                 warnings: list[str]) -> dict[str, Any]:
    """Per model label, mark the seed with the highest ``stat`` of ``metric`` as selected.

    ``scores`` maps job ids to the statistic (NaN or absent: not comparable). Ties keep the
    first seed; a label with one seed has nothing to select (a warning says so). Returns
    summary.json's ``selection`` per label (before the selected seed's metrics are added).
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
