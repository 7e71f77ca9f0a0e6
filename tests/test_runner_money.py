"""Money through the runner, against the fal and Kie fakes: one paid job per cell, every
billed amount stored, open jobs followed instead of bought again."""

from __future__ import annotations

import pytest

from tests.fakes.fal_server import TEST_FAL_KEY, FalFake
from tests.fakes.kie_server import TEST_KIE_KEY, KieFake
from tests.routers.runs import finish_run, with_deadline
from vibegen.catalog import default_catalog
from vibegen.params import CommonParams
from vibegen.runner import Runner

CATALOG = default_catalog()
PROMPT = "a lighthouse at dusk"
POLL = 0.01


def fal_runner(store, fake: FalFake, catalog=CATALOG) -> Runner:
    return Runner(
        store,
        catalog,
        env={"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url},
        router_options={"fal": {"poll_interval": POLL}},
        heartbeat=False,
    )


def kie_runner(store, fake: KieFake, catalog=CATALOG, **kw) -> Runner:
    return Runner(
        store,
        catalog,
        env={"KIE_API_KEY": TEST_KIE_KEY, "VIBEGEN_KIE_URL": fake.url},
        router_options={"kie": {"poll_interval": POLL}},
        heartbeat=False,
        **kw,
    )


def test_flaky_status_polls_are_retried_on_the_same_fal_job(store):
    # 503 pages, 429s and truncated bodies, twelve in a row: still one job, and its image.
    with FalFake(flaky_polls=12) as fake:
        run_id = finish_run(
            fal_runner(store, fake), PROMPT, ["fal:flux-schnell"], CommonParams(), timeout=30
        )
        cell = store.run_view(run_id).cells[0]
        assert cell.status == "ok", cell.error_message
        assert len(fake.received("POST")) == 1
        assert fake.jobs[cell.job["request_id"]].flaked == 12
        assert cell.job_open is False


def test_the_request_id_is_saved_before_the_first_poll(store):
    seen: list[tuple[str | None, int]] = []
    with FalFake(queue_steps=3) as fake:
        runner = fal_runner(store, fake)
        original = store.save_job

        class Watch:  # records, at the moment the job is saved, how many polls went out
            def __call__(self, generation_id, job):
                seen.append((job.get("request_id"), len(fake.received("GET", "/status"))))
                original(generation_id, job)

        store.save_job = Watch()  # a recorder around the store, not the code under test
        run_id = finish_run(runner, PROMPT, ["fal:flux-schnell"], CommonParams())
        cell = store.run_view(run_id).cells[0]
    assert seen == [(cell.job["request_id"], 0)]


def test_a_timeout_cancels_the_fal_job_and_keeps_it_open_for_retry(store):
    catalog = with_deadline(CATALOG, "fal:flux-schnell", 0.3)
    with FalFake() as fake:
        fake.script("never_completes")
        run_id = finish_run(
            fal_runner(store, fake, catalog), PROMPT, ["fal:flux-schnell"], CommonParams()
        )
        cell = store.run_view(run_id).cells[0]
        assert cell.status == "timeout" and cell.job_open
        assert fake.cancels == [cell.job["request_id"]]
        assert len(fake.received("POST")) == 1  # never a second job for the cell
        assert "may still finish" in cell.error_message


def test_billed_failures_are_stored_with_their_cost(store):
    # fal answered 200 with a filtered image and billed it: the cell says so, in the ledger.
    with FalFake(billable_units=1.0) as fake:
        fake.script("nsfw")
        run_id = finish_run(fal_runner(store, fake), PROMPT, ["fal:flux-schnell"], CommonParams())
    view = store.run_view(run_id)
    cell = view.cells[0]
    assert (cell.status, cell.error_kind) == ("error", "content_filter")
    assert (cell.cost_kind, cell.cost_usd) == ("reported", pytest.approx(0.003))
    assert view.spent == pytest.approx(0.003)
    assert view.spent_on_failures == (pytest.approx(0.003), 1)


def test_refused_submits_are_retried_and_cost_nothing(store):
    with FalFake() as fake:
        fake.retry_after = "0"
        fake.script("503")
        run_id = finish_run(fal_runner(store, fake), PROMPT, ["fal:flux-schnell"], CommonParams())
        view = store.run_view(run_id)
        assert view.cells[0].status == "ok"
        # the 503 submit made no job (fal never bills 5xx); the second did
        assert len(fake.jobs) == 1 and len(view.spend) == 1


def test_retry_follows_an_open_kie_task_instead_of_buying_again(store):
    # The task outlives the deadline (Kie has no cancel); Retry polls that same task.
    slow = ("waiting",) * 40 + ("generating",)
    catalog = with_deadline(CATALOG, "kie:nano-banana-pro", 0.3)
    with KieFake(progression=slow) as fake:
        runner = kie_runner(store, fake, catalog)
        run_id = runner.start_run(PROMPT, ["kie:nano-banana-pro"], CommonParams())
        assert runner.wait(run_id, 10)
        cell = store.run_view(run_id).cells[0]
        assert cell.status == "timeout" and cell.job_open
        assert cell.cost_kind == "estimated" and cell.cost_usd and cell.cost_usd > 0
        assert "may still finish" in cell.cost_basis
        long = with_deadline(CATALOG, "kie:nano-banana-pro", 20)
        again = kie_runner(store, fake, long)
        assert again.retry_failed(run_id) == 1
        assert again.wait(run_id, 20)
        again.close()
        runner.close()
        cell = store.run_view(run_id).cells[0]
        assert cell.status == "ok", cell.error_message
        assert len(fake.received("POST")) == 1  # one task, polled by two runners in turn


def test_kie_limits_hold_at_concurrency_24(store):
    # 28 cells at once, creates limited to 20 per 1 s and polls to 30 per 1 s by the fake;
    # the adapter keeps both for all cells together, and a refused poll never loses a task.
    info = CATALOG.routers["kie"].model_copy(
        update={
            "rate_limit_requests": 20,
            "rate_limit_window_s": 1.0,
            "poll_limit_requests": 30,
            "poll_limit_window_s": 1.0,
        }
    )
    catalog = CATALOG.model_copy(update={"routers": {**CATALOG.routers, "kie": info}})
    with KieFake(rate_limit=20, rate_window=1.0, poll_limit=30, poll_window=1.0) as fake:
        runner = kie_runner(store, fake, catalog, concurrency={"kie": 24})
        run_id = runner.start_run(PROMPT, ["kie:z-image"], CommonParams(images_per_model=4))
        ids = [
            runner.start_run(PROMPT + str(i), ["kie:z-image"], CommonParams(images_per_model=4))
            for i in range(6)
        ]
        for rid in [run_id, *ids]:
            assert runner.wait(rid, 60)
        runner.close()
        cells = [c for rid in [run_id, *ids] for c in store.run_view(rid).cells]
        assert len(cells) == 28
        assert all(c.status == "ok" for c in cells), {c.error_message for c in cells}
        assert len(fake.tasks) == 28  # one task per cell
        times = sorted(fake.create_times)  # arrivals, refused ones included
        assert max(sum(1 for u in times if t <= u < t + 1.0) for t in times) <= 20


def test_one_job_per_cell_when_many_cells_poll_a_flaky_fal(store):
    with FalFake(flaky_polls=3) as fake:
        runner = fal_runner(store, fake)
        run_id = runner.start_run(
            PROMPT, ["fal:flux-schnell", "fal:flux-dev"], CommonParams(images_per_model=4)
        )
        assert runner.wait(run_id, 60)
        runner.close()
        view = store.run_view(run_id)
        assert all(c.status == "ok" for c in view.cells)
        assert len(fake.received("POST")) == len(view.cells) == 8
        assert len({c.job["request_id"] for c in view.cells}) == 8


def test_every_fal_cell_is_submitted_at_once_and_fal_queues_them(store):
    # fal's queue takes every request and runs what the account allows (2 for a new account):
    # a client-side queue of 2 in front of it would make a 40-job account wait for nothing.
    assert CATALOG.routers["fal"].concurrency == 2
    with FalFake(queue_steps=4) as fake:
        runner = fal_runner(store, fake)
        run_id = runner.start_run(
            PROMPT, ["fal:flux-schnell", "fal:flux-dev"], CommonParams(images_per_model=4)
        )
        assert runner.wait(run_id, 60)
        runner.close()
        assert all(c.status == "ok" for c in store.run_view(run_id).cells)
        order = [(r.method, r.path.endswith("/status")) for r in fake.requests]
        submits = [i for i, (method, _) in enumerate(order) if method == "POST"]
        results = [i for i, (m, status) in enumerate(order) if m == "GET" and not status]
        assert len(submits) == 8
        assert max(submits) < min(results), "a cell waited for another's result to submit"


def test_the_account_limit_in_force_is_the_setting_or_the_declaration():
    from vibegen.runner import concurrency_in_force

    assert concurrency_in_force("fal", 2, {}) == 2
    assert concurrency_in_force("fal", 2, {"VIBEGEN_FAL_CONCURRENCY": "40"}) == 40
    assert concurrency_in_force("fal", 2, {"VIBEGEN_FAL_CONCURRENCY": "lots"}) == 2


def test_a_waiting_cell_says_where_its_fal_job_is(store):
    # fal answers IN_QUEUE with queue_position (0 = next up) and then IN_PROGRESS: the cell
    # says "in fal's queue, position 3" and "generating" while it waits, nothing once done.
    import time

    with FalFake(queue_steps=3, progress_steps=2) as fake:
        runner = Runner(
            store,
            CATALOG,
            env={"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url},
            router_options={"fal": {"poll_interval": 0.15}},
            heartbeat=False,
        )
        run_id = runner.start_run(PROMPT, ["fal:flux-schnell"], CommonParams())
        seen: list[str] = []
        end = time.monotonic() + 30
        while not store.run_view(run_id).complete and time.monotonic() < end:
            seen += [w for w in runner.where(run_id).values() if w not in seen]
            time.sleep(0.02)
        assert runner.wait(run_id, 30)
        runner.close()
    # Sampled, so a loaded machine may miss a step; the order and the words always hold.
    queue = [
        "in fal's queue, position 3",
        "in fal's queue, position 2",
        "in fal's queue, position 1",
    ]
    assert seen[-1] == "generating" and seen[:-1] and all(w in queue for w in seen[:-1])
    assert seen[:-1] == sorted(seen[:-1], reverse=True)
    assert runner.where(run_id) == {}
