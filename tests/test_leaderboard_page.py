"""Leaderboard and Briefs pages over real store rows (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vibegen.params import CommonParams
from vibegen.ratings import make_rating
from vibegen.runner import Runner
from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["sandbox:prism", "sandbox:halo", "sandbox:mosaic"]


@pytest.fixture
def rated(store, fast_sandbox):
    """Four sandbox runs where Mosaic always wins and Prism always loses, rated blind."""
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    for k in range(4):
        run_id = runner.start_run(f"prompt {k}", MODELS, CommonParams())
        assert runner.wait(run_id, 20)
        cells = {c.model_key: c.id for c in store.run_view(run_id).cells}
        for rater in ("Ana", "Bo"):
            store.rate(run_id, rater, make_rating("best", cells["sandbox:mosaic"], 1), blind=True)
            store.rate(
                run_id,
                rater,
                make_rating("reject", cells["sandbox:prism"], 1),
                blind=rater == "Ana",
            )
    runner.close()
    return store


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=30)


def test_leaderboard_ranks_from_ratings(rated):
    at = _page("4_Leaderboard.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["label"]) == ["Mosaic · sandbox", "Halo · sandbox", "Prism · sandbox"]
    assert table["votes"].min() > 0
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    # The verdict opens the page; a board of sandbox models says first that it is simulated.
    lines = at.success[0].value.replace("\\", "").split("  \n")
    assert (
        lines[0] == "Simulated: every model here is a sandbox model, with made-up images, "
        "times and prices."
    )
    assert lines[1].startswith(("Best value: ", "Highest quality score: "))
    assert set(table["note"].str.split("; ").str[0]) == {"simulated"}


def test_sandbox_is_excluded_unless_asked(rated, store):
    at = _page("4_Leaderboard.py")
    at.run()
    at.toggle(key="lb_sandbox").set_value(False).run()
    assert any("Nothing to rank" in i.value for i in at.info)


def test_blind_filter_keeps_only_blind_votes(rated):
    at = _page("4_Leaderboard.py").run()
    all_votes = at.dataframe[0].value["votes"].sum()
    at.toggle(key="lb_blind").set_value(True).run()
    assert at.dataframe[0].value["votes"].sum() < all_votes


def test_projection_for_n_images(rated):
    at = _page("4_Leaderboard.py").run()
    at.number_input(key="lb_n").set_value(1000).run()
    proj = at.dataframe[1].value
    mosaic = proj[proj["label"] == "Mosaic"].iloc[0]
    assert mosaic["expected_cost_usd"] == pytest.approx(1000 * 0.03)


def test_the_projection_assumes_the_concurrency_in_force(rated, monkeypatch):
    # VIBEGEN_<ROUTER>_CONCURRENCY is what the account runs at once: the projection says so.
    monkeypatch.setenv("VIBEGEN_SANDBOX_CONCURRENCY", "3")
    at = _page("4_Leaderboard.py").run()
    assert set(at.dataframe[1].value["concurrency"]) == {3}


def test_brief_is_saved_and_run(store, fast_sandbox):
    at = _page("3_Briefs.py").run()
    at.text_input(key="brief_name").input("Posters")
    at.text_area(key="brief_prompts").input("a red fox\n\n  a <b>blue</b> whale  \n")
    at.button(key="save_brief").click().run()
    (brief,) = store.prompt_sets()
    assert brief["prompts"] == ["a red fox", "a <b>blue</b> whale"]
    at.button(key="run_brief").click().run()
    assert not at.exception
    runs = store.runs_of_prompt_set(brief["id"])
    assert [store.run_view(r).prompt for r in runs] == ["a red fox", "a <b>blue</b> whale"]


def test_a_brief_shows_as_one_matrix_of_prompts_by_models(store, fast_sandbox):
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    set_id = store.save_prompt_set("Posters", ["a red fox", "a blue whale"])
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        run_ids = runner.start_prompt_set(set_id, ["sandbox:prism", "sandbox:halo"], CommonParams())
        assert all(runner.wait(r, 30) for r in run_ids)
    finally:
        runner.close()
    at = _page("3_Briefs.py").run()
    assert not at.exception
    texts = [t.value for t in at.text]
    assert texts.index("a red fox") < texts.index("a blue whale")
    heads = [m.value for m in at.markdown]
    assert heads.index("**Prism**") < heads.index("**Halo**")
    assert "4 of 4 images done across 2 prompts" in [c.value for c in at.caption]
    # Two prompts × two models: four pictures, one per matrix cell.
    assert len(at.get("image")) == 4


def test_empty_brief_is_refused(store):
    at = _page("3_Briefs.py").run()
    at.text_input(key="brief_name").input("Empty")
    at.button(key="save_brief").click().run()
    assert any("no prompts" in e.value for e in at.error)
    assert store.prompt_sets() == []


def test_a_sandbox_board_opens_with_the_sandbox_banner(rated):
    at = _page("4_Leaderboard.py").run()
    assert not at.exception
    [note] = [i.value for i in at.info]
    assert note.startswith("Sandbox: an offline stand-in") and "FAL_KEY" in note
    assert "secrets.toml" in note
