"""One review link for a whole brief, in real browsers at 1440x900 on a fresh server.

The owner saves a brief of three prompts on the Briefs page, runs it on two sandbox models and
copies the review link the page shows. A teammate opens it in a fresh browser context, rates
the first prompt, steps to the next and rates it: each vote lands on its own prompt's run, once.
A second teammate opens the blind link: the page names no model and no run.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import (
    IMAGES,
    TIMEOUT_MS,
    pick_models,
    shown_prompt,
    wait_for_images,
    wait_until,
)

pytestmark = pytest.mark.browser

SCREEN = {"width": 1440, "height": 900}
PROMPTS = ["a paper crane on a desk", "a lighthouse at dusk, gouache", "a teapot, woodcut"]
LABELS = ("Prism", "Halo")
PAGE_IMAGES = len(LABELS) + 2  # the grid's two and, on the pairwise tab, the pair's two


def fresh(chromium):
    """A new browser context and page at 1440x900: a teammate's machine."""
    context = chromium.new_context(viewport=SCREEN)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def idle(page) -> None:
    """Wait until the page's script has been idle a moment, so a click is not sent into a run."""

    def quiet() -> bool:
        return page.evaluate(
            "document.querySelector('[data-testid=stApp]')"
            "?.dataset.testScriptState === 'notRunning'"
        )

    wait_until(quiet, what="the page to be idle")
    page.wait_for_timeout(300)
    wait_until(quiet, what="the page to stay idle")


def star(cell, n: int):
    """The n-th star of a grid cell's st.feedback widget."""
    return cell.locator(f'[data-testid=stFeedback] button[aria-label="{n} out of 5 stars"]')


def rate_every_image(page, store, run_id: str, stars: int) -> None:
    """Give every image of the grid on screen `stars` stars; wait for each in the store."""
    grid = page.locator("[data-testid=stGridCell]")
    wait_until(lambda: grid.count() == len(LABELS), what="the grid's cells")
    for i in range(len(LABELS)):
        star(grid.nth(i), stars).click()
        wait_until(
            lambda i=i: len(store.current_ratings(run_id)) == i + 1,
            what=f"star rating {i + 1} of the run on screen to be stored",
        )


def save_and_run_brief(page, server, store) -> str:
    """On the Briefs page: save the brief, run it on two sandbox models; the brief's id."""
    page.goto(f"{server.url}/Briefs")
    page.get_by_label("Name", exact=True).wait_for(timeout=30_000)
    page.get_by_label("Name", exact=True).fill("Spring posters")
    box = page.get_by_label("Prompts, one per line")
    box.fill("\n".join(PROMPTS))
    box.press("Control+Enter")  # a text area commits on Ctrl+Enter (or on blur)
    idle(page)
    page.get_by_role("button", name="Save brief").click()
    page.get_by_text("Saved the brief Spring posters").wait_for()
    pick_models(page, LABELS)
    page.get_by_text(f"{len(PROMPTS)} prompts × {len(LABELS)} models").wait_for()
    idle(page)
    page.get_by_role("button", name="Run the brief").click()
    (brief,) = store.prompt_sets()
    runs = wait_until(
        lambda: (r := store.runs_of_prompt_set(brief["id"])) and len(r) == len(PROMPTS) and r,
        what="the brief's runs",
    )
    wait_until(
        lambda: all(store.run_view(r).complete for r in runs), timeout=60, what="the runs to end"
    )
    return brief["id"]


def shown_links(page) -> tuple[str, str]:
    """The brief's review link and blind link, as the Briefs page shows them."""
    section = page.get_by_role("heading", name="Review link for this brief")
    section.wait_for()
    codes = page.locator("[data-testid=stCode]")
    codes.nth(1).wait_for()
    named, blind = (t.strip() for t in codes.all_inner_texts()[:2])
    return named, blind


def test_one_link_reviews_the_whole_brief(store, start_server, page, chromium):
    server = start_server(VIBEGEN_SANDBOX_SPEED="0.01")
    page.set_viewport_size(SCREEN)
    set_id = save_and_run_brief(page, server, store)
    runs = store.runs_of_prompt_set(set_id)
    by_prompt = {store.run_view(r).prompt: r for r in runs}
    named, blind = shown_links(page)
    token = "[A-Za-z0-9_-]{32}"
    for link in (named, blind):
        assert re.fullmatch(re.escape(f"{server.url}/Review?link=") + token, link), link
        assert not any(r in link for r in runs) and set_id not in link
    assert named != blind
    assert store.team.brief(named.rsplit("=", 1)[1]).prompt_set_id == set_id

    context, mate = fresh(chromium)
    try:
        mate.goto(named)
        mate.get_by_label("Your name").wait_for(timeout=30_000)
        mate.get_by_label("Your name").fill("Ana")
        mate.get_by_role("button", name="Start reviewing").click()
        mate.get_by_text("Rating as Ana").wait_for()
        mate.get_by_text("Brief: Spring posters · Prompt 1 of 3").wait_for()
        mate.get_by_text("0 of 3 prompts rated").wait_for()
        wait_for_images(mate, PAGE_IMAGES)
        assert shown_prompt(mate, PROMPTS[0])
        assert all(label in mate.locator("[data-testid=stMain]").inner_text() for label in LABELS)
        idle(mate)
        rate_every_image(mate, store, by_prompt[PROMPTS[0]], stars=4)

        idle(mate)
        mate.get_by_role("button", name="Next prompt →").click()
        mate.get_by_text("Brief: Spring posters · Prompt 2 of 3").wait_for()
        wait_until(lambda: shown_prompt(mate, PROMPTS[1]), what="the second prompt")
        mate.get_by_text("1 of 3 prompts rated").wait_for()
        wait_for_images(mate, PAGE_IMAGES)
        idle(mate)
        rate_every_image(mate, store, by_prompt[PROMPTS[1]], stars=2)
        assert mate.url == named  # the address still carries the token alone
    finally:
        context.close()

    # Back in the store: each vote on its own prompt's run, each counted once.
    first, second, third = (store.current_ratings(by_prompt[p]) for p in PROMPTS)
    assert {r["value"] for r in first} == {"4"} and {r["value"] for r in second} == {"2"}
    assert third == []
    for run_id, rows in ((by_prompt[PROMPTS[0]], first), (by_prompt[PROMPTS[1]], second)):
        cells = {c.id for c in store.run_view(run_id).cells}
        assert sorted(r["generation_id"] for r in rows) == sorted(cells)
    assert store.rating_events() == 4 and {r["rater"] for r in first + second} == {"Ana"}
    frame = store.ratings_frame()
    assert len(frame) == 4 and frame["counts"].all()

    # The blind link: another teammate's page names no model and no run.
    context, other = fresh(chromium)
    try:
        other.goto(blind)
        other.get_by_label("Your name").wait_for(timeout=30_000)
        other.get_by_label("Your name").fill("Bo")
        other.get_by_role("button", name="Start reviewing").click()
        other.get_by_text("Brief: Spring posters · Prompt 1 of 3").wait_for()
        wait_for_images(other, PAGE_IMAGES)
        text = other.locator("[data-testid=stMain]").inner_text()
        assert "blind review" in text and not any(label in text for label in LABELS)
        html = other.content()
        ids = runs + [c.id for r in runs for c in store.run_view(r).cells]
        assert not [i for i in ids if i in html]
        hrefs = other.eval_on_selector_all(
            "[data-testid=stImageLink]", "els => els.map(e => e.getAttribute('href'))"
        )
        assert len(hrefs) == len(LABELS) and all("/Image?link=" in h for h in hrefs), hrefs
        assert other.locator(IMAGES).count() == PAGE_IMAGES
    finally:
        context.close()
