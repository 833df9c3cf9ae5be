"""neurofacedis: which model's latent units line up with single face-selective neurons.

Recordings, stimuli and model latents live in NWB; models and metrics are pluggy plugins;
one runner (:func:`analyze`) fits models, stores latents with provenance and runs metrics.
Importing this package is cheap: torch, sklearn and plugins load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurofacedis.errors import InputError, NeurofacedisError, PluginError, UnknownNameError
from neurofacedis.hookspecs import hookimpl
from neurofacedis.specs import (
    DatasetSpec,
    Metric,
    MetricContext,
    MetricSpec,
    Model,
    ModelSpec,
    Param,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "hookimpl",
    "analyze",
    "Recording",
    "Param",
    "ModelSpec",
    "MetricSpec",
    "DatasetSpec",
    "Model",
    "Metric",
    "MetricContext",
    "NeurofacedisError",
    "InputError",
    "PluginError",
    "UnknownNameError",
]

if TYPE_CHECKING:
    from neurofacedis.nwb import Recording
    from neurofacedis.runner import analyze


def __getattr__(name: str) -> Any:
    # Lazy: keep `import neurofacedis` free of pynwb/xarray/torch.
    if name == "analyze":
        from neurofacedis.runner import analyze

        return analyze
    if name == "Recording":
        from neurofacedis.nwb import Recording

        return Recording
    raise AttributeError(f"module 'neurofacedis' has no attribute {name!r}")
