"""The Leaderboard page's rows: read vectorised, cached per data version, rebuilt on change."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from vibegen.costs import Cost
from vibegen.params import CommonParams
from vibegen.ratings import make_rating
from vibegen.records import CellSpec
from vibegen.runner import Runner
from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["sandbox:prism", "sandbox:halo", "sandbox:mosaic"]


def _spec(model: str) -> CellSpec:
    return CellSpec(
        model_key=model,
        router="sandbox",
        label=model,
        image_index=0,
        prompt="p",
        params={},
        notes={},
        cost=Cost(None, "simulated"),
    )


def test_ratings_frame_holds_the_current_ratings(any_store):
    """Latest rating per slot, withdrawn ones left out, times in UTC: as current_ratings."""
    store = any_store
    run_id = store.create_run("p", {}, [_spec(m) for m in MODELS])
    a, b, c = (cell.id for cell in store.run_view(run_id).cells)
    store.rate(run_id, "Ana", make_rating("stars", a, 2), blind=True)
    store.rate(run_id, "Ana", make_rating("stars", a, 4), blind=False)  # replaces the 2
    store.rate(run_id, "Ana", make_rating("best", b, 1), blind=True)
    store.rate(run_id, "Ana", make_rating("best", b, None), blind=True)  # withdrawn
    store.rate(run_id, "Bo", make_rating("pair", a, "tie", c), blind=True)
    frame = store.ratings_frame()
    assert frame.pop("counts").all()  # the store's verdict on whose votes count: all here
    expected = pd.DataFrame(store.current_ratings(), columns=list(frame.columns))
    expected["created_at"] = pd.to_datetime(expected["created_at"], utc=True)
    assert len(frame) == 2
    assert list(frame["value"]) == ["4", "tie"]
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert frame.astype(str).equals(expected.astype(str))


def test_board_version_moves_with_every_change_the_board_sees(any_store):
    """A new run, a started or finished cell, a reset and a rating each change the version."""
    store = any_store
    versions = [store.board_version()]

    def changed() -> None:
        versions.append(store.board_version())
        assert versions[-1] != versions[-2]

    run_id = store.create_run("p", {}, [_spec(m) for m in MODELS[:2]])
    changed()
    first, second = store.run_view(run_id).cells
    store.mark_running(first.id, "runner-1")
    changed()
    store.save_failure(first.id, kind="router_error", message="boom", wall_s=1.0)
    changed()
    store.reset_failed(run_id)
    changed()
    store.save_failure(second.id, kind="timeout", message="slow", wall_s=9.0, timeout=True)
    changed()
    store.rate(run_id, "Ana", make_rating("reject", second.id, 1), blind=True)
    changed()
    assert store.board_version() == versions[-1]  # reading changes nothing


def test_page_shows_new_ratings_after_a_cached_rerun(store, fast_sandbox):
    """The page keeps its board between clicks, yet a new rating reaches it on the next one."""
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    run_id = runner.start_run("prompt", MODELS, CommonParams())
    assert runner.wait(run_id, 20)
    runner.close()
    cells = {c.model_key: c.id for c in store.run_view(run_id).cells}
    store.rate(run_id, "Ana", make_rating("best", cells["sandbox:mosaic"], 1), blind=True)
    at = AppTest.from_file(str(ROOT / "pages" / "4_Leaderboard.py"), default_timeout=30).run()
    assert not at.exception
    before = at.dataframe[0].value["votes"].sum()
    at.number_input(key="lb_n").set_value(500).run()  # no filter changed: the same board
    assert at.dataframe[0].value["votes"].sum() == before
    store.rate(run_id, "Bo", make_rating("best", cells["sandbox:halo"], 1), blind=True)
    at.number_input(key="lb_n").set_value(600).run()
    assert at.dataframe[0].value["votes"].sum() > before
