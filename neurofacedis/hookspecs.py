"""The plugin contract: pluggy hook specifications for the ``neurofacedis`` entry-point group.

Every hook is prefixed ``neurofacedis_``. Plugins (first-party ones in ``plugins/`` included)
implement them with :data:`neurofacedis.hookimpl` and are found through the entry-point group
``neurofacedis``; the entry-point name is the plugin name. See docs/plugins.md.
"""

from __future__ import annotations

import pluggy

from neurofacedis.specs import DatasetSpec, MetricSpec, ModelSpec, RequirementSpec

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

PROJECT_NAME = "neurofacedis"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def neurofacedis_register_models() -> list[ModelSpec]:
    """Register models: the representations whose units are compared with neurons.

    Called once per plugin when the registry is built
    (:func:`neurofacedis.registry.get_registry`), before any command runs; results of all
    plugins are collected. Each plugin's implementation is called on its own: one that raises
    or returns an invalid spec is reported by name and left out, the others are kept.

    Returns
    -------
    list[ModelSpec]
        One spec per model. Names must be unique across all plugins (a duplicate is warned
        about and the first one kept). ``factory(**params)`` must return a fresh object that
        follows :class:`neurofacedis.specs.Model`.
    """


@hookspec
def neurofacedis_register_metrics() -> list[MetricSpec]:
    """Register metrics: scores comparing a model's latents with neural responses.

    Called once per plugin when the registry is built; results of all plugins are collected.

    Returns
    -------
    list[MetricSpec]
        One spec per metric. ``requires`` names what the metric needs (the built-in
        :data:`neurofacedis.specs.REQUIREMENTS` or a name registered with
        :func:`neurofacedis_register_requirements`); the runner skips it, with that reason,
        when the recording or model cannot provide it. ``factory(**params)`` must return an object
        that follows :class:`neurofacedis.specs.Metric`.
    """


@hookspec
def neurofacedis_register_datasets() -> list[DatasetSpec]:
    """Register datasets that can be generated or fetched by name (optional hook).

    Called once per plugin when the registry is built; results of all plugins are collected.

    Returns
    -------
    list[DatasetSpec]
        One spec per dataset. ``loader(dest, **params)`` writes an NWB recording under
        ``dest`` and returns its path.
    """


@hookspec
def neurofacedis_register_requirements() -> list[RequirementSpec]:
    """Register requirements that models and metrics may name in ``requires`` (optional hook).

    Called once per plugin when the registry is built, before model and metric specs are
    validated (so their ``requires`` may name these); results of all plugins are collected.
    The core plugin registers the built-in ones (:data:`neurofacedis.specs.REQUIREMENTS`).

    Returns
    -------
    list[RequirementSpec]
        One spec per requirement. Names must be unique across all plugins (a duplicate is
        warned about and the first one kept). ``check(ctx)`` gets a
        :class:`neurofacedis.specs.RequirementContext` and returns None when met, otherwise
        what is lacking; the runner skips the metric with ``needs <description>[; ...]``.
    """
