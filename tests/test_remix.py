"""Remix: an opened run fills the form; Run again; the form says when it left the run; re-roll."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from vibegen.params import CommonParams
from vibegen.runner import Runner
from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
FOX = "a red fox in the snow, woodcut"
OWL = "an owl on a pine branch, ink"
TWO = ["sandbox:halo", "sandbox:pointil"]  # not the default picks


def _finished_run(store, prompt=FOX, keys=TWO, common=None, overrides=None) -> str:
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        run_id = runner.start_run(prompt, keys, common or CommonParams(), overrides)
        assert runner.wait(run_id, 30)
    finally:
        runner.close()
    return run_id


def _open(run_id: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    return at.run()


def _picked(at: AppTest) -> set[str]:
    return {b.key[5:] for b in at.checkbox if b.key and b.key.startswith("pick:") and b.value}


def _wait_cells(store, run_id: str, n: int) -> list:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        cells = store.run_view(run_id).cells
        if len(cells) == n and all(c.finished for c in cells):
            return cells
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach {n} finished cells")


def test_opening_a_run_loads_its_prompt_models_and_settings(fast_sandbox, store):
    common = CommonParams(aspect="16:9", resolution="2K", quality="high", seed=42)
    run_id = _finished_run(
        store, common=common, keys=TWO, overrides={"sandbox:pointil": "dots, " + FOX}
    )
    at = _open(run_id)
    assert not at.exception, at.exception
    assert at.text_area(key="prompt").value == FOX
    assert _picked(at) == set(TWO)
    assert at.selectbox(key="aspect").value == "16:9"
    assert at.selectbox(key="resolution").value == "2K"
    assert at.selectbox(key="quality").value == "high"
    assert at.text_input(key="seed").value == "42"
    assert at.text_input(key="override:sandbox:pointil").value == "dots, " + FOX
    assert at.text_input(key="override:sandbox:halo").value == ""
    assert not at.main.info  # the form is the run: nothing to warn about


def test_opening_another_run_replaces_what_the_form_held(fast_sandbox, store):
    first = _finished_run(store, prompt=FOX, keys=TWO)
    second = _finished_run(store, prompt=OWL, keys=["sandbox:prism"])
    at = _open(first)
    at.text_area(key="prompt").input("something typed meanwhile").run()
    at.query_params["run"] = second  # a History link or a pasted link, same session
    at.run()
    assert at.text_area(key="prompt").value == OWL
    assert _picked(at) == {"sandbox:prism"}


def test_a_changed_form_says_so_and_goes_back_to_the_run(fast_sandbox, store):
    run_id = _finished_run(store)
    at = _open(run_id)
    at.text_area(key="prompt").input(OWL).run()
    [note] = [i.value for i in at.main.info]
    assert "You changed the prompt." in note and "the grid below is still the run" in note
    at.button(key="reset_form").click().run()
    assert at.text_area(key="prompt").value == FOX
    assert not at.main.info


def test_run_again_makes_a_new_run_with_the_runs_settings_not_the_forms(fast_sandbox, store):
    run_id = _finished_run(store, common=CommonParams(quality="low", images_per_model=2))
    at = _open(run_id)
    at.text_area(key="prompt").input(OWL).run()  # an edit Run again must not pick up
    at.button(key="run_again").click().run()
    new = at.query_params["run"]
    assert new != run_id
    cells = _wait_cells(store, new, 4)
    assert {c.prompt for c in cells} == {FOX}
    assert [c.model_key for c in cells] == [c.model_key for c in store.run_view(run_id).cells]
    assert store.run_view(new).params["quality"] == "low"
    at.run()
    assert at.text_area(key="prompt").value == FOX  # the form shows the run beneath it


def test_change_and_run_generates_the_edited_form(fast_sandbox, store):
    run_id = _finished_run(store)
    at = _open(run_id)
    at.text_area(key="prompt").input(OWL).run()
    at.button(key="generate").click().run()
    new = at.query_params["run"]
    assert new != run_id
    assert store.run_view(new).prompt == OWL
    assert {c.model_key for c in store.run_view(new).cells} == set(TWO)
    at.run()
    assert at.text_area(key="prompt").value == OWL
    assert not at.main.info  # form and run agree again


def test_reroll_adds_one_image_of_that_model_with_a_new_seed(fast_sandbox, store):
    run_id = _finished_run(store, common=CommonParams(seed=7))
    halo = store.run_view(run_id).cells[0]
    at = _open(run_id)
    at.selectbox(key=f"reroll_cell:{run_id}").select(halo.id).run()
    at.button(key="reroll").click().run()
    assert not at.exception, at.exception
    cells = _wait_cells(store, run_id, 3)
    assert [c.id for c in cells[:2]] == [c.id for c in store.run_view(run_id).cells[:2]]
    new = cells[2]
    assert (new.model_key, new.image_index, new.status) == ("sandbox:halo", 1, "ok")
    assert new.params.get("seed") not in (None, halo.params.get("seed"))
    assert store.image(halo.id) is not None  # the first image is kept
    at.run()
    assert len(at.image) == 3
    assert at.text_area(key="prompt").value == FOX
