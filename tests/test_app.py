"""The Streamlit pages, driven with AppTest on the sandbox router."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["app.py"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))
THREE = ["sandbox:prism", "sandbox:halo", "sandbox:mosaic"]


def _app(path="app.py", **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=30)
    for k, v in query.items():
        at.query_params[k] = v
    return at


def _pick(at: AppTest, keys) -> None:
    for box in at.checkbox:
        if box.key and box.key.startswith("pick:") and not box.disabled:
            box.set_value(box.key[5:] in keys)


def _poll(at: AppTest, seconds: float = 20) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        at.run()
        if at.get("progress") and "generating" not in at.get("progress")[0].proto.text:
            return
        time.sleep(0.2)
    raise AssertionError("run did not complete")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_exception(page):
    at = _app(page).run()
    assert not at.exception, at.exception


def test_routers_without_keys_are_listed_disabled():
    at = _app().run()
    fal = [b for b in at.checkbox if b.key == "pick:fal:flux-dev"][0]
    assert fal.disabled
    assert any("add FAL_KEY to enable" in e.label for e in at.expander)
    assert any("add KIE_API_KEY to enable" in e.label for e in at.expander)
    assert any("set VIBEGEN_SD_URL to enable" in e.label for e in at.expander)


def test_generate_fills_every_cell_with_image_time_and_cost(fast_sandbox):
    at = _app().run()
    at.text_area(key="prompt").input("a lighthouse at dusk")
    _pick(at, THREE)
    at.run()
    assert any(
        "3 images" in c.value and "simulated $" in c.value and "nothing is billed" in c.value
        for c in at.caption
    )
    at.button(key="generate").click().run()
    run_id = at.query_params["run"]
    assert isinstance(run_id, str) and len(run_id) == 32
    _poll(at)
    assert not at.exception
    assert len(at.image) == 3
    captions = [c.value for c in at.caption if "⏱️" in c.value]
    assert len(captions) == 3
    assert all(" s · 💲 $" in c and "simulated" in c for c in captions)
    assert "3 of 3 done" in at.get("progress")[0].proto.text


def test_empty_prompt_is_refused_and_nothing_is_stored(fast_sandbox, store):
    at = _app().run()
    # Not turned off: what is typed arrives when the field loses focus, i.e. with the click.
    assert not at.button(key="generate").disabled
    at.button(key="generate").click().run()
    assert [e.value for e in at.error] == ["The prompt is empty: type what you want to see."]
    assert "run" not in at.query_params
    assert store.list_runs() == []


def test_no_model_picked_turns_generate_off_and_says_why_by_the_models(fast_sandbox, store):
    at = _app().run()
    at.text_area(key="prompt").input("a fox")
    _pick(at, [])
    at.run()
    generate = at.button(key="generate")
    assert generate.disabled
    assert generate.proto.help == "Nothing can run yet: No model picked: choose at least one model."
    assert [w.value for w in at.sidebar.warning] == ["No model picked: choose at least one model."]
    assert store.list_runs() == []
    _pick(at, THREE[:1])
    at.run()
    assert not at.button(key="generate").disabled and not at.sidebar.warning


def test_the_estimate_is_to_the_cent_with_the_exact_figure_on_hover(fast_sandbox):
    at = _app().run()
    at.text_area(key="prompt").input("a fox")
    _pick(at, THREE)
    at.run()
    [line] = [c for c in at.caption if "3 images" in c.value]
    shown = re.search(r"simulated (\S+) \(sandbox", line.value).group(1)
    exact = re.search(r"exactly: \$([0-9.]+)", line.proto.help).group(1)
    assert re.fullmatch(r"\$\d+\.\d\d|<\$0\.01", shown), shown
    assert len(exact.split(".")[1]) >= 4
    assert shown == ("<$0.01" if float(exact) < 0.005 else f"${float(exact):,.2f}")


def test_reload_mid_run_still_completes(monkeypatch):
    # Slow enough that a loaded machine still opens the link while the run is generating.
    monkeypatch.setenv("VIBEGEN_SANDBOX_SPEED", "2")
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    at = _app().run()
    at.text_area(key="prompt").input("a reload test")
    _pick(at, THREE)
    at.button(key="generate").click().run()
    run_id = at.query_params["run"]
    # A reload is a brand-new session that only has the link.
    again = _app(run=run_id).run()
    assert "generating" in again.get("progress")[0].proto.text
    _poll(again, 30)
    assert len(again.image) == 3 and not again.exception


def test_bad_run_link_shows_a_message():
    at = _app(run="not-a-run").run()
    assert not at.exception
    assert any("malformed" in e.value for e in at.error)
    at = _app(run="0" * 32).run()
    assert any("no run" in e.value for e in at.error)


def test_history_lists_and_searches_runs(fast_sandbox):
    at = _app().run()
    at.text_area(key="prompt").input("a <b>bold</b> fox")
    _pick(at, THREE[:1])
    at.button(key="generate").click().run()
    _poll(at)
    hist = _app("pages/1_History.py")
    hist.session_state["history_view"] = "Table"  # the table view: this test reads its columns
    hist.run()
    df = hist.dataframe[0].value
    assert list(df["prompt"]) == ["a <b>bold</b> fox"] and df["status"][0] == "complete"
    hist.text_input(key="search").input("whale").run()
    assert any("No runs match" in i.value for i in hist.info)


def test_per_model_prompt_override_is_used(fast_sandbox, store):
    at = _app().run()
    at.text_area(key="prompt").input("a fox")
    _pick(at, THREE[:2])
    at.run()
    at.text_input(key="override:sandbox:halo").input("a fox, flat vector style")
    at.button(key="generate").click().run()
    _poll(at)
    cells = {c.model_key: c.prompt for c in store.run_view(at.query_params["run"]).cells}
    assert cells == {"sandbox:prism": "a fox", "sandbox:halo": "a fox, flat vector style"}


def test_choices_a_model_cannot_honour_are_shown_before_the_run(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-000000")
    at = _app().run()
    at.text_area(key="prompt").input("a fox")
    _pick(at, ["openai:gpt-image-2"])
    at.text_input(key="seed").input("42")
    at.run()
    assert any("GPT Image 2: seed n/a" in c.value for c in at.caption)


def _finished_run(store, shapes=((1024, 1024),) * 3) -> str:
    """A run whose cells all finished, made through the store as the runner would."""
    from vibegen.costs import Cost
    from vibegen.records import CellSpec
    from vibegen.routers.sandbox_router import render

    cells = [
        CellSpec(
            f"sandbox:m{i}", "sandbox", f"Model {i}", 0, "p", {}, {}, Cost(0.01, "simulated"), w, h
        )
        for i, (w, h) in enumerate(shapes)
    ]
    run_id = store.create_run("a lighthouse at dusk", {}, cells)
    for i, cell in enumerate(store.run_view(run_id).cells):
        w, h = shapes[i]
        store.save_success(
            cell.id, render("rings", "p", i, w, h), cost=Cost(0.01, "simulated"), wall_s=1.0
        )
    return run_id


def test_the_density_control_sets_the_grid_columns_and_is_remembered(store):
    run_id = _finished_run(store)
    at = _app(run=run_id).run()
    assert at.get("grid")[0].column_count == 4  # the default
    at.segmented_control(key="grid_cols").set_value(2).run()
    assert not at.exception
    assert at.get("grid")[0].column_count == 2
    # The browser keeps the choice in a cookie, written once for this change.
    written = [h.proto.body for h in at.get("html") if "vibegen_cols=" in h.proto.body]
    assert len(written) == 1 and "vibegen_cols=2;" in written[0]
    at.segmented_control(key="grid_cols").set_value(6).run()
    assert at.get("grid")[0].column_count == 6
    written = [h.proto.body for h in at.get("html") if "vibegen_cols=" in h.proto.body]
    assert len(written) == 1 and "vibegen_cols=6;" in written[0]
    at.run()  # an unrelated rerun writes nothing again
    assert not [h for h in at.get("html") if "vibegen_cols=" in h.proto.body]


def test_a_remembered_density_is_read_back_and_a_bad_one_ignored():
    from vibegen.ui.grid import DEFAULT_COLUMNS, columns_from

    assert [columns_from(v) for v in ("2", "3", "4", "6")] == [2, 3, 4, 6]
    assert {columns_from(v) for v in (None, "", "5", "0", "-2", "six", "2.0")} == {DEFAULT_COLUMNS}


def test_cells_of_different_shapes_sit_in_boxes_of_one_shape(store):
    mixed = _finished_run(store, ((1024, 1024), (1536, 1024), (768, 1344)))
    at = _app(run=mixed).run()
    style = [h.proto.body for h in at.get("html") if ".st-key-run-grid" in h.proto.body]
    assert len(style) == 1 and "aspect-ratio: 1 / 1" in style[0] and "contain" in style[0]
    wide = _finished_run(store, ((1536, 1024),) * 2)
    at = _app(run=wide).run()
    style = [h.proto.body for h in at.get("html") if ".st-key-run-grid" in h.proto.body]
    assert "aspect-ratio: 1536 / 1024" in style[0]


def test_sandbox_picks_bring_the_sandbox_banner_into_the_sidebar():
    at = _app().run()
    _pick(at, {"sandbox:prism"})
    at.run()
    [note] = [i.value for i in at.sidebar.info]
    assert note.startswith("Sandbox: an offline stand-in") and "FAL_KEY" in note
    _pick(at, set())
    at.run()
    assert not at.sidebar.info  # nothing simulated picked: nothing to explain
