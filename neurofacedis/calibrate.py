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

The claim tests' power curves (:func:`run_power_curves`, :data:`CLAIM_TESTS`): the rejection
rate at alpha of Welch (group sizes x variance ratio x Cohen's d), the paired t over fits and
the one-sided Pearson test, simulated on normal samples over grids, each cell with its own
generator keyed by the cell's values. ``neurofacedis calibrate --power-curves FILE`` writes
them; the package ships them as ``neurofacedis/data/power_curves.json``, which the reproduce
verdicts read (:func:`load_power_curves`, :meth:`PowerCurves.power`).
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
           "null_pvalues", "alignment_power_point", "CLAIM_TESTS", "PowerCurves",
           "run_power_curves", "load_power_curves", "write_power_curves"]

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


# ------------------------------------------------------------------ claim-test power curves

#: Grids of the claim tests' simulated power curves (:func:`run_power_curves`).
POWER_N: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 10, 15, 20, 30)
POWER_D: tuple[float, ...] = tuple(k / 4 for k in range(13)) + (3.5, 4.0, 5.0)
POWER_LOG2_RATIO: tuple[float, ...] = (-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0)
POWER_R_N: tuple[int, ...] = (4, 5, 6, 7, 8, 10, 15, 20, 30)
POWER_R: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
#: Test name -> (its axes, what it is). Rates are two-sided except ``pearson`` (one-sided r > 0).
CLAIM_TESTS: dict[str, tuple[tuple[str, ...], str]] = {
    "welch": (("n_a", "n_b", "log2_ratio", "d"),
              "two-sided Welch t-test of n_a vs n_b normal values (stats.welch), variance ratio "
              "var_a / var_b = 2**log2_ratio, d = difference / pooled SD"),
    "paired": (("n", "d"), "two-sided one-sample t-test of n normal differences "
               "(stats.paired_by_fit), d = mean / SD"),
    "pearson": (("n", "r"), "one-sided test of Pearson r > 0 over n bivariate normal pairs "
                "with true correlation r (the udr_alignment claim)"),
}
_POWER_TEST_ID = {name: i for i, name in enumerate(CLAIM_TESTS)}


def _cell_rng(seed: int, test: str, values: Sequence[float]) -> np.random.Generator:
    """Return the generator of one cell, keyed by its *values* (not its place in the grid).

    A cell's numbers therefore do not depend on which other cells are simulated: a small
    regeneration reproduces the stored table's cells exactly.
    """
    keys = [int(round(v * 1000)) + 1_000_000 for v in values]
    return np.random.default_rng(np.random.SeedSequence([seed, _POWER_TEST_ID[test], *keys]))


def _welch_rejections(rng: np.random.Generator, datasets: int, n_a: int, n_b: int,
                      log2_ratio: float, d: float) -> int:
    """Rejections of Welch's test at :data:`ALPHA` over ``datasets`` simulated pairs of samples.

    Variances ``r * s`` and ``s`` with ``r = 2**log2_ratio``, ``s`` set so that the pooled
    variance (weights n - 1, as the verdict notes compute d) is 1; the means differ by ``d``.
    """
    from scipy.stats import ttest_ind

    ratio = 2.0 ** log2_ratio
    vb = (n_a + n_b - 2) / ((n_a - 1) * ratio + (n_b - 1))
    x = rng.normal(d, math.sqrt(ratio * vb), (datasets, n_a))
    y = rng.normal(0.0, math.sqrt(vb), (datasets, n_b))
    return int(np.sum(ttest_ind(x, y, axis=1, equal_var=False).pvalue < ALPHA))


def _paired_rejections(rng: np.random.Generator, datasets: int, n: int, d: float) -> int:
    """Rejections of the two-sided one-sample t-test of ``n`` N(d, 1) differences."""
    from scipy.stats import ttest_1samp

    x = rng.normal(d, 1.0, (datasets, n))
    return int(np.sum(ttest_1samp(x, 0.0, axis=1).pvalue < ALPHA))


def _pearson_rejections(rng: np.random.Generator, datasets: int, n: int, r: float) -> int:
    """Rejections of the one-sided test of r > 0 (Pearson's t, as scipy's p / 2) at ALPHA."""
    from scipy.stats import t as student

    x = rng.standard_normal((datasets, n))
    y = r * x + math.sqrt(1 - r * r) * rng.standard_normal((datasets, n))
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    rho = (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))
    rho = np.clip(rho, -1 + 1e-15, 1 - 1e-15)
    p = student.sf(rho * np.sqrt((n - 2) / (1 - rho**2)), n - 2)
    return int(np.sum((rho > 0) & (p < ALPHA)))


_SIMULATE = {"welch": _welch_rejections, "paired": _paired_rejections,
             "pearson": _pearson_rejections}


@dataclass(frozen=True)
class PowerCurves:
    """Simulated rejection rates of the claim tests on grids (:data:`CLAIM_TESTS`).

    ``grids[test]`` holds one tuple of values per axis; ``rejections[test]`` the count of
    rejections at :data:`ALPHA` over ``datasets`` simulated datasets per cell, in C order.
    """

    grids: dict[str, tuple[tuple[float, ...], ...]]
    rejections: dict[str, np.ndarray]
    datasets: int
    seed: int
    meta: dict[str, Any] = field(default_factory=dict)

    def rate(self, test: str) -> np.ndarray:
        """Rejection rates of ``test`` (an array with one axis per grid axis)."""
        return self.rejections[test] / self.datasets

    def power(self, test: str, **point: float) -> float | None:
        """Rate at ``point`` (one value per axis), multilinear between cells; None outside."""
        from scipy.interpolate import RegularGridInterpolator

        axes, grid = CLAIM_TESTS[test][0], self.grids[test]
        x = [float(point[a]) for a in axes]
        if not all(g[0] <= v <= g[-1] for v, g in zip(x, grid, strict=True)):
            return None
        interp = RegularGridInterpolator(grid, self.rate(test), method="linear")
        return float(np.clip(interp([x])[0], 0.0, 1.0))

    def needed(self, test: str, target: float = 0.8, **point: float) -> int | None:
        """Smallest n per group (``n_a = n_b``, or ``n``) in the grid reaching ``target``."""
        names = ("n_a", "n_b") if test == "welch" else ("n",)
        top = int(self.grids[test][0][-1])
        for n in range(int(self.grids[test][0][0]), top + 1):
            p = self.power(test, **{**point, **dict.fromkeys(names, n)})
            if p is not None and p >= target:
                return n
        return None

    def to_json(self) -> dict[str, Any]:
        """Return the curves as plain JSON (counts, not rates: exact)."""
        return {**self.meta, "alpha": ALPHA, "datasets": self.datasets, "seed": self.seed,
                "tests": {t: {"about": CLAIM_TESTS[t][1],
                              "axes": dict(zip(CLAIM_TESTS[t][0], map(list, g), strict=True)),
                              "rejections": self.rejections[t].tolist()}
                          for t, g in self.grids.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PowerCurves:
        """Read what :meth:`to_json` wrote."""
        grids, counts = {}, {}
        for t, v in data["tests"].items():
            grids[t] = tuple(tuple(float(x) for x in v["axes"][a]) for a in CLAIM_TESTS[t][0])
            counts[t] = np.asarray(v["rejections"], dtype=np.int64)
        meta = {k: v for k, v in data.items()
                if k not in ("tests", "datasets", "seed", "alpha")}
        return cls(grids, counts, int(data["datasets"]), int(data["seed"]), meta)

    def plot(self, path: str | Path, dpi: int = 70) -> Path:
        """Draw rate vs effect, one line per n, one panel per claim test, to a PNG file."""
        from matplotlib import colormaps
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3.2), layout="constrained")
        axes = fig.subplots(1, len(self.grids), sharey=True)
        for ax, test in zip(np.atleast_1d(axes), self.grids, strict=True):
            grid, rate = self.grids[test], self.rate(test)
            if test == "welch":  # equal groups, equal variances
                ns, eff = grid[0], grid[3]
                at = list(grid[2]).index(0.0) if 0.0 in grid[2] else len(grid[2]) // 2
                lines = [rate[i, i, at] for i in range(len(ns))]
                title = "Welch, n vs n, equal variances"
            else:
                ns, eff, lines = grid[0], grid[1], list(rate)
                title = "paired t over n fits" if test == "paired" else "Pearson r > 0 (1-sided)"
            colours = [colormaps["viridis"](i / max(1, len(ns) - 1)) for i in range(len(ns))]
            for n, y, c in zip(ns, lines, colours, strict=True):
                ax.plot(eff, y, "-", color=c, lw=1.2, label=f"{n:g}")
            ax.axhline(ALPHA, color="0.5", lw=0.8, ls="--")
            ax.axhline(0.8, color="0.5", lw=0.8, ls=":")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("true r" if test == "pearson" else "effect d")
            ax.set_ylim(0, 1.02)
        np.atleast_1d(axes)[0].set_ylabel("rejection rate at α = 0.05")
        for ax in np.atleast_1d(axes)[::2]:
            ax.legend(title="n", fontsize=6, title_fontsize=7, ncol=2)
        fig.suptitle(f"Claim tests' power, simulated ({self.datasets} datasets a cell)",
                     fontsize=9)
        path = Path(path)
        fig.savefig(path, dpi=dpi)
        return path


def run_power_curves(
    datasets: int = 1200,
    seed: int = 0,
    *,
    n: Sequence[int] = POWER_N,
    d: Sequence[float] = POWER_D,
    log2_ratio: Sequence[float] = POWER_LOG2_RATIO,
    r_n: Sequence[int] = POWER_R_N,
    r: Sequence[float] = POWER_R,
    tests: Sequence[str] = tuple(CLAIM_TESTS),
) -> PowerCurves:
    """Simulate the claim tests' rejection rates at :data:`ALPHA` on their grids.

    Parameters
    ----------
    datasets
        Simulated datasets per cell (1,200: a 95% interval of at most ±0.03 at any rate).
    seed
        Root seed; each cell's generator is keyed by ``seed``, the test and the cell's values.
    n, d, log2_ratio
        Group sizes (both groups of Welch, and the fits of the paired test), effects and
        Welch's variance ratios.
    r_n, r
        Sizes and true correlations of the Pearson test.
    tests
        Which of :data:`CLAIM_TESTS` to simulate.

    Returns
    -------
    PowerCurves
    """
    if datasets < 1 or min(n, default=2) < 2 or min(r_n, default=4) < 3 or \
            any(not 0 <= v < 1 for v in r) or any(t not in CLAIM_TESTS for t in tests):
        from neurofacedis.errors import InputError

        raise InputError("need datasets >= 1, n >= 2, r_n >= 3, 0 <= r < 1 and tests among "
                         f"{', '.join(CLAIM_TESTS)}", obj="run_power_curves")
    grids_all = {"welch": (n, n, log2_ratio, d), "paired": (n, d), "pearson": (r_n, r)}
    grids, counts = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for test in tests:
            grid = tuple(tuple(float(v) for v in g) for g in grids_all[test])
            out = np.zeros([len(g) for g in grid], dtype=np.int64)
            for idx in np.ndindex(*out.shape):
                cell = [grid[a][i] for a, i in enumerate(idx)]
                ints = [int(v) if a < (2 if test == "welch" else 1) else v
                        for a, v in enumerate(cell)]
                out[idx] = _SIMULATE[test](_cell_rng(seed, test, cell), datasets, *ints)
            grids[test], counts[test] = grid, out
    return PowerCurves(grids, counts, datasets, seed)


def _power_curves_path() -> Path:
    """Where the package's stored curves live (``neurofacedis/data/power_curves.json``)."""
    return Path(__file__).resolve().parent / "data" / "power_curves.json"


_STORED: list[PowerCurves] = []


def load_power_curves() -> PowerCurves | None:
    """Return the stored claim-test curves (read once), or None when the package lacks them."""
    import json

    if not _STORED:
        path = _power_curves_path()
        if not path.is_file():
            return None
        _STORED.append(PowerCurves.from_json(json.loads(path.read_text(encoding="utf-8"))))
    return _STORED[0]


def write_power_curves(curves: PowerCurves, path: str | Path, *, command: str) -> Path:
    """Write ``curves`` as JSON (temporary file, then rename) with how they were made."""
    import datetime
    import json
    import os

    import scipy

    from neurofacedis import __version__

    meta = {"made_by": command, "date": datetime.date.today().isoformat(),
            "versions": {"neurofacedis": __version__, "numpy": np.__version__,
                         "scipy": scipy.__version__}, **curves.meta}
    data = PowerCurves(curves.grids, curves.rejections, curves.datasets, curves.seed,
                       meta).to_json()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
