"""The Review page through its shared link: identity, ratings saved at once, blind mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vibegen.markup import escape_markdown
from vibegen.params import CommonParams
from vibegen.runner import Runner
from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["sandbox:prism", "sandbox:halo", "sandbox:mosaic"]
NAMES = ["Prism", "Halo", "Mosaic", "sandbox", "Sandbox"]


@pytest.fixture
def run_id(store, fast_sandbox):
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    rid = runner.start_run("a fox in the snow", MODELS, CommonParams(images_per_model=2))
    assert runner.wait(rid, 20)
    runner.close()
    return rid


_BROWSERS: dict[tuple[int, str], str] = {}


def browser_of(store, name: str) -> str:
    """The rater id a browser holds after its user typed `name` (one browser per name)."""
    key = (id(store), name)
    if key not in _BROWSERS:
        _BROWSERS[key] = store.team.join(name, "owner")[0].id
    return _BROWSERS[key]


def _review(run_id, blind=False, rater=None, store=None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "2_Review.py"), default_timeout=30)
    at.query_params["run"] = run_id
    if blind:
        at.query_params["blind"] = "1"
    if rater:
        at.session_state["rater_id"] = browser_of(store, rater)
    return at.run()


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.text] + [e.label for e in at.button]
    parts += [e.label for e in at.checkbox] + [str(e.value) for e in at.title]
    return "\n".join(parts)


def test_name_is_asked_once_and_empty_is_refused(run_id, store):
    at = _review(run_id)
    assert at.text_input(key="rater_input") is not None and len(at.image) == 0
    at.text_input(key="rater_input").input("   ")
    at.button[0].click().run()
    assert any("name is empty" in e.value for e in at.error)
    at.text_input(key="rater_input").input("Ana")
    at.button[0].click().run()
    assert not at.exception and len(at.image) >= 6
    assert store.current_ratings(run_id) == []


def test_every_click_is_saved_at_once_and_survives_reload(run_id, store):
    at = _review(run_id, rater="Ana", store=store)
    cells = store.run_view(run_id).cells
    at.button(key=f"best:{cells[2].id}").click().run()
    at.checkbox(key=f"reject:{cells[0].id}").check().run()
    at.get("feedback")[1].set_value(3).run()  # the 4th star
    at.button(key="vote:tie").click().run()
    rows = {(r["mode"], r["value"]) for r in store.current_ratings(run_id)}
    assert rows == {("best", "1"), ("reject", "1"), ("stars", "4"), ("pair", "tie")}
    assert all(r["rater"] == "Ana" and not r["blind"] for r in store.current_ratings(run_id))

    again = _review(run_id, rater="Ana", store=store)  # a reload: a new session that knows the name
    assert again.button(key=f"best:{cells[2].id}").label == "★ Best pick"
    assert again.checkbox(key=f"reject:{cells[0].id}").value is True
    assert any("rated" in c.value and "Ana" in c.value for c in again.caption)


def test_undo_withdraws_a_rating(run_id, store):
    at = _review(run_id, rater="Ana", store=store)
    cell = store.run_view(run_id).cells[1]
    at.button(key=f"best:{cell.id}").click().run()
    at.button(key=f"best:{cell.id}").click().run()  # click again: no longer best
    assert store.current_ratings(run_id) == []
    at.button(key="vote:a").click().run()
    at.button(key="undo_pair").click().run()
    assert store.current_ratings(run_id) == []
    assert store.rating_events() == 4


def test_blind_review_hides_names_and_marks_ratings_blind(run_id, store):
    at = _review(run_id, blind=True, rater="Bo", store=store)
    text = _texts(at)
    for name in NAMES:
        assert name not in text, name
    assert "⏱️" not in text and "$" not in text
    assert all(img.proto.imgs[0].caption == "" for img in at.image)
    at.button(key="vote:a").click().run()
    (row,) = store.current_ratings(run_id)
    assert row["blind"] is True
    at.button(key="reveal").click().run()
    assert "Prism" in _texts(at)


def test_bad_links_show_a_message():
    at = AppTest.from_file(str(ROOT / "pages" / "2_Review.py"), default_timeout=30)
    at.query_params["run"] = "<script>"
    at.run()
    assert not at.exception and any("malformed" in e.value for e in at.error)
    at = AppTest.from_file(str(ROOT / "pages" / "2_Review.py"), default_timeout=30)
    at.query_params["run"] = "f" * 32
    at.run()
    assert any("no run" in e.value for e in at.error)


def test_run_page_shows_who_rated_how_much(run_id, store):
    _review(run_id, rater="Ana", store=store).button(key="vote:a").click().run()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    at.run()
    assert any("Ana rated 2 of 6" in c.value for c in at.caption)


# ------------------------------------------------------------- links and identities
def _through(token: str, rater_id: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "2_Review.py"), default_timeout=30)
    at.query_params["link"] = token
    for k, v in query.items():
        at.query_params[k] = v
    if rater_id:
        at.session_state["rater_id"] = rater_id
    return at.run()


def _dump(node) -> str:
    """Every element's protobuf text, recursively: what the browser receives."""
    parts = [str(getattr(node, "proto", "") or "")]
    for child in getattr(node, "children", {}).values():
        parts.append(_dump(child))
    return "\n".join(parts)


def _start(at: AppTest, name: str) -> AppTest:
    at.text_input(key="rater_input").input(name)
    at.button[0].click().run()
    assert not at.exception
    return at


def test_a_reviewer_needs_a_link_not_a_run_id(networked, run_id):
    at = _review(run_id)
    assert any("needs a review link" in e.value for e in at.error)
    assert len(at.image) == 0 and "a fox in the snow" not in _texts(at)
    at = _through("x" * 32)
    assert any("does not exist" in e.value for e in at.error) and len(at.image) == 0


def test_the_same_name_through_the_team_link_is_another_rater_and_held(networked, run_id, store):
    team = store.team
    invite = team.create_link(run_id, blind=False, invite="Dana")
    dana = _through(invite.token)  # the invite is Dana: no name asked
    assert "Rating as Dana" in [c.value for c in dana.caption]
    cell = store.run_view(run_id).cells[0]
    dana.button(key=f"best:{cell.id}").click().run()

    link = team.team_link(run_id, blind=False)
    stranger = _start(_through(link.token), "Dana")
    shown = escape_markdown("Rating as Dana (2)")  # captions are Markdown: ( and ) escaped
    assert any(shown in c.value for c in stranger.caption), [c.value for c in stranger.caption]
    assert any("once the run's owner has accepted you" in c.value for c in stranger.caption)
    other = store.run_view(run_id).cells[2]
    stranger.button(key=f"best:{other.id}").click().run()
    best = {
        r["rater"]: r["generation_id"] for r in store.current_ratings(run_id) if r["mode"] == "best"
    }
    assert best == {"Dana": cell.id, "Dana (2)": other.id}  # Dana's pick is untouched
    counted = store.ratings_frame().set_index("rater")["counts"].to_dict()
    assert counted == {"Dana": True, "Dana (2)": False}


def test_a_closed_link_takes_no_more_ratings(networked, run_id, store):
    link = store.team.team_link(run_id, blind=False)
    store.team.set_link_open(link.token, False)
    at = _through(link.token)
    assert any("closed" in w.value for w in at.warning) and len(at.image) == 0
    store.team.set_link_open(link.token, True)
    assert at.run().text_input(key="rater_input") is not None


def test_a_blind_link_page_names_no_run_image_or_model(networked, run_id, store):
    link = store.team.team_link(run_id, blind=True)
    at = _start(_through(link.token, blind="0", run=run_id), "Bo")  # edited address
    page = _dump(at._tree)
    ids = [run_id, *(c.id for c in store.run_view(run_id).cells)]
    assert [i for i in ids if i in page] == []
    assert not [n for n in NAMES if n in page]
    assert "blind review" in _texts(at)
    at.get("feedback")[0].set_value(4).run()
    (row,) = store.current_ratings(run_id)
    assert row["blind"] is True and row["value"] == "5"
    # Reveal is stored: a new session of the same rater is not blind, and rates as not blind.
    rater_id = row["rater_id"]
    at.button(key="reveal").click().run()
    again = _through(link.token, rater_id)
    assert "Prism" in _texts(again) and "blind review" not in _texts(again)
    again.button(key="vote:a").click().run()
    pair = [r for r in store.current_ratings(run_id) if r["mode"] == "pair"]
    assert len(pair) == 1 and pair[0]["blind"] is False


def test_a_rater_who_saw_the_named_view_rates_the_blind_link_as_named(run_id, store):
    # On loopback the owner opens the run page (named), then the blind link.
    owner = browser_of(store, "Owner")
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    page.query_params["run"] = run_id
    page.session_state["rater_id"] = owner
    page.run()
    assert not page.exception
    at = _through(store.team.team_link(run_id, blind=True).token, owner)
    assert "blind review" not in _texts(at)
    at.button(key="vote:tie").click().run()
    (row,) = store.current_ratings(run_id)
    assert row["blind"] is False


def test_a_click_faster_than_a_person_is_not_saved_and_says_so(run_id, store):
    from vibegen.ui.review import THROTTLE

    ana = browser_of(store, "Ana")
    at = _review(run_id, rater="Ana", store=store)
    while THROTTLE.allow(ana):  # this identity has just clicked as fast as it may
        pass
    cell = store.run_view(run_id).cells[0]
    at.get("feedback")[0].set_value(2).run()
    assert store.current_ratings(run_id) == []
    assert any("Not saved" in e.value for e in at.error)
    assert at.button(key="retry_rating:grid") is not None
    assert at.get("feedback")[0].value is None  # the widget shows what is stored
    assert cell.id  # the click is held by the Retry button, not lost


def test_a_click_the_store_refuses_says_so_stays_and_retries(run_id, store):
    """The database refuses writes (read-only): the click is said unsaved and kept for Retry."""
    import sqlalchemy as sa

    from vibegen import process
    from vibegen.store import database_url

    at = _review(run_id, rater="Ana", store=store)  # the page is open, then writes fail
    page_store = process.store(database_url(load_settings()))  # the store the page writes with
    refuse = {"on": True}

    def query_only(dbapi_conn, _record, _proxy) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA query_only={'ON' if refuse['on'] else 'OFF'}")
        cur.close()

    sa.event.listen(page_store.engine, "checkout", query_only)
    try:
        page_store.engine.dispose()  # connections taken from now on refuse writes
        cell = store.run_view(run_id).cells[1]
        at.button(key=f"best:{cell.id}").click().run()
        assert store.current_ratings(run_id) == []
        assert not at.exception, at.exception
        assert any("Not saved" in e.value and "readonly database" in e.value for e in at.error), [
            e.value for e in at.error
        ]
        assert at.button(key=f"best:{cell.id}").label == "☆ Pick as best"
        refuse["on"] = False  # the database takes writes again: Retry saves the same click
        at.button(key="retry_rating:grid").click().run()
        assert [(r["mode"], r["generation_id"]) for r in store.current_ratings(run_id)] == [
            ("best", cell.id)
        ]
        assert not any("Not saved" in e.value for e in at.error)
        assert at.button(key=f"best:{cell.id}").label == "★ Best pick"
    finally:
        sa.event.remove(page_store.engine, "checkout", query_only)


def test_made_up_names_through_the_team_link_page_do_not_move_the_board(networked, run_id, store):
    """The ballot script through the Review page itself: each session a new name and a vote."""
    from vibegen.leaderboard import build_leaderboard
    from vibegen.ratings import make_rating

    def board() -> dict[str, float]:
        lb = build_leaderboard(
            store.generations_frame(), store.ratings_frame(), include_sandbox=True
        )
        return dict(zip(lb.table["label"], lb.table["score"].round(6), strict=True))

    team = store.team
    cells = {c.label: c for c in store.run_view(run_id).cells}
    ana = team.rater(team.create_link(run_id, blind=False, invite="Ana").rater_id)
    store.rate(
        run_id, ana.display, make_rating("best", cells["Prism"].id, 1), blind=False, rater_id=ana.id
    )
    before = board()
    link = team.team_link(run_id, blind=False)
    for i in range(25):  # a fresh session (no cookie) each time, as a script's requests are
        at = _start(_through(link.token), f"Voter {i}")
        at.button(key=f"best:{cells['Mosaic'].id}").click().run()
        assert not at.exception
    assert len([r for r in store.current_ratings(run_id) if r["mode"] == "best"]) == 26
    assert board() == before
    assert len(team.held()) == 25


# ---------------------------------------------------------------- reviewing while the run fills
def _filling_run(store, done: int) -> str:
    """A named three-model run (two images each) of which the first `done` cells have images."""
    from vibegen.costs import Cost
    from vibegen.records import CellSpec

    specs = [
        CellSpec(m, "sandbox", m.split(":")[1].title(), i, "a fox", {}, {}, Cost(None, "simulated"))
        for m in MODELS
        for i in range(2)
    ]
    store.heartbeat("runner-elsewhere")  # a live runner on another host makes the rest
    run_id = store.create_run("a fox", {}, specs, runner_id="runner-elsewhere")
    for cell in store.run_view(run_id).cells[:done]:
        _finish(store, cell)
    return run_id


def _finish(store, cell) -> None:
    import io

    from PIL import Image

    from vibegen.costs import Cost

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (len(cell.id) * 3 % 256, 90, 140)).save(out, format="PNG")
    store.save_success(cell.id, out.getvalue(), cost=Cost(None, "simulated"), wall_s=0.5)


def _shown_sides(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith(("**A: ", "**B: "))]


def test_pairs_fill_while_the_run_is_going_and_the_pair_on_screen_stays(store):
    """Cells finishing after the page opened join the pairs on the next tick, no reload; the
    pair the rater is looking at is not swapped for the new draw."""
    from vibegen.review import next_pair

    run_id = _filling_run(store, done=3)  # Prism, Prism, Halo: two pairs so far
    view = store.run_view(run_id)
    first = view.cells[:3]
    # A rater for whom the finished run draws another first pair than the filling one does,
    # so a page that redrew on every tick would show it.
    for n in range(50):
        name = f"Rater {n}"
        rid = browser_of(store, name)
        early = next_pair(first, run_id, rid, [])
        assert early is not None
        full = next_pair(view.cells, run_id, rid, [])
        if {c.id for c in early} != {c.id for c in full}:
            break
    at = _review(run_id, rater=name, store=store)
    assert not at.exception
    captions = "\n".join(c.value for c in at.caption)
    assert "voted on 0 of 2 pairs" in captions and "3 images still being made" in captions
    sides = _shown_sides(at)
    assert sides == [f"**A: {early[0].label}**", f"**B: {early[1].label}**"]

    for cell in view.cells[3:]:
        _finish(store, cell)
    at.run()  # the fragment's tick: the same session, the page not reloaded
    captions = "\n".join(c.value for c in at.caption)
    assert "voted on 0 of 12 pairs" in captions and "still being made" not in captions
    assert _shown_sides(at) == sides  # the pair on screen stays until voted on
    assert len(at.image) == 6 + 2  # the grid shows every image now, the pair its two
    at.button(key="vote:a").click().run()
    (vote,) = store.current_ratings(run_id)
    assert {vote["generation_id"], vote["other_generation_id"]} == {c.id for c in early}
    # Stored in id order: "a" means the first id won, "b" the other. A is the image shown as A.
    shown_a = vote["generation_id"] if vote["value"] == "a" else vote["other_generation_id"]
    assert vote["value"] in ("a", "b") and shown_a == early[0].id


def test_no_pair_yet_says_more_will_come(store):
    run_id = _filling_run(store, done=1)
    at = _review(run_id, rater="Ana", store=store)
    assert not at.exception
    assert any("More pairs come here" in e.value for e in at.info)
    assert not any("needs images of at least two models" in e.value for e in at.success)
    _finish(store, store.run_view(run_id).cells[2])
    at.run()
    assert len(_shown_sides(at)) == 2 and at.button(key="vote:a") is not None


def test_votes_have_keys_say_saved_and_undo_brings_the_pair_back(run_id, store):
    from vibegen.ui.review import PAIR_TAB, TABS_KEY

    at = _review(run_id, rater="Ana", store=store)
    # On the grid tab no key votes: the pair is out of sight.
    assert {b.proto.shortcut for b in at.button if b.key and b.key.startswith("vote:")} == {""}
    at.session_state[TABS_KEY] = PAIR_TAB  # the rater opens the pairwise tab
    at.run()
    keys = {b.key: b.proto.shortcut for b in at.button if b.key and b.key.startswith("vote:")}
    assert keys == {"vote:a": "a", "vote:b": "b", "vote:tie": "t", "vote:both_bad": "x"}
    assert "keys: A, B, T tie, X both bad, U undo" in "\n".join(c.value for c in at.caption)
    assert not any("saved" in m.value for m in at.markdown)  # nothing said before a vote
    at.button(key="vote:b").click().run()
    assert any(m.value == ":green[✓ Vote 1 saved]" for m in at.markdown)
    second = _shown_sides(at)
    at.button(key="vote:tie").click().run()
    assert any(m.value == ":green[✓ Vote 2 saved]" for m in at.markdown)
    assert at.button(key="undo_pair").proto.shortcut == "u"
    at.button(key="undo_pair").click().run()
    assert any(m.value == ":green[↩ Vote 2 withdrawn]" for m in at.markdown)
    assert [r["value"] for r in store.current_ratings(run_id)] in (["a"], ["b"])
    assert _shown_sides(at) == second  # the withdrawn pair is back, sides as they were
