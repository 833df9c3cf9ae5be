"""What every command prints with: consoles, plain-text lines, whole tables, the summary.

Every label, path and message is data: it is printed as plain text (rich ``Text`` objects or
``markup=False``), never read as rich markup, so ``rec[v2].nwb`` or an HDF5 path ``data[0]``
keeps its brackets. When the output is not a terminal (a log file, a pipe), a table is
printed at its natural width, every column whole, instead of being cut to 80 columns.
"""

from __future__ import annotations

import json
from typing import Any

from neurofacedis.progress import emit, log_format, print_table

__all__ = ["QUIET_HELP", "new_app", "console", "line", "out", "print_table", "stderr_line",
           "summary_table", "render_summary"]

#: The help of every ``-q``: it hides progress only.
QUIET_HELP = "No progress bars or lines (errors and the result still print)."


def new_app(name: str, help: str) -> Any:
    """Return a typer app set up as every neurofacedis command group is.

    Plain help text (``[x repeats]`` stays as written), no completion, errors as one line.
    """
    import typer

    return typer.Typer(name=name, help=help, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None)


def console(stderr: bool = False) -> Any:
    """Return a rich Console on stdout (or stderr), imported lazily."""
    from rich.console import Console

    return Console(stderr=stderr)


def line(*parts: str | tuple[str, str]) -> Any:
    """Return a rich Text of plain ``parts`` (a string, or a (string, style) pair)."""
    from rich.text import Text

    return Text.assemble(*parts)


def out(text: Any, *, stderr: bool = False) -> None:
    """Print one line of data (a str is never read as markup) on stdout or stderr."""
    console(stderr).print(text, markup=False, highlight=False, soft_wrap=True)


def stderr_line(event: str, *parts: str | tuple[str, str], **fields: Any) -> None:
    """Print one stderr line made of ``parts``; with ``--log-format json``, a JSON object."""
    if log_format() == "json":
        emit(event, line(*parts).plain, **fields)
    else:
        console(stderr=True).print(line(*parts), highlight=False, soft_wrap=True)


def _log_apart_from_stdout() -> bool:
    """Tell whether stderr is a plain-text log (not a terminal) written apart from stdout."""
    import os
    import sys

    if log_format() != "plain":
        return False
    try:
        err, std = os.fstat(sys.stderr.fileno()), os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # replaced streams (tests): nothing to add
        return False
    return not os.path.samestat(err, std)


def summary_table(summary: dict[str, Any]) -> Any:
    """Return the models x metrics table (headline statistic, mean ± sd over seeds)."""
    from rich.table import Table
    from rich.text import Text

    from neurofacedis.runner.verdict import headline_stat

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
            stat = headline_stat(m, stats)
            n_seeds = len(summary.get("per_seed", {}).get(m, {}).get(lab, {}).get("seed", []))
            sd = sds.get(m, {}).get(lab, {}).get(stat, 0.0) or 0.0
            row.append(Text(f"{stats[stat]:.3f}" + (f" ± {sd:.3f}" if n_seeds > 1 else "")))
        table.add_row(*row)
    return table


def render_summary(summary: dict[str, Any], *, as_json: bool) -> None:
    """Print the final result: the table (or JSON) on stdout, errors on stderr.

    Shown with and without ``--quiet`` (quiet only hides progress).
    """
    if as_json:
        import typer

        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        con = console()
        if summary.get("metrics"):
            print_table(summary_table(summary), con)
        for s in summary.get("skipped", []):
            reason = f" {s['metric']} on {s['model']}: {s['reason']}"
            con.print(line(("skipped", "yellow"), reason), soft_wrap=True)
        if summary.get("outputs"):
            con.print(line(f"report: {summary['outputs']['report_html']}"), soft_wrap=True)
        if summary.get("metrics") and _log_apart_from_stdout():  # `demo 2> log.txt`
            print_table(summary_table(summary), console(stderr=True))
    if log_format() == "json":
        emit("result", "summary", summary=summary)
    for e in summary.get("errors", []):
        stderr_line("error", ("error", "red"),
                    f" {e['kind']} {e['name']} ({e.get('model')}, plugin {e.get('plugin')}): "
                    f"{e['error']}", kind=e["kind"], name=e["name"], model=e.get("model"))
