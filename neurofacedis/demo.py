"""`neurofacedis demo`: the virtual face patch, simulated and analysed end to end, offline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_demo", "DEFAULT_DEMO_MODELS", "DEMO_PARAMS", "CONTROL_MODEL", "DEMO_WORLD"]

#: Models the demo compares, in order; those not installed are left out.
DEFAULT_DEMO_MODELS: tuple[str, ...] = ("beta_vae", "pca", "ica")

#: The demo's world: the 3D heads (issue 22), where factors act on pixels as pose and light
#: do; ``run_demo(world="flat")`` / ``neurofacedis demo --world flat`` give the cartoon faces.
DEMO_WORLD = "3d"

#: The positive control every demo adds (when installed): the recording's own generative
#: factors as latents (plugin nfd_factors), so the report shows what the ceiling and a
#: perfect model look like next to the models compared.
CONTROL_MODEL = "factors"

#: Demo parameter overrides (models and metrics): the β-VAE's default Adam rate (1e-4,
#: Burgess et al. 2018) needs far more steps than a CPU demo affords; 1e-3 trains it within
#: the demo's 1,000 steps. Dissection also dissects the β-VAE's ``conv2`` feature maps with
#: local concepts (facial parts); models without feature maps get a note, not an error.
DEMO_PARAMS: dict[str, dict[str, list[Any]]] = {
    "beta_vae": {"lr": [1e-3]},
    "dissection": {"layer": ["conv2"]},
}


def run_demo(
    out: str | Path,
    *,
    models: Sequence[Any] | None = None,
    metrics: Sequence[str] | None = None,
    seeds: int = 1,
    seed: int = 0,
    quiet: bool = False,
    cache_dir: str | Path | None = None,
    params: Any = None,
    control: bool = True,
    world: str = DEMO_WORLD,
) -> Any:
    """Write OUT/demo.nwb (seeded virtual face patch) and analyse it into OUT/analysis/.

    ``world`` is the simulator's world: ``"3d"`` (default: ray-cast heads whose pose, light,
    shape and expression act on pixels nonlinearly), ``"flat"`` or ``"framed"``
    (docs/worlds.md).

    OUT is new, empty or an earlier demo output (replacing one is said on stderr); files in
    it that the demo does not name are left alone (:func:`neurofacedis._outputs.claim_folder`).
    With ``control`` (default) the ``factors`` positive control is compared too, after the
    models, when its plugin is installed and not already among ``models``.
    """
    from neurofacedis._outputs import claim_folder
    from neurofacedis.nwb import write_session
    from neurofacedis.registry import get_registry
    from neurofacedis.runner import analyze
    from neurofacedis.simulate import demo_session

    out = claim_folder(out, kind="demo")
    recording = out / "demo.nwb"
    write_session(recording, demo_session(seed=seed, world=world), overwrite=True)
    registry = get_registry()
    if models is None:
        models = [m for m in DEFAULT_DEMO_MODELS if m in registry.models]
    models = list(models)
    if params is None:
        run = set(registry.metrics) if metrics is None else set(metrics)
        params = {k: v for k, v in DEMO_PARAMS.items() if k in models or k in run}
    if control and CONTROL_MODEL in registry.models and CONTROL_MODEL not in models:
        models.append(CONTROL_MODEL)  # the runner passes it the recording's factors
    return analyze(
        recording, models=models, metrics=metrics, seeds=seeds, params=params,
        out=out / "analysis", quiet=quiet, cache_dir=cache_dir,
    )
