"""The links `vibegen run` prints open the run in a real browser (1440×900)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, TIMEOUT_MS, cells, shown_prompt, wait_for_images

pytestmark = pytest.mark.browser

PROMPT = "a kite over a wheat field, risograph"


def test_the_printed_run_and_review_links_open_the_run(start_server, store, chromium, home):
    server = start_server()
    done = subprocess.run(
        [sys.executable, "-m", "vibegen.cli", "run", PROMPT, "-m", "sandbox:prism"]
        + ["-m", "sandbox/halo", "--json"],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "VIBEGEN_HOME": str(home),
            "VIBEGEN_PUBLIC_URL": server.url,
            "VIBEGEN_SANDBOX_SPEED": "0.01",
            "VIBEGEN_SANDBOX_FAILURES": "off",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [c.status for c in cells(store, doc["run_id"])] == ["ok", "ok"]
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(doc["link"])
        wait_for_images(page, 2)
        assert shown_prompt(page, PROMPT)
        assert page.locator("[data-testid=stAlertContentError]").count() == 0
        page.screenshot(path="/tmp/vibegen-cli-run-link.png")
        page.goto(doc["review_link"])
        page.get_by_label("Your name").fill("Ana")  # the Review page asks who rates first
        page.get_by_role("button", name="Start reviewing").click()
        wait_for_images(page, 2 + 2)  # the grid's two, and the pairwise tab's two
        assert shown_prompt(page, PROMPT)
        assert page.locator("[data-testid=stAlertContentError]").count() == 0
        page.screenshot(path="/tmp/vibegen-cli-review-link.png")
    finally:
        context.close()
