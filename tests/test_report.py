"""The HTML report (neurofacedis.report): its blocks, the analysis page section by section, and
the study page built from the same blocks (issue 19: one HTML writer)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from neurofacedis.report import (
    STYLE,
    Html,
    document,
    esc,
    image,
    item_list,
    render_report,
    table,
)

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n-tiny-"


def _png(folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    path.write_bytes(PNG + name.encode())
    return path


def test_blocks_escape_text_and_keep_html():
    assert esc("<a & 'b'>") == "&lt;a &amp; &#x27;b&#x27;&gt;"
    html = table(["x<y", "n"], [[1.23456789, None], [Html("<b>ok</b>"), "<i>"]])
    assert html == ("<table><thead><tr><th>x&lt;y</th><th>n</th></tr></thead><tbody>"
                    "<tr><td>1.235</td><td></td></tr>"
                    "<tr><td><b>ok</b></td><td>&lt;i&gt;</td></tr></tbody></table>")
    assert item_list("Notes", ["a<b", Html("<i>c</i>")], cls="warn") == [
        "<h2 class='warn'>Notes</h2><ul>", "<li class='warn'>a&lt;b</li>",
        "<li class='warn'><i>c</i></li>", "</ul>"]


def test_image_inlines_the_file_and_document_wraps_the_body(tmp_path):
    png = _png(tmp_path, "fig")
    tag = image(png, "a 'quoted' <alt>")
    data = base64.b64encode(png.read_bytes()).decode()
    assert tag == f"<img alt='a &#x27;quoted&#x27; &lt;alt&gt;' src='data:image/png;base64,{data}'>"
    page = document("t<1>", ["<p>x</p>"])
    assert page.splitlines() == ["<!doctype html><html><head><meta charset='utf-8'>",
                                 "<title>t&lt;1&gt;</title>", f"<style>{STYLE}</style>",
                                 "</head><body>", "<p>x</p>", "</body></html>"]


def _summary() -> dict:
    fit = {"seed": 0, "cache": "miss", "n_units": 3, "n_active": 2, "fit_seconds": 0.5}
    return {
        "recording": {"path": "/d/<rec>.nwb", "identifier": "id&1", "sha256": "ab" * 32,
                      "n_stimuli": 10, "n_neurons": 4, "n_repeats": 2,
                      "response_source": "spikes"},
        "split": {"by": "identity", "n_train": 8, "n_test": 2, "seed": 0},
        "neurofacedis_version": "0.1.0", "created": "today", "elapsed_seconds": 1.5,
        "errors": [{"kind": "metric", "name": "rsa", "model": "pca", "seed": 0, "plugin": "p",
                    "version": "1", "error": "bad <input>"}],
        "metrics": {"alignment": {"pca": {"alignment": 0.5, "n": 3.0}}},
        "metrics_sd": {"alignment": {"pca": {"alignment": 0.1}}},
        "models": {"pca": {"plugin": "nfd_linear", "distribution": "d", "plugin_version": "1",
                           "params": {}, "fits": [fit]},
                   "ica": {"plugin": "nfd_linear", "distribution": "d", "plugin_version": "1",
                           "params": {}, "fits": [dict(fit, error="failed")]}},
        "comparisons": {"alignment": [{"stat": "alignment", "a": "pca", "b": "ica",
                                       "mean_a": 0.5, "mean_b": 0.4, "t": 2.0, "p": 0.04,
                                       "p_fdr": 0.04, "significant": True}]},
        "selection": {"pca": {"selected_seed": 1, "scores": [0.1, 0.2]}},
        "training_images": {"source": "the recording", "sha256": "cd" * 32},
        "skipped": [{"metric": "udr", "model": "pca", "reason": "needs <2> seeds"}],
        "warnings": ["slow & steady"],
    }


def test_analysis_page_concludes_first_then_every_section_in_order_and_escapes(tmp_path):
    from neurofacedis.runner.verdict import verdict

    figs = [_png(tmp_path, "alignment__pca__matches"), _png(tmp_path, "summary__models")]
    summary = _summary()
    summary["verdict"] = verdict({"alignment": {"pca": {"seed": [0], "alignment": [0.5]},
                                                "ica": {"seed": [0], "alignment": [0.4]}}},
                                 summary["comparisons"])
    page = render_report(summary, figs)
    headings = ["<h2>Verdict</h2>", "<h2 class='err'>Errors</h2>", "<b>Contents</b>",
                "<h2 id='metric-alignment'>alignment</h2>",
                "<h2 id='comparisons'>Model comparisons</h2>",
                "<h2 id='selection'>Model selection (UDR)</h2>",
                "<h2 id='figures'>Other figures</h2>", "<h2 id='skipped'>Skipped</h2>",
                "<h2 class='warn' id='warnings'>Warnings</h2>",
                "<h2 id='provenance'>Provenance</h2>"]
    at = [page.index(h) for h in headings]
    assert at == sorted(at)
    assert "<title>neurofacedis report: id&amp;1</title>" in page
    assert "bad &lt;input&gt;" in page and "needs &lt;2&gt; seeds" in page
    # the verdict row: best model, its value with n, the significant difference after FDR
    assert ("<tr><td>alignment</td><td>alignment</td><td>pca</td><td>0.500 (n = 1 seed)</td>"
            "<td>—</td><td>pca &gt; ica (p<sub>FDR</sub> = 0.04)</td></tr>") in page
    assert "± 0.000" not in page and "pca is highest on alignment" in page
    assert "<tr><td>pca</td><td>0.500 (n = 1 seed)</td></tr>" in page  # the metric section
    for anchor in ("verdict", "metric-alignment", "comparisons", "provenance"):
        assert f"href='#{anchor}'" in page and f"id='{anchor}'" in page
    assert page.count("data:image/png;base64,") == 2
    # a metric's figures sit in its section; the others under "Other figures"
    assert page.index("<figcaption>alignment · pca · matches</figcaption>") < page.index(
        "<h2 id='comparisons'>")
    assert page.index("<figcaption>summary · models</figcaption>") > page.index(
        "<h2 id='figures'>")


def test_verdict_known_answers_ci_control_and_ceiling():
    from scipy.stats import t as student

    from neurofacedis.report import value_text
    from neurofacedis.runner.verdict import verdict

    per_seed = {"alignment": {
        "beta_vae": {"seed": [0, 1, 2], "alignment": [0.5, 0.6, 0.7],
                     "ceiling_mean": [0.8, 0.8, 0.8]},
        "pca": {"seed": [0, 1, 2], "alignment": [0.2, 0.25, 0.3]},
        "factors": {"seed": [0, 1, 2], "alignment": [0.9, 0.9, 0.9]},
        "factors[rotate=True]": {"seed": [0, 1, 2], "alignment": [0.0, 0.01, 0.02]}}}
    comps = {"alignment": [{"stat": "alignment", "a": "beta_vae", "b": "pca", "mean_a": 0.6,
                            "mean_b": 0.25, "p_fdr": 0.01, "significant": True},
                           {"stat": "alignment", "a": "pca", "b": "factors", "mean_a": 0.25,
                            "mean_b": 0.9, "p_fdr": 0.2, "significant": False}]}
    v = verdict(per_seed, comps)["alignment"]
    assert v["best"] == "beta_vae"  # the controls are not candidates
    assert v["control"]["label"] == "factors" and v["control"]["value"] == pytest.approx(0.9)
    assert v["ceiling"] == pytest.approx(0.8)
    half = student.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert v["models"]["beta_vae"]["ci"] == pytest.approx([0.6 - half, 0.6 + half])
    assert v["significant"] == [{"a": "beta_vae", "b": "pca", "higher": "beta_vae",
                                 "p_fdr": 0.01}]
    assert value_text(v["models"]["beta_vae"]) == (
        f"0.600 [{0.6 - half:.3f}, {0.6 + half:.3f}] (n = 3 seeds)")
    assert value_text({"value": 0.25, "n": 1, "sd": None, "ci": None}) == "0.250 (n = 1 seed)"


def test_study_page_is_built_from_the_same_blocks(tmp_path):
    from neurofacedis.studies.base import Claim, Reproduction
    from neurofacedis.studies.higgins2021 import render_html, render_markdown

    figs = {"alignment_by_family": _png(tmp_path, "alignment_by_family"),
            "traversals": _png(tmp_path, "traversals")}
    claims = [Claim("above_baselines", "β-VAE > <AE>", "paper & co", "crit", "0.8 vs 0.4", True,
                    "alignment_by_family"),
              Claim("udr_alignment", "UDR", "r = 0.96", "c", "n/a", None, "udr_vs_alignment")]
    summary = {"recording": {"path": "/d/rec.nwb", "n_stimuli": 10, "n_neurons": 4,
                             "n_repeats": 2},
               "errors": [{"kind": "fit", "name": "ae", "model": "ae", "seed": 1,
                           "error": "nan <loss>"}]}
    rep = Reproduction(study="higgins2021", scale="test", claims=claims, figures=figs,
                       analysis=SimpleNamespace(summary=summary), out=tmp_path,
                       recording=Path("/d/rec.nwb"), elapsed_seconds=90.0, notes=["a <note>"])
    machine = {"execution": "in-process", "cpu_count": 2, "load_average_at_end": [0.5]}
    page = render_html(rep, machine)
    head = document("x", [], style=STYLE).split("<title>")[0]
    assert page.startswith(head)  # the core's page shell and style sheet, with the study's rules
    assert f"<style>{STYLE}" in page
    assert page.count("data:image/png;base64,") == len(figs)
    assert image(figs["traversals"], "Latent traversals of the best-UDR β-VAE") in page
    assert "<td>β-VAE &gt; &lt;AE&gt;</td><td>paper &amp; co</td>" in page
    assert "<b style='color:#1a7f37'>agrees</b>" in page
    assert "Descriptive figure: no claim is tested on it." in page  # traversals
    assert item_list("Notes", ["a <note>", "error: fit ae on ae seed 1: nan <loss>"])[1] in page
    md = render_markdown(rep, machine)
    assert "- error: fit ae on ae seed 1: nan <loss>" in md
    assert "![Latent traversals of the best-UDR β-VAE](figures/traversals.png)" in md
    assert "1 of the 1 claims" not in md and "all 1 claims it tested" in md


def test_report_py_is_the_only_html_writer():
    """No other module of the core or the plugins escapes HTML, inlines PNGs or opens a page."""
    offenders = []
    files = [*(ROOT / "neurofacedis").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    for path in sorted(files):
        if path == ROOT / "neurofacedis" / "report.py" or "tests" in path.parts:
            continue
        text = path.read_text()
        imports_html = re.search(r"^\s*(import html\b|from html\b)", text, flags=re.M)
        if imports_html or "<!doctype" in text.lower() or "data:image/png" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
