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

__all__ = ["Claim", "Reproduction"]


@dataclass
class Claim:
    """One claim of the paper, checked on this run.

    ``agrees`` is True or False, or None when the run cannot test it (say, too few models);
    ``criterion`` says what was tested, ``measured`` what came out.
    """

    key: str
    title: str
    paper: str
    criterion: str
    measured: str
    agrees: bool | None
    figure: str
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``agrees``, ``disagrees`` or ``not tested``."""
        return {True: "agrees", False: "disagrees", None: "not tested"}[self.agrees]


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

    @property
    def agrees(self) -> bool:
        """True when every claim the run could test agrees with the paper."""
        tested = [c for c in self.claims if c.agrees is not None]
        return bool(tested) and all(c.agrees for c in tested)

    def claim(self, key: str) -> Claim:
        """Return the claim with this key."""
        for c in self.claims:
            if c.key == key:
                return c
        raise KeyError(key)
