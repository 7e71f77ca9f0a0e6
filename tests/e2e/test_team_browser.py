"""The team in real browsers, on a server open to the network: one person, one identity.

The owner invites Dana by name; a stranger who types "Dana" on the team link becomes
"Dana (2)", is held, and cannot touch Dana's ratings; the owner sees both on the run page,
accepts, excludes and restores, and closes the link. Each person is a fresh browser context.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    TIMEOUT_MS,
    VIEWPORT,
    generate,
    shared_links,
    table_with,
    wait_for_app,
    wait_for_images,
    wait_until,
)

pytestmark = pytest.mark.browser

TOKEN = "team-browser-owner-token-0123456"
PROMPT = "a brass owl on a bookshelf"
PICK = "☆ Pick as best"


def settled(page) -> None:
    """Wait until the page's script has been idle a moment: the run's last full rerun (when it
    completes) and a reload's first run are over, so a click is not sent into them."""

    def idle() -> bool:
        return page.evaluate(
            "document.querySelector('[data-testid=stApp]')"
            "?.dataset.testScriptState === 'notRunning'"
        )

    wait_until(idle, what="the page to be idle")
    page.wait_for_timeout(500)
    wait_until(idle, what="the page to stay idle")


def browser(chromium):
    """A fresh browser context and page: another person's machine."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def raters_panel(page) -> str:
    """The owner's share panel on the run page, opened, as text."""
    page.reload()
    wait_for_images(page, 2, timeout=30)
    page.get_by_text("Share this run for review").click()
    panel = page.locator("[data-testid=stExpander]").filter(has_text="Share this run")
    panel.get_by_text("Raters").wait_for()
    settled(page)
    return panel.inner_text()


def row(page, who: str):
    """A rater's row in the owner's panel (its columns hold the text and the buttons)."""
    return (
        page.locator("[data-testid=stHorizontalBlock]")
        .filter(has=page.get_by_text(who, exact=False))
        .filter(has=page.locator("button"))
        .last
    )


def test_invites_held_strangers_and_the_owners_controls(store, start_server, page, chromium):
    server = start_server(
        address="0.0.0.0", VIBEGEN_OWNER_TOKEN=TOKEN, VIBEGEN_SANDBOX_SPEED="0.05"
    )
    page.goto(f"{server.url}/?token={TOKEN}")
    wait_for_app(page)
    run_id = generate(page, PROMPT, ["Prism", "Halo"])
    wait_for_images(page, 2)
    team_link, _ = shared_links(page)
    settled(page)
    page.get_by_label("Teammate's name").fill("Dana")
    page.get_by_role("button", name="Make invite link").click()
    page.get_by_text("Invite for Dana").wait_for()
    codes = page.locator("[data-testid=stExpander] [data-testid=stCode]").all_inner_texts()
    invite = codes[2].strip()  # the team link, the blind link, then each invite
    assert invite.startswith(f"{server.url}/Review?link=") and run_id not in invite

    dana_ctx, dana = browser(chromium)
    stranger_ctx, stranger = browser(chromium)
    try:
        # Dana opens her invite: she is Dana at once, no name asked, and counts.
        dana.goto(invite)
        dana.get_by_text("Rating as Dana").wait_for()
        wait_for_images(dana, 4)
        assert dana.get_by_label("Your name").count() == 0
        assert dana.get_by_text("once the run's owner has accepted you").count() == 0
        dana.get_by_role("button", name=PICK).first.click()
        wait_until(lambda: len(store.current_ratings(run_id)) == 1, what="Dana's pick")

        # A stranger types "Dana" on the team link: another rater, held, Dana untouched.
        stranger.goto(team_link)
        stranger.get_by_label("Your name").fill("Dana")
        stranger.get_by_role("button", name="Start reviewing").click()
        stranger.get_by_text("Rating as Dana (2)").wait_for()
        stranger.get_by_text("once the run's owner has accepted you").wait_for()
        wait_for_images(stranger, 4)
        stranger.get_by_role("button", name=PICK).last.click()
        wait_until(lambda: len(store.current_ratings(run_id)) == 2, what="the stranger's pick")
        best = {r["rater"]: r["generation_id"] for r in store.current_ratings(run_id)}
        assert set(best) == {"Dana", "Dana (2)"} and best["Dana"] != best["Dana (2)"]

        # The owner sees both, with counts and standing, and the look-alike said.
        text = raters_panel(page)
        assert "Dana · invited · rated 1 of 2 images · counted" in text, text
        assert "Dana (2) · joined by team link · rated 1 of 2 images · held" in text, text
        assert "looks like Dana, is someone else" in text
        page.goto(f"{server.url}/Leaderboard")
        page.get_by_text("Not counted: 1 rater who joined through a team link").wait_for()
        frame = page.locator("[data-testid=stDataFrame]").first
        rows = wait_until(lambda: table_with(frame, "raters"), what="the leaderboard table")
        assert sorted(r["raters"] for r in rows) == ["1", "1"], rows  # Dana's pick alone

        # Accept the stranger, then exclude and restore them on this run. Each click is
        # waited for in the store before the page is reloaded (a reload would drop a click the
        # server has not had yet).
        who = next(
            p["rater"] for p in store.team.raters_of_run(run_id) if p["rater"].display == "Dana (2)"
        )

        def word() -> str:
            return store.team.standing(who, run_id).word

        page.goto(f"{server.url}/?run={run_id}")
        raters_panel(page)
        row(page, "Dana (2) ·").get_by_role("button", name="Accept").click()
        wait_until(lambda: word() == "counted", what="the stranger to be accepted")
        assert "Dana (2) · joined by team link · rated 1 of 2 images · counted" in raters_panel(
            page
        )
        row(page, "Dana (2) ·").get_by_role("button", name="Exclude").click()
        wait_until(lambda: word() == "excluded", what="the stranger to be excluded")
        assert "rated 1 of 2 images · excluded" in raters_panel(page)
        frame_counts = store.ratings_frame().set_index("rater")["counts"].to_dict()
        assert frame_counts == {"Dana": True, "Dana (2)": False}
        row(page, "Dana (2) ·").get_by_role("button", name="Restore").click()
        wait_until(lambda: word() == "counted", what="the restore")
        assert store.ratings_frame()["counts"].all()

        # Close the team link: the stranger's next visit is refused; Dana's invite still works.
        page.locator("[data-testid=stHorizontalBlock]").filter(
            has=page.get_by_text("Team link", exact=True)
        ).get_by_role("button", name="Close").click()
        token = team_link.rsplit("=", 1)[1]
        wait_until(lambda: not store.team.link(token).open, what="the team link to close")
        stranger.goto(team_link)
        stranger.get_by_text("has been closed by the run's owner").wait_for()
        assert stranger.locator("[data-testid=stImage]").count() == 0
        dana.goto(invite)
        dana.get_by_text("Rating as Dana").wait_for()
    finally:
        dana_ctx.close()
        stranger_ctx.close()
