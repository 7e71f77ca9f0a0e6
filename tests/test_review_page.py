"""The Review page through its shared link: identity, ratings saved at once, blind mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vibegen.params import CommonParams
from vibegen.runner import Runner

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["sandbox:prism", "sandbox:halo", "sandbox:mosaic"]
NAMES = ["Prism", "Halo", "Mosaic", "sandbox", "Sandbox"]


@pytest.fixture
def run_id(store, fast_sandbox):
    runner = Runner(store, heartbeat=False)
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
