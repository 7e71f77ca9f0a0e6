"""A server killed mid-run: finished images survive, the rest are interrupted, retry heals."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import (
    IMAGES,
    UNFINISHED,
    generate,
    image_hashes,
    progress_text,
    shown_prompt,
    statuses,
    wait_for_app,
    wait_for_images,
    wait_until,
)

MODELS = ("Prism", "Halo", "Pointil", "Lattice (slow)")  # 0.6, 1.2, 4.5 and 7 s at speed 1
PROMPT = "a lighthouse in a storm, linocut"
INTERRUPTED = "interrupted: the server stopped before this image arrived"


@pytest.mark.browser
def test_sigkill_mid_run_then_restart_and_retry(store, start_server, page):
    """SIGKILL mid-run, restart on the same home: done images kept, rest interrupted, retry."""
    server = start_server(VIBEGEN_SANDBOX_SPEED="1")
    page.goto(server.url)
    wait_for_app(page)
    run_id = generate(page, PROMPT, MODELS)

    def mid_run():
        s = statuses(store, run_id)
        done = [v for v in s.values() if v == "ok"]
        return done and any(v in UNFINISHED for v in s.values())

    wait_until(mid_run, timeout=15, what="one cell done and one still generating")
    page.locator(IMAGES).first.wait_for()  # and the designer has seen it
    server.kill()
    killed_at = time.monotonic()

    # The process is dead: what the store holds now is what the crash left.
    before = statuses(store, run_id)
    hashes = image_hashes(store, run_id)
    done = sorted(label for label, s in before.items() if s == "ok")
    cut = sorted(label for label, s in before.items() if s in UNFINISHED)
    assert done and cut and len(done) + len(cut) == len(MODELS), before

    server.restart(VIBEGEN_SANDBOX_SPEED="0.05")  # same port, same VIBEGEN_HOME
    page.goto(f"{server.url}/?run={run_id}")
    # Finished results are shown at once, from the store.
    assert sorted(wait_for_images(page, len(done), timeout=30)) == sorted(
        f"{label} image" for label in done
    )
    assert shown_prompt(page, PROMPT)

    # Cells of the dead runner turn "interrupted" once its heartbeat is stale (≤ ~18 s),
    # never "running" forever; the page follows without a reload.
    retry = page.get_by_role("button", name=f"Retry failed cells ({len(cut)})")
    retry.wait_for(timeout=30_000)
    interrupted_after = time.monotonic() - killed_at
    after = statuses(store, run_id)
    assert all(after[label] == "interrupted" for label in cut), after
    assert all(after[label] == "ok" for label in done), after
    assert page.get_by_text(INTERRUPTED).count() == len(cut)
    assert progress_text(page).startswith(f"{len(MODELS)} of {len(MODELS)} done")
    assert image_hashes(store, run_id) == hashes  # same bytes, nothing rewritten

    retry.click()
    assert sorted(wait_for_images(page, len(MODELS))) == sorted(
        f"{label} image" for label in MODELS
    )
    final = wait_until(
        lambda: (s := statuses(store, run_id)) and set(s.values()) == {"ok"} and s,
        timeout=15,
        what="every retried cell to be ok",
    )
    assert len(final) == len(MODELS)
    wait_until(lambda: "generating" not in progress_text(page), what="the header to settle")
    assert page.get_by_text(INTERRUPTED).count() == 0
    assert page.get_by_role("button", name="Retry failed cells").count() == 0
    after_retry = image_hashes(store, run_id)
    assert {k: after_retry[k] for k in hashes} == hashes
    assert store.integrity_ok()
    print(f"interrupted {interrupted_after:.1f} s after the kill")
