"""History as a gallery in a real browser: cards with thumbnails, a model filter, archive."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_until, wait_until_idle
from vibegen.settings import load_settings

pytestmark = pytest.mark.browser

CARD = "[class*=st-key-run-card-]"
FOX, WHALE = "a red fox in the snow, woodcut", "a blue whale at dawn, gouache"


def _prompts(page) -> list[str]:
    """The cards' titles in one read of the page (a rerun may replace cards between reads)."""
    return page.eval_on_selector_all(
        CARD, "cs => cs.map(c => (c.querySelector('strong') || {}).textContent || '')"
    )


def test_history_cards_filter_and_archive(store, start_server, page, monkeypatch, tmp_path):
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    monkeypatch.setenv("VIBEGEN_SANDBOX_SPEED", "0.01")
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        fox = runner.start_run(FOX, ["sandbox:prism", "sandbox:halo"], CommonParams())
        assert runner.wait(fox, 30)
        whale = runner.start_run(WHALE, ["sandbox:tide"], CommonParams())
        assert runner.wait(whale, 30)
    finally:
        runner.close()

    server = start_server()
    page.goto(f"{server.url}/History")
    page.locator(CARD).first.wait_for(timeout=30_000)
    wait_until(lambda: len(page.locator(CARD).all()) == 2, what="both run cards")
    assert _prompts(page) == [WHALE, FOX]
    # Every thumbnail decoded, and both cards on the first screen at 1440x900.
    thumbs = page.locator(f"{CARD} [data-testid=stImage] img")
    wait_until(lambda: thumbs.count() == 3, what="three thumbnails")
    wait_until(
        lambda: all(t.evaluate("i => i.complete && i.naturalWidth > 0") for t in thumbs.all()),
        what="the thumbnails to load",
    )
    for card in page.locator(CARD).all():
        box = card.bounding_box()
        assert box and box["y"] + box["height"] <= 900, box
    wait_until_idle(page)
    assert "Prism · Halo" in page.locator(CARD).nth(1).inner_text()
    shot = Path(os.environ.get("VIBEGEN_HISTORY_SCREENSHOT", tmp_path / "history.png"))
    page.screenshot(path=str(shot))

    # Filter by a model: only the run that used it.
    page.get_by_label("Models").click()
    page.get_by_role("option", name="Tide").click()
    page.keyboard.press("Escape")
    wait_until(lambda: _prompts(page) == [WHALE], what="the Tide run alone")
    page.get_by_role("button", name="Clear all").first.click()  # the multiselect's own ×
    wait_until(lambda: len(_prompts(page)) == 2, what="both runs again")

    # Archive the fox run: gone from History, its data kept; shown again on request; restored.
    page.locator(CARD).nth(1).get_by_role("button", name="Archive").click()
    wait_until(lambda: _prompts(page) == [WHALE], what="the archived run to leave")
    assert store.run_view(fox).prompt == FOX
    page.get_by_text("Show archived runs").click()
    wait_until(lambda: _prompts(page) == [WHALE, FOX], what="archived runs shown")
    assert "archived" in page.locator(CARD).nth(1).inner_text()
    page.locator(CARD).nth(1).get_by_role("button", name="Restore").click()
    page.get_by_text("Show archived runs").click()
    wait_until(lambda: _prompts(page) == [WHALE, FOX], what="the restored run")
