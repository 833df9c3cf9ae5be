"""`neurofacedis demo`: the virtual face patch, simulated and analysed end to end, offline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_demo", "DEFAULT_DEMO_MODELS"]

#: Models the demo compares, in order; those not installed are left out.
DEFAULT_DEMO_MODELS: tuple[str, ...] = ("beta_vae", "pca", "ica")

#: Demo parameter overrides: the β-VAE's default Adam rate (1e-4, Burgess et al. 2018) needs
#: far more steps than a CPU demo affords; 1e-3 trains it within the demo's 1,000 steps.
DEMO_PARAMS: dict[str, dict[str, list[float]]] = {"beta_vae": {"lr": [1e-3]}}


def run_demo(
    out: str | Path,
    *,
    models: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    seeds: int = 1,
    seed: int = 0,
    quiet: bool = False,
    cache_dir: str | Path | None = None,
    params: Any = None,
) -> Any:
    """Write OUT/demo.nwb (seeded virtual face patch) and analyse it into OUT/analysis/.

    OUT is new, empty or an earlier demo output (replacing one is said on stderr); files in
    it that the demo does not name are left alone (:func:`neurofacedis._outputs.claim_folder`).
    """
    from neurofacedis._outputs import claim_folder
    from neurofacedis.nwb import write_session
    from neurofacedis.registry import get_registry
    from neurofacedis.runner import analyze
    from neurofacedis.simulate import demo_session

    out = claim_folder(out, kind="demo")
    recording = out / "demo.nwb"
    write_session(recording, demo_session(seed=seed), overwrite=True)
    registry = get_registry()
    if models is None:
        models = [m for m in DEFAULT_DEMO_MODELS if m in registry.models]
    if params is None:
        params = {k: v for k, v in DEMO_PARAMS.items() if k in models}
    return analyze(
        recording, models=list(models), metrics=metrics, seeds=seeds, params=params,
        out=out / "analysis", quiet=quiet, cache_dir=cache_dir,
    )
