"""Remix in a real browser: a run's link fills the form; Run again; the form says when it left."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    SANDBOX_LABELS,
    cells,
    run_id_of,
    shown_prompt,
    wait_for_images,
    wait_until_idle,
)
from vibegen.settings import load_settings

pytestmark = pytest.mark.browser

FOX = "a red fox in the snow, woodcut"
OWL = "an owl on a pine branch, ink"
MODELS = {"sandbox:halo": "Halo", "sandbox:pointil": "Pointil"}  # not the default picks


def test_a_runs_link_fills_the_form_and_run_again_repeats_it(
    store, start_server, page, monkeypatch, tmp_path
):
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    monkeypatch.setenv("VIBEGEN_SANDBOX_SPEED", "0.01")
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        run_id = runner.start_run(FOX, list(MODELS), CommonParams(quality="high", seed=42))
        assert runner.wait(run_id, 30)
    finally:
        runner.close()

    server = start_server()
    page.goto(f"{server.url}/?run={run_id}")  # a fresh browser: nothing but the link
    wait_for_images(page, len(MODELS))
    prompt = page.get_by_label("Prompt", exact=True)
    assert prompt.input_value() == FOX
    checked = {
        label
        for label in SANDBOX_LABELS
        if page.get_by_role("checkbox", name=label, exact=True).is_checked()
    }
    assert checked == set(MODELS.values())
    wait_until_idle(page)
    shot = Path(os.environ.get("VIBEGEN_REMIX_SCREENSHOT", tmp_path / "remix.png"))
    page.screenshot(path=str(shot))

    # An edit is said beside the form, and can be taken back.
    prompt.fill(OWL)
    prompt.press("Control+Enter")
    note = page.get_by_text("You changed the prompt.")
    note.wait_for()
    page.get_by_role("button", name="Back to this run's settings").click()
    page.wait_for_function(
        "([el, v]) => el.value === v", arg=[prompt.element_handle(), FOX], timeout=20_000
    )
    # Gone once the rerun the click started is drawn (until then the old page stays shown).
    note.wait_for(state="detached", timeout=20_000)

    page.get_by_role("button", name="Run again").click()
    page.wait_for_url(re.compile(r"[?&]run=(?!" + run_id + r")[0-9a-f]{32}"))
    again = run_id_of(page)
    wait_for_images(page, len(MODELS))
    assert shown_prompt(page, FOX) and prompt.input_value() == FOX
    assert [c.model_key for c in cells(store, again)] == list(MODELS)
