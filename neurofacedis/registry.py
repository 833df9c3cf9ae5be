"""Plugin discovery and the checks the core applies to every plugin.

Plugins are found through the entry-point group ``neurofacedis`` (first-party ones in
``plugins/`` included) and loaded one by one, so a broken plugin becomes a warning naming it,
its distribution and version, instead of taking the others down (``strict=True`` turns every
such warning into a :class:`~neurofacedis.errors.PluginError`, as tests want). Every spec a
plugin registers is validated, and every value it returns later goes through
:func:`check_latents` / :func:`check_metric_result` before the runner uses it.

Nothing heavy is imported here: plugins import torch, sklearn... inside their functions.
"""

from __future__ import annotations

import difflib
import keyword
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pluggy

from neurofacedis import hookspecs
from neurofacedis._util import one_line as _one_line
from neurofacedis.errors import PluginError, UnknownNameError
from neurofacedis.params import expand_grid, parse_param_args  # re-exported (compatibility)
from neurofacedis.params import type_phrase as _a
from neurofacedis.params import value_ok as _value_ok
from neurofacedis.specs import (
    REQUIREMENTS,
    DatasetSpec,
    MetricSpec,
    ModelSpec,
    Param,
    RequirementSpec,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "GROUP",
    "DISABLE_ENV",
    "Entry",
    "PluginSource",
    "PluginWarning",
    "Registry",
    "get_plugin_manager",
    "get_registry",
    "parse_param_args",
    "expand_grid",
    "check_latents",
    "check_metric_result",
    "plugin_table",
    "spec_problems",
    "new_plugin_manager",
]

#: The entry-point group every plugin (first-party too) registers under.
GROUP = hookspecs.PROJECT_NAME
#: Comma-separated plugin (entry-point) names not to load; ``core`` cannot be disabled.
DISABLE_ENV = "NEUROFACEDIS_DISABLE_PLUGINS"
#: The essential plugin: always loaded, never blocked.
CORE = "core"
_CORE_MODULE = "neurofacedis._core_plugin"
_DIST = "neurofacedis"
_NOT_INSTALLED = "not installed: run make test / pip install -e ."
#: A source checkout's project file: its ``[project.entry-points.neurofacedis]`` table declares
#: the first-party plugins (an installed wheel has none; its entry points are all installed).
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

_KINDS: dict[str, tuple[str, type]] = {
    "model": ("neurofacedis_register_models", ModelSpec),
    "metric": ("neurofacedis_register_metrics", MetricSpec),
    "dataset": ("neurofacedis_register_datasets", DatasetSpec),
}
_REQUIREMENT_HOOK = "neurofacedis_register_requirements"
_PARAM_TYPES = (int, float, str, bool)


class PluginWarning(UserWarning):
    """A plugin could not be loaded or registered something invalid (it was left out)."""


@dataclass(frozen=True)
class PluginSource:
    """Where a loaded plugin comes from: entry-point name, distribution and its version."""

    name: str
    distribution: str = ""
    version: str = ""
    value: str = ""

    def label(self) -> str:
        """``plugin 'nfd_linear' (neurofacedis 0.1.0)`` for messages."""
        dist = " ".join(p for p in (self.distribution, self.version) if p)
        return f"plugin {self.name!r}" + (f" ({dist})" if dist else "")


@dataclass(frozen=True)
class Entry:
    """One registered model, metric or dataset and the plugin that registered it."""

    kind: str
    spec: ModelSpec | MetricSpec | DatasetSpec | RequirementSpec
    plugin: str
    distribution: str = ""
    version: str = ""

    @property
    def name(self) -> str:
        """The model/metric/dataset name."""
        return self.spec.name

    def label(self) -> str:
        """``model 'pca' (plugin 'nfd_linear', neurofacedis 0.1.0)`` for error messages."""
        dist = " ".join(p for p in (self.distribution, self.version) if p)
        where = ", ".join(p for p in (f"plugin {self.plugin!r}" if self.plugin else "", dist) if p)
        return f"{self.kind} {self.name!r}" + (f" ({where})" if where else "")


class _PluginManager(pluggy.PluginManager):
    """A PluginManager that also remembers where each plugin came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.sources: dict[str, PluginSource] = {}
        self.load_warnings: list[str] = []
        self.failed: dict[str, str] = {}
        self.entry_point_names: set[str] = set()
        self.strict = False

    def source(self, name: str) -> PluginSource:
        return self.sources.get(name, PluginSource(name))


def _problem(pm: _PluginManager, message: str, *, plugin: str | None = None) -> None:
    """Record a plugin problem: a warning, or a PluginError under strict mode."""
    if plugin is not None:
        pm.failed.setdefault(plugin, message)
    if pm.strict:
        raise PluginError(message)
    pm.load_warnings.append(message)
    warnings.warn(message, PluginWarning, stacklevel=3)


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=GROUP))


def _source_of(ep: metadata.EntryPoint) -> PluginSource:
    dist = getattr(ep, "dist", None)
    name = version = ""
    if dist is not None:
        name = dist.metadata["Name"] or ""
        version = dist.version or ""
    return PluginSource(ep.name, name, version, ep.value)


def _core_source() -> PluginSource:
    try:
        version = metadata.version(_DIST)
    except metadata.PackageNotFoundError:  # running from a tree that is not installed
        from neurofacedis import __version__ as version
    return PluginSource(CORE, _DIST, version, _CORE_MODULE)


def new_plugin_manager(*, strict: bool = False) -> _PluginManager:
    """Build a plugin manager with the hookspecs and the core plugin only (no entry points)."""
    import importlib

    pm = _PluginManager()
    pm.strict = strict
    pm.register(importlib.import_module(_CORE_MODULE), name=CORE)
    pm.sources[CORE] = _core_source()
    return pm


def _load_entry_points(pm: _PluginManager) -> None:
    """Load the group's entry points one by one; a broken one is a warning (strict: error)."""
    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    if CORE in disabled:
        _problem(pm, f"{DISABLE_ENV}: the {CORE!r} plugin cannot be disabled; ignored")
        disabled.discard(CORE)
    for name in sorted(disabled):
        pm.set_blocked(name)

    # First-party entry points first (they win name clashes), then the rest by name.
    seen: dict[str, PluginSource] = {}
    candidates: list[tuple[metadata.EntryPoint, PluginSource]] = []
    for ep in _entry_points():
        src = _source_of(ep)
        pm.entry_point_names.add(ep.name)
        if ep.name in seen:
            if seen[ep.name].value != ep.value:
                _problem(
                    pm,
                    f"{src.label()}: entry point name {ep.name!r} is already used by "
                    f"{seen[ep.name].label()}; ignored",
                )
            continue
        seen[ep.name] = src
        candidates.append((ep, src))
    candidates.sort(key=lambda c: (c[1].distribution != _DIST, c[1].distribution, c[0].name))

    for ep, src in candidates:
        if ep.name == CORE:
            if ep.value != _CORE_MODULE:
                _problem(pm, f"{src.label()}: the name {CORE!r} is reserved; ignored")
            continue
        if pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - any failure of third-party code
            _problem(pm, f"{src.label()}: failed to load: {_one_line(exc)}", plugin=ep.name)
            continue
        try:
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - pluggy validation errors and the like
            _problem(pm, f"{src.label()}: invalid plugin: {_one_line(exc)}", plugin=ep.name)
            continue
        pm.sources[ep.name] = src
    _check_pending(pm)


def _check_pending(pm: _PluginManager) -> None:
    """pm.check_pending(), dropping (and naming) each plugin with an unknown hook."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            if name == CORE:
                raise
            pm.unregister(exc.plugin)
            known = [h for h in dir(hookspecs) if h.startswith(f"{GROUP}_")]
            unknown = [h for h in dir(exc.plugin) if h.startswith(f"{GROUP}_") and h not in known]
            why = _one_line(exc)
            if unknown:
                close = difflib.get_close_matches(unknown[0], known, n=1)
                why = f"unknown hook {unknown[0]!r}" + (
                    f"; did you mean {close[0]!r}?" if close else f"; hooks: {', '.join(known)}"
                )
            _problem(pm, f"{pm.source(name).label()}: invalid plugin: {why}", plugin=name)


_PM_CACHE: dict[bool, _PluginManager] = {}
_REGISTRY_CACHE: dict[bool, Registry] = {}


def get_plugin_manager(*, strict: bool = False, refresh: bool = False) -> pluggy.PluginManager:
    """Return the process-wide plugin manager: core plus every ``neurofacedis`` entry point.

    Built on first use (no import-time side effects) and cached; ``refresh=True`` rebuilds it,
    e.g. after installing a plugin. Plugins named in ``$NEUROFACEDIS_DISABLE_PLUGINS`` are
    blocked (``core`` cannot be).

    Parameters
    ----------
    strict
        Raise :class:`~neurofacedis.errors.PluginError` on the first broken plugin instead of
        warning and leaving it out.
    refresh
        Discard the cached manager (and registry) and load again.
    """
    if refresh:
        _PM_CACHE.clear()
        _REGISTRY_CACHE.clear()
    if strict not in _PM_CACHE:
        pm = new_plugin_manager(strict=strict)
        _load_entry_points(pm)
        _PM_CACHE[strict] = pm
    return _PM_CACHE[strict]


def get_registry(*, strict: bool = False, refresh: bool = False) -> Registry:
    """Return the validated registry of every installed model, metric and dataset (cached).

    Parameters
    ----------
    strict
        Raise :class:`~neurofacedis.errors.PluginError` on any broken plugin, invalid spec or
        duplicate name instead of warning.
    refresh
        Rebuild the plugin manager and the registry.
    """
    if refresh or strict not in _REGISTRY_CACHE:
        pm = get_plugin_manager(strict=strict, refresh=refresh)
        _REGISTRY_CACHE[strict] = Registry.from_plugin_manager(pm, strict=strict)
    return _REGISTRY_CACHE[strict]


# --- spec validation ---------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return type(value).__name__


def _is_identifier(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def _param_problems(param: Any, where: str) -> list[str]:
    if not isinstance(param, Param):
        return [f"{where}: expected a Param, got {_type_name(param)}"]
    problems: list[str] = []
    where = f"{where} {param.name!r}"
    if not _is_identifier(param.name):
        return [f"{where}: the name is not a Python identifier"]
    if param.type not in _PARAM_TYPES:
        return [f"{where}: type must be int, float, str or bool, got {param.type!r}"]
    if not _value_ok(param.default, param.type):
        problems.append(
            f"{where}: default {param.default!r} is not {_a(param.type)}"
        )
    if not isinstance(param.help, str):
        problems.append(f"{where}: help must be a str")
    if param.choices is not None:
        if isinstance(param.choices, (str, bytes)) or not isinstance(param.choices, Sequence):
            problems.append(f"{where}: choices must be a list or tuple")
        else:
            bad = [c for c in param.choices if not _value_ok(c, param.type)]
            if bad:
                problems.append(f"{where}: choices {bad!r} are not all {_a(param.type)}")
            elif param.default not in param.choices:
                problems.append(f"{where}: default {param.default!r} is not one of the choices")
    return problems


def spec_problems(spec: Any, kind: str, *,
                  requirements: Mapping[str, Any] | None = None) -> list[str]:
    """Everything wrong with a spec registered as ``kind`` (model, metric, dataset, requirement).

    An empty list means valid. Used by the registry (which drops invalid specs) and by
    :mod:`neurofacedis.testing` (which fails on them). ``requirements`` is the table that
    ``requires`` may name; None means the built-ins plus those of the installed plugins.
    """
    if kind == "requirement":
        return _requirement_problems(spec)
    expected = _KINDS[kind][1]
    if not isinstance(spec, expected):
        return [f"expected a {expected.__name__}, got {_type_name(spec)}"]
    problems: list[str] = []
    if not _is_identifier(spec.name):
        return [f"name {spec.name!r} is not a Python identifier"]
    call = spec.loader if isinstance(spec, DatasetSpec) else spec.factory
    if not callable(call):
        what = "loader" if isinstance(spec, DatasetSpec) else "factory"
        problems.append(f"{what} is not callable")
    for attr in ("summary", "citation") + (() if kind == "dataset" else ("version",)):
        if not isinstance(getattr(spec, attr), str):
            problems.append(f"{attr} must be a str")
    params = spec.params
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        problems.append(f"params must be a tuple of Param, got {_type_name(params)}")
        params = ()
    names: set[str] = set()
    for param in params:
        problems += _param_problems(param, "param")
        if isinstance(param, Param):
            if param.name in names:
                problems.append(f"param {param.name!r} is declared twice")
            names.add(param.name)
    if kind != "dataset":
        requires = spec.requires
        if isinstance(requires, (str, bytes)) or not isinstance(
            requires, (set, frozenset, tuple, list)
        ):
            problems.append(f"requires must be a frozenset of str, got {_type_name(requires)}")
        else:
            problems += _requires_problems(requires, requirements)
        problems += _testing_params_problems(spec, params)
    return problems


def _requires_problems(requires: Any, table: Mapping[str, Any] | None) -> list[str]:
    unknown = sorted(str(r) for r in requires if r not in REQUIREMENTS)
    if unknown and table is None:  # a spec checked on its own: ask the installed plugins
        table = get_registry().requirements
    known = [*REQUIREMENTS, *sorted(set(table or ()) - set(REQUIREMENTS))]
    unknown = [r for r in unknown if r not in known]
    if not unknown:
        return []
    return [f"unknown requirement(s) {', '.join(unknown)}; known: {', '.join(known)}"]


def _requirement_problems(spec: Any) -> list[str]:
    if not isinstance(spec, RequirementSpec):
        return [f"expected a RequirementSpec, got {_type_name(spec)}"]
    if not _is_identifier(spec.name):
        return [f"name {spec.name!r} is not a Python identifier"]
    problems = []
    if not isinstance(spec.description, str) or not spec.description.strip():
        problems.append("description must be a non-empty str (the skip reason says it)")
    if not callable(spec.check):
        problems.append("check is not callable")
    if not isinstance(spec.summary, str):
        problems.append("summary must be a str")
    return problems


def _testing_params_problems(spec: ModelSpec | MetricSpec, params: Sequence[Any]) -> list[str]:
    testing = getattr(spec, "testing_params", {}) or {}
    if not isinstance(testing, Mapping):
        return [f"testing_params must be a dict, got {_type_name(testing)}"]
    by_name = {p.name: p for p in params if isinstance(p, Param)}
    problems = []
    for key, value in testing.items():
        p = by_name.get(key)
        if p is None:
            problems.append(f"testing_params: {key!r} is not a declared param")
        elif not _value_ok(value, p.type):
            problems.append(f"testing_params: {key}={value!r} is not {_a(p.type)}")
    return problems


# --- the registry ------------------------------------------------------------------------


@dataclass
class Registry:
    """Every valid model, metric and dataset spec, by name, with the plugin that gave it.

    Attributes
    ----------
    models, metrics, datasets
        ``name -> Entry``.
    warnings
        One line per problem found while loading (broken plugin, invalid spec, duplicate).
    plugins
        ``plugin name -> PluginSource`` of every plugin that loaded.
    failed
        ``plugin name -> problem`` of plugins left out.
    requirements
        ``name -> Entry`` of every requirement (:class:`~neurofacedis.specs.RequirementSpec`)
        that ``requires`` may name: the built-ins and those plugins register.
    missing
        First-party plugins declared in the checkout's pyproject.toml entry points and not
        installed (a stale ``pip install -e .``).
    """

    models: dict[str, Entry] = field(default_factory=dict)
    metrics: dict[str, Entry] = field(default_factory=dict)
    datasets: dict[str, Entry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    plugins: dict[str, PluginSource] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    requirements: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager, *, strict: bool = False) -> Registry:
        """Collect and validate the specs every plugin of ``pm`` registers.

        Each plugin's hooks are called separately, so one that raises or returns garbage is
        left out (with a warning naming it) while the others are kept; under ``strict`` the
        first problem raises :class:`~neurofacedis.errors.PluginError`.
        """
        if not isinstance(pm, _PluginManager):  # a plain pluggy manager (tests, embedding)
            plain, pm = pm, _PluginManager()
            for name, plugin in plain.list_name_plugin():
                if plugin is not None:
                    pm.register(plugin, name=name)
        strict = strict or pm.strict
        reg = cls(warnings=list(pm.load_warnings), failed=dict(pm.failed))
        order = [name for name, plugin in pm.list_name_plugin() if plugin is not None]
        reg.plugins = {name: pm.source(name) for name in order}
        reg.missing = _missing_first_party(pm.entry_point_names) if pm.entry_point_names else []

        def problem(message: str, plugin: str | None = None) -> None:
            if plugin is not None:
                reg.failed.setdefault(plugin, message)
            if strict:
                raise PluginError(message)
            reg.warnings.append(message)
            warnings.warn(message, PluginWarning, stacklevel=4)

        _collect(pm, order, _REQUIREMENT_HOOK, "requirement", reg.requirements, problem)
        for spec in _builtin_requirements():  # always known, even without the core plugin
            reg.requirements.setdefault(spec.name, Entry("requirement", spec, CORE))
        for kind, (hook_name, _spec_type) in _KINDS.items():
            _collect(pm, order, hook_name, kind, reg._table(kind), problem,
                     requirements=reg.requirements)
        return reg

    def _table(self, kind: str) -> dict[str, Entry]:
        return {"model": self.models, "metric": self.metrics, "dataset": self.datasets}[kind]

    def get(self, kind: str, name: str) -> Entry:
        """Return the entry of a ``kind`` ("model", "metric", "dataset") called ``name``.

        Raises
        ------
        UnknownNameError
            With the closest installed name and the installed list.
        """
        table = self._table(kind)
        if name in table:
            return table[name]
        raise UnknownNameError(self._unknown_message(kind, name, list(table)))

    def model(self, name: str) -> Entry:
        """Return the model entry called ``name`` (UnknownNameError with did-you-mean)."""
        return self.get("model", name)

    def metric(self, name: str) -> Entry:
        """Return the metric entry called ``name`` (UnknownNameError with did-you-mean)."""
        return self.get("metric", name)

    def dataset(self, name: str) -> Entry:
        """Return the dataset entry called ``name`` (UnknownNameError with did-you-mean)."""
        return self.get("dataset", name)

    def _unknown_message(self, kind: str, name: str, installed: list[str]) -> str:
        for plugin in self.missing:
            if _mentions(plugin, name):
                return (
                    f"{kind} {name!r} comes with first-party plugin {plugin!r}, which is "
                    f"{_NOT_INSTALLED}"
                )
        message = f"unknown {kind} {name!r}"
        close = difflib.get_close_matches(name, installed, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
        message += f" installed: {', '.join(sorted(installed)) or 'none'}"
        if self.missing:
            message += f"; first-party plugin(s) {', '.join(self.missing)} {_NOT_INSTALLED}"
        if self.failed:
            message += f"; plugin(s) left out with errors: {', '.join(sorted(self.failed))}"
        return message


def _builtin_requirements() -> list[RequirementSpec]:
    from neurofacedis.requirements import builtin_requirements

    return builtin_requirements()


def _collect(pm: _PluginManager, order: list[str], hook_name: str, kind: str,
             table: dict[str, Entry], problem: Any, *,
             requirements: Mapping[str, Any] | None = None) -> None:
    """Call every plugin's ``hook_name`` on its own; keep each valid spec under its name."""
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    impls = sorted(impls, key=lambda i: order.index(i.plugin_name))
    for impl in impls:
        src = pm.source(impl.plugin_name)
        try:
            specs = impl.function()
        except Exception as exc:  # noqa: BLE001 - third-party code
            problem(f"{src.label()}: {hook_name}() raised {_one_line(exc)}", src.name)
            continue
        if specs is None:
            continue
        if isinstance(specs, (str, bytes, Mapping)) or not isinstance(specs, (list, tuple)):
            problem(
                f"{src.label()}: {hook_name}() returned {_type_name(specs)}, "
                "expected a list of specs",
                src.name,
            )
            continue
        for spec in specs:
            issues = spec_problems(spec, kind, requirements=requirements)
            name = getattr(spec, "name", "?")
            if issues:
                problem(f"{src.label()}: {kind} {name!r} left out: {'; '.join(issues)}")
                continue
            if name in table:
                first = table[name]
                problem(
                    f"{src.label()}: duplicate {kind} name {name!r} ignored; "
                    f"kept the one from plugin {first.plugin!r}"
                )
                continue
            table[name] = Entry(kind, spec, src.name, src.distribution, src.version)


def _declared_first_party() -> dict[str, str]:
    """Return the first-party entry points a checkout declares: ``{name: module}``, no core."""
    if not _PYPROJECT.is_file():
        return {}
    import tomllib

    try:
        project = tomllib.loads(_PYPROJECT.read_text(encoding="utf-8"))
        declared = dict(project["project"]["entry-points"][GROUP])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    declared.pop(CORE, None)
    return {str(k): str(v) for k, v in declared.items()}


def _missing_first_party(installed: set[str]) -> list[str]:
    """First-party entry points declared in the checkout's pyproject.toml but not installed."""
    return sorted(set(_declared_first_party()) - installed)


def _mentions(plugin: str, name: str) -> bool:
    """Whether a not-installed first-party plugin registers ``name``: the plugin is asked.

    Its declared entry point (``module[:attr]``) is imported, if it can be, into a plugin
    manager of its own, and its registration hooks are called; any failure means no.
    """
    import importlib

    value = _declared_first_party().get(plugin)
    if value is None:
        return False
    module, _, attr = value.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
        pm = _PluginManager()
        pm.register(obj, name=plugin)
        for hook_name, _ in _KINDS.values():
            for specs in getattr(pm.hook, hook_name)():
                if any(getattr(spec, "name", None) == name for spec in specs or ()):
                    return True
    except Exception:  # noqa: BLE001 - a plugin that cannot say is not the one
        return False
    return False


# --- checks on what plugins return ---------------------------------------------------------


def check_latents(
    entry: Entry, array: Any, *, n_images: int, unit_names: Any
) -> np.ndarray:
    """Check a model's ``encode`` output and unit names; return latents as float64 (n, k).

    Raises
    ------
    PluginError
        Naming the plugin and model: not a numpy array, not 2-d, wrong shape, non-numeric,
        NaN/inf, or unit names that are not a list of unique strings of length k.
    """

    def fail(problem: str) -> PluginError:
        return PluginError(problem, obj=entry.label())

    if not isinstance(unit_names, (list, tuple)) or not all(
        isinstance(u, str) for u in unit_names
    ):
        raise fail("unit_names must be a list of str")
    if len(set(unit_names)) != len(unit_names):
        dupes = sorted({u for u in unit_names if list(unit_names).count(u) > 1})
        raise fail(f"unit_names has duplicates: {', '.join(dupes[:5])}")
    if not isinstance(array, np.ndarray):
        raise fail(f"encode returned {_type_name(array)}, expected a numpy array")
    if array.dtype.kind not in "biuf":
        raise fail(f"encode returned dtype {array.dtype}, expected a real number dtype")
    if array.ndim != 2:
        raise fail(f"encode returned a {array.ndim}-d array of shape {array.shape}, expected 2-d")
    if array.shape != (n_images, len(unit_names)):
        raise fail(
            f"encode returned shape {array.shape}, expected ({n_images}, {len(unit_names)}) "
            "= (images, unit_names)"
        )
    if array.shape[1] == 0:
        raise fail("encode returned no units")
    out = np.asarray(array, dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        n_nan = int(np.isnan(out).sum())
        raise fail(f"encode returned {n_nan} NaN and {int(bad.sum()) - n_nan} infinite values")
    return out


def _scalar(value: Any) -> bool | int | float | None:
    """Normalise a finite bool/int/float (numpy included) to a Python scalar, else None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(float(value)):
        return float(value)
    return None


def check_metric_result(entry: Entry, result: Any) -> xr.Dataset:
    """Check a metric's ``compute`` result; return it with attrs as plain Python scalars.

    The Dataset's ``attrs`` are the headline scalars reported in summary.json: each must be a
    finite bool, int or float (put descriptive text in a variable's own attrs instead).

    Raises
    ------
    PluginError
        Naming the plugin and metric: not an ``xarray.Dataset``, or a bad attribute.
    """
    import xarray as xr

    if not isinstance(result, xr.Dataset):
        raise PluginError(
            f"compute returned {_type_name(result)}, expected an xarray.Dataset",
            obj=entry.label(),
        )
    attrs: dict[str, Any] = {}
    for key, value in result.attrs.items():
        clean = _scalar(value)
        if clean is None:
            raise PluginError(
                f"result attribute {key!r} = {value!r} is not a finite number "
                "(attrs hold headline scalars: bool, int or float)",
                obj=entry.label(),
            )
        attrs[str(key)] = clean
    out = result.copy(deep=False)
    out.attrs = attrs
    return out


def plugin_table(registry: Registry) -> list[dict[str, Any]]:
    """One JSON-ready row per model, metric and dataset (``neurofacedis plugins --json``)."""
    rows: list[dict[str, Any]] = []
    for kind in _KINDS:
        for name in sorted(registry._table(kind)):
            entry = registry._table(kind)[name]
            spec = entry.spec
            rows.append(
                {
                    "kind": kind,
                    "name": name,
                    "plugin": entry.plugin,
                    "distribution": entry.distribution,
                    "version": entry.version,
                    "spec_version": getattr(spec, "version", ""),
                    "params": [
                        {
                            "name": p.name,
                            "type": p.type.__name__,
                            "default": p.default,
                            "help": p.help,
                            "choices": list(p.choices) if p.choices is not None else None,
                        }
                        for p in spec.params
                    ],
                    "requires": sorted(getattr(spec, "requires", ())),
                    "summary": spec.summary,
                    "citation": spec.citation,
                }
            )
    return rows
