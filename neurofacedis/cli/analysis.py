"""``neurofacedis analyze``, ``demo`` and ``reproduce``: the commands that run the runner."""

from __future__ import annotations

from pathlib import Path

import typer

from neurofacedis.cli._render import (
    QUIET_HELP,
    console,
    line,
    print_table,
    render_summary,
    stderr_line,
)

__all__ = ["analyze", "demo", "reproduce"]


def analyze(
    recording: list[Path] = typer.Argument(
        ..., help="NWB recording (.nwb file or Zarr folder); several files or a folder of .nwb "
        "files pool their neurons over the images they share (matched by pixel content)."),
    model: list[str] = typer.Option(
        ..., "--model", "-m", help="Model name (repeatable), or package.module:attr."
    ),
    metric: list[str] = typer.Option(
        None, "--metric", help="Metric name (repeatable); default: every installed metric."
    ),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Fit each model with seeds 0..N-1."),
    param: list[str] = typer.Option(
        None, "--param", "-p", help="NAME.PARAM=VALUE[,VALUE...], e.g. beta_vae.beta=1,2,4."
    ),
    train_images: Path | None = typer.Option(
        None, "--train-images",
        help="Fit on these images (folder, .npy or NWB: with its labels and landmarks) instead.",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder [RECORDING-analysis]."
    ),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Held-out stimulus fraction."),
    split_by: str = typer.Option("stimulus", "--split-by", help="stimulus or identity."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the train/test split."),
    window: str | None = typer.Option(
        None, "--window", help="Spike-count window START,STOP in s after onset, e.g. 0.05,0.35."
    ),
    select: str | None = typer.Option(None, "--select", help="udr: label-free seed selection."),
    into: bool = typer.Option(False, "--into", help="Also add the latents to RECORDING itself."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Refit instead of using the cache."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Model cache folder."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Skip figures."),
    strict: bool = typer.Option(False, "--strict", help="Plugin loading problems are errors."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help=QUIET_HELP
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Run the grid on a local Dask cluster of N processes."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Run the grid on a running Dask cluster, e.g. tcp://HOST:8786."
    ),
    follow_links: bool = typer.Option(
        False, "--follow-links",
        help="Read links to other files; summary.json records each linked file's sha256.",
    ),
    units: str | None = typer.Option(
        None, "--units", help="Select units by Units-table columns, e.g. \"quality == 'good' and "
        "firing_rate > 1\" (comparisons, and/or/not, in; never evaluated as code)."),
    min_rate: float | None = typer.Option(
        None, "--min-rate", min=0.0, help="Drop units whose mean rate in the response windows "
        "is below HZ."),
    stimuli: str | None = typer.Option(
        None, "--stimuli", help="The stimulus set to use when the file holds several."),
    presentations: str | None = typer.Option(
        None, "--presentations", help="The presentation table/series when the file holds several."),
    stimuli_match: str = typer.Option(
        "intersect", "--stimuli-match",
        help="Pooling: intersect (images every session showed) or union (NaN where unseen)."),
    target: str = typer.Option(
        "neurons", "--target",
        help="neurons, or behaviour: the file's human choices, ratings and similarity "
        "judgements (docs/data-model.md) go to the metrics too (agreement, error_consistency, "
        "behaviour_rsa, rating_encoding); a file without neurons is analysed too."),
    behaviour: Path | None = typer.Option(
        None, "--behaviour", help="With --target behaviour: read the behaviour from this NWB "
        "file instead, matched to the recording's stimuli by stimulus id."),
) -> None:
    """Fit or load models, store their latents, run the metrics, write results and a report."""
    from neurofacedis.errors import InputError
    from neurofacedis.runner import analyze as run_analysis

    win = _parse_window(window)
    if out is None and len(recording) > 1:
        raise InputError("several recordings are pooled into one analysis: give `out`", obj="out")
    first = recording[0]
    out = out if out is not None else first.with_name(first.stem + "-analysis")
    result = run_analysis(
        first if len(recording) == 1 else recording, models=model, metrics=metric or None,
        seeds=seeds, params=param or None,
        out=out, train_images=train_images, test_fraction=test_fraction, split_by=split_by,
        split_seed=split_seed, window=win, select=select, cache_dir=cache_dir,
        use_cache=not no_cache, into=into, figures=not no_figures, quiet=quiet or as_json,
        strict=strict, workers=workers, scheduler=scheduler, follow_links=follow_links,
        units=units, min_rate=min_rate, stimuli=stimuli, presentations=presentations,
        stimuli_match=stimuli_match, target=target, behaviour=behaviour,
    )
    render_summary(result.summary, as_json=as_json)
    if not result.ok:
        raise typer.Exit(1)


def _parse_window(text: str | None) -> tuple[float, float] | None:
    from neurofacedis.errors import InputError

    if text is None:
        return None
    try:
        start, stop = (float(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"expected START,STOP in seconds, got {text!r}", obj="--window") from None
    if not stop > start:
        raise InputError(f"window stop must be after start, got {text!r}", obj="--window")
    return start, stop


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output folder."),
    model: list[str] = typer.Option(
        None, "--model", "-m", help="Models to compare [pca, ica, and beta_vae if installed]."
    ),
    metric: list[str] = typer.Option(None, "--metric", help="Metrics [all installed]."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds per model."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated session."),
    world: str = typer.Option(
        "3d", "--world", help="3d (ray-cast heads), flat or framed (docs/worlds.md)."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help=QUIET_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout."),
) -> None:
    """Simulate the virtual face patch (OUT/demo.nwb) and run the full analysis on it."""
    from neurofacedis.demo import run_demo
    from neurofacedis.simulate import get_world

    get_world(world)  # a bad world is one line, before anything is written
    result = run_demo(out, models=model or None, metrics=metric or None, seeds=seeds, seed=seed,
                      quiet=quiet or as_json, world=world)
    render_summary(result.summary, as_json=as_json)
    if not result.ok:
        raise typer.Exit(1)


def reproduce(
    study: str = typer.Argument(..., help="The study: higgins2021."),
    recording: Path | None = typer.Argument(
        None, help="NWB recording [default: simulate the virtual face patch]."
    ),
    scale: str = typer.Option(
        "quick", "--scale", help="test (a minute), quick (CPU, ~14 min) or full (GPU/cluster)."
    ),
    world: str | None = typer.Option(
        None, "--world", show_default=False,
        help="The simulated session's world: 3d or framed [default: 3d; only without a "
             "recording].",
    ),
    out: Path = typer.Option(
        Path("higgins2021-reproduction"), "--out", "-o", help="Output folder."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated session."),
    train_images: Path | None = typer.Option(
        None, "--train-images",
        help="Train the models on these images (folder, .npy or NWB) [simulated: the preset's "
             "training set; a recording: its own stimuli].",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="Dask LocalCluster size; 0 = in-process [preset's]."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Run the grid on a running Dask cluster, e.g. tcp://HOST:8786."
    ),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Model cache folder."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help=QUIET_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print claims.json to stdout."),
) -> None:
    """Reproduce a reference study's comparison and figures; check each of its claims."""
    from neurofacedis.studies import reproduce as run_reproduction

    rep = run_reproduction(
        study, recording, scale=scale, world=world, out=out, seed=seed,
        train_images=train_images,
        workers=-1 if workers is None else workers, scheduler=scheduler, cache_dir=cache_dir,
        quiet=quiet or as_json,
    )
    if as_json:
        typer.echo((rep.out / "claims.json").read_text())
    else:  # quiet hides progress only: the claims are the result
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(f"{study} ({scale}, world {rep.world or 'recording'}): "
                                 "the paper's claims on this run"))
        for column in ("claim", "this run", "verdict"):
            table.add_column(column, overflow="fold")
        style = {"agrees": "green", "disagrees": "red", "not shown": "yellow",
                 "not tested": "dim"}
        for c in rep.claims:
            table.add_row(Text(c.title), Text(c.measured), Text(c.verdict, style[c.status]))
        con = console()
        print_table(table, con)
        con.print(line(f"report: {rep.out / 'report.html'}"), soft_wrap=True)
    for e in rep.analysis.summary.get("errors", []):
        stderr_line("error", ("error", "red"), f" {e['kind']} {e['name']} ({e.get('model')}): "
                    f"{e['error']}", kind=e["kind"], name=e["name"], model=e.get("model"))
    if not rep.analysis.ok:
        raise typer.Exit(1)
