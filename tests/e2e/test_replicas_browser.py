"""deploy/compose.yaml's processes without containers: two app replicas (`streamlit run`,
their embedded workers off) and two `vibegen worker` processes on one PostgreSQL store.

A run generated on one replica fills live on the other, which renders its images from the
store; the cells ran in the workers, not in either app.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import TIMEOUT_MS, VIEWPORT, generate, wait_for_app, wait_for_images
from tests.test_worker import ROOT, Workers, _holders
from vibegen.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PROMPT = "a paper boat on a puddle"


def test_two_replicas_show_one_run_the_workers_make(pg_url, page, chromium, start_server, tmp_path):
    # Slow enough (a few seconds a cell) that the second replica opens the run mid-way.
    team = {
        "DATABASE_URL": pg_url,
        "VIBEGEN_EMBEDDED_WORKER": "off",
        "VIBEGEN_SANDBOX_SPEED": "5",
        "VIBEGEN_SANDBOX_FAILURES": "off",
        "VIBEGEN_SANDBOX_JITTER": "off",
    }
    workers = Workers(tmp_path, {**os.environ, "PYTHONPATH": str(ROOT), **team})
    store = Store.open(pg_url)
    try:
        ids = {workers.wait_ready(workers.start()) for _ in range(2)}
        one = start_server(**team)
        two = start_server(**team)

        page.goto(one.url)
        wait_for_app(page)
        run_id = generate(page, PROMPT, ["Prism", "Halo"])

        other = chromium.new_context(viewport=VIEWPORT)
        other.set_default_timeout(TIMEOUT_MS)
        try:
            there = other.new_page()
            there.goto(f"{two.url}/?run={run_id}")
            unfinished = [c.status for c in store.run_view(run_id).cells if not c.finished]
            assert unfinished, "the run ended before the second replica opened it"
            # It fills live on the replica that did not start it, and on the one that did.
            assert sorted(wait_for_images(there, 2, timeout=60)) == sorted(
                wait_for_images(page, 2, timeout=60)
            )
        finally:
            other.close()
    finally:
        workers.stop_all()
    view = store.run_view(run_id)
    assert [c.status for c in view.cells] == ["ok", "ok"]
    assert set(_holders(store, run_id).values()) <= ids  # made by the workers, not an app
    store.close()
