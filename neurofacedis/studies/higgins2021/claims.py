"""The paper's claims, one function each, checked on a table of fits (docs/reproduce.md).

Each function takes the :class:`~neurofacedis.studies.higgins2021.fits.FitRow` table and
returns one :class:`~neurofacedis.studies.base.Claim`: ``agrees`` True or False, or None when
the run cannot test it. :data:`CLAIMS` lists them in the report's order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from neurofacedis.stats import paired_by_fit, paired_diffs, welch
from neurofacedis.studies.base import Claim
from neurofacedis.studies.higgins2021.fits import FitRow, family_rows, fmt, fmt_counts, fmt_p
from neurofacedis.studies.higgins2021.presets import FAMILIES

__all__ = ["CLAIMS", "CORE_BASELINES", "ALPHA", "check_claims", "decide", "power_two_groups",
           "power_paired", "welch_power", "above_baselines",
           "above_aam_classifier", "near_ceiling", "udr_alignment", "rotated_control",
           "reconstruction_ae", "reconstruction_vae"]

#: Families the paper's central claims name (the β-VAE must beat each of them).
CORE_BASELINES: tuple[str, ...] = ("ae", "vae", "pca", "ica")
#: Significance level of the tests behind the claims.
ALPHA = 0.05


def _selected_alignment(fits: Sequence[FitRow]) -> list[float]:
    """Alignment of the UDR-selected β-VAEs (finite values only)."""
    return [f.alignment for f in family_rows(fits, "beta_vae") if np.isfinite(f.alignment)]


# --- verdicts: a direction counts only with its test significant ------------------------------


def _count(x: float) -> str:
    """Write a median of neuron counts: a whole number as such (32), else one decimal (40.5)."""
    return fmt(x, 0 if math.isfinite(x) and float(x).is_integer() else 1)


def decide(direction: bool | None, p: float, note: str = "") -> tuple[bool | None, str, str]:
    """``(agrees, status, note)`` from the claimed direction and its test's p-value.

    Significant (p < :data:`ALPHA`) in the claimed direction: ``agrees``; significant the
    other way: ``disagrees``; otherwise ``not shown``, with ``note`` (why: the power).
    """
    if direction is None or not np.isfinite(p):
        return None, "not tested", ""
    if p < ALPHA:
        return (True, "agrees", "") if direction else (False, "disagrees", "")
    return None, "not shown", note


def power_two_groups(a: Sequence[float], b: Sequence[float]) -> str:
    """Say how underpowered the two-sided Welch test of ``a`` vs ``b`` is, at the observed effect.

    Power of the *same* test at :data:`ALPHA`, read from the calibration's simulated curves
    (:func:`~neurofacedis.calibrate.load_power_curves`, interpolated at the groups' sizes, the
    observed variance ratio and Cohen's d), and the group size (equal groups, same variances)
    that would give 80 %. Outside the curves' grid it falls back to :func:`welch_power` and
    says so.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    head = f"underpowered: n = {a.size} vs {b.size}"
    if a.size < 2 or b.size < 2:
        return head
    va, vb, diff = float(a.var(ddof=1)), float(b.var(ddof=1)), abs(float(a.mean() - b.mean()))
    pooled = math.sqrt((va * (a.size - 1) + vb * (b.size - 1)) / (a.size + b.size - 2))
    if not diff or not pooled:
        return head
    ratio = math.log2(va / vb) if va > 0 and vb > 0 else math.inf
    power, source = _read_power(
        "welch", lambda: welch_power(diff, va, vb, a.size, b.size),
        n_a=a.size, n_b=b.size, log2_ratio=ratio, d=diff / pooled)
    need, how = _read_need(
        "welch", lambda n: welch_power(diff, va, vb, n, n) >= 0.8,
        log2_ratio=ratio, d=diff / math.sqrt((va + vb) / 2))
    more = f"; ~{need} per group for 80 %{how}" if need else ""
    return (f"{head}, power {power:.2f} ({source}) at the observed effect "
            f"(d = {diff / pooled:.2f})" + more)


def _read_power(test: str, analytic: Callable[[], float], **point: float) -> tuple[float, str]:
    """``(power, source)``: from the calibration's curves at ``point``, else ``analytic()``."""
    from neurofacedis.calibrate import load_power_curves

    curves = load_power_curves()
    power = curves.power(test, **point) if curves is not None else None
    if power is None:
        return analytic(), "analytic: outside the calibration curves"
    return power, "simulated, calibration curves"


def _read_need(test: str, enough: Callable[[int], bool], **point: float) -> tuple[int | None,
                                                                                  str]:
    """``(n, suffix)``: the n per group reaching 80 % on the curves, else the first ``enough``."""
    from neurofacedis.calibrate import load_power_curves

    curves = load_power_curves()
    need = curves.needed(test, 0.8, **point) if curves is not None else None
    if need is not None:
        return need, ""
    start = 4 if test == "pearson" else 2
    return next((n for n in range(start, 10_001) if enough(n)), None), " (analytic)"


def welch_power(diff: float, va: float, vb: float, na: int, nb: int) -> float:
    """Power of the two-sided Welch t-test at :data:`ALPHA` for a true difference ``diff``."""
    qa, qb = va / na, vb / nb
    se = math.sqrt(qa + qb)
    if se == 0:
        return 1.0
    return _t_power((qa + qb) ** 2 / (qa**2 / (na - 1) + qb**2 / (nb - 1)), diff / se)


def power_paired(diffs: Sequence[float]) -> str:
    """Say how underpowered the paired (one-sample) t-test of ``diffs`` is, at its effect.

    Read from the calibration's simulated curves (falling back to the noncentral t outside
    them, and saying so).
    """
    d_ = np.asarray(diffs, float)
    head = f"underpowered: n = {d_.size} fits"
    sd = float(d_.std(ddof=1)) if d_.size > 1 else math.nan
    if not np.isfinite(sd) or sd == 0 or not d_.mean():
        return head
    mean = abs(float(d_.mean()))
    power, source = _read_power("paired", lambda: _one_sample_power(mean, sd, d_.size),
                                n=d_.size, d=mean / sd)
    need, how = _read_need("paired", lambda n: _one_sample_power(mean, sd, n) >= 0.8,
                           d=mean / sd)
    more = f"; ~{need} fits for 80 %{how}" if need else ""
    return (f"{head}, power {power:.2f} ({source}) at the observed effect "
            f"(d = {mean / sd:.2f}){more}")


def _one_sample_power(mean: float, sd: float, n: int) -> float:
    """Power of the two-sided one-sample t-test at :data:`ALPHA` (noncentral t, df n - 1)."""
    return _t_power(n - 1, mean / (sd / math.sqrt(n)))


def _t_power(df: float, nc: float) -> float:
    """Rejection rate of a two-sided t-test at :data:`ALPHA` under noncentrality ``nc``."""
    from scipy.stats import nct
    from scipy.stats import t as student

    crit = float(student.ppf(1 - ALPHA / 2, df))
    lower = float(nct.cdf(-crit, df, nc))  # NaN far in the tail (nc >= 0 here): it is 0
    return float(nct.sf(crit, df, nc)) + (lower if math.isfinite(lower) else 0.0)


def _above(fits: Sequence[FitRow], keys: Sequence[str]) -> tuple[bool | None, str, dict[str, Any],
                                                                 str, str]:
    """Test the selected β-VAEs' alignment against each family's (two-sided Welch, p < α).

    ``(agrees, text, numbers, status, note)``: agrees when above every family with p < α;
    disagrees when any family is significantly above; otherwise not shown.
    """
    a_b = _selected_alignment(fits)
    parts: list[str] = []
    nums: dict[str, Any] = {}
    statuses: list[str] = []
    notes: list[str] = []
    if not any(np.isfinite(a_b)):
        return None, "no β-VAE alignment", nums, "not tested", ""
    for m in keys:
        vals = [f.alignment for f in family_rows(fits, m) if np.isfinite(f.alignment)]
        if not vals:
            continue
        t, p = welch(a_b, vals)
        mean = float(np.mean(vals))
        _, status, note = decide(bool(np.nanmean(a_b) > mean), p,
                                 power_two_groups(a_b, vals) if len(a_b) > 1 else "")
        nums[m] = {"mean": mean, "n": len(vals), "t": t, "p": p, "status": status}
        statuses.append(status)
        if note:
            notes.append(f"{FAMILIES[m]}: {note}")
        parts.append(f"{FAMILIES[m]} {fmt(mean)} (p = {fmt_p(p)})")
    if not statuses:
        return None, "no baseline alignment", nums, "not tested", ""
    text = f"β-VAE {fmt(float(np.nanmean(a_b)))} (n = {len(a_b)}) vs " + ", ".join(parts)
    if "disagrees" in statuses:
        return False, text, nums, "disagrees", ""
    if all(s == "agrees" for s in statuses):
        return True, text, nums, "agrees", ""
    return None, text, nums, "not shown", "; ".join(notes) or f"underpowered: n = {len(a_b)}"


def above_baselines(fits: Sequence[FitRow]) -> Claim:
    """Check that the β-VAE aligns better than AE, VAE, PCA and ICA (Welch tests shown)."""
    agrees, text, nums, status, note = _above(fits, CORE_BASELINES)
    return Claim(
        "above_baselines", "β-VAE units align with single neurons better than AE, VAE, PCA "
        "and ICA", "β-VAE alignment is above every baseline model family (Fig. 3b, 2)",
        "mean alignment of the UDR-selected β-VAEs above each family's mean, two-sided "
        "Welch p < 0.05 for each", text, agrees, "alignment_by_family", nums, status, note)


def above_aam_classifier(fits: Sequence[FitRow]) -> Claim:
    """Check that the β-VAE aligns better than the AAM and the identity classifier."""
    agrees, text, nums, status, note = _above(fits, ("aam", "classifier"))
    return Claim(
        "above_aam_classifier", "... and better than the AAM and the identity classifier",
        "β-VAE alignment is above the AAM's (Chang & Tsao's face space) and deep classifiers'",
        "mean alignment of the UDR-selected β-VAEs above each family's mean, two-sided Welch "
        "p < 0.05 for each", text, agrees, "alignment_by_family", nums, status, note)


def _paired(fits: Sequence[FitRow], field: str) -> tuple[list[float], np.ndarray, np.ndarray,
                                                         float, float]:
    """Test the selected β-VAEs' alignment against each fit's own ``field`` values.

    ``(alignment per fit, differences per fit, every finite control value, t, p)``, the test
    being :func:`~neurofacedis.stats.paired_by_fit`.
    """
    rows = [f for f in family_rows(fits, "beta_vae") if np.isfinite(f.alignment)]
    a_b = [f.alignment for f in rows]
    controls = [np.asarray(getattr(f, field), float) for f in rows]
    pooled = np.concatenate(controls) if controls else np.array([])
    t, p = paired_by_fit(a_b, controls)
    return a_b, paired_diffs(a_b, controls), pooled[np.isfinite(pooled)], t, p


def near_ceiling(fits: Sequence[FitRow]) -> Claim:
    """Check that the β-VAE reaches the neuron-subset ceiling (paper: not below it, p = 0.43).

    Paired by fit (each fit against its own ceiling subsets, :func:`~neurofacedis.stats.
    paired_by_fit`): at or above the ceiling agrees; significantly below disagrees; below but
    not significantly is *not shown* — a test without power cannot show "no difference".
    """
    a_b, d, pooled, t, p = _paired(fits, "ceiling")
    status, note, agrees = "not tested", "", None
    if d.size >= 2 and np.isfinite(p):
        if d.mean() >= 0:
            agrees, status = True, "agrees"
        else:
            agrees, status, note = decide(False, p, power_paired(d))
            if status == "not shown":
                note = "below the ceiling, not significantly; " + note
        text = (f"β-VAE {fmt(float(np.mean(a_b)))} vs ceiling {fmt(float(pooled.mean()))}"
                f" ({pooled.size} neuron subsets over {d.size} fits); paired by fit: "
                f"t = {t:.2f}, p = {fmt_p(p)}")
    else:
        text = "not enough fits or neurons for the ceiling"
    return Claim(
        "near_ceiling", "β-VAE alignment reaches the ceiling set by real neurons",
        "β-VAE alignment is not significantly below that of subsets of real neurons "
        "(two-sided Welch t-test, p = 0.43)",
        "mean at or above the ceiling; significantly below (paired by fit, p < 0.05) "
        "disagrees", text, agrees, "alignment_by_family",
        {"beta_vae_mean": float(np.mean(a_b)) if a_b else None,
         "ceiling_mean": float(pooled.mean()) if pooled.size else None, "t": t, "p": p,
         "n_fits": int(d.size)}, status, note)


def udr_alignment(fits: Sequence[FitRow]) -> Claim:
    """Check that UDR and alignment correlate over every β-VAE model (all β, all seeds).

    Pearson r > 0, one-sided p < 0.05 (paper: r = 0.96).
    """
    from scipy.stats import pearsonr

    allb = [f for f in fits if f.model == "beta_vae" and np.isfinite(f.udr)
            and np.isfinite(f.alignment)]
    if len(allb) >= 3 and np.ptp([f.udr for f in allb]) > 0 and \
            np.ptp([f.alignment for f in allb]) > 0:
        r, p2 = pearsonr([f.udr for f in allb], [f.alignment for f in allb])
        r, p1 = float(r), float(p2) / 2 if r > 0 else 1 - float(p2) / 2
        # the claimed direction is one-sided; the opposite one is tested one-sided too
        agrees, status, note = decide(r > 0, p1 if r > 0 else 1 - p1,
                                      _power_r(r, len(allb)))
        text = f"Pearson r = {r:.2f} over {len(allb)} β-VAE models (one-sided p = {fmt_p(p1)})"
    else:
        r = p1 = math.nan
        agrees, status, note = None, "not tested", ""
        text = "fewer than 3 β-VAE models with a UDR score"
    return Claim(
        "udr_alignment", "UDR, a label-free score, predicts alignment",
        "UDR correlates with alignment over 400 β-VAE models (Pearson r = 0.96)",
        "Pearson r > 0 over every β-VAE model (all β, all seeds), one-sided p < 0.05",
        text, agrees, "udr_vs_alignment", {"r": r, "p_one_sided": p1, "n": len(allb)},
        status, note)


def _power_r(r: float, n: int) -> str:
    """Say how underpowered the one-sided test of r > 0 is at the observed r.

    Read from the calibration's curves, else the Fisher z approximation (said so).
    """
    from scipy.stats import norm

    if not np.isfinite(r) or r == 0 or n < 4 or abs(r) >= 1:
        return f"underpowered: n = {n} models"
    z = abs(math.atanh(r))
    power, source = _read_power(
        "pearson", lambda: float(norm.cdf(z * math.sqrt(n - 3) - norm.ppf(1 - ALPHA))),
        n=n, r=abs(r))
    need, how = _read_need(
        "pearson", lambda m: ((norm.ppf(1 - ALPHA) + norm.ppf(0.8)) / z) ** 2 + 3 <= m,
        r=abs(r))
    more = f"; ~{need} models for 80 %{how}" if need else ""
    return f"underpowered: n = {n} models, power {power:.2f} ({source}) at the observed r{more}"


def rotated_control(fits: Sequence[FitRow]) -> Claim:
    """Check that the β-VAE's alignment falls on rotated responses (paired by fit, p < 0.05)."""
    a_b, d, pooled, t, p = _paired(fits, "rotated")
    if np.isfinite(p):
        agrees, status, note = decide(bool(d.mean() > 0), p, power_paired(d))
        text = (f"β-VAE {fmt(float(np.mean(a_b)))} vs {fmt(float(pooled.mean()))} against "
                f"rotated responses ({pooled.size} rotations over {d.size} fits); paired by "
                f"fit: t = {t:.2f}, p = {fmt_p(p)}")
    else:
        agrees, status, note, text = None, "not tested", "", "not enough fits"
    return Claim(
        "rotated_control", "The alignment is with single neurons, not just their subspace",
        "alignment drops when the neural responses are linearly recombined (Fig. 3c)",
        "β-VAE alignment above its alignment with randomly rotated responses, paired by fit "
        "(each fit against its own rotations), p < 0.05", text, agrees, "rotated_control",
        {"alignment_mean": float(np.mean(a_b)) if a_b else None,
         "rotated_mean": float(pooled.mean()) if pooled.size else None, "t": t, "p": p,
         "n_fits": int(d.size)}, status, note)


def _fewer_neurons(fits: Sequence[FitRow], other: str, paper_n: str) -> Claim:
    """Check that fewer neurons reconstruct novel faces through the β-VAE than ``other``.

    Median neurons to criterion over the fits; a fit that never reaches it counts as more.
    """
    n_b = [f.n_to_criterion for f in family_rows(fits, "beta_vae")
           if not math.isnan(f.n_to_criterion)]
    n_o = [f.n_to_criterion for f in family_rows(fits, other) if not math.isnan(f.n_to_criterion)]
    p = math.nan
    if n_b and n_o:
        from scipy.stats import mannwhitneyu

        mb, mo = float(np.median(n_b)), float(np.median(n_o))
        if len(set(n_b) | set(n_o)) > 1:
            p = float(mannwhitneyu(n_b, n_o, alternative="two-sided").pvalue)
        else:
            p = 1.0  # every fit the same: no difference to find
        agrees, status, note = decide(bool(mb < mo), p, _rank_power(len(n_b), len(n_o)))
        text = (f"median neurons to criterion: β-VAE {_count(mb)} vs {FAMILIES[other]} "
                f"{_count(mo)} (per fit: {fmt_counts(n_b)} vs {fmt_counts(n_o)}; Mann-Whitney "
                f"p = {fmt_p(p)})")
    else:
        mb = mo = math.nan
        agrees, status, note, text = None, "not tested", "", "no reconstruction results"
    return Claim(
        f"reconstruction_{other}",
        f"Fewer neurons reconstruct novel faces through the β-VAE than the {FAMILIES[other]}",
        f"~12 neurons suffice for β-VAE reconstructions vs {paper_n} for the "
        f"{FAMILIES[other]} (Fig. 4)",
        "median number of best neurons reaching 80% of the way from the average face to "
        "the model's own reconstruction: β-VAE below " + FAMILIES[other] + ", two-sided "
        "Mann-Whitney p < 0.05 over fits", text, agrees, "reconstruction_vs_neurons",
        {"beta_vae_median": mb, f"{other}_median": mo, "p": p}, status, note)


def _rank_power(n1: int, n2: int) -> str:
    """Say when a rank test over so few fits cannot reach p < α at all."""
    smallest = 2.0 / math.comb(n1 + n2, n1)  # two-sided exact, complete separation
    if smallest >= ALPHA:
        return (f"underpowered: n = {n1} vs {n2} fits, a rank test cannot reach p < "
                f"{ALPHA:g} (smallest p {smallest:.2f})")
    return f"underpowered: n = {n1} vs {n2} fits"


def reconstruction_ae(fits: Sequence[FitRow]) -> Claim:
    """Check that fewer neurons reconstruct faces through the β-VAE than the AE (~12 vs ~30)."""
    return _fewer_neurons(fits, "ae", "~30")


def reconstruction_vae(fits: Sequence[FitRow]) -> Claim:
    """Check that fewer neurons reconstruct faces through the β-VAE than the VAE (~12 vs ~27)."""
    return _fewer_neurons(fits, "vae", "~27")


#: The claims in the report's order.
CLAIMS: tuple[Callable[[Sequence[FitRow]], Claim], ...] = (
    above_baselines, above_aam_classifier, near_ceiling, udr_alignment, rotated_control,
    reconstruction_ae, reconstruction_vae)


def check_claims(fits: Sequence[FitRow]) -> list[Claim]:
    """Check every claim of :data:`CLAIMS` on a table of fits, in order."""
    return [check(fits) for check in CLAIMS]

