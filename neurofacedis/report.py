"""The HTML report: one self-contained page per run (figures inlined), built from small blocks.

:func:`render_report` draws an analysis' ``report.html`` from its summary, one function per
section. The blocks below it — :func:`esc`, :func:`table`, :func:`image`, :func:`item_list`,
:func:`document` — are the only HTML writers of the project: a study's report
(:mod:`neurofacedis.studies`) builds its page from them too, so both pages escape, embed
figures and lay out tables the same way.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["render_report", "Html", "esc", "cell_text", "table", "png_data_uri", "image",
           "item_list", "document", "STYLE"]

#: The style sheet every page starts from (a study's page appends its own rules).
STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
         "padding:3px 8px;"
         "font-size:13px;text-align:left}th{background:#f3f3f3}.err{color:#a00}.warn{color:#a60}"
         "img{max-width:100%;border:1px solid #eee;margin:.3em 0}code{background:#f5f5f5}")

# -------------------------------------------------------------------------------- the blocks


class Html(str):
    """Text that is already HTML: :func:`table` and :func:`item_list` insert it as it is."""


def esc(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value))


def cell_text(value: Any) -> str:
    """Return a table cell's text: floats to 4 significant digits, None empty, else ``str``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _cell(value: Any) -> str:
    return value if isinstance(value, Html) else esc(cell_text(value))


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """Render an HTML table; cells are escaped unless they are :class:`Html`."""
    head = "".join(f"<th>{_cell(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png_data_uri(path: str | Path) -> str:
    """Return a PNG file as a ``data:`` URI (the page carries its figures)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def image(path: str | Path, alt: str) -> str:
    """Render an ``<img>`` with the PNG at ``path`` inlined."""
    return f"<img alt='{esc(alt)}' src='{png_data_uri(path)}'>"


def item_list(title: str, items: Iterable[str], cls: str | None = None) -> list[str]:
    """Render a titled bullet list as lines: ``<h2>``, one ``<li>`` per item (Html kept)."""
    attr = f" class='{cls}'" if cls else ""
    return ([f"<h2{attr}>{esc(title)}</h2><ul>"]
            + [f"<li{attr}>{i if isinstance(i, Html) else esc(i)}</li>" for i in items]
            + ["</ul>"])


def document(title: str, body: Iterable[str], *, style: str = STYLE) -> str:
    """Render a whole page: head (title, style sheet) and the body lines, one per line."""
    return "\n".join(["<!doctype html><html><head><meta charset='utf-8'>",
                      f"<title>{esc(title)}</title>", f"<style>{style}</style>",
                      "</head><body>", *body, "</body></html>"])


# ------------------------------------------------------------------------ the analysis page


def render_report(summary: dict[str, Any], figure_files: list[Path]) -> str:
    """Render a run's self-contained HTML page (figures inlined as PNG data URIs)."""
    parts = [*_intro(summary), *_errors(summary), *_metric_tables(summary),
             *_comparisons(summary), *_selection(summary), *_figures(figure_files),
             *_provenance(summary), *_skipped(summary), *_warnings(summary),
             "<p style='color:#888'>Outputs: analysis.nwb (latents with provenance), "
             "results.nc "
             "(full metric results, one NetCDF group per metric/model/seed), summary.json.</p>"]
    return document(f"neurofacedis report: {summary['recording']['identifier']}", parts)


def _intro(summary: dict[str, Any]) -> list[str]:
    rec, split = summary["recording"], summary["split"]
    return [
        "<h1>neurofacedis analysis report</h1>",
        f"<p>Recording <code>{esc(rec['path'])}</code> (identifier "
        f"<code>{esc(rec['identifier'])}</code>, sha256 "
        f"<code>{rec['sha256'][:16]}…</code>): "
        f"{rec['n_stimuli']} stimuli × {rec['n_neurons']} neurons × {rec['n_repeats']} repeats; "
        f"responses from {esc(rec.get('response_source', ''))}. "
        f"Split by {split['by']}: {split['n_train']} train / "
        f"{split['n_test']} test (seed {split['seed']}). "
        f"neurofacedis {summary['neurofacedis_version']}, {summary['created']}, "
        f"{summary['elapsed_seconds']} s.</p>",
    ]


def _errors(summary: dict[str, Any]) -> list[str]:
    if not summary["errors"]:
        return []
    return item_list("Errors", [
        Html(f"{esc(e['kind'])} <b>{esc(e['name'])}</b> ({esc(e.get('model', ''))}, seed "
             f"{e.get('seed')}, plugin {esc(e.get('plugin', ''))} {esc(e.get('version', ''))})"
             f": {esc(e['error'])}") for e in summary["errors"]], cls="err")


def _headline_cell(stats: dict[str, Any] | None, metric: str, sd_of: dict[str, Any]) -> str:
    """``mean ± sd`` of a metric's headline statistic (its own name, else its first)."""
    if not stats:
        return "—"
    stat = metric if metric in stats else next(iter(stats))
    sd = sd_of.get(stat, 0.0) or 0.0
    return f"{stats[stat]:.3f} ± {sd:.3f}" + ("" if stat == metric else f" ({stat})")


def _metric_tables(summary: dict[str, Any]) -> list[str]:
    metrics = summary.get("metrics", {})
    if not metrics:
        return []
    sds = summary.get("metrics_sd", {})
    labels = sorted({lab for m in metrics.values() for lab in m} | set(summary["models"]))
    rows = [[lab, *[_headline_cell(metrics[m].get(lab), m, sds.get(m, {}).get(lab, {}))
                    for m in sorted(metrics)]] for lab in labels]
    parts = ["<h2>Models × metrics</h2><p>Headline statistic of each metric, "
             "mean ± sd over seeds.</p>", table(["model", *sorted(metrics)], rows),
             "<details><summary>All statistics</summary>"]
    for m in sorted(metrics):
        names = sorted({s for lab in metrics[m] for s in metrics[m][lab]})
        parts.append(f"<h3>{esc(m)}</h3>")
        parts.append(table(["model", *names], [[lab, *[metrics[m][lab].get(s) for s in names]]
                                               for lab in sorted(metrics[m])]))
    parts.append("</details>")
    return parts


def _comparisons(summary: dict[str, Any]) -> list[str]:
    if not summary.get("comparisons"):
        return []
    rows = [[m, r["stat"], r["a"], r["b"], r["mean_a"], r["mean_b"], r["t"], r["p"], r["p_fdr"],
             "yes" if r["significant"] else "no"]
            for m, rs in summary["comparisons"].items() for r in rs
            if r["stat"] == m or len(rs) < 30]
    return ["<h2>Model comparisons</h2><p>Two-sided Welch t-tests over seeds, "
            "Benjamini–Hochberg FDR across pairs of each statistic.</p>",
            table(["metric", "stat", "A", "B", "mean A", "mean B", "t", "p", "p (FDR)",
                   "significant"], rows)]


def _selection(summary: dict[str, Any]) -> list[str]:
    if not summary.get("selection"):
        return []
    return ["<h2>Model selection (UDR)</h2>",
            table(["model", "selected seed", "UDR per seed"],
                  [[lab, s["selected_seed"], json.dumps(s.get("scores", s.get("udr")))]
                   for lab, s in summary["selection"].items()])]


def _figures(figure_files: Sequence[Path]) -> list[str]:
    if not figure_files:
        return []
    return ["<h2>Figures</h2>", *(
        f"<figure><figcaption>{esc(Path(f).stem.replace('__', ' · '))}</figcaption>"
        f"{image(f, Path(f).stem)}</figure>" for f in figure_files)]


def _provenance(summary: dict[str, Any]) -> list[str]:
    rows = [[lab, fit["seed"], m["plugin"], m["distribution"], m["plugin_version"],
             json.dumps(m["params"]), fit["cache"], fit["n_units"], fit["n_active"],
             fit["fit_seconds"], fit.get("error") or ""]
            for lab, m in summary["models"].items() for fit in m["fits"]]
    training = summary["training_images"]
    return ["<h2>Provenance</h2>",
            table(["model", "seed", "plugin", "distribution", "version", "parameters", "cache",
                   "units", "active", "fit s", "error"], rows),
            f"<p>Training images: {esc(training['source'])} "
            f"(sha256 <code>{training['sha256'][:16]}…</code>).</p>"]


def _skipped(summary: dict[str, Any]) -> list[str]:
    if not summary.get("skipped"):
        return []
    return item_list("Skipped", [f"{s['metric']} on {s['model']}: {s['reason']}"
                                 for s in summary["skipped"]])


def _warnings(summary: dict[str, Any]) -> list[str]:
    if not summary.get("warnings"):
        return []
    return item_list("Warnings", summary["warnings"], cls="warn")
