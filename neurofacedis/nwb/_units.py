"""Unit selection: which rows of a Units table are analysed, and why the others are not.

A spike-sorted session always has a few units that never fired during the stimuli, or that
drifted away halfway; they are selected out, never a reason to refuse the file.

Rules, applied in this order (each dropped unit is named with its reason):

1. ``units=EXPR`` keeps the rows where a selection expression over the Units table's columns
   is true (e.g. ``"quality == 'good'"``, ``"firing_rate > 1 and depth < 2000"``). The
   expression is parsed with :mod:`ast` and evaluated by :func:`select_rows` over a whitelist
   (column names, ``id``, numbers, text, ``True``/``False``, comparisons, ``in`` lists,
   ``and``/``or``/``not``, ``&``/``|``/``~``): nothing is ever passed to ``eval``.
2. Presentations whose counting window does not lie inside one of the unit's
   ``obs_intervals`` are missing (NaN) for that unit, not zero. A unit left with a stimulus
   that it never observed is dropped ("not observed for stimulus ..."): every metric gets at
   least one response per stimulus and neuron (NaN repeats are averaged over, as for processed
   responses).
3. A unit with no spike in any observed response window is dropped ("silent").
4. ``min_rate=HZ`` drops units whose mean rate inside the observed response windows is below
   HZ.
5. A kept unit whose observed presentations hold a run of ``L >= 10`` consecutive empty
   windows (in time order) is flagged "stopped firing" when such a run is improbable for its
   own mean count ``m`` per window: ``n_presentations * exp(-m * L) < 0.001`` (Poisson). It
   is kept; the flag is reported.

The result is a :class:`UnitSelection` (kept, dropped with reasons, flagged), ready for
summary.json, the report and the latents' provenance (:meth:`UnitSelection.as_dict`).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from neurofacedis.errors import InputError

__all__ = ["UnitSelection", "select_rows", "select_units", "observed_mask", "STOP_RUN"]

#: Shortest run of empty, observed windows that can flag a unit as "stopped firing".
STOP_RUN = 10
#: A run is flagged when its chance under the unit's own Poisson rate is below this.
STOP_CHANCE = 1e-3
#: Longest selection expression accepted (characters).
MAX_EXPRESSION = 500

#: Reasons of drops the user asked for (``units=``, ``min_rate=``): recorded, not warned.
_ASKED = ("not selected by units=", "mean rate ")

_COMPARE = {
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}


@dataclass(frozen=True)
class UnitSelection:
    """Which units are analysed: ids kept (in column order), dropped and flagged with reasons."""

    kept: list[int]
    dropped: dict[int, str] = field(default_factory=dict)
    flagged: dict[int, str] = field(default_factory=dict)
    expression: str | None = None
    min_rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record: ``{"kept", "dropped", "flagged", "units", "min_rate"}``."""
        return {
            "kept": [int(u) for u in self.kept],
            "dropped": {str(k): v for k, v in self.dropped.items()},
            "flagged": {str(k): v for k, v in self.flagged.items()},
            "units": self.expression,
            "min_rate": self.min_rate,
        }

    def warnings(self) -> list[str]:
        """One line per unit flagged, or dropped by a default rule (not units=, min_rate=)."""
        out = [f"unit {k} dropped: {v}" for k, v in self.dropped.items()
               if not v.startswith(_ASKED)]
        return out + [f"unit {k} flagged: {v}" for k, v in self.flagged.items()]


# --- the selection expression --------------------------------------------------------------


def select_rows(table: pd.DataFrame, expression: str, *, file: Any = None) -> np.ndarray:
    """Evaluate a selection expression over ``table``'s columns: one bool per row.

    ``id`` names the table's index (unit ids). Anything outside the whitelist (calls,
    attributes, subscripts, arithmetic on names, unknown names) is one
    :class:`~neurofacedis.errors.InputError` line naming the construct.
    """
    text = str(expression)
    if len(text) > MAX_EXPRESSION:
        raise InputError(f"longer than {MAX_EXPRESSION} characters", file=file, obj="units")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InputError(
            f"not a selection expression ({exc.msg}): {text!r}", file=file, obj="units"
        ) from None
    columns = {str(c): table[c].to_numpy() for c in table.columns}
    columns.setdefault("id", table.index.to_numpy())
    value = _Evaluator(columns, text, file).visit(tree.body)
    mask = np.asarray(value)
    if mask.dtype != bool or mask.shape != (len(table),):
        raise InputError(
            f"must be a condition (true or false per unit), got {text!r}", file=file, obj="units"
        )
    return mask


class _Evaluator:
    """Evaluate a whitelisted expression tree over named numpy columns."""

    def __init__(self, columns: dict[str, np.ndarray], text: str, file: Any) -> None:
        self.columns = columns
        self.text = text
        self.file = file

    def refuse(self, node: ast.AST, problem: str | None = None) -> InputError:
        what = problem or f"{type(node).__name__.lower()} not allowed in a unit selection"
        return InputError(f"{what}: {self.text!r}", file=self.file, obj="units")

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BoolOp):
            values = [self.condition(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = values[0]
            for v in values[1:]:
                out = combine(out, v)
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            combine = np.logical_and if isinstance(node.op, ast.BitAnd) else np.logical_or
            return combine(self.condition(node.left), self.condition(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert)):
            return np.logical_not(self.condition(node.operand))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.visit(node.operand)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value
            raise self.refuse(node, "minus only before a number")
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Name):
            if node.id not in self.columns:
                raise self.refuse(
                    node, f"no Units column {node.id!r} (have: {', '.join(self.columns)})"
                )
            return self.columns[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.visit(e) for e in node.elts]
        raise self.refuse(node)

    def condition(self, node: ast.AST) -> np.ndarray:
        value = self.visit(node)
        arr = np.asarray(value)
        if arr.dtype != bool:
            raise self.refuse(node, "and/or/not need conditions on both sides")
        return arr

    def compare(self, node: ast.Compare) -> np.ndarray:
        left = self.visit(node.left)
        out: Any = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.visit(right_node)
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, list):
                    raise self.refuse(node, "'in' needs a list, e.g. quality in ['good', 'mua']")
                hit = np.isin(np.asarray(left, dtype=object), np.asarray(right, dtype=object))
                result = hit if isinstance(op, ast.In) else ~hit
            elif type(op) in _COMPARE:
                try:
                    result = _COMPARE[type(op)](np.asarray(left, dtype=object),
                                                np.asarray(right, dtype=object))
                except TypeError:
                    raise self.refuse(node, "cannot compare text with numbers") from None
                result = np.asarray(result, dtype=bool)
            else:
                raise self.refuse(node)
            out = np.logical_and(out, result)
            left = right
        return np.asarray(out, dtype=bool)


# --- observation intervals and the selection rules ------------------------------------------


def observed_mask(
    obs_intervals: Sequence[np.ndarray | None], onsets: np.ndarray, window: tuple[float, float]
) -> np.ndarray:
    """(units, presentations) bool: whether each presentation's window lies inside one interval.

    A unit without intervals (``None``) is observed throughout.
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    lo, hi = onsets + float(window[0]), onsets + float(window[1])
    out = np.ones((len(obs_intervals), onsets.size), dtype=bool)
    for u, iv in enumerate(obs_intervals):
        if iv is None:
            continue
        iv = np.asarray(iv, dtype=np.float64).reshape(-1, 2)
        inside = (lo[:, None] >= iv[None, :, 0]) & (hi[:, None] <= iv[None, :, 1])
        out[u] = inside.any(axis=1)
    return out


def _longest_zero_run(counts: np.ndarray) -> int:
    best = run = 0
    for c in counts:
        run = run + 1 if c == 0 else 0
        best = max(best, run)
    return best


def select_units(
    ids: np.ndarray,
    counts: np.ndarray,
    observed: np.ndarray,
    stimulus_index: np.ndarray,
    n_stimuli: int,
    window: tuple[float, float],
    *,
    chosen: np.ndarray | None = None,
    expression: str | None = None,
    min_rate: float | None = None,
    stimulus_ids: Sequence[str] | None = None,
) -> UnitSelection:
    """Apply the selection rules (module docstring) to per-presentation spike counts.

    Parameters
    ----------
    ids
        Unit ids (U,).
    counts
        (U, P) spikes in each presentation's window, presentations in time order.
    observed
        (U, P) bool, from :func:`observed_mask`.
    stimulus_index
        (P,) stimulus of each presentation.
    chosen
        (U,) bool from the selection expression, or None (all).
    """
    width = float(window[1]) - float(window[0])
    dropped: dict[int, str] = {}
    flagged: dict[int, str] = {}
    kept: list[int] = []
    for u, uid in enumerate(int(i) for i in ids):
        if chosen is not None and not chosen[u]:
            dropped[uid] = f"not selected by units={expression!r}"
            continue
        seen = observed[u]
        shown = np.bincount(stimulus_index[seen], minlength=n_stimuli)
        if not shown.all():
            k = int(np.flatnonzero(shown == 0)[0])
            name = stimulus_ids[k] if stimulus_ids is not None else k
            dropped[uid] = f"not observed for stimulus {name!r} (obs_intervals)"
            continue
        c = counts[u][seen]
        if c.sum() == 0:
            dropped[uid] = "silent: no spike in any response window"
            continue
        rate = float(c.sum()) / (c.size * width)
        if min_rate is not None and rate < min_rate:
            dropped[uid] = f"mean rate {rate:.3g} Hz in the response windows < {min_rate:g}"
            continue
        run = _longest_zero_run(c)
        mean = float(c.mean())
        if run >= STOP_RUN and c.size * math.exp(-mean * run) < STOP_CHANCE:
            flagged[uid] = (
                f"stopped firing: {run} consecutive observed presentations without a spike "
                f"(mean {mean:.3g} spikes per window)"
            )
        kept.append(uid)
    return UnitSelection(kept, dropped, flagged, expression, min_rate)
