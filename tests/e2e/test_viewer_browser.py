"""At 1440×900 in Chromium: the grid's density is remembered, and a click opens the viewer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import generate, wait_for_app, wait_for_images

DESIGNER = {"width": 1440, "height": 900}
MODELS = ("Prism", "Halo", "Pointil")
DIALOG = "[role=dialog]"


def _columns(page) -> int:
    """How many columns the run grid shows: the distinct left edges of its cells."""
    return page.evaluate(
        """() => new Set(Array.from(document.querySelectorAll(
              '.st-key-run-grid [data-testid=stGridCell]'),
              c => Math.round(c.getBoundingClientRect().left))).size"""
    )


def _finished_run(context, server, prompt: str):
    """A page of `context` on the Generate page of `server`, with a finished run of MODELS."""
    page = context.new_page()
    page.goto(server.url)
    wait_for_app(page)
    generate(page, prompt, MODELS)
    wait_for_images(page, len(MODELS))
    return page


def _heading(page) -> str:
    return page.locator(f"{DIALOG} h3").first.inner_text()


@pytest.mark.browser
def test_clicking_a_cell_opens_the_viewer_and_the_arrows_step_through_the_run(
    start_server, chromium, tmp_path: Path
):
    context = chromium.new_context(viewport=DESIGNER)
    context.set_default_timeout(20_000)
    try:
        page = _finished_run(context, start_server(VIBEGEN_SANDBOX_SPEED="0.01"), "a lighthouse")
        url = page.url
        # A plain click on the picture itself: the viewer opens in the page, no new tab.
        page.locator("[data-testid=stGridCell] [data-testid=stImage] img").first.click()
        dialog = page.locator(DIALOG)
        dialog.wait_for()
        page.wait_for_function(
            """() => { const i = document.querySelector('[role=dialog] [data-testid=stImage] img');
                       return i && i.complete && i.naturalWidth > 0; }"""
        )
        assert _heading(page).startswith("Prism")
        assert page.url == url and len(context.pages) == 1
        for field in ("Router:", "Time:", "Cost:", "Seed:", "Prompt"):
            assert dialog.get_by_text(field).count() >= 1, field
        assert dialog.get_by_role("button", name="Download").is_visible()
        # Large: the picture is far bigger than its cell.
        box = dialog.locator("[data-testid=stImage] img").bounding_box()
        assert box is not None and box["width"] > 600, box
        page.screenshot(path=str(tmp_path / "viewer.png"))

        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => document.querySelector('[role=dialog] h3').innerText.startsWith('Halo')"
        )
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(
            "() => document.querySelector('[role=dialog] h3').innerText.startsWith('Prism')"
        )
        page.keyboard.press("Escape")
        dialog.wait_for(state="detached")
        page.wait_for_timeout(1500)  # and it stays closed
        assert dialog.count() == 0
    finally:
        context.close()


@pytest.mark.browser
def test_the_chosen_density_is_kept_by_the_browser_across_a_reload(start_server, chromium):
    context = chromium.new_context(viewport=DESIGNER)
    context.set_default_timeout(20_000)
    try:
        page = _finished_run(context, start_server(VIBEGEN_SANDBOX_SPEED="0.01"), "a fox")
        assert _columns(page) == 3  # four columns, three cells
        page.get_by_role("radio", name="2 ▦").click()
        page.wait_for_function(
            """() => new Set(Array.from(document.querySelectorAll(
                 '.st-key-run-grid [data-testid=stGridCell]'),
                 c => Math.round(c.getBoundingClientRect().left))).size === 2"""
        )
        # Two columns at 1440 px: the preview is drawn large, from at least as many pixels
        # as it covers, so it stays sharp (also with the sidebar folded away).
        first = "document.querySelector('.st-key-run-grid [data-testid=stImage] img')"
        page.wait_for_function(f"() => {first}.getBoundingClientRect().width > 400")
        drawn, natural = page.evaluate(
            f"() => [{first}.getBoundingClientRect().width, {first}.naturalWidth]"
        )
        assert drawn > 400 and natural >= 700 > drawn, (drawn, natural)
        page.reload()
        wait_for_images(page, len(MODELS))
        assert _columns(page) == 2
        assert any("vibegen_cols" == c["name"] and c["value"] == "2" for c in context.cookies())
    finally:
        context.close()
