"""Requirements: what a metric (or model) needs from the data or the fit, as one table.

Each requirement is a :class:`~neurofacedis.specs.RequirementSpec` (name, description, check)
registered through ``neurofacedis_register_requirements``: the core plugin registers the
built-in ones below (:data:`neurofacedis.specs.REQUIREMENTS`), other plugins add theirs the
same way, and the registry validates every ``requires`` against the table. The runner asks
:func:`check_requirements` (:func:`unmet` on one fit's context) before computing a metric and
skips it with the reason it returns.

A check gets a :class:`~neurofacedis.specs.RequirementContext` and returns None when met,
otherwise what is lacking; the reason reads ``needs <description>[; <what is lacking>]``.

Targets: neural responses are every metric's default target, so every metric implicitly
requires ``neurons`` (:data:`NEURONS`: the recording holds neural data) unless it declares a
requirement whose name starts with ``behaviour`` (:data:`BEHAVIOUR_PREFIX`): such a metric
reads the human behaviour (``ctx.behaviour``) instead, and runs on a behaviour-only file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from neurofacedis._util import one_line
from neurofacedis.specs import REQUIREMENTS, RequirementContext, RequirementSpec, label_columns

__all__ = ["builtin_requirements", "unmet", "reason", "check_requirements", "NEURONS",
           "BEHAVIOUR_PREFIX", "implied"]

#: The requirement every metric has unless it targets behaviour (see the module docstring).
NEURONS = "neurons"
#: Requirements named so mark a metric of the behaviour target (no implicit ``neurons``).
BEHAVIOUR_PREFIX = "behaviour"
_NEURONS_TEXT = "neural responses (a Units table or StimulusResponses)"


def _repeats(ctx: RequirementContext) -> str | None:
    n = ctx.recording.n_repeats
    return None if n >= 2 else f"the recording has {n}"


def _decoder(ctx: RequirementContext) -> str | None:
    return None if callable(getattr(ctx.model, "decode", None)) else (
        f"model '{ctx.model_name}' cannot decode")


def _factors(ctx: RequirementContext) -> str | None:
    return None if ctx.recording.factors is not None else "the recording has none"


def _seeds(ctx: RequirementContext) -> str | None:
    return None if ctx.n_seeds >= 2 else ""


def _landmarks(ctx: RequirementContext) -> str | None:
    return None if ctx.recording.landmarks is not None else "the recording has none"


def _labels(ctx: RequirementContext) -> str | None:
    ident = ctx.recording.stimuli["identity"].astype(str)
    return None if ident.nunique() >= 2 else ""


def _models(ctx: RequirementContext) -> str | None:
    return None if ctx.n_models >= 2 else ""


def _attributes(ctx: RequirementContext) -> str | None:
    rec = ctx.recording
    if rec.factors is not None or label_columns(rec.stimuli):
        return None
    return "the recording has neither"


def _neurons(ctx: RequirementContext) -> str | None:
    rec = ctx.recording
    if getattr(rec, "has_neurons", True):
        return None
    return f"{rec.path.name} has none: a behaviour-only file"


def _units(ctx: RequirementContext) -> str | None:
    if ctx.active is not None:
        n_active = int(np.sum(ctx.active))
    else:
        n_active = 0 if ctx.latents is None else int(np.shape(ctx.latents)[1])
    return None if n_active >= 2 else f"this fit has {n_active}"


_CHECKS = {
    "repeats": _repeats, "decoder": _decoder, "factors": _factors, "seeds": _seeds,
    "landmarks": _landmarks, "labels": _labels, "models": _models, "attributes": _attributes,
    "units": _units,
}


def builtin_requirements() -> list[RequirementSpec]:
    """Return the built-in requirements (what the core plugin registers)."""
    return [*(RequirementSpec(name, REQUIREMENTS[name], _CHECKS[name]) for name in REQUIREMENTS),
            RequirementSpec(NEURONS, _NEURONS_TEXT, _neurons)]


def implied(requires: Iterable[str]) -> frozenset[str]:
    """Return ``requires`` with ``neurons`` added unless a requirement targets behaviour."""
    names = frozenset(requires)
    if any(str(n).startswith(BEHAVIOUR_PREFIX) for n in names):
        return names
    return names | {NEURONS}


def reason(spec: RequirementSpec, lacking: str) -> str:
    """Render a skip reason: ``needs <description>[; <lacking>]``."""
    return f"needs {spec.description}" + (f"; {lacking}" if lacking else "")


def unmet(requires: Iterable[str], ctx: RequirementContext,
          table: Mapping[str, Any]) -> str | None:
    """Return why the first unmet requirement (in name order) is unmet, or None.

    ``table`` maps requirement names to :class:`~neurofacedis.specs.RequirementSpec` or to
    registry entries holding one (``.spec``); a name it lacks is not checked (the registry
    refuses such specs). A check that raises counts as unmet, saying so.
    """
    for name in sorted(requires):
        item = table.get(name)
        if item is None:
            continue
        spec = getattr(item, "spec", item)
        try:
            lacking = spec.check(ctx)
        except Exception as exc:  # noqa: BLE001 - a plugin's check: its failure is a reason
            lacking = f"its check failed ({one_line(exc)})"
        if lacking is not None:
            return reason(spec, lacking)
    return None


def check_requirements(requires: Iterable[str], *, recording: Any, job: Any,
                       siblings: Sequence[Any], n_models: int,
                       table: Mapping[str, Any] | None = None,
                       behaviour: Any = None) -> str | None:
    """Why a metric requiring ``requires`` cannot run on this fit, or None.

    ``job`` is the fit (a :class:`~neurofacedis.runner.jobs.FitJob`, or None to check the
    recording alone); ``siblings`` are the other seeds of its model label; ``table`` is the
    registry's requirement table (None: the built-ins). ``neurons`` is checked first, for
    every metric that does not target behaviour (:func:`implied`).
    """
    if table is None:
        table = {r.name: r for r in builtin_requirements()}
    ctx = RequirementContext(
        recording=recording, model=getattr(job, "model", None),
        model_name=getattr(job, "name", ""), latents=getattr(job, "latents", None),
        active=getattr(job, "active", None), n_seeds=len(siblings) + 1, n_models=n_models,
        behaviour=behaviour,
    )
    requires = implied(requires)
    if NEURONS in requires:  # first: without neurons nothing else about them matters
        first = unmet([NEURONS], ctx, {NEURONS: table.get(NEURONS) or _NEURONS_SPEC})
        if first is not None:
            return first
    return unmet(requires - {NEURONS}, ctx, table)


_NEURONS_SPEC = RequirementSpec(NEURONS, _NEURONS_TEXT, _neurons)
