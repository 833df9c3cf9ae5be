"""The verdict of a run: per headline metric, the best model, its value and what it is worth.

:func:`verdict` builds summary.json's ``verdict`` block from the per-seed results and the
pairwise comparisons the summary already holds; the report's opening table and paragraph
(:func:`neurofacedis.report.render_report`) and the notebook display only print it, so no
number is computed twice. Every headline statistic is one where higher is better (alignment,
decoding and encoding R², reconstruction progress, RSA, DCI, MIG, UDR, dissection margin).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["verdict", "headline_stat", "CONTROL"]

#: The positive control's model name (plugin nfd_factors): shown beside the best model.
CONTROL = "factors"


def headline_stat(metric: str, stats: dict[str, Any]) -> str | None:
    """Return the statistic named like the metric, else the first one, else None."""
    names = [k for k in stats if k != "seed"]
    if not names:
        return None
    return metric if metric in names else names[0]


def _entry(values: list[float]) -> dict[str, Any]:
    """Mean, sd, n and the 95 % t-interval over seeds (None with one seed)."""
    from scipy.stats import t as student

    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return {"value": math.nan, "n": 0, "sd": None, "ci": None}
    mean = float(arr.mean())
    if n < 2:
        return {"value": mean, "n": 1, "sd": None, "ci": None}
    sd = float(arr.std(ddof=1))
    half = float(student.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"value": mean, "n": n, "sd": sd, "ci": [mean - half, mean + half]}


def _is_control(label: str) -> bool:
    return label == CONTROL or label.startswith(f"{CONTROL}[")


def verdict(per_seed: dict[str, Any], comparisons: dict[str, Any]) -> dict[str, Any]:
    """Return ``{metric: {...}}``: the headline statistic of each model and the best one.

    For each metric: ``stat`` (its headline statistic), ``models`` (label -> value, n seeds,
    sd, 95 % CI over seeds or None), ``best`` (highest value among the models compared; the
    ``factors`` control is reported apart as ``control``), ``ceiling`` (the metric's own
    ``ceiling_mean`` for the best model, when it reports one), and ``significant``: the
    pairwise Welch comparisons of the headline statistic between models compared (not the
    controls) that survive BH-FDR (``a``, ``b``, which is higher, ``p_fdr``).
    """
    out: dict[str, Any] = {}
    for metric, by_label in sorted(per_seed.items()):
        stat = next((headline_stat(metric, s) for s in by_label.values()
                     if headline_stat(metric, s)), None)
        if stat is None:
            continue
        models = {lab: _entry(s.get(stat, [])) for lab, s in sorted(by_label.items())}
        compared = {lab: e for lab, e in models.items()
                    if not _is_control(lab) and np.isfinite(e["value"])}
        control = next(({"label": lab, **e} for lab, e in models.items()
                        if _is_control(lab) and lab == CONTROL), None)
        best = max(compared, key=lambda lab: compared[lab]["value"]) if compared else None
        ceiling = None
        if best is not None and "ceiling_mean" in by_label[best]:
            ceiling = _entry(by_label[best]["ceiling_mean"])["value"]
        significant = [
            {"a": r["a"], "b": r["b"], "higher": r["a"] if r["mean_a"] > r["mean_b"] else r["b"],
             "p_fdr": r["p_fdr"]}
            for r in comparisons.get(metric, []) if r["stat"] == stat and r["significant"]
            and not (_is_control(r["a"]) or _is_control(r["b"]))]  # controls: shown apart
        out[metric] = {"stat": stat, "models": models, "best": best, "control": control,
                       "ceiling": ceiling, "significant": significant}
    return out
