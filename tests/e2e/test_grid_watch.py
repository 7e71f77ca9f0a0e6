"""Watching a filling run in Chromium: each finished image reaches the page once, not on every
poll; a View click during the run opens the viewer."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import IMAGES, cells, generate, wait_for_app, wait_for_images

FIVE = ("Prism", "Halo", "Mosaic", "Tide", "Pointil")
MEDIA = re.compile(rb"/media/[0-9a-f]{20,}\.[a-z]+")


@pytest.mark.browser
def test_a_finished_image_is_sent_once_while_the_run_fills(store, start_server, page):
    """Prism lands seconds before Pointil: its image reference crosses the websocket in its own
    cell's redraw (and once more in the full redraw that ends the polling), never per poll."""
    sent: dict[bytes, int] = {}  # media URL -> websocket frames that carried it

    def frames(ws) -> None:
        def seen(payload) -> None:
            data = payload if isinstance(payload, bytes) else payload.encode()
            for url in set(MEDIA.findall(data)):
                sent[url] = sent.get(url, 0) + 1

        ws.on("framereceived", seen)

    page.on("websocket", frames)
    server = start_server(VIBEGEN_SANDBOX_SPEED="1.5")  # Prism 0.9 s … Pointil 6.75 s
    page.goto(server.url)
    wait_for_app(page)
    run_id = generate(page, "a lighthouse at dusk", FIVE)
    wait_for_images(page, len(FIVE), timeout=40)
    page.get_by_text(f"{len(FIVE)} of {len(FIVE)} done").first.wait_for()
    time.sleep(1.0)  # the poll's last look and the full redraw that stops it
    run = cells(store, run_id)
    assert [c.status for c in run] == ["ok"] * len(FIVE)
    first = min(c.finished_at for c in run)
    last = max(c.finished_at for c in run)
    assert (last - first).total_seconds() > 3  # the early images were watched for seconds
    shown = set(
        page.evaluate("s => Array.from(document.querySelectorAll(s)).map(i => i.src)", IMAGES)
    )
    urls = {u for u in sent if any(s.endswith(u.decode()) for s in shown)}
    assert len(urls) == len(FIVE), (sent, shown)
    # At 0.2 s polls a redraw-everything grid would have sent Prism's ~25 times by now.
    assert all(sent[u] <= 2 for u in urls), sent


@pytest.mark.browser
def test_view_opens_the_viewer_while_the_run_is_still_filling(store, start_server, page):
    """A View click in a cell redrawn on its own still opens the viewer (drawn by the grid)."""
    server = start_server(VIBEGEN_SANDBOX_SPEED="2")  # Pointil takes 9 s
    page.goto(server.url)
    wait_for_app(page)
    run_id = generate(page, "a paper boat on a puddle", FIVE)
    page.locator(IMAGES).first.wait_for()
    assert any(not c.finished for c in cells(store, run_id))  # still filling
    page.locator("[data-testid=stGridCell]").filter(has=page.locator(IMAGES)).first.get_by_role(
        "button", name="View"
    ).click()
    dialog = page.get_by_role("dialog")
    # The dialog's frame can arrive before its picture on a loaded machine: wait for the image.
    dialog.locator("img").first.wait_for(timeout=15_000)
    assert dialog.get_by_text("No image in this run yet").count() == 0
