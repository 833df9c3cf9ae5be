"""The numbers of the study: one :class:`FitRow` per fitted model, and how they are written.

The rows are gathered from the analysis; the claims and the figures read them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurofacedis.studies.higgins2021.presets import FAMILIES

if TYPE_CHECKING:
    from neurofacedis.runner import AnalysisResult

__all__ = ["FitRow", "fit_table", "family_rows", "fmt", "fmt_p", "fmt_counts"]


@dataclass
class FitRow:
    """One fitted model's numbers, gathered from the analysis."""

    label: str
    model: str
    seed: int
    beta: float | None
    selected: bool
    udr: float
    alignment: float
    rotated: np.ndarray
    ceiling: np.ndarray
    n_active: int
    n_to_criterion: float
    n_neurons: np.ndarray
    progress: np.ndarray
    identification: np.ndarray
    matches: Any = None  # the alignment Dataset (Hungarian matches), kept for the figure

    @property
    def family(self) -> str:
        """Display name of the model family."""
        return FAMILIES.get(self.model, self.model)


def fit_table(result: AnalysisResult) -> list[FitRow]:
    """One :class:`FitRow` per successful fit of an :func:`analyze` result."""
    rows = []
    for job in result.jobs:
        if job.error is not None or job.latents is None:
            continue
        al = result.results.get(("alignment", job.label, job.seed))
        ud = result.results.get(("udr", job.label, job.seed))
        rc = result.results.get(("reconstruction", job.label, job.seed))
        beta = job.params.get("beta") if job.name == "beta_vae" else None
        udr = ud.attrs.get("udr") if ud is not None else job.udr
        nan1 = np.array([np.nan])
        rows.append(FitRow(
            label=job.label, model=job.name, seed=int(job.seed),
            beta=None if beta is None else float(beta), selected=bool(job.selected),
            udr=_num(udr),
            alignment=_num(al.attrs.get("alignment")) if al is not None else math.nan,
            rotated=np.asarray(al["rotated"].values, float) if al is not None else nan1,
            ceiling=np.asarray(al["ceiling"].values, float) if al is not None else nan1,
            n_active=int(job.active.sum()) if job.active is not None else 0,
            n_to_criterion=(_num(rc.attrs.get("n_to_criterion", math.inf))
                            if rc is not None else math.nan),
            n_neurons=np.asarray(rc["n_neurons"].values, float) if rc is not None else nan1,
            progress=np.asarray(rc["progress"].values, float) if rc is not None else nan1,
            identification=(np.asarray(rc["identification"].values, float)
                            if rc is not None else nan1),
            matches=al,
        ))
    return rows


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def family_rows(fits: Sequence[FitRow], model: str) -> list[FitRow]:
    """Return a family's instances: every seed, except the β-VAE's UDR-selected seed per β.

    The β-VAE instances are picked without labels, as in the paper: for each β, the seed
    whose latents other seeds reproduce best (UDR; ``analyze(select="udr")``).
    """
    rows = [f for f in fits if f.model == model]
    if model == "beta_vae":
        rows = [f for f in rows if f.selected]
    return rows


def fmt(x: float, digits: int = 3) -> str:
    """Write a number with ``digits`` decimals; NaN ``n/a``, +inf ``never``."""
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "never" if x > 0 else "-inf"
    return f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    """Write a p-value: 2 significant digits, scientific below 1e-4, NaN ``n/a``."""
    return "n/a" if not np.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}")


def fmt_counts(values: Sequence[float]) -> str:
    """Write neuron counts, ``never`` where the criterion was not reached."""
    return ", ".join("never" if not np.isfinite(v) else str(int(v)) for v in values)
