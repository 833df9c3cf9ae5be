"""What every study returns: its claims, checked on one run, and the run behind them.

A study's ``reproduce`` returns a :class:`Reproduction`; the CLI prints its claims as a table
and points at ``OUT/report.html``, whatever the study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neurofacedis.runner import AnalysisResult

__all__ = ["Claim", "Reproduction", "STATUSES"]


#: What a claim's check can conclude (docs/reproduce.md, "Verdicts").
STATUSES = ("agrees", "disagrees", "not shown", "not tested")


@dataclass
class Claim:
    """One claim of the paper, checked on this run.

    ``status`` is ``agrees`` (the direction matches and the paper's test is significant at
    its level), ``disagrees`` (significant the other way), ``not shown`` (not significant:
    ``note`` says why, e.g. ``underpowered: n = 3 vs 3, power 0.21``) or ``not tested`` (the
    run cannot test it, say too few models). ``agrees`` is True, False or None (not shown,
    not tested); ``criterion`` says what was tested, ``measured`` what came out.
    """

    key: str
    title: str
    paper: str
    criterion: str
    measured: str
    agrees: bool | None
    figure: str
    numbers: dict[str, Any] = field(default_factory=dict)
    status: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if not self.status:  # given by agrees alone: a significant test either way or none
            self.status = {True: "agrees", False: "disagrees", None: "not tested"}[self.agrees]
        if self.status not in STATUSES:
            raise ValueError(f"claim status {self.status!r} is not one of {STATUSES}")

    @property
    def verdict(self) -> str:
        """The status, with its note: ``not shown (underpowered: n = 3 vs 3, power 0.21)``."""
        return f"{self.status} ({self.note})" if self.note else self.status


@dataclass
class Reproduction:
    """What :func:`reproduce` returns: the claims, the figures and the analysis behind them."""

    study: str
    scale: str
    claims: list[Claim]
    figures: dict[str, Path]
    analysis: AnalysisResult
    out: Path
    recording: Path
    elapsed_seconds: float
    notes: list[str] = field(default_factory=list)
    world: str | None = None  # the simulated session's world; None: a recording was given

    @property
    def agrees(self) -> bool:
        """True when every claim the run could test agrees (is shown) as in the paper."""
        tested = [c for c in self.claims if c.status != "not tested"]
        return bool(tested) and all(c.status == "agrees" for c in tested)

    def _repr_html_(self) -> str:
        """Return the claims table (claim, this run, verdict): how a notebook shows the run."""
        from neurofacedis.report import esc, table

        return (f"<p><b>{esc(self.study)}</b> ({esc(self.scale)}): "
                f"{'agrees' if self.agrees else 'does not agree as a whole'}; report "
                f"<code>{esc(self.out / 'report.html')}</code></p>"
                + table(["claim", "this run", "verdict"],
                        [[c.title, c.measured, c.verdict] for c in self.claims]))

    def claim(self, key: str) -> Claim:
        """Return the claim with this key."""
        for c in self.claims:
            if c.key == key:
                return c
        raise KeyError(key)
