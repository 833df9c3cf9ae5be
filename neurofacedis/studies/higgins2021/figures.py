"""The paper's figure set, drawn from the table of fits (and the models, for traversals).

:func:`draw_all` writes ``OUT/figures/NAME.png`` for each figure it can draw; the report puts
each one beside the claims that name it (``Claim.figure``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurofacedis.stats import welch
from neurofacedis.studies.higgins2021.fits import FitRow, family_rows, fmt, fmt_p
from neurofacedis.studies.higgins2021.presets import FAMILIES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from neurofacedis.runner import AnalysisResult

__all__ = ["draw_all", "plot_alignment_by_family", "plot_udr_vs_alignment",
           "plot_rotated_control", "plot_reconstruction", "plot_matches", "plot_traversals",
           "truth_labels"]


def draw_all(fits: list[FitRow], result: AnalysisResult, recording: Path, folder: Path,
             notes: list[str]) -> dict[str, Path]:
    """Draw every figure that the fits allow into ``folder``; return {name: PNG path}."""
    folder.mkdir(parents=True, exist_ok=True)
    figs: dict[str, Figure | None] = {
        "alignment_by_family": plot_alignment_by_family(fits),
        "udr_vs_alignment": plot_udr_vs_alignment(fits),
        "rotated_control": plot_rotated_control(fits),
        "reconstruction_vs_neurons": plot_reconstruction(fits),
        "matches": plot_matches(fits, labels=truth_labels(recording)),
        "traversals": plot_traversals(fits, result, recording, notes),
    }
    paths = {}
    for name, fig in figs.items():
        if fig is None:
            continue
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=80)
        paths[name] = path
    return paths


def _figure(w: float, h: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained")


def _families_present(fits: Sequence[FitRow]) -> list[str]:
    return [m for m in FAMILIES if any(f.model == m for f in fits)]


def _jitter(n: int) -> np.ndarray:
    return np.linspace(-0.12, 0.12, n) if n > 1 else np.zeros(n)


def plot_alignment_by_family(fits: Sequence[FitRow]) -> Figure:
    """Box plots of alignment per model family beside the neuron-subset ceiling (Fig. 3b).

    β-VAE: the UDR-selected seed of each β; other families: every seed. Each baseline box is
    annotated with the two-sided Welch p against the β-VAE.
    """
    fig = _figure(7.5, 3.8)
    ax = fig.add_subplot()
    fams = _families_present(fits)
    data, names = [], []
    for m in fams:
        data.append([f.alignment for f in family_rows(fits, m) if np.isfinite(f.alignment)])
        names.append(FAMILIES[m] + (" (UDR)" if m == "beta_vae" else ""))
    ceil = np.concatenate([f.ceiling for f in family_rows(fits, "beta_vae")] or [np.array([])])
    ceil = ceil[np.isfinite(ceil)]
    data.append(list(ceil))
    names.append("ceiling\n(neurons)")
    pos = np.arange(len(data))
    ax.boxplot([d if d else [np.nan] for d in data], positions=pos, widths=0.55,
               showfliers=False, medianprops={"color": "k"})
    colors = [f"C{i}" for i in range(len(data) - 1)] + ["0.4"]
    for i, d in enumerate(data):
        ax.scatter(i + _jitter(len(d)), d, s=12 if i < len(data) - 1 else 4, color=colors[i],
                   alpha=0.8, zorder=3)
    a_b = data[0] if fams and fams[0] == "beta_vae" else []
    top = np.nanmax([np.nanmax(d) for d in data if d] or [1.0])
    for i, d in enumerate(data[1:], start=1):
        _, p = welch(a_b, d)
        if np.isfinite(p):
            ax.text(i, top + 0.03, f"p={fmt_p(p)}", ha="center", fontsize=7)
    ax.set_xticks(pos, names, fontsize=8)
    ax.set_ylabel("alignment score")
    ax.set_ylim(bottom=0, top=min(1.05, top + 0.1))
    ax.set_title("Alignment with single neurons per model family (Welch p vs β-VAE)",
                 fontsize=10)
    return fig


def plot_udr_vs_alignment(fits: Sequence[FitRow]) -> Figure:
    """UDR against alignment for every β-VAE model, coloured by β, with a least-squares line."""
    fig = _figure(5.2, 4.0)
    ax = fig.add_subplot()
    rows = [f for f in fits if f.model == "beta_vae" and np.isfinite(f.udr)
            and np.isfinite(f.alignment)]
    if rows:
        x = np.array([f.udr for f in rows])
        y = np.array([f.alignment for f in rows])
        betas = np.array([f.beta if f.beta is not None else np.nan for f in rows])
        sc = ax.scatter(x, y, c=betas, cmap="viridis", s=30,
                        edgecolors=["k" if f.selected else "none" for f in rows])
        fig.colorbar(sc, ax=ax, label="β")
        title = "UDR vs alignment, all β-VAE models"
        if len(rows) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            from scipy.stats import pearsonr

            slope, icpt = np.polyfit(x, y, 1)
            xs = np.linspace(x.min(), x.max(), 2)
            ax.plot(xs, slope * xs + icpt, color="C3")
            title += f" (Pearson r = {pearsonr(x, y)[0]:.2f})"
        ax.set_title(title, fontsize=10)
    ax.set_xlabel("UDR (label-free; black edge = selected seed)")
    ax.set_ylabel("alignment score")
    return fig


def plot_rotated_control(fits: Sequence[FitRow]) -> Figure:
    """Alignment against the real responses and against randomly rotated ones, per family."""
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    fams = _families_present(fits)
    for i, m in enumerate(fams):
        rows = family_rows(fits, m)
        real = [f.alignment for f in rows if np.isfinite(f.alignment)]
        rot = np.concatenate([f.rotated for f in rows] or [np.array([])])
        rot = rot[np.isfinite(rot)]
        for off, vals, color, lab in ((-0.18, real, "C0", "neurons"),
                                      (0.18, list(rot), "C3", "rotated responses")):
            if not len(vals):
                continue
            ax.boxplot([vals], positions=[i + off], widths=0.3, showfliers=False,
                       medianprops={"color": color})
            ax.scatter(i + off + _jitter(len(vals)) * 0.8, vals, s=8, color=color, alpha=0.7,
                       label=lab if i == 0 else None, zorder=3)
    ax.set_xticks(range(len(fams)), [FAMILIES[m] for m in fams], fontsize=8)
    ax.set_ylabel("alignment score")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Rotated-code control: alignment with neurons vs with rotated responses",
                 fontsize=10)
    return fig


def plot_reconstruction(fits: Sequence[FitRow]) -> Figure:
    """Reconstruction quality of held-out faces vs number of neurons, per family (Fig. 4)."""
    fig = _figure(9, 3.6)
    ax1, ax2 = fig.subplots(1, 2)
    for i, m in enumerate(_families_present(fits)):
        rows = [f for f in family_rows(fits, m) if np.isfinite(f.progress).all()
                and len(f.progress) > 1]
        if not rows:
            continue
        n = rows[0].n_neurons
        rows = [f for f in rows if len(f.n_neurons) == len(n)]
        prog = np.array([f.progress for f in rows])
        ident = np.array([f.identification for f in rows])
        for ax, vals in ((ax1, prog), (ax2, ident)):
            med = np.median(vals, axis=0)
            ax.plot(n, med, "o-", ms=3, color=f"C{i}", label=FAMILIES[m])
            ax.fill_between(n, vals.min(0), vals.max(0), color=f"C{i}", alpha=0.15)
        nc = [f.n_to_criterion for f in rows if np.isfinite(f.n_to_criterion)]
        if nc:
            ax1.plot([np.median(nc)], [1.02 + 0.03 * i], "v", color=f"C{i}", ms=6)
    ax1.axhline(0.8, color="k", lw=0.8, ls="--")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("number of neurons (best first)")
    ax1.set_ylabel("progress: average face → own reconstruction")
    ax1.set_title("Reconstruction vs neurons (▼ median neurons to 80%)", fontsize=9)
    ax2.set_ylabel("identification of held-out faces")
    ax2.set_title("Identification vs neurons", fontsize=9)
    ax1.legend(fontsize=7)
    return fig


def _best_beta_vae(fits: Sequence[FitRow]) -> FitRow | None:
    """Return the UDR-selected β-VAE with the highest UDR (label-free), else the first β-VAE."""
    rows = [f for f in family_rows(fits, "beta_vae") if f.matches is not None]
    if not rows:
        return None
    scored = [f for f in rows if np.isfinite(f.udr)]
    return max(scored, key=lambda f: f.udr) if scored else rows[0]


def truth_labels(recording: Path) -> dict[str, str]:
    """Map neuron name -> "axis: FACTOR" / "mixed" from the simulation's truth, if any."""
    from neurofacedis.nwb import Recording

    with Recording.open(recording) as rec:
        truth = rec.truth
        names = [str(n) for n in rec.responses.coords["neuron"].values]
    if not truth or "tuning_weights" not in truth or "factor_names" not in truth:
        return {}
    w = np.abs(np.asarray(truth["tuning_weights"], float))
    factors = list(truth["factor_names"])
    codes = list(truth.get("code", ["axis"] * len(names)))
    if w.shape[0] != len(names):
        return {}
    return {n: (f"axis: {factors[int(np.argmax(w[i]))]}" if str(codes[i]) == "axis"
                else str(codes[i])) for i, n in enumerate(names)}


def plot_matches(fits: Sequence[FitRow], n_panels: int = 6,
                 labels: Mapping[str, str] | None = None) -> Figure | None:
    """One-to-one unit↔neuron matches (Hungarian on |r|) and example tuning curves.

    Left: |r| of each match, best first (median over each family's fits). Right: the best
    UDR-selected β-VAE's matched pairs — the neuron's response against its unit, with the
    mean response in deciles of the unit (the tuning curve). ``labels`` names what each
    neuron is tuned to (the virtual face patch's ground truth), shown in the panel titles.
    """
    labels = labels or {}
    best = _best_beta_vae(fits)
    if best is None:
        return None
    fig = _figure(11, 4.2)
    grid = fig.add_gridspec(
        2, 1 + (n_panels + 1) // 2, width_ratios=[1.6] + [1] * ((n_panels + 1) // 2)
    )
    ax = fig.add_subplot(grid[:, 0])
    for i, m in enumerate(_families_present(fits)):
        curves = [np.abs(np.asarray(f.matches["match_r"].values, float))
                  for f in family_rows(fits, m) if f.matches is not None]
        if not curves:
            continue
        k = min(len(c) for c in curves)
        med = np.median([c[:k] for c in curves], axis=0)
        ax.plot(np.arange(1, k + 1), med, "o-", ms=3, color=f"C{i}", label=FAMILIES[m])
    ax.set_xlabel("match rank")
    ax.set_ylabel("|r| unit ↔ matched neuron (training)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("Hungarian one-to-one matches", fontsize=9)
    ds = best.matches
    lat = np.asarray(ds["match_latent"].values, float)
    resp = np.asarray(ds["match_response"].values, float)
    r = np.asarray(ds["match_r"].values, float)
    units = [str(u) for u in ds["match_unit"].values]
    neurons = [str(n) for n in ds["match_neuron"].values]
    for i in range(min(n_panels, len(r))):
        a = fig.add_subplot(grid[i % 2, 1 + i // 2])
        x, y = lat[i], resp[i]
        a.scatter(x, y, s=3, color="0.6", alpha=0.5)
        edges = np.quantile(x, np.linspace(0, 1, 11))
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, 9)
        centers = [x[idx == b].mean() for b in range(10) if np.any(idx == b)]
        means = [y[idx == b].mean() for b in range(10) if np.any(idx == b)]
        a.plot(centers, means, "-", color="C0", lw=2)
        truth = f" ({labels[neurons[i]]})" if neurons[i] in labels else ""
        a.set_title(f"{units[i]} ↔ neuron {neurons[i]}{truth}\nr = {r[i]:.2f}", fontsize=7)
        a.tick_params(labelsize=6)
        if i % 2 == 1:
            a.set_xlabel("unit value", fontsize=7)
        if i < 2:
            a.set_ylabel("response (spikes)", fontsize=7)
    fig.suptitle(f"Matched tuning: β-VAE β={fmt(best.beta or math.nan)} seed {best.seed} "
                 "(best UDR)", fontsize=9)
    return fig


def plot_traversals(fits: Sequence[FitRow], result: AnalysisResult, recording: Path,
                    notes: list[str]) -> Figure | None:
    """Draw the best-UDR β-VAE's latent traversals (the model draws them itself)."""
    best = _best_beta_vae(fits)
    if best is None:
        return None
    job = next((j for j in result.jobs if j.label == best.label and j.seed == best.seed), None)
    draw = getattr(getattr(job, "model", None), "figures", None)
    if not callable(draw):
        notes.append("the β-VAE model draws no figures: no latent traversals")
        return None
    from neurofacedis.nwb import Recording

    with Recording.open(recording) as rec:
        images = rec.load_images()
    try:
        figs = draw(images[: min(len(images), 256)]) or {}
    except Exception as exc:  # a figure failing never loses the numbers
        notes.append(f"latent traversals failed: {type(exc).__name__}: {exc}")
        return None
    fig = figs.get("traversals")
    if fig is not None:
        fig.suptitle(f"Latent traversals: β-VAE β={fmt(best.beta or math.nan)} seed "
                     f"{best.seed} (best UDR; active units, ±3 sd)", fontsize=9)
    return fig
