"""The runner: concurrent fan-out, results saved as they arrive, failures isolated, limits kept."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from vibegen.catalog import parse_catalog
from vibegen.errors import ContentFilteredError, InputError, RateLimitError
from vibegen.params import CommonParams
from vibegen.routers import register
from vibegen.routers.base import GenerationRequest, GenerationResult, Router
from vibegen.routers.limits import RateLimiter
from vibegen.routers.sandbox_router import render
from vibegen.runner import Runner, plan_run

CATALOG = """
schema_version = 1
[routers.scripted]
label = "Scripted"
concurrency = 2
[routers.locked]
label = "Locked"
key_env = "LOCKED_KEY"
"""
MODEL = """
[[models]]
key = "scripted:{name}"
label = "{name}"
router = "{router}"
endpoint = "{name}"
deadline_s = {deadline}
max_prompt_chars = 50
size = {{ param = "size", kind = "wh" }}
price = {{ unit = "image", usd = 0.01, seen = 2026-11-24, source = "test" }}
"""
NAMES = ["fast", "slow", "filtered", "flaky", "hang", "broken", "garbage", "gate"]


def catalog():
    text = CATALOG + "".join(
        MODEL.format(name=n, router="scripted", deadline=0.5 if n == "hang" else 10) for n in NAMES
    )
    text += MODEL.format(name="locked", router="locked", deadline=10).replace(
        'key = "scripted:locked"', 'key = "locked:model"'
    )
    return parse_catalog(text)


class ScriptedRouter(Router):
    """A router whose models behave as their names say; it records concurrency."""

    name = "scripted"
    needs_key = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.calls: dict[str, int] = {}
        self.gate = threading.Event()  # "gate" cells wait for the test to open it

    def generate(self, request: GenerationRequest) -> GenerationResult:
        name = request.model.endpoint
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls[name] = self.calls.get(name, 0) + 1
            call = self.calls[name]
        try:
            if name == "slow":
                time.sleep(0.4)
            elif name == "gate":
                self.gate.wait(10)
            elif name == "hang":
                while True:
                    self.sleep(0.05, request)
            elif name == "filtered":
                raise ContentFilteredError("content filtered")
            elif name == "flaky" and call == 1:
                raise RateLimitError("rate limited", retry_after=0.05)
            elif name == "broken":
                raise KeyError("adapter bug")
            elif name == "garbage":
                return GenerationResult(image=b"<html>not an image</html>")
            else:
                time.sleep(0.05)
            return GenerationResult(
                image=render("dots", request.prompt, 1, 64, 64),
                seed="1",
                queue_s=0.01,
                inference_s=0.02,
            )
        finally:
            with self.lock:
                self.active -= 1


register(ScriptedRouter)


@pytest.fixture
def runner(store):
    r = Runner(store, catalog(), env={}, heartbeat=False)
    yield r
    r.close()


def _statuses(store, run_id):
    return {c.label: (c.status, c.error_kind) for c in store.run_view(run_id).cells}


def test_start_returns_at_once_and_results_arrive(runner, store):
    run_id = runner.start_run("a fox", ["scripted:fast", "scripted:slow"], CommonParams())
    # Returned before the 0.4 s model finished: start does not wait for the grid. (How fast it
    # returns is measured by benchmarks/bench_timings.py, not asserted here.)
    assert not store.run_view(run_id).complete
    assert runner.wait(run_id, 5)
    view = store.run_view(run_id)
    assert view.complete and view.failures == 0
    fast, slow = view.cells
    assert fast.finished_at < slow.finished_at  # saved in completion order, not grid order
    assert slow.wall_s >= 0.4 and fast.wall_s < slow.wall_s
    assert (fast.queue_s, fast.inference_s) == (0.01, 0.02)
    assert fast.cost_kind == "estimated" and fast.cost_usd == pytest.approx(0.01)


def test_saved_images_get_their_previews_in_the_background(runner, store):
    # Saved checked but not decoded; the previews follow once results stop arriving, with no
    # page asking for them.
    run_id = runner.start_run("a fox", ["scripted:fast", "scripted:slow"], CommonParams())
    assert runner.wait(run_id, 5)
    imgs = store.t["images"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            thumbs = [bytes(t) for (t,) in conn.execute(sa.select(imgs.c.thumb))]
        if len(thumbs) == 2 and all(thumbs):
            break
        time.sleep(0.05)
    assert len(thumbs) == 2 and all(t[:2] == b"\xff\xd8" for t in thumbs)  # JPEG previews


def test_one_failing_model_does_not_affect_the_others(runner, store):
    run_id = runner.start_run(
        "a fox",
        ["scripted:fast", "scripted:filtered", "scripted:broken", "scripted:garbage"],
        CommonParams(),
    )
    assert runner.wait(run_id, 5)
    cells = {c.label: c for c in store.run_view(run_id).cells}
    assert cells["fast"].status == "ok"
    assert cells["filtered"].error_kind == "content_filter"
    assert cells["filtered"].error_message == "scripted: content filtered"
    assert cells["broken"].status == "error" and "unexpected" in cells["broken"].error_message
    assert cells["garbage"].error_kind == "bad_image"
    assert cells["fast"].cost_usd is not None
    assert cells["filtered"].cost_usd == pytest.approx(0.01)  # the estimate stays, not billed


def test_retryable_errors_are_retried_within_the_deadline(runner, store):
    run_id = runner.start_run("a fox", ["scripted:flaky"], CommonParams())
    assert runner.wait(run_id, 5)
    cell = store.run_view(run_id).cells[0]
    assert cell.status == "ok" and cell.attempts == 2


def test_deadline_is_saved_as_timeout(runner, store):
    run_id = runner.start_run("a fox", ["scripted:hang", "scripted:fast"], CommonParams())
    assert runner.wait(run_id, 5)
    assert _statuses(store, run_id) == {"hang": ("timeout", "timeout"), "fast": ("ok", None)}


def test_router_concurrency_limit_is_honoured(store):
    r = Runner(store, catalog(), env={}, heartbeat=False)
    run_id = r.start_run("a fox", ["scripted:slow"], CommonParams(images_per_model=4))
    r.start_run("a fox", ["scripted:slow"], CommonParams(images_per_model=2))
    assert r.wait(run_id, 10)
    router = r._routers["scripted"]
    assert router.max_active == 2  # catalog concurrency for "scripted"
    r.close()


def test_a_runs_cells_are_claimed_in_one_write_before_any_request(store):
    r = Runner(store, catalog(), env={}, heartbeat=False)
    run_id = r.start_run("a fox", ["scripted:gate"], CommonParams(images_per_model=4))
    # Back from start_run, every cell is already the runner's (one write for the run), while
    # the router's limit of 2 holds the other two in the pool: the grid says they wait.
    assert {c.status for c in store.run_view(run_id).cells} == {"running"}
    assert list(r.where(run_id).values()).count("queued…") >= 2
    assert r.submit(run_id) == 0  # claimed cells are not handed out twice
    router = r._router("scripted")
    router.gate.set()
    assert r.wait(run_id, 10)
    assert _statuses(store, run_id) == {"gate": ("ok", None)}
    assert router.calls == {"gate": 4}  # each image bought once
    assert r.where(run_id) == {}
    r.close()


def test_concurrency_is_overridable(store):
    r = Runner(store, catalog(), env={}, heartbeat=False, concurrency={"scripted": 4})
    run_id = r.start_run("a fox", ["scripted:slow"], CommonParams(images_per_model=4))
    assert r.wait(run_id, 10)
    assert r._routers["scripted"].max_active == 4
    r.close()


def test_rate_limiter_spaces_requests():
    limiter = RateLimiter(3, 0.3)
    t = time.monotonic()
    for _ in range(6):
        limiter.acquire()
    assert time.monotonic() - t >= 0.3


@pytest.mark.parametrize(
    "prompt, models, words",
    [
        ("", ["scripted:fast"], "prompt is empty"),
        ("   ", ["scripted:fast"], "prompt is empty"),
        ("a fox", [], "no model picked"),
        ("x" * 51, ["scripted:fast"], "at most 50"),
        ("a fox", ["locked:model"], "add LOCKED_KEY to enable"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(runner, store, prompt, models, words):
    with pytest.raises(InputError, match=words):
        runner.start_run(prompt, models, CommonParams())
    assert store.list_runs() == []


def test_plan_estimates_before_generate():
    plan = plan_run(
        "a fox", ["scripted:fast", "scripted:slow"], CommonParams(images_per_model=3), catalog(), {}
    )
    assert len(plan.cells) == 6 and plan.estimated_usd == pytest.approx(0.06)


def test_retry_failed_cells(runner, store):
    run_id = runner.start_run("a fox", ["scripted:filtered", "scripted:fast"], CommonParams())
    assert runner.wait(run_id, 5)
    assert runner.retry_failed(run_id) == 1
    assert runner.wait(run_id, 5)
    assert store.run_view(run_id).cells[0].attempts == 1  # retried cell ran again


def test_a_dead_process_on_this_host_is_recognised_at_once(store):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its process id now belongs to no process
    store.heartbeat("crashed", socket.gethostname(), gone.pid)  # the heartbeat is still fresh
    cells = plan_run("q", ["scripted:fast"], CommonParams(), catalog(), {}).cells
    run_id = store.create_run("q", {}, cells, runner_id="crashed")
    Runner(store, catalog(), env={}, heartbeat=False).close()  # the restart
    assert [c.status for c in store.run_view(run_id).cells] == ["interrupted"]


def test_a_live_runner_elsewhere_is_left_alone(store):
    store.heartbeat("other-host", "some-other-host", 1)
    cells = plan_run("q", ["scripted:fast"], CommonParams(), catalog(), {}).cells
    run_id = store.create_run("q", {}, cells, runner_id="other-host")
    Runner(store, catalog(), env={}, heartbeat=False).close()
    assert [c.status for c in store.run_view(run_id).cells] == ["pending"]


def test_concurrency_from_the_environment(store):
    r = Runner(store, catalog(), env={"VIBEGEN_SCRIPTED_CONCURRENCY": "3"}, heartbeat=False)
    run_id = r.start_run("a fox", ["scripted:slow"], CommonParams(images_per_model=4))
    assert r.wait(run_id, 10)
    assert r._routers["scripted"].max_active == 3
    r.close()


@pytest.mark.parametrize("raw", ["0", "lots", "-2", "999"])
def test_bad_concurrency_values_are_ignored(raw):
    from vibegen.runner import concurrency_from_env

    assert concurrency_from_env("fal", {"VIBEGEN_FAL_CONCURRENCY": raw}) is None
    assert concurrency_from_env("fal", {"VIBEGEN_FAL_CONCURRENCY": "10"}) == 10
