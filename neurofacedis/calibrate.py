"""Calibration of the p-values the project prints, measured on simulated small worlds.

For every test the project prints, :func:`run_calibration` simulates many datasets where the
null hypothesis holds and counts how often p < alpha (the false-positive rate, FPR). A
calibrated test rejects in a fraction alpha of null datasets; over n datasets its measured
rate falls in the central 95% range of Binomial(n, alpha) 95% of the time
(:func:`neurofacedis.stats.binomial_range`); below it the test is conservative, above it
liberal. It also measures the power of the Welch test of the alignment difference between two
models against neurons, stimuli and effect size (Schütt et al. 2023, eLife 12:e82566 validated
rsatoolbox's model comparisons the same way).

The worlds are cheap: responses and latents are numpy matrices drawn directly (no NWB file, no
model fitting); the metrics run through the registry on a
:class:`~neurofacedis.specs.MetricContext`, exactly as the runner calls them. Each dataset
has its own seed (``numpy.random.SeedSequence`` children spawned from ``seed``), so the
numbers do not depend on ``n_jobs`` or on the order in which processes finish.

The tests (:data:`TESTS`):

- ``welch_alignment``: Welch between two models' per-seed alignment (summary.json
  ``comparisons``), two equally aligned models.
- ``welch_n2``: Welch on 2 vs 2 normal values (the reproduce study's n = 2 selected models).
- ``welch_selected``: reproduce's ``above_baselines`` as run: per beta the seed with the
  highest UDR (which tracks alignment), 2 selected vs 2 baseline seeds, equal true means.
- ``welch_rotated`` / ``paired_rotated``: reproduce's ``rotated_control``: every rotation of
  every fit pooled as independent (Welch) vs one difference per fit
  (:func:`neurofacedis.stats.paired_by_fit`).
- ``pairwise_bh``: :func:`~neurofacedis.stats.pairwise_welch` over 4 models x 3 seeds; rejects
  when any BH-adjusted pair is below alpha (family-wise under the complete null).
- ``rsa_permutation``: the ``rsa`` metric's permutation p (responses unrelated to latents).
- ``rsa_fdr``: :func:`~neurofacedis.stats.fdr_across_models` over RSA p of 3 models x 2 seeds.
- ``dissection_cell``, ``dissection_fdr``, ``dissection_one_to_one``: the ``dissection``
  metric's permutation p of one concept x unit cell, any BH q < alpha, and ``one_to_one_p``.

The ``alignment``, ``decoding``, ``encoding`` and disentanglement metrics print no p-value
(scores, ceilings and controls only); their comparisons go through the Welch rows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurofacedis.stats import (
    binomial_range,
    clopper_pearson,
    fdr_across_models,
    paired_by_fit,
    pairwise_welch,
    welch,
)

__all__ = ["TESTS", "CalibrationRow", "PowerCurve", "CalibrationResult", "run_calibration",
           "null_pvalues", "alignment_power_point"]

ALPHA = 0.05

#: test name -> (what it is, where the project prints it).
TESTS: dict[str, tuple[str, str]] = {
    "welch_alignment": ("Welch, alignment of 2 models x 3 seeds", "summary.json comparisons"),
    "welch_n2": ("Welch, 2 vs 2 values", "reproduce claims (n = 2 selected models)"),
    "welch_selected": ("Welch, UDR-selected best of 3 seeds per beta (2) vs 2 seeds",
                       "reproduce above_baselines, as run"),
    "welch_rotated": ("Welch, 2 fits vs their 5 rotations each, pooled",
                      "reproduce rotated_control, as run"),
    "paired_rotated": ("paired t over fits, fit minus mean of its rotations (3 fits)",
                       "stats.paired_by_fit (the fix)"),
    "pairwise_bh": ("pairwise Welch + BH-FDR, 4 models x 3 seeds, any pair", "summary.json "
                    "comparisons (p_fdr)"),
    "rsa_permutation": ("RSA permutation p (Spearman, 99 permutations)", "rsa p_value"),
    "rsa_fdr": ("BH-FDR over RSA p, 3 models x 2 seeds, any q", "summary p_value_fdr"),
    "dissection_cell": ("dissection permutation p, one concept x unit", "dissection p_value"),
    "dissection_fdr": ("dissection BH-FDR over concepts x units, any q", "dissection q_value"),
    "dissection_one_to_one": ("dissection one-to-one margin p", "dissection one_to_one_p"),
}


@dataclass(frozen=True)
class CalibrationRow:
    """Measured false-positive rate of one test over ``n`` null datasets."""

    test: str
    n: int
    rejections: int
    ci: tuple[float, float]  # Clopper-Pearson 95% interval of the measured rate
    expected: tuple[float, float]  # central 95% range of a calibrated test's rate

    @property
    def rate(self) -> float:
        """Measured false-positive rate."""
        return self.rejections / self.n if self.n else math.nan

    @property
    def verdict(self) -> str:
        """``calibrated``, ``conservative`` (below the range) or ``liberal`` (above it)."""
        if self.rate < self.expected[0]:
            return "conservative"
        return "liberal" if self.rate > self.expected[1] else "calibrated"


@dataclass(frozen=True)
class PowerCurve:
    """Power of the alignment-difference Welch test along one axis (others at defaults)."""

    axis: str
    values: tuple[float, ...]
    power: tuple[float, ...]
    ci: tuple[tuple[float, float], ...]
    n: int


@dataclass
class CalibrationResult:
    """Rows of the calibration table and the power curves, with the settings used."""

    rows: list[CalibrationRow]
    curves: list[PowerCurve]
    settings: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        """Return the calibration table (every test x FPR with its interval) as Markdown."""
        lines = ["| test | printed as | null datasets | FPR at α = 0.05 | 95% CI | "
                 "calibrated range | verdict |", "|---|---|---|---|---|---|---|"]
        for r in self.rows:
            what, where = TESTS[r.test]
            lines.append(f"| {what} (`{r.test}`) | {where} | {r.n} | {r.rate:.3f} | "
                         f"{r.ci[0]:.3f}–{r.ci[1]:.3f} | {r.expected[0]:.3f}–"
                         f"{r.expected[1]:.3f} | {r.verdict} |")
        return "\n".join(lines) + "\n"

    def power_markdown(self) -> str:
        """Return the power curves as a Markdown table (one row per point)."""
        lines = ["| axis | value | power | 95% CI | datasets |", "|---|---|---|---|---|"]
        for c in self.curves:
            for v, p, (lo, hi) in zip(c.values, c.power, c.ci, strict=True):
                lines.append(f"| {c.axis} | {v:g} | {p:.2f} | {lo:.2f}–{hi:.2f} | {c.n} |")
        return "\n".join(lines) + "\n"

    def plot(self, path: str | Path, dpi: int = 70) -> Path:
        """Draw the power curves (one panel per axis) to a PNG file."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 2.8), layout="constrained")
        axes = fig.subplots(1, max(1, len(self.curves)), sharey=True)
        for ax, c in zip(np.atleast_1d(axes), self.curves, strict=False):
            lo = [a for a, _ in c.ci]
            hi = [b for _, b in c.ci]
            ax.fill_between(c.values, lo, hi, color="C0", alpha=0.2, lw=0)
            ax.plot(c.values, c.power, "o-", color="C0")
            ax.axhline(ALPHA, color="0.5", lw=0.8, ls="--")
            ax.axhline(0.8, color="0.5", lw=0.8, ls=":")
            ax.set_xlabel(c.axis)
            ax.set_ylim(0, 1.02)
        np.atleast_1d(axes)[0].set_ylabel("power (Welch p < 0.05)")
        fig.suptitle(f"Alignment difference between two models, {self.settings.get('seeds', 3)}"
                     f" seeds each ({self.curves[0].n if self.curves else 0} datasets a point)",
                     fontsize=9)
        path = Path(path)
        fig.savefig(path, dpi=dpi)
        return path


# ------------------------------------------------------------------------------ worlds


def _metric(name: str, **params: Any):
    from neurofacedis.registry import get_registry

    return get_registry().metric(name).spec.factory(**params)


def _context(responses: np.ndarray, latents: np.ndarray, rng: np.random.Generator,
             factors: np.ndarray | None = None):
    import xarray as xr

    from neurofacedis.specs import MetricContext

    n = responses.shape[0]
    idx = rng.permutation(n)
    dims = ("stimulus", "neuron", "repeat")[: responses.ndim]
    return MetricContext(
        responses=xr.DataArray(responses, dims=dims),
        latents=xr.DataArray(latents, dims=("stimulus", "unit")),
        train=np.sort(idx[: n // 2]), test=np.sort(idx[n // 2:]), rng=rng,
        factors=None if factors is None else xr.DataArray(factors, dims=("stimulus", "factor")),
    )


def _axis_world(rng: np.random.Generator, n: int, neurons: int, k: int = 4,
                noise: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Factors (n, k) and responses (n, neurons) each tuned to one factor, plus noise."""
    f = rng.standard_normal((n, k))
    pick = np.arange(neurons) % k
    gain = rng.uniform(0.5, 1.5, size=neurons)
    return f, f[:, pick] * gain + noise * rng.standard_normal((n, neurons))


def _model_latents(rng: np.random.Generator, f: np.ndarray, mix: float,
                   rotation: np.ndarray, noise: float = 0.3) -> np.ndarray:
    """Return one fit: the factors mixed towards ``f @ rotation`` by ``mix``, plus noise."""
    z = (1 - mix) * f + mix * (f @ rotation)
    z = z / z.std(axis=0)
    return z[:, rng.permutation(z.shape[1])] + noise * rng.standard_normal(z.shape)


def _rotation(rng: np.random.Generator, k: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((k, k)))
    return q * np.sign(np.diag(r))


def _alignments(rng: np.random.Generator, n: int, neurons: int, effect: float,
                seeds: int) -> tuple[list[float], list[float]]:
    """Per-seed alignment of an axis-aligned model and one mixed by ``effect`` (registry)."""
    f, y = _axis_world(rng, n, neurons)
    rot = _rotation(rng, f.shape[1])
    metric = _metric("alignment", n_subsets=2, n_rotations=1)
    out: tuple[list[float], list[float]] = ([], [])
    for mix, vals in ((0.0, out[0]), (effect, out[1])):
        for _ in range(seeds):
            z = _model_latents(rng, f, mix, rot)
            vals.append(float(metric.compute(_context(y, z, rng)).attrs["alignment"]))
    return out


def _welch_rows(rng: np.random.Generator) -> dict[str, float]:
    """Run the Welch-based tests that need no metric (normal scores, as seeds' are)."""
    out = {"welch_n2": welch(rng.normal(0.5, 0.05, 2), rng.normal(0.5, 0.05, 2))[1]}
    # UDR-selected: per beta, the seed with the highest UDR (r ~ 0.7 with alignment)
    picked = []
    for _ in range(2):
        align = rng.normal(0.5, 0.05, 3)
        udr = 0.7 * (align - 0.5) / 0.05 + math.sqrt(1 - 0.49) * rng.standard_normal(3)
        picked.append(align[np.argmax(udr)])
    out["welch_selected"] = welch(picked, rng.normal(0.5, 0.05, 2))[1]
    # rotated control: a fit effect shared by the fit and its rotations, equal means
    fits, rots = [], []
    for _ in range(3):
        u = rng.normal(0.5, 0.05)
        fits.append(u + rng.normal(0, 0.03))
        rots.append(u + rng.normal(0, 0.03, 5))
    out["welch_rotated"] = welch(fits[:2], np.concatenate(rots[:2]))[1]
    out["paired_rotated"] = paired_by_fit(fits, rots)[1]
    per_seed = {"m": {f"model{i}": {"score": list(rng.normal(0.5, 0.05, 3))} for i in range(4)}}
    rows = pairwise_welch(per_seed).get("m", [])
    out["pairwise_bh"] = min((r["p_fdr"] for r in rows), default=math.nan)
    return out


def _rsa_rows(rng: np.random.Generator, n: int, neurons: int, perms: int) -> dict[str, float]:
    metric = _metric("rsa", n_permutations=perms, n_bootstrap=0, comparisons="spearman",
                     ceiling="none", n_jobs=1)
    y = rng.standard_normal((n, neurons, 2))
    ps: dict[str, list[float]] = {}
    for m in range(3):
        ps[f"model{m}"] = [float(metric.compute(_context(y, rng.standard_normal((n, 4)), rng))
                                 .attrs["p_value"]) for _ in range(2)]
    per_seed = {"rsa": {k: {"p_value": v} for k, v in ps.items()}}
    fdr_across_models(per_seed)
    q = [x for v in per_seed["rsa"].values() for x in v["p_value_fdr"]]
    return {"rsa_permutation": ps["model0"][0], "rsa_fdr": float(np.nanmin(q))}


def _dissection_rows(rng: np.random.Generator, n: int, neurons: int,
                     perms: int) -> dict[str, float]:
    metric = _metric("dissection", n_permutations=perms)
    y = rng.standard_normal((n, neurons, 2))
    ds = metric.compute(_context(y, rng.standard_normal((n, 4)), rng,
                                 factors=rng.standard_normal((n, 3))))
    units = ds["kind"].values == "unit"
    q = ds["q_value"].values[:, units]
    return {"dissection_cell": float(ds["p_value"].values[0, np.flatnonzero(units)[0]]),
            "dissection_fdr": float(np.nanmin(q)),
            "dissection_one_to_one": float(ds.attrs["one_to_one_p"])}


def null_pvalues(seed: np.random.SeedSequence, n_stimuli: int = 40, n_neurons: int = 20,
                 n_permutations: int = 99, seeds: int = 3) -> dict[str, float]:
    """p-value (or smallest adjusted p) of every test in :data:`TESTS` on one null world."""
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = _welch_rows(rng)
        a, b = _alignments(rng, n_stimuli, n_neurons, 0.0, seeds)
        out["welch_alignment"] = welch(a, b)[1]
        out.update(_rsa_rows(rng, n_stimuli, n_neurons, n_permutations))
        out.update(_dissection_rows(rng, n_stimuli, n_neurons, n_permutations))
    return out


def alignment_power_point(seed: np.random.SeedSequence, n_stimuli: int, n_neurons: int,
                          effect: float, seeds: int = 3) -> bool:
    """Whether Welch finds the axis-aligned model above the mixed one (p < alpha)."""
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = _alignments(rng, n_stimuli, n_neurons, effect, seeds)
    p = welch(a, b)[1]
    return bool(np.isfinite(p) and p < ALPHA and np.mean(a) > np.mean(b))


# ------------------------------------------------------------------------------ running


def _map(fn: Callable[..., Any], tasks: Sequence[tuple], n_jobs: int) -> list[Any]:
    """``[fn(*t) for t in tasks]`` on ``n_jobs`` processes (0 = every core), in task order."""
    import os

    if n_jobs <= 0:
        try:
            n_jobs = len(os.sched_getaffinity(0))
        except AttributeError:
            n_jobs = os.cpu_count() or 1
    if n_jobs <= 1 or len(tasks) <= 1:
        return [fn(*t) for t in tasks]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        return list(pool.map(fn, *zip(*tasks, strict=True),
                             chunksize=max(1, len(tasks) // (8 * n_jobs))))


def _rows(pvalues: list[dict[str, float]]) -> list[CalibrationRow]:
    rows = []
    for test in TESTS:
        p = np.array([d[test] for d in pvalues], dtype=float)
        p = p[np.isfinite(p)]
        k = int((p < ALPHA).sum())
        rows.append(CalibrationRow(test, int(p.size), k, clopper_pearson(k, p.size),
                                   binomial_range(p.size, ALPHA)))
    return rows


def run_calibration(
    n_null: int = 200,
    n_power: int = 60,
    *,
    n_stimuli: int = 40,
    n_neurons: int = 20,
    n_permutations: int = 99,
    seeds: int = 3,
    effect: float = 0.3,
    neurons_grid: Sequence[int] = (4, 8, 16, 32),
    stimuli_grid: Sequence[int] = (20, 40, 80, 160),
    effect_grid: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5),
    n_jobs: int = 0,
    seed: int = 0,
) -> CalibrationResult:
    """Measure every printed test's false-positive rate and the alignment test's power.

    Parameters
    ----------
    n_null
        Null datasets (the FPR of each test is measured on all of them; >= 200 for the table).
    n_power
        Datasets per point of each power curve (0: no curves).
    n_stimuli, n_neurons, n_permutations, seeds
        Size of each null world, permutations of the permutation tests, seeds per model;
        the power curves vary neurons and stimuli around these and use ``effect``.
    neurons_grid, stimuli_grid, effect_grid
        Points of the three power curves.
    n_jobs
        Processes (0 = every core). Results do not depend on it.
    seed
        Root seed: dataset i of the null gets ``SeedSequence([seed, 0]).spawn(n_null)[i]``.

    Returns
    -------
    CalibrationResult
    """
    if n_null < 1 or n_power < 0 or seeds < 2 or n_permutations < 1:
        from neurofacedis.errors import InputError

        raise InputError("need n_null >= 1, n_power >= 0, seeds >= 2, n_permutations >= 1",
                         obj="run_calibration")
    null_seeds = np.random.SeedSequence([seed, 0]).spawn(n_null)
    tasks: list[tuple] = [(s, n_stimuli, n_neurons, n_permutations, seeds) for s in null_seeds]
    pvalues = _map(null_pvalues, tasks, n_jobs)
    axes = (("neurons", neurons_grid), ("stimuli", stimuli_grid), ("effect", effect_grid))
    points: list[tuple] = []
    for a, (axis, grid) in enumerate(axes):
        for v, value in enumerate(grid):
            n_st = int(value) if axis == "stimuli" else n_stimuli
            n_ne = int(value) if axis == "neurons" else n_neurons
            eff = float(value) if axis == "effect" else effect
            for s in np.random.SeedSequence([seed, 1, a, v]).spawn(n_power):
                points.append((s, n_st, n_ne, eff, seeds))
    hits = _map(alignment_power_point, points, n_jobs) if n_power else []
    curves, at = [], 0
    for axis, grid in axes:
        if not n_power:
            break
        power, ci = [], []
        for _ in grid:
            k = int(sum(hits[at:at + n_power]))
            at += n_power
            power.append(k / n_power)
            ci.append(clopper_pearson(k, n_power))
        curves.append(PowerCurve(axis, tuple(float(g) for g in grid), tuple(power), tuple(ci),
                                 n_power))
    settings = {"n_null": n_null, "n_power": n_power, "n_stimuli": n_stimuli,
                "n_neurons": n_neurons, "n_permutations": n_permutations, "seeds": seeds,
                "effect": effect, "seed": seed}
    return CalibrationResult(_rows(pvalues), curves, settings)
