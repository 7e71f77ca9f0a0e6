"""At 1440×900, as a designer reads it: the leaderboard's verdict, then a table that fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import table_with, wait_until
from tests.test_leaderboard_spec import PAGE_WORDS
from tests.test_report import vote_store

DESIGNER = {"width": 1440, "height": 900}
# Real-looking names, as long as the catalog's: the table must fit with them.
COSTS = {
    "fal:flux-2-pro": 0.05,
    "kie:nano-banana-pro": 0.09,
    "openai:gpt-image-1.5": 0.034,
    "fal:seedream-v4.5": 0.03,
    "kie:ideogram-v3-quality": 0.06,
    "sd:sdxl-local": None,
}
LABELS = {
    "fal:flux-2-pro": "FLUX.2 [pro]",
    "kie:nano-banana-pro": "Nano Banana Pro (Gemini 3 Pro Image)",
    "openai:gpt-image-1.5": "GPT Image 1.5",
    "fal:seedream-v4.5": "Seedream 4.5",
    "kie:ideogram-v3-quality": "Ideogram 3.0 (quality)",
    "sd:sdxl-local": "SDXL base 1.0 (local)",
}


def _overflow(page) -> dict:
    # The grid scrolls inside its own scroller element: wider content than box means a
    # horizontal scrollbar. The page itself must not scroll sideways either.
    return page.evaluate(
        """() => {
             const frame = document.querySelector('[data-testid=stDataFrame]');
             const s = frame.querySelector('.dvn-scroller') || frame;
             return {scroll: s.scrollWidth, client: s.clientWidth,
                     page: document.documentElement.scrollWidth,
                     view: document.documentElement.clientWidth};
           }"""
    )


@pytest.mark.browser
def test_the_verdict_comes_first_and_the_table_fits_1440(
    start_server, chromium, store, tmp_path: Path
):
    vote_store(store, COSTS, votes=12, labels=LABELS)
    server = start_server()
    context = chromium.new_context(viewport=DESIGNER)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/Leaderboard")
        frame = page.locator("[data-testid=stDataFrame]").first
        frame.wait_for(timeout=30_000)
        rows = wait_until(lambda: table_with(frame, "model"), what="the leaderboard table")
        models = {f"{label} · {key.split(':')[0]}" for key, label in LABELS.items()}
        assert {r["model"] for r in rows} == models, rows
        assert tuple(rows[0]) == PAGE_WORDS
        assert any(r["place"] == "tied for 1st" for r in rows), rows
        # The verdict is above the table, in words.
        verdict = page.locator("[data-testid=stAlertContentSuccess]").first
        assert verdict.inner_text().startswith("Best value:")
        assert verdict.bounding_box()["y"] < frame.bounding_box()["y"]
        page.screenshot(path=str(tmp_path / "leaderboard-1440.png"), full_page=True)
        size = _overflow(page)
        assert size["scroll"] <= size["client"], size  # no horizontal scroll in the table
        assert size["page"] <= size["view"], size
    finally:
        context.close()
