"""The built site in a real browser: every page loads with no console error, and every image on it,
each figure a tutorial drew included, has a non-zero natural size (a broken or missing PNG has 0).

    python docs/build.py && python -m pytest -q tests/test_site.py

The site is read from build/site (or TINYATTN_SITE). Skipped, with the reason, where chromium,
websocket-client or the built site is missing; .ci/site builds the site and installs chromium.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("TINYATTN_SITE", ROOT / "build" / "site"))
# index.html only forwards to README.html, which is checked itself
PAGES = sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
               if "_static" not in p.parts and p.name != "index.html") if SITE.is_dir() else []
TUTORIALS = sorted(p.stem for p in (ROOT / "tutorials").glob("[0-9]*.py"))

# A page that breaks both rules: a console error and an image whose file is not a PNG.
BROKEN_PAGE = """<!doctype html><meta charset="utf-8"><title>broken</title>
<img src="figure.png" alt="a figure"><script>console.error("a figure failed")</script>"""


@pytest.fixture(scope="module")
def browser():
    # skipped here, not at import: a module skipped whole would hide this file from conftest.py's
    # check that the whole suite ran
    pytest.importorskip("websocket", reason="websocket-client drives the browser (the docs extra)")
    from headless_chromium import Chromium, find_chromium
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with Chromium() as chromium:
        yield chromium


def problems(page):
    return page.errors + [f"image {image['src']} has natural size {image['width']}x{image['height']}"
                          for image in page.images if image["width"] == 0 or image["height"] == 0]


def test_the_site_is_built():
    if not PAGES:
        pytest.skip(f"no site in {SITE}: build it with python docs/build.py")
    expected = {"README.html", "benchmarks/README.html"} | {f"tutorials/{name}.html" for name in TUTORIALS}
    assert expected <= set(PAGES), f"pages missing: {sorted(expected - set(PAGES))}"


@pytest.mark.parametrize("name", PAGES or [pytest.param("", marks=pytest.mark.skip(
    reason=f"no site in {SITE}: build it with python docs/build.py"))])
def test_every_page_loads_without_errors_and_every_image_has_a_size(browser, name):
    page = browser.open(SITE / name)
    assert not problems(page), f"{name}: " + "; ".join(problems(page))


@pytest.mark.parametrize("name", TUTORIALS)
def test_every_tutorial_page_shows_its_figures(browser, name):
    path = SITE / "tutorials" / f"{name}.html"
    if not path.exists():
        pytest.skip(f"{path} is not built: python docs/build.py")
    figures = [image for image in browser.open(path).images if "_images/" in image["src"]]
    assert figures, f"{name}: no figure appears on its page (the notebook showed none inline)"


def test_a_broken_figure_and_a_console_error_are_caught(browser, tmp_path):
    """The checks above can fail: a page with both faults is reported for both."""
    (tmp_path / "figure.png").write_bytes(b"not a PNG")
    (tmp_path / "broken.html").write_text(BROKEN_PAGE)
    found = problems(browser.open(tmp_path / "broken.html"))
    assert any("a figure failed" in problem for problem in found), found
    assert any("figure.png has natural size 0x0" in problem for problem in found), found
