"""The study's report: ``claims.json``, ``report.md`` and ``report.html``.

The HTML page is built from the core report's blocks (:mod:`neurofacedis.report`: escaping,
inlined figures, tables, lists, the page and its style sheet); it puts every figure beside the
claims it tests and says plainly whether the run agrees with the paper.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurofacedis._util import json_safe
from neurofacedis.report import STYLE, Html, document, esc, image, item_list, table
from neurofacedis.studies.base import Claim, Reproduction
from neurofacedis.studies.higgins2021.presets import CITATION, WORLD_FACTORS, Preset

__all__ = ["FIGURE_TEXT", "machine_info", "write_report", "headline", "world_text",
           "render_markdown", "render_html"]

#: Each figure's heading in the reports.
FIGURE_TEXT = {
    "alignment_by_family": "Alignment per model family beside the neuron-subset ceiling",
    "udr_vs_alignment": "UDR vs alignment over all β-VAE models",
    "rotated_control": "Rotated-code control",
    "reconstruction_vs_neurons": "Reconstruction of novel faces vs number of neurons",
    "matches": "One-to-one unit↔neuron matches and example tuning curves",
    "traversals": "Latent traversals of the best-UDR β-VAE",
}

_COLOUR = {"agrees": "#1a7f37", "disagrees": "#cf222e", "not shown": "#9a6700",
           "not tested": "#6e7781"}
_STYLE = (STYLE + ".row{display:flex;gap:1.5em;align-items:flex-start}.row img{max-width:62%}"
          ".claim{margin-bottom:1em}td{vertical-align:top}")


def machine_info(workers: int | None, scheduler: str | None) -> dict[str, Any]:
    """Describe where the run ran: platform, CPUs, load at the end, how it executed."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "load_average_at_end": load,
            "execution": scheduler or (f"Dask LocalCluster, {workers} workers" if workers
                                       else "in-process")}


def write_report(rep: Reproduction, preset: Preset, *, workers: int | None,
                 scheduler: str | None) -> None:
    """Write ``claims.json``, ``report.md`` and ``report.html`` into ``rep.out``."""
    summary = rep.analysis.summary
    machine = machine_info(workers, scheduler)
    payload = {
        "study": rep.study, "citation": CITATION, "scale": rep.scale, "world": rep.world,
        "preset": {k: (v if not isinstance(v, Mapping) else dict(v))
                   for k, v in preset.__dict__.items()},
        "recording": summary.get("recording", {}), "elapsed_seconds": round(rep.elapsed_seconds, 1),
        "machine": machine, "agrees": rep.agrees,
        "claims": [{**{k: v for k, v in c.__dict__.items() if k != "numbers"},
                    "verdict": c.verdict, "numbers": c.numbers} for c in rep.claims],
        "figures": {k: str(Path("figures") / v.name) for k, v in rep.figures.items()},
        "errors": summary.get("errors", []), "notes": rep.notes,
    }
    (rep.out / "claims.json").write_text(json.dumps(json_safe(payload), indent=2))
    (rep.out / "report.md").write_text(render_markdown(rep, machine))
    (rep.out / "report.html").write_text(render_html(rep, machine))


def headline(rep: Reproduction) -> str:
    """Say in one sentence how many tested claims agree, and which do not."""
    tested = [c for c in rep.claims if c.status != "not tested"]
    n_ok = sum(c.status == "agrees" for c in tested)
    if rep.agrees:
        return f"The run agrees with the paper on all {len(tested)} claims it tested."
    parts = [f"The run agrees with the paper on {n_ok} of the {len(tested)} claims it tested "
             "(a claim agrees only when its test is significant)"]
    for status, says in (("disagrees", "it disagrees on"), ("not shown", "not shown (too "
                         "little power to tell)")):
        named = [c.title for c in tested if c.status == status]
        if named:
            parts.append(f"{says}: " + "; ".join(named))
    return "; ".join(parts) + "."


def world_text(rep: Reproduction) -> str:
    """Say which faces the run used: the simulated world and its factors, or the recording's."""
    if rep.world is None:
        return "the recording's own stimuli"
    factors = WORLD_FACTORS.get(rep.world)
    return (f"simulated {rep.world} world" + (f" ({', '.join(factors)})" if factors else ""))


def _notes(rep: Reproduction) -> list[str]:
    """List the run's notes, then one line per analysis error."""
    return [*rep.notes, *(f"error: {e.get('kind')} {e.get('name')} on {e.get('model')} seed "
                          f"{e.get('seed')}: {e.get('error')}"
                          for e in rep.analysis.summary.get("errors", []))]


def render_markdown(rep: Reproduction, machine: Mapping[str, Any], *,
                    image_prefix: str = "figures/") -> str:
    """Render the report as Markdown: verdict, claims table, each figure with its claims."""
    rec = rep.analysis.summary.get("recording", {})
    lines = [
        f"# Reproducing Higgins et al. 2021 — scale `{rep.scale}`, world "
        f"`{rep.world or 'recording'}`", "",
        f"**{headline(rep)}**", "",
        f"Faces: {world_text(rep)}.", "",
        f"Recording: `{Path(str(rec.get('path', rep.recording))).name}` — "
        f"{rec.get('n_stimuli')} stimuli, {rec.get('n_neurons')} neurons, "
        f"{rec.get('n_repeats')} repeats. Run time {rep.elapsed_seconds / 60:.1f} min "
        f"({machine['execution']}; {machine['cpu_count']} CPUs; load average at the end "
        f"{machine['load_average_at_end']}).", "",
        "| claim | paper | this run | verdict |", "| --- | --- | --- | --- |",
    ]
    for c in rep.claims:
        lines.append(f"| {c.title} | {c.paper} | {c.measured} | **{c.verdict}** |")
    lines.append("")
    for name, path in rep.figures.items():
        lines += [f"## {FIGURE_TEXT.get(name, name)}", "",
                  f"![{FIGURE_TEXT.get(name, name)}]({image_prefix}{path.name})", ""]
        for c in rep.claims:
            if c.figure == name:
                lines += [f"- **{c.verdict.upper()}** — {c.title}. Paper: {c.paper}. Test: "
                          f"{c.criterion}. This run: {c.measured}."]
        lines.append("")
    notes = _notes(rep)
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)


def _verdict(claim: Claim, text: str) -> Html:
    return Html(f"<b style='color:{_COLOUR[claim.status]}'>{esc(text)}</b>")


def _figure_section(rep: Reproduction, name: str, path: Path) -> str:
    """Render a figure's heading, the figure, and beside it each claim it tests."""
    title = FIGURE_TEXT.get(name, name)
    claims = "".join(
        f"<div class='claim'>{_verdict(c, c.verdict.upper())} — {esc(c.title)}<br>"
        f"<i>Paper:</i> {esc(c.paper)}<br><i>Test:</i> {esc(c.criterion)}<br>"
        f"<i>This run:</i> {esc(c.measured)}</div>"
        for c in rep.claims if c.figure == name) or \
        "<div class='claim'>Descriptive figure: no claim is tested on it.</div>"
    return f"<h2>{esc(title)}</h2><div class='row'>{image(path, title)}<div>{claims}</div></div>"


def render_html(rep: Reproduction, machine: Mapping[str, Any]) -> str:
    """Render the report as one self-contained HTML page (figures inlined)."""
    rec = rep.analysis.summary.get("recording", {})
    notes = _notes(rep)
    body = [
        f"<h1>Reproducing Higgins et al. 2021 — scale <code>{esc(rep.scale)}</code>, world "
        f"<code>{esc(rep.world or 'recording')}</code></h1>",
        f"<p><b>{esc(headline(rep))}</b></p>",
        f"<p>Faces: {esc(world_text(rep))}.</p>",
        f"<p>Recording {esc(rec.get('path', ''))}: {rec.get('n_stimuli')} stimuli, "
        f"{rec.get('n_neurons')} neurons, {rec.get('n_repeats')} repeats. Run time "
        f"{rep.elapsed_seconds / 60:.1f} min ({esc(machine['execution'])}, "
        f"{machine['cpu_count']} CPUs, load average at the end "
        f"{machine['load_average_at_end']}). Full analysis: "
        '<a href="analysis/report.html">analysis/report.html</a>.</p>',
        table(["claim", "paper", "this run", "verdict"],
              [[c.title, c.paper, c.measured, _verdict(c, c.verdict)] for c in rep.claims]),
        *(_figure_section(rep, name, path) for name, path in rep.figures.items()),
        *(item_list("Notes", notes) if notes else []),
        f"<p><small>{esc(CITATION)}</small></p>",
    ]
    return document(f"neurofacedis: reproducing Higgins et al. 2021 ({rep.scale}, "
                    f"{rep.world or 'recording'})", body,
                    style=_STYLE)
