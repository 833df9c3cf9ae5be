"""Command-line interface (typer). Thin: parses arguments, calls the API, renders with rich.

Every :class:`~neurofacedis.errors.NeurofacedisError` becomes one line on stderr and exit
code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from neurofacedis import __version__
from neurofacedis.errors import NeurofacedisError

app = typer.Typer(
    name="neurofacedis",
    help="Which model's latent units line up with single face-selective neurons?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_STATE: dict[str, Any] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"neurofacedis {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """neurofacedis: NWB recordings in; model-neuron alignment, decoding and RSA out."""
    _STATE["debug"] = debug


def console(stderr: bool = False):
    """A rich Console (imported lazily)."""
    from rich.console import Console

    return Console(stderr=stderr)


# --- commands are registered below; each stays thin and calls the library API -------------


# --- analyze and demo (the runner) ----------------------------------------------------------


@app.command()
def analyze(
    recording: Path = typer.Argument(..., help="NWB recording (.nwb file or Zarr folder)."),
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
        None, "--train-images", help="Fit on these images (folder, .npy or NWB) instead."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder [RECORDING-analysis]."),
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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Fit or load models, store their latents, run the metrics, write results and a report."""
    from neurofacedis.runner import analyze as run_analysis

    win = _parse_window(window)
    out = out if out is not None else recording.with_name(recording.stem + "-analysis")
    result = run_analysis(
        recording, models=model, metrics=metric or None, seeds=seeds, params=param or None,
        out=out, train_images=train_images, test_fraction=test_fraction, split_by=split_by,
        split_seed=split_seed, window=win, select=select, cache_dir=cache_dir,
        use_cache=not no_cache, into=into, figures=not no_figures, quiet=quiet or as_json,
        strict=strict,
    )
    _render_summary(result.summary, as_json=as_json, quiet=quiet)
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


def _render_summary(summary: dict[str, Any], *, as_json: bool, quiet: bool) -> None:
    import json

    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    if quiet:
        return
    from rich.table import Table

    con = console()
    metrics = summary.get("metrics", {})
    sds = summary.get("metrics_sd", {})
    if metrics:
        table = Table(title="models × metrics (mean ± sd over seeds)")
        table.add_column("model")
        for m in sorted(metrics):
            table.add_column(m, justify="right")
        labels = sorted({lab for by in metrics.values() for lab in by})
        for lab in labels:
            row = [lab]
            for m in sorted(metrics):
                stats = metrics[m].get(lab)
                if not stats:
                    row.append("—")
                    continue
                stat = m if m in stats else next(iter(stats))
                sd = sds.get(m, {}).get(lab, {}).get(stat, 0.0) or 0.0
                row.append(f"{stats[stat]:.3f} ± {sd:.3f}")
            table.add_row(*row)
        con.print(table)
    for s in summary.get("skipped", []):
        con.print(f"[yellow]skipped[/yellow] {s['metric']} on {s['model']}: {s['reason']}")
    for e in summary.get("errors", []):
        con.print(f"[red]error[/red] {e['kind']} {e['name']} ({e.get('model')}, plugin "
                  f"{e.get('plugin')}): {e['error']}")
    if summary.get("outputs"):
        con.print(f"report: {summary['outputs']['report_html']}")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output folder."),
    model: list[str] = typer.Option(
        None, "--model", "-m", help="Models to compare [pca, ica, and beta_vae if installed]."
    ),
    metric: list[str] = typer.Option(None, "--metric", help="Metrics [all installed]."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds per model."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated session."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout."),
) -> None:
    """Simulate the virtual face patch (OUT/demo.nwb) and run the full analysis on it."""
    from neurofacedis.demo import run_demo

    result = run_demo(out, models=model or None, metrics=metric or None, seeds=seeds, seed=seed,
                      quiet=quiet or as_json)
    _render_summary(result.summary, as_json=as_json, quiet=quiet)
    if not result.ok:
        raise typer.Exit(1)


# --- entry point ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning user errors into one line, exit 2."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        app(args=argv, standalone_mode=False)
    except NeurofacedisError as exc:
        if debug:
            raise
        sys.stderr.write(f"error: {exc.one_line()}\n")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
