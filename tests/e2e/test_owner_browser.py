"""A server opened to the network, in a real browser: the owner's pages refuse a stranger,
the owner's token link opens them and is remembered; a review link still lets a teammate rate."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import VIEWPORT, generate, shared_links, wait_for_app, wait_for_images

TOKEN = "browser-owner-token-0123456789ab"
REFUSAL = "This page is for the owner of this VibeGen"
PROMPT = "an owl made of brass gears"
OWNER_PAGES = ["", "History", "Briefs", "Leaderboard", "Models", "Spend"]


@pytest.mark.browser
def test_network_server_needs_the_owner_token(start_server, chromium, page):
    server = start_server(
        address="0.0.0.0", VIBEGEN_OWNER_TOKEN=TOKEN, VIBEGEN_SANDBOX_SPEED="0.05"
    )
    # The owner opens the token link once; the browser remembers it for every page.
    page.goto(f"{server.url}/?token={TOKEN}")
    wait_for_app(page)
    run_id = generate(page, PROMPT, ["Prism", "Halo"])
    wait_for_images(page, 2)
    assert "token=" not in page.url  # taken out of the address bar
    review, _ = shared_links(page)
    page.goto(f"{server.url}/History")  # a new session: only the cookie says who this is
    page.locator("[class*=st-key-run-card-]").first.wait_for()  # the gallery is drawn
    assert page.get_by_text(REFUSAL).count() == 0

    stranger = chromium.new_context(viewport=VIEWPORT)
    try:
        other = stranger.new_page()
        for name in OWNER_PAGES:
            other.goto(f"{server.url}/{name}?run={run_id}")
            other.get_by_text(REFUSAL).wait_for()
            body = other.locator("body").inner_text()
            assert PROMPT not in body and run_id not in body, name
            assert other.get_by_role("button", name="Generate").count() == 0
        # A wrong token is refused in words, on the page.
        other.get_by_label("Owner token", exact=True).fill("not the token")
        other.get_by_role("button", name="Open").click()
        other.get_by_text("That is not the owner token.").wait_for()
        # A run id alone opens no review; the review link does: the teammate says who they are.
        other.goto(f"{server.url}/Review?run={run_id}")
        other.get_by_text("This page needs a review link").wait_for()
        assert PROMPT not in other.locator("body").inner_text()
        other.goto(review)
        other.get_by_text(re.compile("who are you|your name", re.I)).first.wait_for()
        other.get_by_label("Your name").fill("Dana")
        other.get_by_role("button", name="Start reviewing").click()
        other.get_by_text("Rating as Dana").wait_for()
        other.get_by_text("once the run's owner has accepted you").wait_for()
        wait_for_images(other, 4)  # the grid's two and the pair's two
    finally:
        stranger.close()
