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
    rich_markup_mode=None,  # help text is plain: "[x repeats]", "[landmarks]" stay as written
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
    """Return a rich Console (imported lazily)."""
    from rich.console import Console

    return Console(stderr=stderr)


# --- commands are registered below; each stays thin and calls the library API -------------


# --- import and inspect (the NWB layer) -----------------------------------------------------


@app.command("import")
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
) -> None:
    """Convert lab files (images + responses [+ landmarks, labels]) into one NWB recording."""
    import warnings
    from datetime import datetime

    from neurofacedis.errors import InputError
    from neurofacedis.importers import SkippedStimuliWarning, import_recording
    from neurofacedis.nwb.session import SessionMetadata

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
    with warnings.catch_warnings(record=True) as caught:
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
        )
    err = console(stderr=True)
    if order is not None:
        err.print(order, markup=False, highlight=False, soft_wrap=True)
    for w in caught:
        if issubclass(w.category, SkippedStimuliWarning):
            err.print(str(w.message), markup=False, highlight=False, soft_wrap=True)
        elif issubclass(w.category, UserWarning) and str(out) in str(w.message):
            err.print(f"warning: {w.message}", markup=False, highlight=False, soft_wrap=True)
    console().print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


@app.command("inspect")
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
        False, "--quiet", "-q", help="No progress bars (errors and the result still print)."
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
        strict=strict, workers=workers, scheduler=scheduler, follow_links=follow_links,
    )
    _render_summary(result.summary, as_json=as_json)
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


def _render_summary(summary: dict[str, Any], *, as_json: bool) -> None:
    """Print the final result: the table (or JSON) on stdout, errors on stderr.

    Shown with and without ``--quiet`` (quiet only hides progress). Every label, path and
    message is data, printed as plain text, never read as rich markup.
    """
    import json

    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        con = console()
        if summary.get("metrics"):
            con.print(_summary_table(summary))
        for s in summary.get("skipped", []):
            reason = f" {s['metric']} on {s['model']}: {s['reason']}"
            con.print(_line(("skipped", "yellow"), reason), soft_wrap=True)
        if summary.get("outputs"):
            con.print(_line(f"report: {summary['outputs']['report_html']}"), soft_wrap=True)
    err = console(stderr=True)
    for e in summary.get("errors", []):
        err.print(_line(("error", "red"), f" {e['kind']} {e['name']} ({e.get('model')}, plugin "
                                          f"{e.get('plugin')}): {e['error']}"), soft_wrap=True)


def _line(*parts: str | tuple[str, str]) -> Any:
    """Return a rich Text of plain ``parts`` (a string, or a (string, style) pair)."""
    from rich.text import Text

    return Text.assemble(*parts)


def _summary_table(summary: dict[str, Any]) -> Any:
    """Return the models x metrics table (headline statistic, mean ± sd over seeds)."""
    from rich.table import Table
    from rich.text import Text

    metrics = summary["metrics"]
    sds = summary.get("metrics_sd", {})
    table = Table(title="models × metrics (headline statistic; mean ± sd over seeds)")
    table.add_column("model", no_wrap=True)
    for m in sorted(metrics):
        table.add_column(Text(m), justify="right", no_wrap=True)
    labels = sorted({lab for by in metrics.values() for lab in by})
    for lab in labels:
        row = [Text(lab)]
        for m in sorted(metrics):
            stats = metrics[m].get(lab)
            if not stats:
                row.append(Text("—"))
                continue
            stat = m if m in stats else next(iter(stats))
            n_seeds = len(summary.get("per_seed", {}).get(m, {}).get(lab, {}).get("seed", []))
            sd = sds.get(m, {}).get(lab, {}).get(stat, 0.0) or 0.0
            row.append(Text(f"{stats[stat]:.3f}" + (f" ± {sd:.3f}" if n_seeds > 1 else "")))
        table.add_row(*row)
    return table


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output folder."),
    model: list[str] = typer.Option(
        None, "--model", "-m", help="Models to compare [pca, ica, and beta_vae if installed]."
    ),
    metric: list[str] = typer.Option(None, "--metric", help="Metrics [all installed]."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds per model."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated session."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bars (errors and the result still print)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout."),
) -> None:
    """Simulate the virtual face patch (OUT/demo.nwb) and run the full analysis on it."""
    from neurofacedis.demo import run_demo

    result = run_demo(out, models=model or None, metrics=metric or None, seeds=seeds, seed=seed,
                      quiet=quiet or as_json)
    _render_summary(result.summary, as_json=as_json)
    if not result.ok:
        raise typer.Exit(1)


# --- simulate (the virtual face patch) --------------------------------------------------------


@app.command()
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
    rgb: bool = typer.Option(False, "--rgb", help="Colour images instead of grey."),
    factors: str | None = typer.Option(
        None, "--factors",
        help="Comma-separated factors that vary (others stay average) [default: the 12 face "
        "factors]. Framing factors (roll, shift_x, shift_y, scale) vary only when named.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Write a simulated face-patch recording (faces, spikes, responses, ground truth) to NWB."""
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    data = simulate_session(
        n_identities=identities, n_views=views, n_neurons=neurons, n_repeats=repeats,
        axis_fraction=axis_fraction, image_size=size, rgb=rgb, seed=seed,
        factors=None if factors is None else [f.strip() for f in factors.split(",") if f.strip()],
    )
    write_session(out, data, overwrite=overwrite)
    console().print(
        f"wrote {out}: {data.n_stimuli} faces, {neurons} neurons x {repeats} repeats, seed {seed}",
        markup=False, highlight=False, soft_wrap=True,
    )


# --- reproduce (a reference study) -----------------------------------------------------------


@app.command()
def reproduce(
    study: str = typer.Argument(..., help="The study: higgins2021."),
    recording: Path | None = typer.Argument(
        None, help="NWB recording [default: simulate the virtual face patch]."
    ),
    scale: str = typer.Option(
        "quick", "--scale", help="test (a minute), quick (CPU, <= 15 min) or full (GPU/cluster)."
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
        False, "--quiet", "-q", help="No progress bars (errors and the result still print)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print claims.json to stdout."),
) -> None:
    """Reproduce a reference study's comparison and figures; check each of its claims."""
    from neurofacedis.reproduce import reproduce as run_reproduction

    rep = run_reproduction(
        study, recording, scale=scale, out=out, seed=seed, train_images=train_images,
        workers=-1 if workers is None else workers, scheduler=scheduler, cache_dir=cache_dir,
        quiet=quiet or as_json,
    )
    if as_json:
        typer.echo((rep.out / "claims.json").read_text())
    else:  # quiet hides progress only: the claims are the result
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(f"{study} ({scale}): the paper's claims on this run"))
        for column in ("claim", "this run", "verdict"):
            table.add_column(column, overflow="fold")
        style = {True: "green", False: "red", None: "yellow"}
        for c in rep.claims:
            table.add_row(Text(c.title), Text(c.measured), Text(c.verdict, style[c.agrees]))
        con = console()
        con.print(table)
        con.print(_line(f"report: {rep.out / 'report.html'}"), soft_wrap=True)
    err = console(stderr=True)
    for e in rep.analysis.summary.get("errors", []):
        err.print(_line(("error", "red"), f" {e['kind']} {e['name']} ({e.get('model')}): "
                                          f"{e['error']}"), soft_wrap=True)
    if not rep.analysis.ok:
        raise typer.Exit(1)


# --- plugins (the registry) -------------------------------------------------------------------


@app.command()
def plugins(
    name: str | None = typer.Argument(
        None, help="Show only this model, metric, dataset or plugin (e.g. classifier)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON row per entry."),
    strict: bool = typer.Option(
        False, "--strict", help="Fail on a broken plugin or invalid spec instead of warning."
    ),
) -> None:
    """List installed models, metrics and datasets: parameters with their help, version, source."""
    import json
    import warnings

    from neurofacedis.registry import PluginWarning, get_registry, plugin_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # shown below, once, as plain lines
        registry = get_registry(strict=strict)
    rows = plugin_table(registry)
    if name is not None:
        rows = _plugin_rows_named(rows, name)
    err = console(stderr=True)
    notes = [f"warning: {line}" for line in registry.warnings]
    if registry.missing:
        notes.append(
            f"first-party plugin(s) {', '.join(registry.missing)} not installed: "
            "run make test / pip install -e ."
        )
    for line in notes:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="neurofacedis plugins", show_lines=True)
    for column in ("kind", "name", "plugin"):
        table.add_column(column, no_wrap=True)
    table.add_column("summary; parameters: name=default  help", ratio=1)
    for row in rows:
        source = "\n".join(x for x in (row["plugin"], row["distribution"], row["version"]) if x)
        cell = Text(row["summary"])
        if row["requires"]:
            cell.append(f" [requires: {', '.join(row['requires'])}]", style="yellow")
        for p in row["params"]:
            cell.append(f"\n{p['name']}={p['default']!r}", style="bold")
            text = p["help"] or ""
            if p["choices"]:
                text += f" (one of: {', '.join(str(c) for c in p['choices'])})"
            if text:
                cell.append(f"  {text}", style="dim")
        table.add_row(row["kind"], row["name"], source, cell)
    console().print(table)


def _plugin_rows_named(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Keep the rows whose entry or plugin is ``name``; an unknown name is one line."""
    import difflib

    from neurofacedis.errors import UnknownNameError

    kept = [r for r in rows if name in (r["name"], r["plugin"])]
    if kept:
        return kept
    known = sorted({r["name"] for r in rows} | {r["plugin"] for r in rows})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"installed: {', '.join(known)}"
    raise UnknownNameError(f"no model, metric, dataset or plugin called {name!r}; {hint}")


# --- data: sharing datasets (commands in neurofacedis/data/cli.py) ------------------------

from neurofacedis.data.cli import app as _data_app  # noqa: E402 (imports typer only)

app.add_typer(_data_app, name="data")


# --- entry point ----------------------------------------------------------------------------


def _interrupt_on_sigterm() -> Any:
    """Handle SIGTERM exactly as SIGINT (Ctrl-C), so every cleanup path runs.

    Why: the default SIGTERM action ends the process at once, leaving temporary files; as
    KeyboardInterrupt it unwinds through the atomic writers, which remove them. The SIGINT
    handler in force is called, so code that defers Ctrl-C to a safe point (a training step)
    defers SIGTERM too. Returns a function that restores the previous handler.
    """
    import signal
    import threading

    _STATE["signal"] = None
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: Any) -> None:
        _STATE["signal"] = signum
        on_sigint = signal.getsignal(signal.SIGINT)
        if callable(on_sigint) and on_sigint is not signal.default_int_handler:
            on_sigint(signal.SIGINT, frame)
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(
        signal.SIGTERM, previous if previous is not None else signal.SIG_DFL
    )


def _one_line_warnings() -> Any:
    """Show every Python warning as one line on stderr until the returned function is called.

    Why: Python's default shows a site-packages path and the source line (two lines per
    warning), which breaks the one-line promise before an error and floods a Lasso fit. Each
    becomes ``warning: MESSAGE (Category from PACKAGE)``, every distinct line once; ``--debug``
    keeps Python's own format.
    """
    import warnings

    previous = warnings.showwarning
    seen: set[str] = set()

    def show(message: Any, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        text = " ".join(str(message).split()) or category.__name__
        shown = f"warning: {text} ({category.__name__} from {_warning_source(filename)})"
        if shown not in seen:
            seen.add(shown)
            sys.stderr.write(shown + "\n")

    warnings.showwarning = show
    return lambda: setattr(warnings, "showwarning", previous)


def _warning_source(filename: str) -> str:
    """Name the package a warning comes from (never its path)."""
    parts = Path(str(filename)).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts[:-1]:
            return Path(parts[parts.index(marker) + 1]).stem
    return Path(str(filename)).stem


def _interrupted() -> None:
    """Say so and exit 128 + signal number (130 for Ctrl-C, 143 for SIGTERM)."""
    sys.stderr.write("interrupted\n")
    sys.exit(128 + (_STATE.get("signal") or 2))


# The library names its parameters (``analyze(models=...)``); the CLI speaks of its flags.
_FLAGS = {"models": "--model", "seeds": "--seeds", "params": "--param", "out": "--out",
          "workers": "--workers", "scheduler": "--scheduler", "follow_links": "--follow-links",
          "train_images": "--train-images", "split_by": "--split-by"}


def _flag_named(exc: NeurofacedisError) -> NeurofacedisError:
    """Name the flag instead of the library parameter in ``exc.obj`` (``models`` → ``--model``)."""
    head, sep, rest = (exc.obj or "").partition(" ")
    if head in _FLAGS:
        exc.obj = _FLAGS[head] + sep + rest
    return exc


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning user errors into one line, exit 2.

    SIGINT and SIGTERM interrupt cleanly (exit 130 / 143); an OS error on a file the user
    named (a name too long, no permission, disk full) is one line and exit 2 as well.
    """
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    restore = _interrupt_on_sigterm()
    restore_warnings = _one_line_warnings() if not debug else (lambda: None)
    try:
        code = app(args=argv, standalone_mode=False)
        if code == 130:  # typer turns KeyboardInterrupt (SIGINT, SIGTERM) into Exit(130)
            _interrupted()
        if isinstance(code, int) and code:  # typer.Exit(n) is returned, not raised, here
            sys.exit(code)
    except NeurofacedisError as exc:
        if debug:
            raise
        sys.stderr.write(f"error: {_flag_named(exc).one_line()}\n")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        _interrupted()
    except OSError as exc:
        if debug:
            raise
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        problem = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
        sys.stderr.write(f"error: {': '.join([*names, problem])}\n")
        sys.exit(2)
    except Exception as exc:  # click usage errors and the like
        import click

        # typer >= 0.2x vendors click (typer._click), so its usage errors are not click's
        if isinstance(exc, click.exceptions.ClickException) or (
            hasattr(exc, "show") and hasattr(exc, "format_message")
        ):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
    finally:
        restore()
        restore_warnings()
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
