"""All of History: every run is paged through, searched and counted (issue 12, item 9)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vibegen.records import new_id
from vibegen.settings import load_settings
from vibegen.store import Store

ROOT = Path(__file__).resolve().parent.parent
N = 5000
BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

# Links are absolute; with no browser (AppTest) the server base is localhost and its port.
SERVER = "http://localhost:8501"


def _prompt(i: int) -> str:
    # Every 7th run is a lighthouse, the oldest ones included (beyond any first page of 200).
    return f"run {i}: a lighthouse at dusk" if i % 7 == 0 else f"run {i}: a fox in snow"


def fill(store: Store, n: int = N) -> list[str]:
    """Insert `n` runs with one finished cell each in one transaction; ids newest first."""
    ids = [new_id() for _ in range(n)]
    runs = [
        dict(
            id=ids[i],
            created_at=BASE + dt.timedelta(seconds=i),
            prompt=_prompt(i),
            params_json="{}",
            n_cells=1,
        )
        for i in range(n)
    ]
    gens = [
        dict(
            id=new_id(),
            run_id=ids[i],
            position=0,
            model_key="sandbox:prism",
            router="sandbox",
            label="Prism",
            image_index=0,
            prompt=_prompt(i),
            params_json="{}",
            notes_json=json.dumps({}),
            status="ok",
            cost_usd=0.01,
            cost_kind="estimated",
            attempts=1,
            wall_s=1.5,
        )
        for i in range(n)
    ]
    with store.engine.begin() as conn:
        conn.execute(store.t["runs"].insert(), runs)
        conn.execute(store.t["generations"].insert(), gens)
    return ids[::-1]


def test_pages_reach_every_one_of_5000_runs_in_order(any_store):
    newest_first = fill(any_store)
    assert any_store.count_runs() == N
    seen = []
    for offset in range(0, N, 50):
        page = any_store.list_runs(limit=50, offset=offset)
        assert len(page) == 50
        seen += [r.id for r in page]
    assert seen == newest_first  # newest first, nothing repeated, nothing skipped
    assert any_store.list_runs(limit=50, offset=N) == []
    last = any_store.list_runs(limit=50, offset=N - 10)
    assert [r.id for r in last] == newest_first[-10:]
    assert last[-1].prompt == _prompt(0) and last[-1].simulated_usd == pytest.approx(0.01)
    assert last[-1].cost_usd == 0.0  # a sandbox price is simulated, never counted as money


def test_search_and_count_cover_every_run(any_store):
    newest_first = fill(any_store)
    wanted = [newest_first[N - 1 - i] for i in range(N - 1, -1, -1) if i % 7 == 0]
    assert any_store.count_runs("LIGHTHOUSE") == len(wanted) == 715
    found = []
    for offset in range(0, 715, 200):
        found += [r.id for r in any_store.list_runs("lighthouse", limit=200, offset=offset)]
    assert found == wanted
    assert found[-1] == newest_first[-1]  # run 0, the oldest, far past the first 200
    assert any_store.count_runs("run 4999:") == 1
    assert any_store.count_runs("100%") == 0  # LIKE wildcards stay literal
    assert any_store.count_runs("   ") == N


def test_a_run_without_cells_is_listed_and_counted(any_store):
    run_id = any_store.create_run("an empty brief line", {}, [])
    assert any_store.count_runs() == 1
    [row] = any_store.list_runs()
    assert (row.id, row.models, row.cells, row.cost_usd) == (run_id, 0, 0, 0.0)


def _history(view: str = "Table") -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "1_History.py"), default_timeout=60)
    at.session_state["history_view"] = view  # the table: these tests read its columns
    return at


def test_history_page_shows_the_true_count_and_reaches_the_last_page():
    from vibegen.store import database_url

    store = Store.open(database_url(load_settings()))
    newest_first = fill(store)
    at = _history().run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("5,000 runs · showing 1–50") for c in at.caption)
    table = at.dataframe[0].value
    assert len(table) == 50
    assert table["open"].tolist() == [f"{SERVER}/?run={i}" for i in newest_first[:50]]
    assert at.button(key="newer").disabled and not at.button(key="older").disabled

    at.button(key="older").click().run()
    assert at.number_input(key="page").value == 2
    assert at.dataframe[0].value["open"].iloc[0] == f"{SERVER}/?run={newest_first[50]}"

    at.number_input(key="page").set_value(100).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["open"].tolist() == [f"{SERVER}/?run={i}" for i in newest_first[-50:]]
    assert table["prompt"].iloc[-1] == _prompt(0)
    assert any(c.value.startswith("5,000 runs · showing 4,951–5,000") for c in at.caption)
    assert at.button(key="older").disabled

    # A search goes back to its own first page and counts all its matches.
    at.text_input(key="search").input("lighthouse").run()
    assert at.number_input(key="page").value == 1
    assert any(c.value.startswith("715 runs · showing 1–50") for c in at.caption)
    assert "(of 15)" in at.number_input(key="page").label
    at.text_input(key="search").input("run 0: a lighthouse").run()
    assert any(c.value.startswith("1 run. ") for c in at.caption)
    assert not at.get("number_input")
    store.engine.dispose()


def test_sandbox_runs_are_marked_simulated_under_a_banner():
    from vibegen.store import database_url

    store = Store.open(database_url(load_settings()))
    real = store.create_run("a brief line with no images yet", {}, [])
    at = _history().run()
    assert not at.exception and not at.info  # nothing simulated: no banner
    fill(store, 3)  # sandbox runs: made-up prices
    at = _history().run()
    assert not at.exception, at.exception
    [note] = [i.value for i in at.info]
    assert note.startswith("Sandbox: an offline stand-in") and "FAL_KEY" in note
    table = at.dataframe[0].value
    marks = dict(zip(table["open"], table["simulated"], strict=True))
    assert marks.pop(f"{SERVER}/?run={real}") == ""
    assert set(marks.values()) == {"simulated"} and len(marks) == 3


def test_history_shows_times_in_the_viewers_time_zone(fast_sandbox, store):
    """The browser's zone (st.context.timezone) for the "when" column, and said under it."""
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        assert runner.wait(runner.start_run("a fox", ["sandbox:prism"], CommonParams()), 30)
    finally:
        runner.close()
    for zone in ("Asia/Tokyo", "America/Denver"):
        at = _history()
        at.context = {"timezone": zone}
        at.run()
        assert not at.exception, at.exception
        assert f'"timezone": "{zone}"' in at.dataframe[0].proto.columns
        assert any(c.value.endswith(f"Times are in {zone}.") for c in at.caption)


def test_the_gallery_shows_each_run_with_thumbnails_filters_and_archives(fast_sandbox, store):
    """Cards with their images and model names; a model filter; archive, show, restore."""
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        fox = runner.start_run("a red fox", ["sandbox:prism", "sandbox:halo"], CommonParams())
        whale = runner.start_run("a blue whale", ["sandbox:tide"], CommonParams())
        assert runner.wait(fox, 30) and runner.wait(whale, 30)
    finally:
        runner.close()

    def prompts(at: AppTest) -> list[str]:
        return [m.value.strip("*") for m in at.markdown if m.value.startswith("**")]

    at = _history("Gallery").run()
    assert not at.exception, at.exception
    assert prompts(at) == ["a blue whale", "a red fox"]  # newest first
    texts = " ".join(c.value for c in at.caption)
    assert "Prism · Halo" in texts and "Tide" in texts
    rows = at.get("image")  # one row of thumbnails per card, every finished image in it
    assert [len(r.proto.imgs) for r in rows] == [1, 2]

    at.multiselect(key="f_models").set_value(["sandbox:tide"]).run()
    assert prompts(at) == ["a blue whale"]
    at.multiselect(key="f_models").set_value([]).run()

    at.button(key=f"archive-{fox}").click().run()
    assert not at.exception, at.exception
    assert prompts(at) == ["a blue whale"]
    assert store.run_view(fox).prompt == "a red fox"  # archived, not deleted
    at.checkbox(key="f_archived").check().run()
    assert prompts(at) == ["a blue whale", "a red fox"]
    assert any("archived" in c.value for c in at.caption)
    at.button(key=f"restore-{fox}").click().run()
    at.checkbox(key="f_archived").uncheck().run()
    assert prompts(at) == ["a blue whale", "a red fox"]

    at.text_input(key="search").input("nothing like this").run()
    assert [i.value for i in at.info] == ["No runs match these filters."]
    at.button(key="clear_filters").click().run()
    assert prompts(at) == ["a blue whale", "a red fox"]
