"""The Review page through its shared link in a real browser, on a freshly started server.

Each test makes a finished sandbox run in-process first (as the team's runner would have),
then starts the app and opens the run's review link as the server's first page request.
"""

from __future__ import annotations

import io
import re
import time

import pytest
from PIL import Image, PngImagePlugin

from tests.e2e.conftest import (
    IMAGES,
    TIMEOUT_MS,
    VIEWPORT,
    cells,
    dataframe_rows,
    wait_for_images,
    wait_until,
)
from vibegen.settings import load_settings

PROMPT = "a red fox in the snow, woodcut"
MODELS = {
    "sandbox:prism": "Prism",
    "sandbox:halo": "Halo",
    "sandbox:mosaic": "Mosaic",
    "sandbox:tide": "Tide",
}
LABELS = tuple(MODELS.values())
# What blind review must never show: the models' labels and the router's name.
SECRET_WORDS = (*LABELS, "sandbox")
COOKIE = "vibegen_identity"
PICK, PICKED = "☆ Pick as best", "★ Best pick"
# The review page's images: the grid's four and, on the (hidden) pairwise tab, the pair's two.
PAGE_IMAGES = len(MODELS) + 2


# ------------------------------------------------------------------------ helpers
def finished_run(store, monkeypatch, images_per_model: int = 1) -> str:
    """A finished four-model sandbox run made in-process before the server starts."""
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    monkeypatch.setenv("VIBEGEN_SANDBOX_SPEED", "0.01")
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        run_id = runner.start_run(
            PROMPT, list(MODELS), CommonParams(images_per_model=images_per_model)
        )
        assert runner.wait(run_id, 30)
    finally:
        runner.close()
    assert [c.status for c in cells(store, run_id)] == ["ok"] * len(MODELS) * images_per_model
    return run_id


def review_url(store, server, run_id: str, blind: bool = False) -> str:
    """The run's review link (team or blind), as the run page shares it."""
    return f"{server.url}/Review?link={store.team.team_link(run_id, blind=blind).token}"


def rater_of(store, context):
    """The rater the browser's identity cookie stands for."""
    from urllib.parse import unquote

    cookie = wait_until(lambda: rater_cookie(context), what="the identity cookie")
    return store.team.rater_by_secret(unquote(cookie["value"]))


def name_form(page):
    """The "Your name" box of the "Who is rating?" form."""
    return page.get_by_label("Your name")


def enter_name(page, name: str, n_images: int = PAGE_IMAGES) -> None:
    """Type a name in the form, start reviewing and wait for the grid's images."""
    name_form(page).wait_for(timeout=30_000)  # the first script run on a fresh server
    name_form(page).fill(name)
    page.get_by_role("button", name="Start reviewing").click()
    wait_for_images(page, n_images)
    page.get_by_text(f"Rating as {name}").wait_for()


def grid_cell(page, label: str):
    """The grid cell of a model (not blind: its caption names it)."""
    return page.locator("[data-testid=stGridCell]").filter(
        has=page.locator("[data-testid=stMarkdownContainer] strong", has_text=label)
    )


def star(cell, n: int):
    """The n-th star of a cell's st.feedback widget."""
    return cell.locator(f'[data-testid=stFeedback] button[aria-label="{n} out of 5 stars"]')


def stars_shown(cell) -> int | None:
    """How many stars the cell's widget shows as given (aria-checked), None if none."""
    checked = cell.locator('[data-testid=stFeedback] button[aria-checked="true"]')
    if checked.count() == 0:
        return None
    return int(checked.first.get_attribute("aria-label").split()[0])


def reject_box(cell):
    """A cell's "Reject" checkbox (the input, for its checked state)."""
    return cell.get_by_role("checkbox", name="Reject")


def best_button(cell):
    """A cell's best-pick button, whichever state it is in."""
    # The cell's other button is the viewer's "⤢ View".
    return cell.locator("[data-testid=stButton] button").filter(has_text="best")


def rater_cookie(context) -> dict | None:
    """The browser's identity cookie, or None."""
    return next((c for c in context.cookies() if c["name"] == COOKIE), None)


def my_ratings(store, run_id: str) -> set[tuple]:
    """The run's current ratings as comparable tuples."""
    return {
        (
            r["rater"],
            r["mode"],
            r["slot"],
            r["generation_id"],
            r["other_generation_id"],
            r["value"],
            r["blind"],
        )
        for r in store.current_ratings(run_id)
    }


def stored(store, run_id: str, expected: set[tuple], what: str) -> None:
    """Wait until exactly `expected` is stored for the run."""
    wait_until(
        lambda: my_ratings(store, run_id) == expected,
        timeout=15,
        what=f"{what} to be stored (expected {sorted(expected)})",
    )


def visible_pair(page) -> tuple[str, str]:
    """The labels of the pair shown on the (not blind) pairwise tab: ("Prism", "Tide")."""

    def probe():
        texts = (
            page.locator("[data-testid=stMarkdownContainer]")
            .filter(has_text=re.compile(r"^[AB]: "))
            .filter(visible=True)
            .all_inner_texts()
        )
        sides = dict(t.strip().split(": ", 1) for t in texts)
        return (sides["A"], sides["B"]) if set(sides) == {"A", "B"} else None

    return wait_until(probe, what="the pair to vote on")


def click_both(first, second) -> float:
    """Real mouse clicks on two pages back to back (aimed first, so each is one input event);
    return how long after the first click the second one was done (s)."""
    aims = []
    for loc in (first, second):
        loc.scroll_into_view_if_needed()
        box = loc.bounding_box()
        aims.append((loc.page, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))
    t0 = time.perf_counter()
    for pg, x, y in aims:
        pg.mouse.click(x, y)
    return time.perf_counter() - t0


def pair_vote(a_label: str, b_label: str, want: str) -> str:
    """The button that votes for model `want` in the pair shown (a tie if it is not in it)."""
    return {a_label: "A is better", b_label: "B is better"}.get(want, "Tie")


def expected_pair(rater: str, a: str, b: str, button: str) -> tuple:
    """The stored row of a pair vote cast as `button` with a on side A (rows are sorted)."""
    value = {"A is better": "a", "B is better": "b", "Tie": "tie", "Both bad": "both_bad"}[button]
    if b < a:
        a, b = b, a
        value = {"a": "b", "b": "a"}.get(value, value)
    return (rater, "pair", f"pair:{a}:{b}", a, b, value, False)


def leaderboard_table(page) -> dict[str, dict[str, str]]:
    """The leaderboard's table as shown: {label: {column header: cell text}}."""
    frame = page.locator("[data-testid=stDataFrame]").first
    frame.wait_for(timeout=30_000)

    def drawn() -> list[dict[str, str]] | None:
        # The grid draws its accessible table progressively: wait for the columns read here.
        rows = dataframe_rows(frame)
        return rows if rows and all({"model", "votes"} <= set(r) for r in rows) else None

    rows = wait_until(drawn, what="the leaderboard table")
    return {r["model"].split(" · ")[0]: r for r in rows}  # "Halo · sandbox"


def visible_text(page) -> str:
    """Everything a reader sees: the body's innerText."""
    return page.evaluate("document.body.innerText")


def found(words, *haystacks: str) -> list[str]:
    """Which of `words` occur (case-insensitive) in any haystack."""
    hay = "\n".join(haystacks).lower()
    return [w for w in words if w.lower() in hay]


def metadata_text(data: bytes) -> str:
    """Every piece of metadata Pillow reads from an image: info entries, PNG text, EXIF, XMP."""
    parts: list[str] = []
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        for key, value in img.info.items():
            parts.append(f"{key}={value!r}")
        parts += [f"{k}={v!r}" for k, v in getattr(img, "text", {}).items()]
        parts += [f"exif {k}={v!r}" for k, v in img.getexif().items()]
        parts += [f"{marker}={payload!r}" for marker, payload in getattr(img, "applist", [])]
    return "\n".join(parts)


def _labelled_images() -> list[bytes]:
    """A PNG with a text chunk and a JPEG with EXIF and a comment, all naming a model."""
    png_info = PngImagePlugin.PngInfo()
    png_info.add_text("parameters", "model: Prism (sandbox)")
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG", pnginfo=png_info)
    exif = Image.Exif()
    exif[0x0131] = "Halo"  # Software
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, format="JPEG", exif=exif, comment=b"Mosaic")
    return [png.getvalue(), jpeg.getvalue()]


# -------------------------------------------------------------------------- tests
@pytest.mark.browser
def test_review_link_asks_the_name_once_and_the_browser_remembers_it(
    store, start_server, page, chromium, monkeypatch
):
    """First request on a fresh server: name form, empty refused, grid; reload remembers all."""
    run_id = finished_run(store, monkeypatch)
    ids = {c.label: c.id for c in cells(store, run_id)}
    server = start_server()
    name = "Ana Lúcia"  # a space and a non-ASCII letter: the cookie is percent-encoded

    page.goto(review_url(store, server, run_id))
    name_form(page).wait_for(timeout=30_000)
    start = page.get_by_role("button", name="Start reviewing")
    assert start.is_visible()
    assert page.get_by_role("heading", name="Who is rating?").is_visible()
    assert page.locator(IMAGES).count() == 0

    # An empty (then a blank) name is refused with a message; still no images.
    start.click()
    error = page.locator("[data-testid=stAlertContentError]")
    error.filter(has_text="your name is empty").wait_for()
    name_form(page).fill("   ")
    start.click()
    error.filter(has_text="your name is empty").wait_for()
    assert page.locator(IMAGES).count() == 0 and rater_cookie(page.context) is None

    enter_name(page, name)
    assert name_form(page).count() == 0
    # The page's script stored a random identity (not the name) in a year-long cookie.
    cookie = wait_until(lambda: rater_cookie(page.context), what="the identity cookie")
    assert re.fullmatch("[A-Za-z0-9_-]{32}", cookie["value"]) and cookie["path"] == "/"
    assert cookie["expires"] > time.time() + 360 * 86400, cookie
    assert rater_of(store, page.context).display == name

    # Rate: best pick on Halo, reject Tide, 4 stars on Prism; each saved at once.
    halo, tide, prism = (grid_cell(page, label) for label in ("Halo", "Tide", "Prism"))
    halo.get_by_role("button", name=PICK).click()
    halo.get_by_role("button", name=PICKED).wait_for()
    tide.locator("[data-testid=stCheckbox]").click()  # the label covers the input
    wait_until(lambda: reject_box(tide).is_checked(), what="Tide's Reject box to be checked")
    star(prism, 4).click()
    wait_until(lambda: stars_shown(prism) == 4, what="Prism to show 4 stars")
    expected = {
        (name, "best", "best", ids["Halo"], None, "1", False),
        (name, "reject", f"reject:{ids['Tide']}", ids["Tide"], None, "1", False),
        (name, "stars", f"stars:{ids['Prism']}", ids["Prism"], None, "4", False),
    }
    stored(store, run_id, expected, "the three ratings")
    page.get_by_text(f"Reviews: {name} rated 3 of 4").wait_for()  # live, without a reload

    # Reload: a new server session with no session state; only the cookie knows the name.
    page.reload()
    wait_for_images(page, PAGE_IMAGES)
    page.get_by_text(f"Rating as {name}").wait_for()
    page.get_by_text(f"Reviews: {name} rated 3 of 4").wait_for()
    assert name_form(page).count() == 0
    assert page.get_by_role("heading", name="Who is rating?").count() == 0
    for label in LABELS:
        cell = grid_cell(page, label)
        button = best_button(cell)
        assert button.inner_text().strip() == (PICKED if label == "Halo" else PICK), label
        assert button.get_attribute("kind") == ("primary" if label == "Halo" else "secondary")
        assert reject_box(cell).is_checked() == (label == "Tide"), label
        assert stars_shown(cell) == (4 if label == "Prism" else None), label
    page.get_by_text("You have rated 3 of 4 images").wait_for()
    assert my_ratings(store, run_id) == expected  # the reload wrote nothing
    assert store.rating_events() == 3

    # A second tab of the same browser knows the name too; another browser is asked.
    tab = page.context.new_page()
    tab.goto(review_url(store, server, run_id))
    wait_for_images(tab, PAGE_IMAGES)
    tab.get_by_text(f"Rating as {name}").wait_for()
    assert name_form(tab).count() == 0
    other = chromium.new_context(viewport=VIEWPORT)
    other.set_default_timeout(TIMEOUT_MS)
    try:
        stranger = other.new_page()
        stranger.goto(review_url(store, server, run_id))
        name_form(stranger).wait_for()
        assert stranger.locator(IMAGES).count() == 0
    finally:
        other.close()
    # Without the cookie the same browser is asked again: the cookie is what remembers.
    page.context.clear_cookies(name=COOKIE)
    page.reload()
    name_form(page).wait_for()
    assert page.locator(IMAGES).count() == 0


@pytest.mark.browser
def test_two_raters_at_once_are_both_stored_and_ranked(
    store, start_server, page, chromium, monkeypatch
):
    """Ana and Bo click at the same moment: every rating of both is stored and ranked."""
    run_id = finished_run(store, monkeypatch)
    ids = {c.label: c.id for c in cells(store, run_id)}
    server = start_server()
    other = chromium.new_context(viewport=VIEWPORT)
    other.set_default_timeout(TIMEOUT_MS)
    try:
        ana, bo = page, other.new_page()
        ana.goto(review_url(store, server, run_id))
        bo.goto(review_url(store, server, run_id))
        enter_name(ana, "Ana")
        enter_name(bo, "Bo")

        # Each step: a click in Ana's page, then at once one in Bo's (both real mouse clicks,
        # milliseconds apart), while Ana's rerun is still in flight; then wait for both.
        click_both(star(grid_cell(ana, "Prism"), 4), star(grid_cell(bo, "Tide"), 4))
        wait_until(lambda: stars_shown(grid_cell(ana, "Prism")) == 4, what="Ana's stars")
        wait_until(lambda: stars_shown(grid_cell(bo, "Tide")) == 4, what="Bo's stars")
        expected = {
            ("Ana", "stars", f"stars:{ids['Prism']}", ids["Prism"], None, "4", False),
            ("Bo", "stars", f"stars:{ids['Tide']}", ids["Tide"], None, "4", False),
        }
        stored(store, run_id, expected, "both raters' stars")

        click_both(
            grid_cell(ana, "Halo").get_by_role("button", name=PICK),
            grid_cell(bo, "Halo").get_by_role("button", name=PICK),
        )
        # The two clicks are milliseconds apart (real input events, aimed first). Whether Ana's
        # page already had its answer when we looked is a race on a loaded machine, so it is
        # not asserted: what is asserted is that both clicks are stored, once each, below.
        for pg in (ana, bo):
            grid_cell(pg, "Halo").get_by_role("button", name=PICKED).wait_for()

        for pg in (ana, bo):
            pg.get_by_role("tab", name="Pairwise: A / B").click()
        pairs = {"Ana": visible_pair(ana), "Bo": visible_pair(bo)}
        buttons = {rater: pair_vote(a, b, "Halo") for rater, (a, b) in pairs.items()}
        click_both(
            ana.get_by_role("button", name=buttons["Ana"]),
            bo.get_by_role("button", name=buttons["Bo"]),
        )
        for pg in (ana, bo):
            pg.get_by_text("You have voted on 1 of 6 pairs").wait_for()

        expected |= {
            ("Ana", "best", "best", ids["Halo"], None, "1", False),
            ("Bo", "best", "best", ids["Halo"], None, "1", False),
        }
        for rater, (a, b) in pairs.items():
            expected.add(expected_pair(rater, ids[a], ids[b], buttons[rater]))
        stored(store, run_id, expected, "both raters' ratings")
        assert store.rating_events() == 6  # one event per click, none lost, none doubled

        # Votes are clicks behind each model's comparisons. Grid: each rater's best pick of Halo
        # is one vote for all four models (one starred image per rater gives no comparison);
        # plus one per pair vote a model is in.
        votes = {"Halo": 2, "Prism": 2, "Mosaic": 2, "Tide": 2}
        for a, b in pairs.values():
            votes[a] += 1
            votes[b] += 1
        rated = {
            rater: len({"Halo", {"Ana": "Prism", "Bo": "Tide"}[rater], *pairs[rater]})
            for rater in pairs
        }
        ana.reload()
        ana.get_by_text(
            f"Reviews: Ana rated {rated['Ana']} of 4 · Bo rated {rated['Bo']} of 4"
        ).wait_for(timeout=30_000)
    finally:
        other.close()

    page.goto(f"{server.url}/Leaderboard")
    toggle = page.get_by_label("Include sandbox models")
    toggle.wait_for(timeout=30_000)
    assert toggle.is_checked()  # every generation is a sandbox one: on by default
    table = leaderboard_table(page)
    assert set(table) == set(LABELS), table
    assert {label: int(row["votes"]) for label, row in table.items()} == votes, table
    assert sum(int(row["votes"]) for row in table.values()) == 2 * (4 + 2)
    # Halo won every outcome it was in (best pick of both, and each pair vote it was in).
    scores = {label: float(row["quality score"]) for label, row in table.items()}
    assert max(scores, key=scores.get) == "Halo", scores
    assert table["Halo"]["place"] in ("1st", "tied for 1st"), table["Halo"]
    assert all(scores["Halo"] > s for label, s in scores.items() if label != "Halo"), scores


@pytest.mark.browser
def test_blind_review_leaks_no_model_name_until_revealed(store, start_server, page, monkeypatch):
    """Blind link: no label or router in the DOM, URLs or image metadata; reveal shows them."""
    for data in _labelled_images():  # the metadata check can fail: it reads these names
        assert found(SECRET_WORDS, metadata_text(data)), metadata_text(data)

    run_id = finished_run(store, monkeypatch)
    server = start_server()
    page.goto(review_url(store, server, run_id, blind=True))
    enter_name(page, "Bo")
    page.get_by_text("blind review: names, prices and times are hidden").wait_for()
    # Both tabs rendered: visit the pairwise one so its images are in the DOM and loaded.
    page.get_by_role("tab", name="Pairwise: A / B").click()
    page.get_by_role("button", name="A is better").wait_for()
    page.get_by_role("tab", name="Grid: best, reject, stars").click()
    page.get_by_text("You have rated 0 of 4 images").wait_for()

    html, text = page.content(), visible_text(page)
    assert not found(SECRET_WORDS, html), found(SECRET_WORDS, html)
    assert not found(SECRET_WORDS, text), found(SECRET_WORDS, text)
    assert "Image 1" in text and "⏱️" not in text and "$" not in text
    srcs = page.eval_on_selector_all("img[src]", "els => els.map(e => e.src)")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    media = [s for s in srcs if "/media/" in s]
    assert len(media) == PAGE_IMAGES, srcs
    assert not found(SECRET_WORDS, *srcs, *hrefs), (srcs, hrefs)
    # Nothing on the page leads to a named view: no run id, no image id, anywhere in it.
    ids = [run_id, *(c.id for c in cells(store, run_id))]
    assert not [i for i in ids if i in html or any(i in u for u in (*srcs, *hrefs))]
    image_links = [h for h in hrefs if "/Image?link=" in h]
    assert len(image_links) == 4, hrefs
    # Every thumbnail has one shape, whatever each model's aspect ratio.
    shapes = page.eval_on_selector_all(
        "[data-testid=stGridCell] img", "els => els.map(e => [e.naturalWidth, e.naturalHeight])"
    )
    assert len(shapes) == 4 and len({tuple(x) for x in shapes}) == 1, shapes
    for src in media:
        resp = page.request.get(src)
        assert resp.ok, (src, resp.status)
        meta = metadata_text(resp.body())
        assert not found(SECRET_WORDS, meta), (src, meta)

    # A blind rating lands on the image the rater saw as "Image 1" (order shuffled for them),
    # marked blind.
    from vibegen.review import review_order

    bo = rater_of(store, page.context)
    order = review_order(cells(store, run_id), run_id, bo.id, blind=True)
    star(grid_cell(page, "Image 1"), 4).click()
    stored(
        store,
        run_id,
        {("Bo", "stars", f"stars:{order[0].id}", order[0].id, None, "4", True)},
        "the blind rating",
    )

    # Editing the address cannot unblind it.
    page.goto(page.url + "&blind=0&run=" + run_id)
    wait_for_images(page, PAGE_IMAGES)
    page.get_by_text("blind review: names, prices and times are hidden").wait_for()
    assert not found(SECRET_WORDS, page.content())
    page.goto(image_links[0] + "&blind=0")
    page.locator(IMAGES).wait_for(timeout=30_000)
    assert not found(SECRET_WORDS, page.content(), visible_text(page))
    page.go_back()

    # The full-size image behind a blind grid link is blind too.
    page.goto(image_links[0])
    image = page.locator(IMAGES)
    image.wait_for(timeout=30_000)
    wait_for_images(page, 1)
    full = page.eval_on_selector(IMAGES, "e => e.src")
    resp = page.request.get(full)
    assert resp.ok and resp.body()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not found(
        SECRET_WORDS, page.content(), visible_text(page), full, metadata_text(resp.body())
    )

    # Done: the reveal names every model, so the checks above could have failed.
    page.go_back()
    wait_for_images(page, PAGE_IMAGES)
    page.get_by_role("button", name="I'm done: reveal the models").click()
    reveal = page.locator("[data-testid=stMarkdownContainer]").filter(has_text="Revealed:")
    reveal.wait_for()
    # The reveal is stored for this rater: a reload stays revealed, and new ratings are named.
    page.reload()
    reveal.wait_for(timeout=30_000)
    star(grid_cell(page, order[1].label), 2).click()
    stored(
        store,
        run_id,
        {
            ("Bo", "stars", f"stars:{order[0].id}", order[0].id, None, "4", True),
            ("Bo", "stars", f"stars:{order[1].id}", order[1].id, None, "2", False),
        },
        "a rating after the reveal",
    )
    shown = reveal.inner_text()
    assert all(f"Image {i + 1} = {c.label} (sandbox, " in shown for i, c in enumerate(order)), shown
    assert set(found(SECRET_WORDS, visible_text(page))) == set(SECRET_WORDS)
    assert set(found(SECRET_WORDS, page.content())) == set(SECRET_WORDS)


def close_tab(page, other) -> bool:
    """Close the tab as a user does (beforeunload first); True if the page asked to stay,
    in which case the rater stays (the tab remains open). `other`, a page of the same
    browser, lets Playwright deliver events while we wait (the sync API only does so inside
    its own calls)."""
    asked: list[str] = []

    def stay(dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.close(run_before_unload=True)
    deadline = time.monotonic() + 10
    while not (page.is_closed() or asked):
        assert time.monotonic() < deadline, "the tab neither closed nor asked in 10 s"
        other.wait_for_timeout(20)
    assert asked in ([], ["beforeunload"]), asked
    return bool(asked)


@pytest.mark.browser
def test_closing_the_tab_before_a_rating_is_saved_asks_first(
    store, start_server, page, chromium, monkeypatch
):
    """A click the server has not handled yet keeps the tab from closing silently."""
    import os
    import signal

    run_id = finished_run(store, monkeypatch)
    ids = {c.label: c.id for c in cells(store, run_id)}
    server = start_server()
    context = page.context
    page.goto(review_url(store, server, run_id))
    enter_name(page, "Ana")
    tab = context.new_page()  # keeps the context alive while `page` closes
    try:
        # Frozen server: the click shows in the page at once but cannot be saved yet.
        os.kill(server.pid, signal.SIGSTOP)
        try:
            star(grid_cell(page, "Prism"), 4).click()
            wait_until(lambda: stars_shown(grid_cell(page, "Prism")) == 4, what="4 stars shown")
            assert close_tab(page, tab), "closed with a rating still unsaved"
        finally:
            os.kill(server.pid, signal.SIGCONT)
        prism = ("Ana", "stars", f"stars:{ids['Prism']}", ids["Prism"], None, "4", False)
        stored(store, run_id, {prism}, "the star rating")

        # A button holds no value: its click is pending until a run after it has finished.
        os.kill(server.pid, signal.SIGSTOP)
        try:
            grid_cell(page, "Halo").get_by_role("button", name=PICK).click()
            assert close_tab(page, tab), "closed with a best pick still unsaved"
        finally:
            os.kill(server.pid, signal.SIGCONT)
        grid_cell(page, "Halo").get_by_role("button", name=PICKED).wait_for()
        halo = ("Ana", "best", "best", ids["Halo"], None, "1", False)
        stored(store, run_id, {prism, halo}, "the best pick")

        # Everything saved: the tab closes without a word.
        wait_until(
            lambda: page.evaluate("!window.vibegenUnloadGuard.pressed"),
            timeout=10,
            what="the page to know the pick is saved",
        )
        assert not close_tab(page, tab), "asked to stay with nothing unsaved"
        assert page.is_closed()
        assert my_ratings(store, run_id) == {prism, halo}
    finally:
        tab.close()
