"""Prompts and rater names with HTML, scripts or Markdown are shown literally, never rendered."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vibegen.markup import escape_html, escape_markdown
from vibegen.params import CommonParams
from vibegen.ratings import make_rating
from vibegen.runner import Runner
from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
EVIL_PROMPT = "<script>alert(1)</script> ![x](http://evil.example/x.png) **bold** <b>b</b>"
EVIL_NAME = "<img src=x onerror=alert(1)> [click](http://evil.example)"


@pytest.fixture
def evil_run(store, fast_sandbox):
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    run_id = runner.start_run(EVIL_PROMPT, ["sandbox:prism", "sandbox:halo"], CommonParams())
    assert runner.wait(run_id, 10)
    cell = store.run_view(run_id).cells[0]
    store.rate(run_id, EVIL_NAME, make_rating("best", cell.id, 1), blind=False)
    runner.close()
    return run_id


def _markdown_bodies(at: AppTest) -> list[str]:
    return (
        [e.value for e in at.markdown]
        + [e.value for e in at.caption]
        + [e.value for e in at.error]
        + [e.value for e in at.info]
        + [e.value for e in at.success]
    )


def _assert_never_markdown(at: AppTest) -> None:
    for body in _markdown_bodies(at):
        assert "<script>" not in body and "![x](http" not in body and "<img" not in body, body


def test_escape_helpers_make_markup_inert():
    md = escape_markdown(EVIL_PROMPT)
    assert "<script>" not in md and "![x](" not in md and "**bold**" not in md
    assert "<img" not in escape_html(EVIL_NAME) and "&lt;img" in escape_html(EVIL_NAME)


def test_grid_shows_prompt_literally(evil_run):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["run"] = evil_run
    at.run()
    assert EVIL_PROMPT in [t.value for t in at.text]
    _assert_never_markdown(at)
    # the rater's name in the review progress is escaped Markdown, not raw HTML
    assert any(escape_markdown(EVIL_NAME) in c.value for c in at.caption)


def test_history_shows_prompt_literally(evil_run):
    at = AppTest.from_file(str(ROOT / "pages" / "1_History.py"), default_timeout=30).run()
    # the gallery card's title is the prompt as escaped Markdown: it reads as typed
    assert f"**{escape_markdown(EVIL_PROMPT)}**" in [m.value for m in at.markdown]
    _assert_never_markdown(at)
    at.radio(key="history_view").set_value("Table").run()
    assert at.dataframe[0].value["prompt"][0] == EVIL_PROMPT  # a data cell: never rendered
    _assert_never_markdown(at)


def test_review_shows_prompt_and_name_literally(evil_run, store):
    at = AppTest.from_file(str(ROOT / "pages" / "2_Review.py"), default_timeout=30)
    at.query_params["run"] = evil_run
    at.session_state["rater_id"] = store.team.join(EVIL_NAME, "joined")[0].id
    at.run()
    assert EVIL_PROMPT in [t.value for t in at.text]
    _assert_never_markdown(at)
    assert any(escape_markdown(EVIL_NAME) in c.value for c in at.caption)


def test_compare_view_shows_model_names_as_text(store):
    """A model's name (a user-added model names itself) is escaped in the compare view."""
    from tests.test_app import _app
    from vibegen.costs import Cost
    from vibegen.records import CellSpec
    from vibegen.routers.sandbox_router import render

    specs = [
        CellSpec(
            f"user:m{i}",
            "sandbox",
            f"{EVIL_NAME} {i}",
            0,
            EVIL_PROMPT,
            {},
            {},
            Cost(0.01, "simulated"),
            64,
            64,
        )
        for i in range(2)
    ]
    run_id = store.create_run(EVIL_PROMPT, {}, specs)
    for i, cell in enumerate(store.run_view(run_id).cells):
        store.save_success(
            cell.id, render("rings", "p", i, 64, 64), cost=Cost(0.01, "simulated"), wall_s=1.0
        )
    at = _app(run=run_id).run()
    at.button(key="view-0").click().run()
    at.button(key="viewer-compare").click().run()
    assert not at.exception
    (body,) = [h.proto.body for h in at.get("html") if "vgc-pane" in h.proto.body]
    assert "<img src=x" not in body and "<script>alert" not in body
    assert "A · " + escape_html(EVIL_NAME) + " 0" in body
    assert "B · " + escape_html(EVIL_NAME) + " 1" in body
