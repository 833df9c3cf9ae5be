"""Command-line interface (typer). Thin: parses arguments, calls the API, renders with rich.

Every :class:`~neurofacedis.errors.NeurofacedisError` becomes one line on stderr and exit
code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
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
