"""docs/notebook.md runs as written, and the notebook API gives what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neurofacedis.errors import UnknownNameError

PAGE = Path(__file__).parents[1] / "docs" / "notebook.md"


@pytest.fixture(scope="module")
def scope(tmp_path_factory):
    """Run every ```python block of the page in one namespace, in a fresh folder."""
    import os

    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("notebook"))
    try:
        ns: dict = {}
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)):
            exec(compile(code, f"notebook.md block {i}", "exec"), ns)  # noqa: S102 - our docs
        ns["cwd"] = Path.cwd()
        return ns
    finally:
        os.chdir(here)


def test_the_page_runs_and_shows_the_verdict(scope):
    result = scope["result"]
    html = result._repr_html_()
    assert "<h2>Verdict</h2>" in html and "<table>" in html
    assert f"<td>{scope['best']}</td>" in html
    assert html == "\n".join(html.splitlines())  # one block of lines, as the report opens
    assert (scope["cwd"] / "matched.png").stat().st_size > 1000


def test_dataset_is_the_metric_result_and_names_the_choices(scope):
    result = scope["result"]
    best = result.summary["verdict"]["alignment"]["best"]
    assert scope["ds"] is result.results[("alignment", best, 0)]
    assert scope["ds_pca"] is result.results[("rsa", "pca", 1)]
    with pytest.raises(UnknownNameError, match="no metric 'rsaa'.*alignment, rsa"):
        result.dataset("rsaa")
    with pytest.raises(UnknownNameError, match="no model 'vae'"):
        result.dataset("rsa", model="vae")
    with pytest.raises(UnknownNameError, match="no seed '7'.*0, 1"):
        result.dataset("rsa", model="pca", seed=7)


def test_figure_is_redrawn_by_the_metric_or_read_from_its_png(scope):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    result = scope["result"]
    names = result.figure_names()
    assert names == sorted(p.stem for p in (result.out / "figures").glob("*.png"))
    fig = scope["fig"]
    assert isinstance(fig, Figure) and fig.axes  # drawn again: live axes
    png_only = next(n for n in names if n.startswith("summary__"))
    shown = result.figure(png_only)  # the seeds summary exists only as a PNG
    assert isinstance(shown, Figure) and shown.axes[0].images
    with pytest.raises(UnknownNameError, match="no figure 'nope'"):
        result.figure("nope")
    plt.close("all")


def test_a_reproduction_shows_its_claims_table(tmp_path):
    from neurofacedis.studies.base import Claim, Reproduction

    claims = [Claim("k", "β-VAE > <AE>", "p", "c", "0.8 vs 0.4", None, "f",
                    status="not shown", note="underpowered: n = 2")]
    rep = Reproduction("higgins2021", "test", claims, {}, None, tmp_path, tmp_path, 1.0)
    html = rep._repr_html_()
    assert "does not agree as a whole" in html
    assert ("<td>β-VAE &gt; &lt;AE&gt;</td><td>0.8 vs 0.4</td>"
            "<td>not shown (underpowered: n = 2)</td>") in html
