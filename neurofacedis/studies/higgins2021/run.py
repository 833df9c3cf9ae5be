"""Reproduce Higgins et al. 2021: the grid, the figures, the claims and the report, in order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from neurofacedis.errors import InputError
from neurofacedis.studies.base import Reproduction
from neurofacedis.studies.higgins2021.claims import check_claims
from neurofacedis.studies.higgins2021.figures import draw_all
from neurofacedis.studies.higgins2021.fits import fit_table
from neurofacedis.studies.higgins2021.plan import (
    METRICS,
    grid_params,
    plan_models,
    resolve_workers,
    simulate_inputs,
)
from neurofacedis.studies.higgins2021.presets import preset as get_preset
from neurofacedis.studies.higgins2021.report import write_report

__all__ = ["STUDY", "reproduce"]

#: The study's name (``neurofacedis reproduce higgins2021``).
STUDY = "higgins2021"


def reproduce(
    recording: str | Path | None = None,
    *,
    scale: str = "quick",
    world: str | None = None,
    train_images: str | Path | None = None,
    out: str | Path = "higgins2021-reproduction",
    seed: int = 0,
    workers: int | None = -1,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
    quiet: bool = True,
    console: Any = None,
) -> Reproduction:
    """Run the study's comparison grid, draw its figures and check its claims.

    Parameters
    ----------
    recording
        An NWB recording; None simulates the virtual face patch (``OUT/virtual_face_patch.nwb``).
    scale
        ``"test"``, ``"quick"`` or ``"full"`` (:data:`~.presets.PRESETS`).
    world
        The simulated session's world, ``"3d"`` (None: the default) or ``"framed"``
        (:data:`~.presets.WORLD_FACTORS`); its training set comes from the same world, so
        the two worlds never share fitted models (the cache key holds the training images'
        hash). Recorded in ``claims.json`` and the report. Only for a simulated session:
        with a recording it is an :class:`~neurofacedis.errors.InputError`.
    train_images
        The models' training stimuli (folder, .npy or NWB; see
        :func:`~neurofacedis.runner.load_training_set`). None: with a simulated session, the
        preset's simulated training set (``OUT/virtual_face_patch_training.nwb``); with a
        recording, its own training stimuli. The AAM needs landmarks and the classifier
        identities there, so only an NWB training set keeps them in the grid.
    out
        Output folder: ``analysis/`` (the runner's outputs), ``figures/``, ``claims.json``,
        ``report.html`` and ``report.md``.
    seed
        Seed of the simulated session.
    workers, scheduler
        Dask execution (see :func:`~neurofacedis.runner.analyze`); ``workers=-1`` takes the
        preset's (when dask is installed), ``None`` or 0 runs in this process.
    cache_dir
        The fitted-model cache (default: the user cache).
    quiet, console
        Progress bars (off when quiet) and the rich console they go to.
    """
    from neurofacedis._outputs import claim_folder
    from neurofacedis.runner import analyze

    t0 = time.time()
    if recording is not None and world is not None:
        raise InputError(f"world {world!r} applies to the simulated session only; the "
                         f"recording {Path(recording).name} has its own stimuli", obj="world")
    preset = get_preset(scale, world)
    # new, empty or an earlier reproduction; never an input, never holding one
    out = claim_folder(out, kind="reproduce", inputs=[recording, train_images])
    notes: list[str] = []
    simulated = recording is None
    if simulated:
        recording, train_images = simulate_inputs(out, preset, seed, notes, train_images)
    recording = Path(recording)
    train_images = None if train_images is None else Path(train_images)
    models, split_by = plan_models(recording, notes, train_images)
    workers = resolve_workers(preset, workers)
    result = analyze(
        recording, models=models, metrics=list(METRICS), seeds=preset.seeds,
        params=grid_params(preset, models), out=out / "analysis", split_by=split_by,
        train_images=train_images, select="udr", cache_dir=cache_dir,
        figures=preset.analysis_figures, quiet=quiet, console=console, workers=workers,
        scheduler=scheduler,
    )
    fits = fit_table(result)
    claims = check_claims(fits)
    figures = draw_all(fits, result, recording, out / "figures", notes)
    rep = Reproduction(study=STUDY, scale=preset.name, claims=claims, figures=figures,
                       analysis=result, out=out, recording=recording,
                       elapsed_seconds=time.time() - t0, notes=notes,
                       world=preset.world if simulated else None)
    write_report(rep, preset, workers=workers, scheduler=scheduler)
    return rep
