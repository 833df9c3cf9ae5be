"""Parameters of models and metrics: ``--param`` parsing and grid expansion.

- :func:`parse_param_args`: ``["beta_vae.beta=1,2,4"]`` -> ``{"beta_vae": {"beta": [1.0, 2.0,
  4.0]}}``, checked against the registered specs.
- :func:`normalise_overrides`: CLI strings or a dict -> the same per-target value lists.
- :func:`expand_grid`: defaults with the cartesian product of the overrides, one dict per
  parameter setting (models are swept as a grid).

Values are typed by each :class:`~neurofacedis.specs.Param`: a bool is never an int, ints given
for float parameters become floats, ``choices`` restrict. Errors name the parameter and offer
the closest declared name.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neurofacedis.errors import InputError, UnknownNameError
from neurofacedis.specs import DatasetSpec, MetricSpec, ModelSpec, Param

__all__ = ["parse_param_args", "normalise_overrides", "expand_grid", "value_ok", "type_phrase"]


def type_phrase(kind: type) -> str:
    """Say 'an int', 'a float'... in messages."""
    return ("an " if kind is int else "a ") + kind.__name__


def value_ok(value: Any, kind: type) -> bool:
    """Tell whether ``value`` is exactly of the declared parameter type (a bool is no int)."""
    if kind is bool:
        return isinstance(value, (bool, np.bool_))
    if isinstance(value, (bool, np.bool_)):
        return False
    if kind is int:
        return isinstance(value, (int, np.integer))
    if kind is float:
        return isinstance(value, (float, np.floating))
    return isinstance(value, str)


def _lookup_param(kind: str, spec: Any, param: str) -> Param:
    params = {p.name: p for p in spec.params}
    if param in params:
        return params[param]
    message = f"unknown parameter {param!r} of {kind} {spec.name!r}"
    close = difflib.get_close_matches(param, list(params), n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    message += f" parameters: {', '.join(params) or 'none'}"
    raise UnknownNameError(message)


def parse_param_args(items: Sequence[str], registry: Any) -> dict[str, dict[str, list[Any]]]:
    """Parse ``--param TARGET.NAME=V1[,V2...]`` options into per-target value lists.

    ``["beta_vae.beta=1,2,4"]`` -> ``{"beta_vae": {"beta": [1.0, 2.0, 4.0]}}``. TARGET is a
    model or metric name of ``registry`` (a :class:`~neurofacedis.registry.Registry`); values
    are parsed with :meth:`Param.parse`. Giving the same parameter twice adds values (a
    sweep); repeated values are kept once.

    Raises
    ------
    UnknownNameError
        Unknown target or parameter (with did-you-mean).
    InputError
        Malformed item or a value of the wrong type.
    """
    out: dict[str, dict[str, list[Any]]] = {}
    for item in items:
        target, dot, rest = item.partition(".")
        pname, eq, text = rest.partition("=")
        if not (dot and eq and target and pname.strip()) or not text.strip():
            raise InputError(
                f"expected TARGET.PARAM=VALUE[,VALUE...], got {item!r}", obj="params"
            )
        target, pname = target.strip(), pname.strip()
        if target in registry.models:
            entry = registry.models[target]
        elif target in registry.metrics:
            entry = registry.metrics[target]
        else:
            names = sorted({*registry.models, *registry.metrics})
            message = f"unknown model or metric {target!r} in --param {item!r}"
            close = difflib.get_close_matches(target, names, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
            raise UnknownNameError(message + f" installed: {', '.join(names) or 'none'}")
        param = _lookup_param(entry.kind, entry.spec, pname)
        values = out.setdefault(target, {}).setdefault(pname, [])
        for piece in text.split(","):
            try:
                value = param.parse(piece.strip())
            except ValueError as exc:
                raise InputError(f"{entry.kind} {target!r}: {exc}", obj="params") from None
            if value not in values:
                values.append(value)
    return out


def normalise_overrides(params: Any, registry: Any) -> dict[str, dict[str, list[Any]]]:
    """CLI strings (``["beta_vae.beta=1,2"]``) or a dict -> ``{target: {param: [values]}}``.

    None gives ``{}``; a dict's single values become one-item lists.
    """
    if params is None:
        return {}
    if isinstance(params, Mapping):
        out: dict[str, dict[str, list[Any]]] = {}
        for target, values in params.items():
            out[target] = {
                k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in values.items()
            }
        return out
    return parse_param_args(list(params), registry)


def expand_grid(
    spec: ModelSpec | MetricSpec | DatasetSpec, overrides: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every parameter combination: defaults, with the cartesian product of ``overrides``.

    ``overrides`` maps parameter name to a list of values (a single value is a one-item
    list); ints given for float parameters become floats. Order follows ``spec.params``.

    Raises
    ------
    UnknownNameError
        A parameter the spec does not declare.
    InputError
        A value of the wrong type, outside ``choices``, or an empty list.
    """
    kind = {ModelSpec: "model", MetricSpec: "metric", DatasetSpec: "dataset"}.get(
        type(spec), "model"
    )
    for key in overrides:
        _lookup_param(kind, spec, key)
    axes = [_axis(kind, spec, p, overrides.get(p.name, [p.default])) for p in spec.params]
    names = [p.name for p in spec.params]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def _axis(kind: str, spec: Any, p: Param, raw: Any) -> list[Any]:
    """Check the values of one parameter axis of the grid; return them typed."""
    values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    if not values:
        raise InputError(f"{kind} {spec.name!r}: no values for parameter {p.name!r}")
    clean = []
    for v in values:
        if p.type is float and value_ok(v, int):
            v = float(v)
        if not value_ok(v, p.type):
            raise InputError(
                f"{kind} {spec.name!r}: parameter {p.name}={v!r} is not {type_phrase(p.type)}"
            )
        if p.choices is not None and v not in p.choices:
            raise InputError(
                f"{kind} {spec.name!r}: parameter {p.name}={v!r} is not one of "
                f"{list(p.choices)}"
            )
        clean.append(v)
    return clean
