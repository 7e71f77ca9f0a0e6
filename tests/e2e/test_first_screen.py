"""At 1440×900, as a designer sees it: after Generate the run's cells are on the first screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import generate, wait_for_app, wait_for_images

MODELS = ("Prism", "Halo", "Pointil", "Lattice (slow)")
DESIGNER = {"width": 1440, "height": 900}


@pytest.mark.browser
def test_four_cells_are_in_view_while_the_run_fills(start_server, chromium, tmp_path: Path):
    server = start_server(VIBEGEN_SANDBOX_SPEED="1")
    context = chromium.new_context(viewport=DESIGNER)
    try:
        page = context.new_page()
        page.goto(server.url)
        wait_for_app(page)
        generate(page, "a lighthouse in a storm, linocut", MODELS)
        # While it fills: the slowest model is still at work. At least one, not exactly one: on
        # a loaded machine the first two images can land in the same grid refresh.
        shown = wait_for_images(page, 1, at_least=True)
        assert "Lattice (slow) image" not in shown
        tops = {}
        for label in MODELS:
            title = page.locator("[data-testid=stMarkdownContainer] strong", has_text=label).first
            box = title.bounding_box()
            assert box is not None, label
            tops[label] = box["y"]
        page.screenshot(path=str(tmp_path / "first-screen.png"))
        in_view = [label for label, y in tops.items() if 0 <= y < DESIGNER["height"] - 60]
        assert len(in_view) == 4, tops
        assert page.evaluate("window.scrollY") == 0  # without scrolling
    finally:
        context.close()


@pytest.mark.browser
def test_a_bad_seed_is_said_under_the_field_and_the_settings_stay_open(start_server, page):
    # An expander whose title changed would fold shut and hide the field and its message.
    server = start_server()
    page.goto(server.url)
    wait_for_app(page)
    page.locator("summary", has_text="Settings").click()
    seed = page.get_by_label("Seed (optional)", exact=True)
    seed.fill("²" + "9" * 40)
    seed.press("Enter")
    page.get_by_text("the seed must be a whole number").wait_for()
    assert seed.is_visible()
    seed.fill("7")
    seed.press("Enter")
    page.get_by_text("seed 7 ·").first.wait_for()
    assert seed.is_visible()
