"""Statistics shared by the runner and the studies: Welch tests, pairwise comparisons, FDR.

- :func:`welch`: two-sided Welch t-test of two samples' finite values.
- :func:`fdr_bh`: Benjamini-Hochberg adjusted p-values (and rejections at ``alpha``).
- :func:`fdr_across_models`: ``p_value_fdr`` beside each metric's per-seed ``p_value``.
- :func:`pairwise_welch`: every pair of models per metric statistic, BH-corrected per statistic
  (summary.json's ``comparisons``).
- :func:`match_one_to_one`: Hungarian one-to-one pairing maximising a score matrix (the
  decoding and alignment plugins' ``match_units``).
- :func:`paired_by_fit`: a fit's score against controls computed *from that fit* (its
  rotations, its neuron subsets): one value per fit, so fits, not controls, are the sample.
- :func:`permutation_p`: ``(1 + #null >= observed) / (1 + n)``, never 0.
- :func:`clopper_pearson`, :func:`binomial_range`: intervals for a measured false-positive
  rate (:mod:`neurofacedis.calibrate`).

scipy and statsmodels are imported inside the functions (no heavy imports at import time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "welch", "fdr_bh", "fdr_across_models", "pairwise_welch", "match_one_to_one",
    "paired_by_fit", "paired_diffs", "permutation_p", "clopper_pearson", "binomial_range",
]


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


def fdr_bh(pvalues: Sequence[float], alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg: ``(adjusted p-values, rejected at alpha)`` (statsmodels' fdr_bh)."""
    from statsmodels.stats.multitest import multipletests

    reject, q, _, _ = multipletests(list(pvalues), alpha=alpha, method="fdr_bh")
    return np.asarray(q, dtype=float), np.asarray(reject, dtype=bool)


def fdr_across_models(per_seed: dict[str, Any]) -> None:
    """Add ``p_value_fdr`` beside every metric's ``p_value``, in place.

    ``per_seed`` is ``{metric: {model label: {stat: [value per seed]}}}``. Benjamini-Hochberg
    runs over all models and seeds of each metric (e.g. RSA's permutation p-values; Nili et
    al. 2014); a non-finite p-value stays out and gets NaN.
    """
    for by_label in per_seed.values():
        cells = [(lab, i, p) for lab, stats in sorted(by_label.items())
                 for i, p in enumerate(stats.get("p_value", [])) if np.isfinite(p)]
        if not cells:
            continue
        q, _ = fdr_bh([p for _, _, p in cells])
        for stats in by_label.values():
            stats["p_value_fdr"] = [float("nan")] * len(stats.get("p_value", []))
        for (lab, i, _), qi in zip(cells, q, strict=True):
            by_label[lab]["p_value_fdr"][i] = float(qi)


def pairwise_welch(per_seed: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Pairwise two-sided Welch t-tests between models, per metric statistic.

    BH-FDR corrected across the pairs of each statistic (as Higgins et al. 2021 compare model
    families). Pairs without a finite p-value are left out; metrics without any pair too.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for metric, by_label in per_seed.items():
        labels = sorted(by_label)
        stats = sorted({k for lab in labels for k in by_label[lab] if k != "seed"})
        rows: list[dict[str, Any]] = []
        for stat in stats:
            block = _pairs(by_label, labels, stat)
            if block:
                p_fdr, reject = fdr_bh([r["p"] for r in block])
                for r, q, rj in zip(block, p_fdr, reject, strict=True):
                    r["p_fdr"] = float(q)
                    r["significant"] = bool(rj)
                rows.extend(block)
        if rows:
            out[metric] = rows
    return out


def _pairs(by_label: dict[str, Any], labels: list[str], stat: str) -> list[dict[str, Any]]:
    from itertools import combinations

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
    return block


def match_one_to_one(score_matrix: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pair rows with columns one-to-one, maximising the summed score (Hungarian method).

    Kuhn 1955, through scipy's ``linear_sum_assignment``. Returns (row indices, column
    indices), min(rows, columns) each, ordered by row.
    """
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(np.asarray(score_matrix), maximize=True)
    return rows, cols


def paired_diffs(scores: Any, controls: Sequence[Any]) -> np.ndarray:
    """Per fit with a finite score and control: ``score_i - mean(finite controls_i)``."""
    a = np.asarray(scores, float)
    if len(controls) != len(a):
        raise ValueError(f"{len(a)} scores but {len(controls)} control groups")
    diffs = []
    for ai, ci in zip(a, controls, strict=True):
        c = np.asarray(ci, float)
        c = c[np.isfinite(c)]
        if np.isfinite(ai) and c.size:
            diffs.append(ai - c.mean())
    return np.asarray(diffs)


def paired_by_fit(scores: Any, controls: Sequence[Any]) -> tuple[float, float]:
    """Two-sided one-sample t-test of ``score_i - mean(controls_i)`` over fits: ``(t, p)``.

    ``controls[i]`` holds the control values computed from fit i (e.g. its alignment with
    rotated responses). Pooling every control of every fit into one Welch sample treats them as
    independent although they share their fit; pairing keeps one value per fit (df = fits - 1).
    ``(nan, nan)`` with fewer than 2 fits with a finite score and control, or no spread.
    """
    import warnings

    from scipy.stats import ttest_1samp

    d = paired_diffs(scores, controls)
    if d.size < 2 or np.ptp(d) == 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t, p = ttest_1samp(d, 0.0)
    return float(t), float(p)


def permutation_p(null: Any, observed: float, *, rtol: float = 1e-12) -> float:
    """One-sided permutation p-value ``(1 + #{null >= observed}) / (1 + n)``.

    The observed labelling counts as one permutation (Phipson & Smyth 2010): p >= 1/(n + 1)
    and P(p <= alpha) <= alpha under the null. Values within ``rtol`` (relative) tie.
    """
    null = np.asarray(null, float)
    tol = rtol * max(1.0, abs(float(observed)))
    return float((1 + np.sum(null >= observed - tol)) / (1 + null.size))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial proportion k / n."""
    from scipy.stats import beta

    if n <= 0:
        return math.nan, math.nan
    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return low, high


def binomial_range(n: int, rate: float = 0.05, level: float = 0.95) -> tuple[float, float]:
    """Central ``level`` range of the rejection rate of a calibrated test over n datasets.

    The rates k / n with k between the (1 - level)/2 and (1 + level)/2 quantiles of
    Binomial(n, rate): a calibrated test's measured rate falls here 95% of the time.
    """
    from scipy.stats import binom

    a = (1 - level) / 2
    return float(binom.ppf(a, n, rate)) / n, float(binom.ppf(1 - a, n, rate)) / n
