"""``neurofacedis plugins``: what is installed (models, metrics, datasets), with parameters."""

from __future__ import annotations

from typing import Any

import typer

from neurofacedis.cli._render import print_table, stderr_line

__all__ = ["plugins"]


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
    notes = [f"warning: {line}" for line in registry.warnings]
    if registry.missing:
        notes.append(
            f"first-party plugin(s) {', '.join(registry.missing)} not installed: "
            "run make test / pip install -e ."
        )
    for note in notes:
        stderr_line("warning", note)
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
    print_table(table)


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
