"""report.html in a real browser: headless Chromium (Debian's `chromium`) through playwright.

Checks what a reader meets: every figure decodes, no console error, the verdict is on the first
screen at 1280×800, nothing is wider than the page. A screenshot is saved beside the test's
files. Without chromium or playwright the test skips with the reason, except under CI=true
(.ci/run installs chromium), where a skip would hide the check: there it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from neurofacedis.runner import analyze

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_or_skip():
    why = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = "playwright is not installed (pip install playwright; it drives Debian's chromium)"
        sync_playwright = None
    if why is None and CHROMIUM is None:
        why = "no chromium on PATH (apt-get install chromium)"
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser check: {why}")
        pytest.skip(why)
    return sync_playwright


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from neurofacedis.nwb import write_session
    from neurofacedis.simulate import simulate_session

    root = tmp_path_factory.mktemp("browser")
    write_session(root / "sim.nwb", simulate_session(n_identities=10, n_views=4, n_neurons=12,
                                                     n_repeats=2, image_size=32, seed=3))
    analyze(root / "sim.nwb", models=["pca", "ica", "factors"], metrics=["alignment", "rsa"],
            seeds=2, params=["alignment.n_subsets=5", "rsa.n_permutations=20",
                             "rsa.n_bootstrap=20"], out=root / "out", cache_dir=root / "cache")
    return root / "out" / "report.html"


def test_report_reads_in_chromium(report, tmp_path):
    sync_playwright = _browser_or_skip()
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate(
                "[...document.images].map(i => [i.alt, i.complete && i.naturalWidth > 0])")
            box = page.locator("#verdict table").bounding_box()
            widths = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            wide = page.evaluate(
                "[...document.body.querySelectorAll('*')].filter(e => "
                "e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
                ".map(e => e.tagName + (e.id ? '#' + e.id : '')).slice(0, 5)")
            page.screenshot(path=str(tmp_path / "report.png"))
        finally:
            browser.close()
    assert images and all(ok for _, ok in images), [alt for alt, ok in images if not ok]
    assert not errors, errors
    assert box is not None and box["y"] + box["height"] <= 800, box  # the verdict, first screen
    assert widths[0] <= widths[1] and not wide, (widths, wide)
    assert (tmp_path / "report.png").stat().st_size > 10_000
