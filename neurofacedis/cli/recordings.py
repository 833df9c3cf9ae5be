"""``neurofacedis import``, ``inspect`` and ``simulate``: commands that write or read one file."""

from __future__ import annotations

from pathlib import Path

import typer

from neurofacedis.cli._render import QUIET_HELP, console, stderr_line
from neurofacedis.cli._render import out as out_line

__all__ = ["import_", "inspect_", "simulate"]


def import_(
    images: Path = typer.Option(
        ..., "--images",
        help="Folder of PNG/JPEG images or .npy stack. A folder is read in natural name order "
        "(numbers as numbers: 1, 2, 10; prefixes numbered on their own are grouped), printed "
        "before import; ambiguous names (1.png beside 01.png, 01.png beside 2.png) are refused.",
    ),
    responses: Path = typer.Option(
        ..., "--responses", help="Stimuli x neurons [x repeats]: .npy, .csv or .mat."
    ),
    out: Path = typer.Option(..., "--out", help="Output .nwb file."),
    landmarks: Path | None = typer.Option(None, "--landmarks", help="(N, L, 2) .npy."),
    detect_landmarks: bool = typer.Option(
        False, "--detect-landmarks", help="Find 68 landmarks with dlib (extra: landmarks)."
    ),
    skip_undetected: bool = typer.Option(
        False, "--skip-undetected",
        help="With --detect-landmarks: leave out images where no face is found, with their "
        "response rows (printed, and listed in the file's session description).",
    ),
    labels: Path | None = typer.Option(None, "--labels", help="Per-image labels .csv."),
    ratings: Path | None = typer.Option(None, "--ratings", help="Human ratings .csv (stimulus, "
                                        "subject, rating and/or choice per row)."),
    mat_var: str | None = typer.Option(None, "--mat-var", help="Variable in the .mat file."),
    identifier: str | None = typer.Option(None, "--identifier", help="Default: OUT's name."),
    session_description: str | None = typer.Option(None, "--session-description"),
    session_start_time: str | None = typer.Option(
        None, "--session-start-time", help="ISO 8601, e.g. 2024-05-01T09:30:00+00:00."
    ),
    subject_id: str | None = typer.Option(None, "--subject-id"),
    species: str | None = typer.Option(None, "--species", help='Latin binomial, "Macaca mulatta".'),
    sex: str = typer.Option("U", "--sex", help="M, F, O or U."),
    age: str | None = typer.Option(None, "--age", help="ISO 8601 duration, e.g. P6Y."),
    lab: str | None = typer.Option(None, "--lab"),
    institution: str | None = typer.Option(None, "--institution"),
    experimenter: list[str] = typer.Option([], "--experimenter", help="'Last, First'; repeat."),
    brain_region: str | None = typer.Option(None, "--brain-region", help="e.g. AM."),
    keyword: list[str] = typer.Option([], "--keyword", help="Repeat for several."),
    response_unit: str = typer.Option("spikes", "--response-unit", help="spikes or spikes/s."),
    window: tuple[float, float] = typer.Option(
        (0.05, 0.35), "--window", help="Counting window, s after onset."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help=QUIET_HELP
    ),
) -> None:
    """Convert lab files (images + responses [+ landmarks, labels]) into one NWB recording."""
    import warnings
    from datetime import datetime

    from neurofacedis.errors import InputError
    from neurofacedis.importers import SkippedStimuliWarning, import_recording
    from neurofacedis.nwb.session import SessionMetadata
    from neurofacedis.progress import Reporter

    start = None
    if session_start_time is not None:
        try:
            start = datetime.fromisoformat(session_start_time)
        except ValueError:
            raise InputError("not an ISO 8601 time", obj="--session-start-time") from None
    meta = SessionMetadata(identifier=identifier or out.stem, session_start_time=start)
    if session_description:
        meta.session_description = session_description
    meta.subject_id, meta.species, meta.sex, meta.age = subject_id, species, sex, age
    meta.lab, meta.institution, meta.brain_region = lab, institution, brain_region
    meta.experimenter, meta.keywords = list(experimenter), list(keyword)
    order = None
    if images.is_dir():  # which file pairs with which response row; printed after success
        from neurofacedis.importers import describe_order, image_files

        order = describe_order([f.name for f in image_files(images)])
    with warnings.catch_warnings(record=True) as caught, Reporter(quiet=quiet) as reporter, \
            reporter.on_demand(f"import {out.name}") as progress:
        warnings.simplefilter("always")
        path = import_recording(
            images,
            responses,
            out,
            metadata=meta,
            landmarks=landmarks,
            labels=labels,
            mat_var=mat_var,
            response_unit=response_unit,
            window=window,
            overwrite=overwrite,
            detect_landmarks=detect_landmarks,
            skip_undetected=skip_undetected,
            progress=progress,
            ratings=ratings,
        )
    if order is not None:
        out_line(order, stderr=True)
    for w in caught:
        if issubclass(w.category, SkippedStimuliWarning):
            stderr_line("skipped", str(w.message))
        elif issubclass(w.category, UserWarning) and str(out) in str(w.message):
            stderr_line("warning", f"warning: {w.message}")
    out_line(f"wrote {path}")


def inspect_(
    file: Path = typer.Argument(..., help="NWB file (.nwb) or NWB Zarr folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    follow_links: bool = typer.Option(
        False, "--follow-links", help="Read links to other files (listed with their sha256)."
    ),
) -> None:
    """Show what a recording holds and nwbinspector's findings."""
    import json

    from neurofacedis.inspection import inspect_file, render
    from neurofacedis.nwb._write import json_default

    report = inspect_file(file, follow_links=follow_links)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=json_default))
    else:
        render(report, console())


def simulate(
    out: Path = typer.Argument(..., help="Output .nwb file."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed writes identical data."),
    identities: int = typer.Option(100, "--identities", min=1, help="Face identities."),
    views: int = typer.Option(8, "--views", min=1, help="Views (pose, lighting) per identity."),
    neurons: int = typer.Option(150, "--neurons", min=1, help="Model neurons."),
    repeats: int = typer.Option(5, "--repeats", min=1, help="Presentations of each image."),
    axis_fraction: float = typer.Option(
        0.8, "--axis-fraction", min=0.0, max=1.0, help="Fraction of single-factor (axis) neurons."
    ),
    size: int = typer.Option(64, "--size", min=16, help="Image side in pixels."),
    world: str = typer.Option(
        "3d", "--world",
        help="flat (cartoon faces), framed (flat + roll, shift, scale) or 3d (ray-cast heads: "
        "pose, light, shape, expression; docs/worlds.md). The factors depend on the world."),
    code: str = typer.Option(
        "axis", "--code",
        help="The neural code, each a known answer (docs/worlds.md): axis (neurons tuned to "
        "single factors, as --axis-fraction says), mixed (every neuron a random direction of "
        "the factors) or null (neurons unrelated to the images)."),
    rgb: bool = typer.Option(False, "--rgb", help="Colour images instead of grey."),
    factors: str | None = typer.Option(
        None, "--factors",
        help="Comma-separated factors that vary (others stay average) [default: the world's "
        "factors: 18 in 3d, 12 in flat]. Flat framing factors (roll, shift_x, shift_y, scale) "
        "vary only when named.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help=QUIET_HELP
    ),
) -> None:
    """Write a simulated face-patch recording (faces, spikes, responses, ground truth) to NWB."""
    from neurofacedis._outputs import check_output_file
    from neurofacedis.errors import InputError
    from neurofacedis.nwb import write_session
    from neurofacedis.progress import Reporter
    from neurofacedis.simulate import CODES, get_world, simulate_session

    get_world(world)  # a bad world or code is one line, before any progress line
    if code not in CODES:
        raise InputError(f"unknown code {code!r}; use one of {list(CODES)}", obj="code")
    check_output_file(out, overwrite=overwrite)  # before minutes of simulation, not after
    with Reporter(quiet=quiet) as reporter:
        with reporter.task(f"simulate {identities * views} faces, {neurons} neurons"):
            data = simulate_session(
                n_identities=identities, n_views=views, n_neurons=neurons, n_repeats=repeats,
                axis_fraction=axis_fraction, image_size=size, rgb=rgb, seed=seed, world=world,
                code=code,
                factors=None if factors is None else [
                    f.strip() for f in factors.split(",") if f.strip()],
            )
        with reporter.task(f"write {out.name}"):
            write_session(out, data, overwrite=overwrite)
    out_line(f"wrote {out}: {data.n_stimuli} faces, {neurons} neurons x {repeats} repeats, "
             f"seed {seed}" + ("" if code == "axis" else f", {code} code"))
