"""Command-line interface (typer). Thin: parses arguments, calls the API, renders with rich.

The commands live by group (:mod:`.recordings`: import, inspect, simulate; :mod:`.analysis`:
analyze, demo, reproduce; :mod:`.plugins`; :mod:`.data`: the ``data`` sub-app); this module
holds the app, the entry point :func:`main` and :data:`FLAGS`, the one table from library
parameter names to flags. Every :class:`~neurofacedis.errors.NeurofacedisError` becomes one
line on stderr and exit code 2; ``--debug`` shows the traceback instead.

The library speaks of its parameters: an error's ``obj`` is a parameter name (``models``),
and a parameter named in its message is written in backticks (```mat_var```). :func:`main`
turns both into the flags of the command that ran (``--model``, ``--mat-var``), so the
library never names a flag and the CLI's messages name what the user typed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from neurofacedis import __version__
from neurofacedis.cli import analysis, calibrate, data, plugins, recordings
from neurofacedis.cli._render import new_app
from neurofacedis.errors import NeurofacedisError
from neurofacedis.progress import LOG_FORMATS, emit, set_log_format

__all__ = ["FLAGS", "app", "main"]

app = new_app("neurofacedis",
              "Which model's latent units line up with single face-selective neurons?")

_STATE: dict[str, Any] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"neurofacedis {__version__}")
        raise typer.Exit()


def _choice(value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
    return value


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    log_format: str = typer.Option(
        "auto", "--log-format", envvar="NEUROFACEDIS_LOG_FORMAT",
        callback=lambda value: _choice(value, LOG_FORMATS),
        help="Progress and messages on stderr: rich (bars), plain (timestamped lines), json "
        "(one object per line) or auto (rich on a terminal, plain otherwise).",
    ),
    log_interval: float = typer.Option(
        10.0, "--log-interval", min=0.0,
        help="Seconds between two plain/json progress lines of one step (first, last always).",
    ),
) -> None:
    """neurofacedis: NWB recordings in; model-neuron alignment, decoding and RSA out."""
    _STATE["debug"] = debug
    set_log_format(log_format, interval=log_interval)


# --- the commands: each stays thin and calls the library API --------------------------------

app.command("import")(recordings.import_)
app.command("inspect")(recordings.inspect_)
app.command()(analysis.analyze)
app.command()(analysis.demo)
app.command()(recordings.simulate)
app.command()(analysis.reproduce)
app.command()(calibrate.calibrate)
app.command()(plugins.plugins)
app.add_typer(data.app, name="data")


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
            emit("warning", shown, category=category.__name__)

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


_COMMON = {"out": "--out", "follow_links": "--follow-links"}  # every command, unless it says
_RUNNER = {"models": "--model", "seeds": "--seeds", "params": "--param", "out": "--out",
           "workers": "--workers", "scheduler": "--scheduler", "follow_links": "--follow-links",
           "train_images": "--train-images", "split_by": "--split-by", "scale": "--scale",
           "units": "--units", "min_rate": "--min-rate", "stimuli": "--stimuli",
           "presentations": "--presentations", "stimuli_match": "--stimuli-match",
           "cache_dir": "--cache-dir", "target": "--target", "behaviour": "--behaviour"}
_FETCH = {"allow_unverified": "--allow-unverified", "allow_local_urls": "--allow-local-urls",
          "base_url": "--base-url", "max_size": "--max-size", "timeout": "--timeout",
          "manifest": "--manifest"}

#: The one table from library parameter names to CLI flags, per command: an error's ``obj``
#: and the backticked names in its message are shown as the flags of the command that ran.
FLAGS: dict[str, dict[str, str]] = {
    "analyze": _RUNNER,
    "demo": {**_RUNNER, "world": "--world"},
    "reproduce": {**_RUNNER, "world": "--world"},
    "import": {"images": "--images", "responses": "--responses", "out": "--out",
               "landmarks": "--landmarks", "labels": "--labels", "mat_var": "--mat-var",
               "detect_landmarks": "--detect-landmarks",
               "skip_undetected": "--skip-undetected", "ratings": "--ratings"},
    "inspect": {"follow_links": "--follow-links"},
    "data fetch": _FETCH,
    "data validate": {"follow_links": "--follow-links"},
    "data pack": {"paths": "FILE", "manifest": "--manifest", "base_url": "--base-url",
                  "dandi_dir": "--dandi-layout", "subject": "--subject",
                  "sessions": "--session"},
    "data export": {"out": "--zarr"},
    "calibrate": {"n_null": "--n-null", "n_power": "--n-power",
                  "n_permutations": "--permutations", "n_jobs": "--jobs", "out": "--figure",
                  "datasets": "--datasets", "power_curves": "--power-curves"},
    "simulate": {"world": "--world", "code": "--code"},
}

_ROOT_VALUES = {"--log-format", "--log-interval"}  # root options that take a value


def _command(argv: list[str]) -> str:
    """Name the command in ``argv`` as :data:`FLAGS` keys it (``data pack``)."""
    words: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _ROOT_VALUES:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
            if arg != "data" or len(words) == 2:
                break
    return " ".join(words)


def _flag_named(exc: NeurofacedisError, command: str) -> NeurofacedisError:
    """Name the flags instead of the library parameters (``models`` → ``--model``).

    ``exc.obj`` when its first word is a parameter of ``command``, and each backticked
    parameter name in ``exc.problem``; a name the table does not hold is left as it is.
    """
    import re

    flags = {**_COMMON, **FLAGS.get(command, {})}
    head, sep, rest = (exc.obj or "").partition(" ")
    if head in flags:
        exc.obj = flags[head] + sep + rest
    exc.problem = re.sub(r"`([a-z_]+)`", lambda m: flags.get(m[1], m[0]), exc.problem)
    return exc


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning user errors into one line, exit 2.

    SIGINT and SIGTERM interrupt cleanly (exit 130 / 143); an OS error on a file the user
    named (a name too long, no permission, disk full) is one line and exit 2 as well.
    """
    args = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in args
    previous_log = set_log_format("auto")  # the root option sets it; restored when done
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
        exc = _flag_named(exc, _command(args))
        emit("error", f"error: {exc.one_line()}", file=exc.file, obj=exc.obj,
             problem=exc.problem)
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
        emit("error", f"error: {': '.join([*names, problem])}")
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
        set_log_format(previous_log[0], interval=previous_log[1])
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
