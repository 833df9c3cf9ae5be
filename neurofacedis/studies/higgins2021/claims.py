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

from neurofacedis.stats import welch
from neurofacedis.studies.base import Claim
from neurofacedis.studies.higgins2021.fits import FitRow, family_rows, fmt, fmt_counts, fmt_p
from neurofacedis.studies.higgins2021.presets import FAMILIES

__all__ = ["CLAIMS", "CORE_BASELINES", "ALPHA", "check_claims", "above_baselines",
           "above_aam_classifier", "near_ceiling", "udr_alignment", "rotated_control",
           "reconstruction_ae", "reconstruction_vae"]

#: Families the paper's central claims name (the β-VAE must beat each of them).
CORE_BASELINES: tuple[str, ...] = ("ae", "vae", "pca", "ica")
#: Significance level of the tests behind the claims.
ALPHA = 0.05


def _selected_alignment(fits: Sequence[FitRow]) -> list[float]:
    """Alignment of the UDR-selected β-VAEs (finite values only)."""
    return [f.alignment for f in family_rows(fits, "beta_vae") if np.isfinite(f.alignment)]


def _pooled(fits: Sequence[FitRow], field: str) -> np.ndarray:
    """Pool the selected β-VAEs' finite values of an array field (``ceiling``, ``rotated``)."""
    rows = family_rows(fits, "beta_vae")
    values = np.concatenate([getattr(f, field) for f in rows]) if rows else np.array([])
    return values[np.isfinite(values)]


def _above(fits: Sequence[FitRow], keys: Sequence[str]) -> tuple[bool | None, str, dict[str, Any]]:
    """Test whether the selected β-VAEs' mean alignment is above each family's (Welch p shown)."""
    a_b = _selected_alignment(fits)
    parts: list[str] = []
    nums: dict[str, Any] = {}
    ok: list[bool] = []
    if not any(np.isfinite(a_b)):
        return None, "no β-VAE alignment", nums
    for m in keys:
        vals = [f.alignment for f in family_rows(fits, m) if np.isfinite(f.alignment)]
        if not vals:
            continue
        t, p = welch(a_b, vals)
        mean = float(np.mean(vals))
        nums[m] = {"mean": mean, "n": len(vals), "t": t, "p": p}
        ok.append(bool(np.nanmean(a_b) > mean))
        parts.append(f"{FAMILIES[m]} {fmt(mean)} (p = {fmt_p(p)})")
    if not ok:
        return None, "no baseline alignment", nums
    text = f"β-VAE {fmt(float(np.nanmean(a_b)))} (n = {len(a_b)}) vs " + ", ".join(parts)
    return all(ok), text, nums


def above_baselines(fits: Sequence[FitRow]) -> Claim:
    """Check that the β-VAE aligns better than AE, VAE, PCA and ICA (Welch tests shown)."""
    agrees, text, nums = _above(fits, CORE_BASELINES)
    return Claim(
        "above_baselines", "β-VAE units align with single neurons better than AE, VAE, PCA "
        "and ICA", "β-VAE alignment is above every baseline model family (Fig. 3b, 2)",
        "mean alignment of the UDR-selected β-VAEs above each family's mean (two-sided "
        "Welch p shown)", text, agrees, "alignment_by_family", nums)


def above_aam_classifier(fits: Sequence[FitRow]) -> Claim:
    """Check that the β-VAE aligns better than the AAM and the identity classifier."""
    agrees, text, nums = _above(fits, ("aam", "classifier"))
    return Claim(
        "above_aam_classifier", "... and better than the AAM and the identity classifier",
        "β-VAE alignment is above the AAM's (Chang & Tsao's face space) and deep classifiers'",
        "mean alignment of the UDR-selected β-VAEs above each family's mean", text, agrees,
        "alignment_by_family", nums)


def near_ceiling(fits: Sequence[FitRow]) -> Claim:
    """Check that the β-VAE is not significantly below the neuron-subset ceiling (p = 0.43).

    Two-sided Welch p ≥ 0.05, or a mean at or above the ceiling's.
    """
    a_b = _selected_alignment(fits)
    ceiling = _pooled(fits, "ceiling")
    t, p = welch(a_b, ceiling)
    if len(a_b) >= 2 and ceiling.size >= 2 and np.isfinite(p):
        above = float(np.nanmean(a_b)) >= float(ceiling.mean())
        agrees: bool | None = bool(above or p >= ALPHA)
        text = (f"β-VAE {fmt(float(np.nanmean(a_b)))} vs ceiling {fmt(float(ceiling.mean()))}"
                f" ± {fmt(float(ceiling.std(ddof=1)))} ({ceiling.size} neuron subsets); Welch "
                f"t = {t:.2f}, p = {fmt_p(p)}")
    else:
        agrees, text = None, "not enough fits or neurons for the ceiling"
    return Claim(
        "near_ceiling", "β-VAE alignment reaches the ceiling set by real neurons",
        "β-VAE alignment is not significantly below that of subsets of real neurons "
        "(two-sided Welch t-test, p = 0.43)",
        "two-sided Welch p ≥ 0.05, or a mean at or above the ceiling's", text, agrees,
        "alignment_by_family",
        {"beta_vae_mean": float(np.nanmean(a_b)) if a_b else None,
         "ceiling_mean": float(ceiling.mean()) if ceiling.size else None, "t": t, "p": p})


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
        agrees: bool | None = bool(r > 0 and p1 < ALPHA)
        text = f"Pearson r = {r:.2f} over {len(allb)} β-VAE models (one-sided p = {fmt_p(p1)})"
    else:
        r = p1 = math.nan
        agrees, text = None, "fewer than 3 β-VAE models with a UDR score"
    return Claim(
        "udr_alignment", "UDR, a label-free score, predicts alignment",
        "UDR correlates with alignment over 400 β-VAE models (Pearson r = 0.96)",
        "Pearson r > 0 over every β-VAE model (all β, all seeds), one-sided p < 0.05",
        text, agrees, "udr_vs_alignment", {"r": r, "p_one_sided": p1, "n": len(allb)})


def rotated_control(fits: Sequence[FitRow]) -> Claim:
    """Check that the β-VAE's alignment falls on rotated responses (Welch p < 0.05, lower)."""
    a_b = _selected_alignment(fits)
    rot = _pooled(fits, "rotated")
    t, p = welch(a_b, rot)
    if np.isfinite(p):
        agrees: bool | None = bool(float(np.nanmean(a_b)) > float(rot.mean()) and p < ALPHA)
        text = (f"β-VAE {fmt(float(np.nanmean(a_b)))} vs {fmt(float(rot.mean()))} against "
                f"rotated responses ({rot.size} rotations); Welch t = {t:.2f}, p = {fmt_p(p)}")
    else:
        agrees, text = None, "not enough fits"
    return Claim(
        "rotated_control", "The alignment is with single neurons, not just their subspace",
        "alignment drops when the neural responses are linearly recombined (Fig. 3c)",
        "β-VAE alignment above its alignment with randomly rotated responses, Welch p < 0.05",
        text, agrees, "rotated_control",
        {"alignment_mean": float(np.nanmean(a_b)) if a_b else None,
         "rotated_mean": float(rot.mean()) if rot.size else None, "t": t, "p": p})


def _fewer_neurons(fits: Sequence[FitRow], other: str, paper_n: str) -> Claim:
    """Check that fewer neurons reconstruct novel faces through the β-VAE than ``other``.

    Median neurons to criterion over the fits; a fit that never reaches it counts as more.
    """
    n_b = [f.n_to_criterion for f in family_rows(fits, "beta_vae")
           if not math.isnan(f.n_to_criterion)]
    n_o = [f.n_to_criterion for f in family_rows(fits, other) if not math.isnan(f.n_to_criterion)]
    if n_b and n_o:
        mb, mo = float(np.median(n_b)), float(np.median(n_o))
        agrees: bool | None = bool(mb < mo)
        text = (f"median neurons to criterion: β-VAE {fmt(mb)} vs {FAMILIES[other]} "
                f"{fmt(mo)} (per fit: {fmt_counts(n_b)} vs {fmt_counts(n_o)})")
    else:
        mb = mo = math.nan
        agrees, text = None, "no reconstruction results"
    return Claim(
        f"reconstruction_{other}",
        f"Fewer neurons reconstruct novel faces through the β-VAE than the {FAMILIES[other]}",
        f"~12 neurons suffice for β-VAE reconstructions vs {paper_n} for the "
        f"{FAMILIES[other]} (Fig. 4)",
        "median number of best neurons reaching 80% of the way from the average face to "
        "the model's own reconstruction: β-VAE below " + FAMILIES[other],
        text, agrees, "reconstruction_vs_neurons", {"beta_vae_median": mb, f"{other}_median": mo})


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

