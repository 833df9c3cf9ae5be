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

import numpy as np

__all__ = ["render_report", "verdict_html", "value_text", "Html", "esc", "cell_text", "table",
           "png_data_uri", "compact_png", "image", "item_list", "document", "STYLE"]

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


def compact_png(data: bytes) -> bytes:
    """Return the smaller of a PNG and its 256-colour palette version (Pillow, optimised).

    Figures are plots and grey faces: an adaptive palette of 256 colours keeps them
    (antialiased edges change by a shade at most) at a third to a half of the bytes, so a
    report stays small. Data Pillow cannot read is returned as it is.
    """
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            mode = "RGBA" if "A" in img.getbands() else "RGB"
            small = img.convert(mode).quantize(256, method=Image.Quantize.FASTOCTREE)
            out = io.BytesIO()
            small.save(out, format="PNG", optimize=True)
    except (OSError, ValueError):
        return data
    return out.getvalue() if out.tell() < len(data) else data


def png_data_uri(path: str | Path) -> str:
    """Return a PNG file as a ``data:`` URI (the page carries its figures, compacted)."""
    return "data:image/png;base64," + base64.b64encode(
        compact_png(Path(path).read_bytes())).decode()


def image(path: str | Path, alt: str) -> str:
    """Render an ``<img>`` with the PNG at ``path`` inlined."""
    return f"<img alt='{esc(alt)}' src='{png_data_uri(path)}'>"


def item_list(title: str, items: Iterable[str], cls: str | None = None,
              anchor: str | None = None) -> list[str]:
    """Render a titled bullet list as lines: ``<h2>``, one ``<li>`` per item (Html kept)."""
    attr = f" class='{cls}'" if cls else ""
    ident = f" id='{esc(anchor)}'" if anchor else ""
    return ([f"<h2{attr}{ident}>{esc(title)}</h2><ul>"]
            + [f"<li{attr}>{i if isinstance(i, Html) else esc(i)}</li>" for i in items]
            + ["</ul>"])


def document(title: str, body: Iterable[str], *, style: str = STYLE) -> str:
    """Render a whole page: head (title, style sheet) and the body lines, one per line."""
    return "\n".join(["<!doctype html><html><head><meta charset='utf-8'>",
                      f"<title>{esc(title)}</title>", f"<style>{style}</style>",
                      "</head><body>", *body, "</body></html>"])


# ------------------------------------------------------------------------ the analysis page


def render_report(summary: dict[str, Any], figure_files: list[Path]) -> str:
    """Render a run's self-contained HTML page (figures inlined as PNG data URIs).

    Conclusion first: a short paragraph and the verdict table (summary.json ``verdict``),
    then contents, one section per metric (its table and figures), the comparisons, selection,
    other figures, skipped metrics, warnings and errors, provenance last.
    """
    metrics = sorted(summary.get("metrics", {}))
    by_metric, other = _figures_by_metric(figure_files, metrics)
    parts = [*_intro(summary), *_units(summary), *_conclusion(summary), *_errors(summary),
             *_contents(summary, metrics, bool(other)),
             *(line for m in metrics for line in _metric_section(summary, m, by_metric[m])),
             *_comparisons(summary), *_selection(summary), *_figures(other),
             *_skipped(summary), *_warnings(summary), *_provenance(summary),
             "<p style='color:#888'>Outputs: analysis.nwb (latents with provenance), "
             "results.nc "
             "(full metric results, one NetCDF group per metric/model/seed), summary.json.</p>"]
    return document(f"neurofacedis report: {summary['recording']['identifier']}", parts,
                    style=STYLE + _REPORT_STYLE)


_REPORT_STYLE = (".verdict{background:#f6f8fa;border:1px solid #d0d7de;padding:.6em 1em;"
                 "margin:1em 0}.verdict table{margin:.4em 0;display:table;width:100%}"
                 ".verdict td:nth-child(-n+3){white-space:nowrap}nav ul{columns:3;margin:.3em 0}"
                 "figure{display:inline-block;vertical-align:top;margin:.3em;max-width:48%}"
                 "figure img{max-width:100%}table{max-width:100%;display:block;overflow-x:auto}"
                 "td,th{overflow-wrap:anywhere}")


def value_text(entry: dict[str, Any] | None, digits: int = 3) -> str:
    """``0.412 [0.38, 0.44] (n = 3 seeds)``, or ``0.412 (n = 1 seed)``: never ``± 0.000``."""
    if not entry or entry.get("value") is None or not np.isfinite(entry["value"]):
        return "—"
    text = f"{entry['value']:.{digits}f}"
    if entry.get("ci"):
        lo, hi = entry["ci"]
        return f"{text} [{lo:.{digits}f}, {hi:.{digits}f}] (n = {entry['n']} seeds)"
    return f"{text} (n = {entry.get('n', 1)} seed)"


def _conclusion(summary: dict[str, Any]) -> list[str]:
    """Render the opening: one paragraph, then the verdict table (from summary.json)."""
    verdict = summary.get("verdict") or {}
    if not verdict:
        return ["<div class='verdict' id='verdict'><p>No metric produced a result "
                "(see skipped metrics and errors below).</p></div>"]
    rows, wins = [], {}
    for metric, v in verdict.items():
        best = v.get("best")
        entry = v["models"].get(best) if best else None
        control = v.get("control")
        ref = []
        if control and np.isfinite(control["value"]):
            ref.append(f"factors control {value_text(control)}")
        if v.get("ceiling") is not None and np.isfinite(v["ceiling"]):
            ref.append(f"ceiling {v['ceiling']:.3f}")
        sig = [f"{esc(r['higher'])} &gt; {esc(r['b'] if r['higher'] == r['a'] else r['a'])} "
               f"(p<sub>FDR</sub> = {r['p_fdr']:.3g})" for r in v.get("significant", [])]
        rows.append([metric, v["stat"], best or "—", value_text(entry), "; ".join(ref) or "—",
                     Html("; ".join(sig)) if sig else _no_difference(summary, metric)])
        if best:
            wins.setdefault(best, []).append(metric)
    sentences = [f"{esc(best)} is highest on {esc(', '.join(ms))}"
                 for best, ms in sorted(wins.items(), key=lambda kv: -len(kv[1]))]
    if any(v.get("control") for v in verdict.values()):
        sentences.append("the factors control (the recording's own factors: what a perfect "
                         "model reaches) is in the table beside each")
    n_sig = sum(bool(v.get("significant")) for v in verdict.values())
    rec = summary["recording"]
    para = (f"On {rec['n_stimuli']} stimuli × {rec['n_neurons']} neurons, "
            + ("; ".join(sentences) or "no model could be ranked") + ". "
            + (f"Differences between models are significant after FDR on {n_sig} of "
               f"{len(verdict)} metrics." if n_sig else
               "No difference between models is significant after FDR"
               + (" (one seed per model: run --seeds N to test differences)."
                  if _one_seed(summary) else "."))
            + " Higher is better for every headline statistic.")
    return ["<div class='verdict' id='verdict'><h2>Verdict</h2>", f"<p>{para}</p>",
            table(["metric", "headline", "best model", "value [95% CI over seeds]",
                   "controls / ceiling", "significant differences (Welch, BH-FDR)"], rows),
            "</div>"]


def verdict_html(summary: dict[str, Any]) -> str:
    """Return the verdict block (paragraph and table) alone: a notebook's view of a result."""
    return "\n".join(_conclusion(summary))


def _one_seed(summary: dict[str, Any]) -> bool:
    fits = [len(m.get("fits", [])) for m in summary.get("models", {}).values()]
    return bool(fits) and max(fits) < 2


def _no_difference(summary: dict[str, Any], metric: str) -> str:
    if metric not in summary.get("comparisons", {}):
        return "not tested (needs ≥ 2 seeds per model)" if _one_seed(summary) else "—"
    return "none"


def _contents(summary: dict[str, Any], metrics: list[str], other: bool) -> list[str]:
    links = [("verdict", "Verdict"), *((f"metric-{m}", m) for m in metrics)]
    for key, anchor, title in (("comparisons", "comparisons", "Model comparisons"),
                               ("selection", "selection", "Model selection"),
                               ("skipped", "skipped", "Skipped"),
                               ("warnings", "warnings", "Warnings")):
        if summary.get(key):
            links.append((anchor, title))
    if other:
        links.append(("figures", "Other figures"))
    links.append(("provenance", "Provenance"))
    return ["<nav><b>Contents</b><ul>", *(f"<li><a href='#{a}'>{esc(t)}</a></li>"
                                          for a, t in links), "</ul></nav>"]


def _figures_by_metric(files: Sequence[Path], metrics: list[str]
                       ) -> tuple[dict[str, list[Path]], list[Path]]:
    """Split figure files by the metric their name starts with (``METRIC__MODEL__...``)."""
    by: dict[str, list[Path]] = {m: [] for m in metrics}
    other = []
    for f in files:
        head = Path(f).stem.split("__", 1)[0]
        (by[head] if head in by else other).append(Path(f))
    return by, other


def _metric_section(summary: dict[str, Any], metric: str, figures: list[Path]) -> list[str]:
    stats_by = summary["metrics"][metric]
    v = (summary.get("verdict") or {}).get(metric, {})
    names = sorted({s for lab in stats_by for s in stats_by[lab]})
    head = v.get("stat", metric)
    rows = [[lab, value_text(v.get("models", {}).get(lab))] for lab in sorted(stats_by)]
    return [f"<h2 id='metric-{esc(metric)}'>{esc(metric)}</h2>",
            f"<p>Headline statistic <code>{esc(head)}</code> per model, mean over seeds with "
            "its 95% t-interval.</p>", table(["model", head], rows),
            "<details><summary>All statistics</summary>",
            table(["model", *names], [[lab, *[stats_by[lab].get(s) for s in names]]
                                      for lab in sorted(stats_by)]), "</details>",
            *(f"<figure><figcaption>{esc(f.stem.replace('__', ' · '))}</figcaption>"
              f"{image(f, f.stem)}</figure>" for f in figures)]


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


def _units(summary: dict[str, Any]) -> list[str]:
    """Which units were used: kept, dropped (and why), flagged; one line per session."""
    sel = summary["recording"].get("unit_selection") or {}
    sessions = sel if sel and "kept" not in sel else ({"": sel} if sel else {})
    lines = []
    for session, s in sessions.items():
        if not s:
            continue
        why = "; ".join(f"unit {k}: {v}" for k, v in {**s.get("dropped", {}),
                                                      **s.get("flagged", {})}.items())
        asked = ", ".join(x for x in (s.get("units") and f"units {s['units']!r}",
                                      s.get("min_rate") and f"min rate {s['min_rate']} Hz") if x)
        lines.append(f"<p>Units{f' of {esc(session)}' if session else ''}: "
                     f"{len(s.get('kept', []))} kept, {len(s.get('dropped', {}))} dropped, "
                     f"{len(s.get('flagged', {}))} flagged"
                     + (f" (selected by {esc(asked)})" if asked else "")
                     + (f". {esc(why)}" if why else ".") + "</p>")
    return lines


def _errors(summary: dict[str, Any]) -> list[str]:
    if not summary["errors"]:
        return []
    return item_list("Errors", [
        Html(f"{esc(e['kind'])} <b>{esc(e['name'])}</b> ({esc(e.get('model', ''))}, seed "
             f"{e.get('seed')}, plugin {esc(e.get('plugin', ''))} {esc(e.get('version', ''))})"
             f": {esc(e['error'])}") for e in summary["errors"]], cls="err")


def _comparisons(summary: dict[str, Any]) -> list[str]:
    if not summary.get("comparisons"):
        return []
    rows = [[m, r["stat"], r["a"], r["b"], r["mean_a"], r["mean_b"], r["t"], r["p"], r["p_fdr"],
             "yes" if r["significant"] else "no"]
            for m, rs in summary["comparisons"].items() for r in rs
            if r["stat"] == m or len(rs) < 30]
    return ["<h2 id='comparisons'>Model comparisons</h2><p>Two-sided Welch t-tests over seeds, "
            "Benjamini–Hochberg FDR across pairs of each statistic.</p>",
            table(["metric", "stat", "A", "B", "mean A", "mean B", "t", "p", "p (FDR)",
                   "significant"], rows)]


def _selection(summary: dict[str, Any]) -> list[str]:
    if not summary.get("selection"):
        return []
    return ["<h2 id='selection'>Model selection (UDR)</h2>",
            table(["model", "selected seed", "UDR per seed"],
                  [[lab, s["selected_seed"], json.dumps(s.get("scores", s.get("udr")))]
                   for lab, s in summary["selection"].items()])]


def _figures(figure_files: Sequence[Path]) -> list[str]:
    if not figure_files:
        return []
    return ["<h2 id='figures'>Other figures</h2>", *(
        f"<figure><figcaption>{esc(Path(f).stem.replace('__', ' · '))}</figcaption>"
        f"{image(f, Path(f).stem)}</figure>" for f in figure_files)]


def _provenance(summary: dict[str, Any]) -> list[str]:
    rows = [[lab, fit["seed"], m["plugin"], m["distribution"], m["plugin_version"],
             json.dumps(m["params"]), fit["cache"], fit["n_units"], fit["n_active"],
             fit["fit_seconds"], fit.get("error") or ""]
            for lab, m in summary["models"].items() for fit in m["fits"]]
    training = summary["training_images"]
    return ["<h2 id='provenance'>Provenance</h2>",
            table(["model", "seed", "plugin", "distribution", "version", "parameters", "cache",
                   "units", "active", "fit s", "error"], rows),
            f"<p>Training images: {esc(training['source'])} "
            f"(sha256 <code>{training['sha256'][:16]}…</code>).</p>"]


def _skipped(summary: dict[str, Any]) -> list[str]:
    if not summary.get("skipped"):
        return []
    return item_list("Skipped", [f"{s['metric']} on {s['model']}: {s['reason']}"
                                 for s in summary["skipped"]], anchor="skipped")


def _warnings(summary: dict[str, Any]) -> list[str]:
    if not summary.get("warnings"):
        return []
    return item_list("Warnings", summary["warnings"], cls="warn", anchor="warnings")
