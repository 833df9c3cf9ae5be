"""The study's plan: inputs, models, split and the grid it asks of the runner.

Its inputs are simulated when no recording is given; the models are those the data allow; the
grid is one :func:`neurofacedis.runner.analyze` call.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurofacedis.errors import InputError
from neurofacedis.runner import training_source_kind
from neurofacedis.studies.higgins2021.presets import FAMILIES, Preset

__all__ = ["METRICS", "simulate_inputs", "plan_models", "grid_params", "resolve_workers",
           "annotations"]

#: The metrics of the comparison.
METRICS: tuple[str, ...] = ("alignment", "udr", "reconstruction")

_SHOWN = {"aam": "AAM"}  # how the notes name a model


def _simulate(path: Path, session: Mapping[str, Any], seed: int) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    write_session(path, simulate_session(**session, seed=seed), overwrite=True)
    return path


def simulate_inputs(out: Path, preset: Preset, seed: int, notes: list[str],
                    train_images: str | Path | None) -> tuple[Path, str | Path | None]:
    """Simulate the virtual face patch and, unless given, its training images.

    The session goes to ``OUT/virtual_face_patch.nwb``; the preset's training set of the same
    world (seed + 1) to ``OUT/virtual_face_patch_training.nwb``. Returns the recording and the
    training images; says what it made in ``notes``.
    """
    recording = _simulate(out / "virtual_face_patch.nwb", preset.session, seed)
    varying = preset.session.get("factors")
    notes.append(f"simulated virtual face patch (seed {seed}); factors that vary: "
                 + (", ".join(varying) if varying else "the 12 default factors"))
    if train_images is None and preset.training is not None:
        world = {k: preset.session[k] for k in ("world", "factors", "image_size", "rgb")
                 if k in preset.session}  # the training faces come from the same world
        train_images = _simulate(out / "virtual_face_patch_training.nwb",
                                 {**preset.training, **world}, seed + 1)
        n_train = preset.training["n_identities"] * preset.training["n_views"]
        notes.append(f"models trained on {n_train:,} other simulated faces of the same "
                     f"world (seed {seed + 1}), not on the recorded stimuli")
    return recording, train_images


def annotations(path: Path) -> tuple[bool, int]:
    """Whether a recording has landmarks, and how many identities its stimuli show."""
    from neurofacedis.nwb import Recording

    with Recording.open(path) as rec:
        stimuli = rec.stimuli
        n_ident = int(stimuli["identity"].astype(str).nunique()) if "identity" in stimuli else 0
        return rec.landmarks is not None, n_ident


def plan_models(recording: Path, notes: list[str],
                train_images: Path | None = None) -> tuple[list[str], str]:
    """Return the models the data allow, and the split (novel identities when it can).

    The AAM needs landmarks on the recording (to encode) and on the training stimuli (to fit);
    the classifier needs 2+ identities among the training stimuli. Images from a folder or an
    .npy stack carry neither.
    """
    from neurofacedis.registry import get_registry

    registry = get_registry()
    has_landmarks, n_ident = annotations(recording)
    train_landmarks, train_ident = has_landmarks, n_ident
    if train_images is not None:
        train_landmarks, train_ident = (annotations(train_images)
                                        if training_source_kind(train_images) == "nwb"
                                        else (False, 0))
    models = []
    for name in FAMILIES:  # what each model needs is its spec's ``requires``
        requires = registry.models[name].spec.requires if name in registry.models else ()
        if name not in registry.models:
            notes.append(f"model {name} is not installed: left out")
        elif "landmarks" in requires and not has_landmarks:
            notes.append(f"the recording has no landmarks: {_SHOWN.get(name, name)} left out")
        elif "landmarks" in requires and not train_landmarks:
            notes.append(f"the training images have no landmarks: {_SHOWN.get(name, name)} "
                         "left out")
        elif "labels" in requires and train_ident < 2:
            notes.append(f"the training images have no identity labels: {name} left out"
                         if train_ident == 0 else
                         f"the {'recording' if train_images is None else 'training set'} "
                         f"has fewer than 2 identities: {name} left out")
        else:
            models.append(name)
    if "beta_vae" not in models:
        raise InputError("the β-VAE plugin (nfd_beta_vae) is not installed: run "
                         "make test / pip install -e .", obj="reproduce")
    # the paper reconstructs novel faces: hold out whole identities when there are enough
    split_by = "identity" if n_ident >= 5 else "stimulus"
    if split_by == "stimulus":
        notes.append("fewer than 5 identities: held-out stimuli are not novel identities")
    return models, split_by


def grid_params(preset: Preset, models: list[str]) -> dict[str, dict[str, Any]]:
    """Return ``analyze``'s ``params``: the preset's model and metric parameters.

    The β sweep goes to the β-VAE; β-VAE, VAE and AE share one network and schedule.
    """
    params: dict[str, dict[str, Any]] = {
        "beta_vae": {"beta": [float(b) for b in preset.betas], **preset.net},
        "vae": dict(preset.net), "ae": dict(preset.net),
        "classifier": dict(preset.classifier), "aam": dict(preset.aam),
    }
    params = {k: v for k, v in params.items() if k in models and v}
    params.update({m: dict(p) for m, p in preset.metrics.items()})
    return params


def resolve_workers(preset: Preset, workers: int | None) -> int | None:
    """Return the Dask LocalCluster size, or None to run in this process.

    ``-1`` takes the preset's when dask is installed; None or 0 runs in this process.
    """
    import importlib.util

    if workers == -1:
        has_dask = importlib.util.find_spec("distributed") is not None
        workers = preset.workers if has_dask else None
    return workers or None
