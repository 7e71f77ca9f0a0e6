"""Every link VibeGen shows opens, in a real browser, on a freshly started server.

A test reads the link as the user gets it (the text in the share box, the href of a grid
image, "Back to the run"), opens it in a fresh browser context (no cookies, no session: a
teammate's browser) and checks what it shows. Covered: the root with and without a trailing
slash, a page URL with and without one, `--server.baseUrlPath`, and VIBEGEN_PUBLIC_URL.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import (
    NAV,
    PAGE_NAMES,
    TIMEOUT_MS,
    VIEWPORT,
    Server,
    cells,
    generate,
    shared_links,
    shown_prompt,
    sidebar_pages,
    wait_for_app,
    wait_for_images,
)
from vibegen.settings import load_settings

pytestmark = pytest.mark.browser

PROMPT = "a paper boat on a puddle, gouache"
LABELS = ("Prism", "Halo")
MODELS = {"sandbox:prism": "Prism", "sandbox:halo": "Halo"}


# ------------------------------------------------------------------------ helpers
def finished_run(store, monkeypatch) -> str:
    """A finished two-model sandbox run made in-process before the server starts."""
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    monkeypatch.setenv("VIBEGEN_SANDBOX_SPEED", "0.01")
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        run_id = runner.start_run(PROMPT, list(MODELS), CommonParams())
        assert runner.wait(run_id, 30)
    finally:
        runner.close()
    assert [c.status for c in cells(store, run_id)] == ["ok"] * len(MODELS)
    return run_id


def image_links(page, n: int) -> list[str]:
    """The hrefs of the grid's image links, once `n` images are shown."""
    wait_for_images(page, n)
    return page.eval_on_selector_all(
        "[data-testid=stImageLink]", "els => els.map(e => e.getAttribute('href'))"
    )


def fresh_page(chromium):
    """A page in a new browser context: what a teammate opening the link has."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def opens_review(chromium, link: str, run_id: str, blind: bool) -> None:
    """Open a review link in a fresh context: it asks who rates, then shows the run."""
    context, page = fresh_page(chromium)
    try:
        response = page.goto(link)
        assert response is not None and response.ok, (link, response and response.status)
        page.get_by_label("Your name").wait_for(timeout=30_000)
        page.get_by_label("Your name").fill("Ana")
        page.get_by_role("button", name="Start reviewing").click()
        page.get_by_text("Rating as Ana").wait_for()
        wait_for_images(page, len(MODELS) + 2)  # the grid's, and the pairwise tab's two
        assert shown_prompt(page, PROMPT)
        assert page.locator("[data-testid=stAlertContentError]").count() == 0
        text = page.locator("[data-testid=stMain]").inner_text()
        if blind:
            assert "blind review" in text and not any(label in text for label in LABELS)
        else:
            assert all(label in text for label in LABELS)
        # The link is all the page needs: it carries no run id, and a blind page names none.
        assert page.url == link and run_id not in page.url
        if blind:
            assert run_id not in page.content()
    finally:
        context.close()


def opens_image_then_run(chromium, link: str, base: str, run_id: str) -> None:
    """Open an image link in a fresh context, then its "Back to the run" link."""
    context, page = fresh_page(chromium)
    try:
        page.goto(link)
        page.locator("[data-testid=stImage] img").wait_for(timeout=30_000)
        back = page.get_by_role("link", name="Back to the run")
        href = back.get_attribute("href")
        assert href == f"{base}/?run={run_id}", href
    finally:
        context.close()
    context, page = fresh_page(chromium)
    try:
        page.goto(href)
        wait_for_images(page, len(MODELS), timeout=30)
        assert shown_prompt(page, PROMPT)
    finally:
        context.close()


def assert_links(base: str, run_id: str, review: str, blind: str) -> None:
    """The two shared links are absolute review links on `base`, each with its own token."""
    token = "[A-Za-z0-9_-]{32}"
    assert re.fullmatch(re.escape(f"{base}/Review?link=") + token, review), review
    assert re.fullmatch(re.escape(f"{base}/Review?link=") + token, blind), blind
    assert review != blind and run_id not in review + blind


# -------------------------------------------------------------------------- tests
def test_links_copied_from_the_run_page_open_in_a_fresh_browser(start_server, page, chromium):
    """The reported bug: on the main page the links read http://Review?run=… and did not open."""
    server = start_server(VIBEGEN_SANDBOX_SPEED="0.01")
    page.goto(server.url)  # the root without a trailing slash, as a designer types it
    wait_for_app(page)
    run_id = generate(page, PROMPT, LABELS)
    review, blind = shared_links(page)
    assert_links(server.url, run_id, review, blind)
    # The image links under the grid are absolute too, on the same base.
    links = image_links(page, len(LABELS))
    assert len(links) == 2
    assert all(
        re.fullmatch(re.escape(f"{server.url}/Image?gen=") + "[0-9a-f]{32}", h) for h in links
    ), links

    opens_review(chromium, review, run_id, blind=False)
    opens_review(chromium, blind, run_id, blind=True)
    opens_image_then_run(chromium, links[0], server.url, run_id)


def assert_page_list(page) -> None:
    """The sidebar names the pages (Generate, not "app"; no Image) and there is no Deploy."""
    assert sidebar_pages(page) == PAGE_NAMES
    assert page.locator("[data-testid=stSidebarNav]").count() == 0  # Streamlit's own list
    assert page.locator("[data-testid=stAppDeployButton]").count() == 0
    assert page.locator("[data-testid=stToolbar]").get_by_text("Deploy").count() == 0


def test_page_list_on_a_fresh_server_whose_first_request_is_a_review_link(
    store, start_server, page, chromium, monkeypatch
):
    """A review link as a fresh server's first request: named page list, and every link opens."""
    run_id = finished_run(store, monkeypatch)
    token = store.team.create_link(run_id, blind=False).token
    gen_id = cells(store, run_id)[0].id
    server = start_server()
    page.goto(f"{server.url}/Review?link={token}")
    page.get_by_label("Your name").wait_for(timeout=30_000)
    assert_page_list(page)

    context, image_page = fresh_page(chromium)
    try:
        image_page.goto(f"{server.url}/Image?gen={gen_id}")
        image_page.locator("[data-testid=stImage] img").wait_for(timeout=30_000)
        assert_page_list(image_page)
        image_page.locator(NAV, has_text="History").click()
        image_page.get_by_role("heading", name="History").wait_for()
        assert image_page.url.rstrip("/").endswith("/History")
        assert_page_list(image_page)
        image_page.locator(NAV, has_text="Generate").click()
        image_page.get_by_label("Prompt", exact=True).wait_for()
        image_page.wait_for_url(re.compile(re.escape(server.url) + "/?$"))
        assert image_page.url.rstrip("/") == server.url
    finally:
        context.close()


def test_root_with_a_trailing_slash_and_page_urls_with_and_without(
    store, start_server, page, chromium, monkeypatch
):
    """`/?run=`, and the Review page at `/Review?run=` and `/Review/?run=`."""
    run_id = finished_run(store, monkeypatch)
    server = start_server()
    page.goto(f"{server.url}/?run={run_id}")
    assert_links(server.url, run_id, *shared_links(page))

    for page_url in (f"{server.url}/Review?run={run_id}", f"{server.url}/Review/?run={run_id}"):
        context, review_page = fresh_page(chromium)
        try:
            review_page.goto(page_url)
            review_page.get_by_label("Your name").fill("Bo")
            review_page.get_by_role("button", name="Start reviewing").click()
            # The grid's links (the pairwise tab's images have none).
            links = image_links(review_page, len(MODELS) + 2)
        finally:
            context.close()
        assert len(links) == len(MODELS), links
        assert all(h.startswith(f"{server.url}/Image?gen=") for h in links), (page_url, links)
    opens_image_then_run(chromium, links[0], server.url, run_id)


def test_links_under_a_base_url_path(store, start_server, page, chromium, monkeypatch):
    """`--server.baseUrlPath=vg`: every link keeps the /vg prefix, opened at /vg and /vg/."""
    run_id = finished_run(store, monkeypatch)
    server = start_server(base_path="vg")
    assert server.url.endswith("/vg")
    for opened in (f"{server.url}?run={run_id}", f"{server.url}/?run={run_id}"):
        page.goto(opened)
        review, blind = shared_links(page)
        assert_links(server.url, run_id, review, blind)
        links = image_links(page, len(MODELS))
        assert all(h.startswith(f"{server.url}/Image?gen=") for h in links), links
    opens_review(chromium, review, run_id, blind=False)
    opens_review(chromium, blind, run_id, blind=True)
    opens_image_then_run(chromium, links[0], server.url, run_id)


def test_public_url_is_what_the_links_start_with(
    store, home, tmp_path, page, chromium, monkeypatch
):
    """VIBEGEN_PUBLIC_URL (a proxy's address) wins over the address the page was opened at.

    The test opens the app at 127.0.0.1 and sets the public URL to the same server under the
    name `localhost` with its base path, so the links differ from the address bar and open.
    """
    run_id = finished_run(store, monkeypatch)
    server = Server(home, tmp_path, {"VIBEGEN_SANDBOX_FAILURES": "off"}, base_path="vg")
    public = f"http://localhost:{server.port}/vg"
    server.start(VIBEGEN_PUBLIC_URL=public + "/")
    try:
        page.goto(f"{server.url}/?run={run_id}")
        review, blind = shared_links(page)
        assert_links(public, run_id, review, blind)
        links = image_links(page, len(MODELS))
        assert all(h.startswith(f"{public}/Image?gen=") for h in links), links
        opens_review(chromium, review, run_id, blind=False)
        opens_review(chromium, blind, run_id, blind=True)
        opens_image_then_run(chromium, links[0], public, run_id)
    finally:
        server.stop()
        for log in server.log_files:
            print(f"----- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
