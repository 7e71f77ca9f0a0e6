"""The fal adapter against the local fake queue (real HTTP, no patching of the adapter)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.fakes.fal_server import TEST_FAL_KEY, UINT64_SEED, FalFake, Recorded
from tests.routers.runs import finish_run, with_deadline
from vibegen.catalog import default_catalog
from vibegen.errors import (
    AuthError,
    BadImageError,
    ContentFilteredError,
    InsufficientCreditsError,
    MissingKeyError,
    ProtocolError,
    RateLimitError,
    RouterError,
    RouterTimeout,
    RouterValidationError,
    ServerError,
)
from vibegen.params import CommonParams, map_params
from vibegen.routers import build_router
from vibegen.routers.base import GenerationRequest
from vibegen.routers.fal_router import FalRouter
from vibegen.runner import Runner

# What a cell says when its paid job may still run (the runner's wording).
OPEN = " · its paid job may still finish: Retry follows it, not buying it again"
CATALOG = default_catalog()
PROMPT = "a red fox in the snow"
POLL = 0.01
FLAGGED = "content filtered: prompt: The content was flagged by a content checker."


@pytest.fixture
def fake() -> Iterator[FalFake]:
    with FalFake() as f:
        yield f


@pytest.fixture
def router(fake: FalFake) -> Iterator[FalRouter]:
    r = FalRouter(catalog=CATALOG, key=TEST_FAL_KEY, base_url=fake.url, poll_interval=POLL)
    yield r
    r.http.close()


def make_request(
    model_key: str = "fal:flux-schnell",
    common: CommonParams | None = None,
    deadline_s: float = 10.0,
) -> GenerationRequest:
    model = CATALOG.model(model_key)
    common = common or CommonParams()
    mapped = map_params(model, common)
    return GenerationRequest(
        model=model,
        prompt=PROMPT,
        params=mapped.params,
        width=mapped.width,
        height=mapped.height,
        deadline=time.monotonic() + deadline_s,
        seed=common.seed,
    )


def assert_submit(fake: FalFake, endpoint: str = "fal-ai/flux/schnell", **params: object) -> None:
    """The fake received one submit with fal's auth scheme and the prompt plus params."""
    submits = fake.received("POST")
    assert len(submits) == 1
    sub = submits[0]
    assert sub.path == f"/{endpoint}"
    assert sub.headers["authorization"] == f"Key {TEST_FAL_KEY}"
    assert sub.headers["content-type"] == "application/json"
    assert sub.body == {"prompt": PROMPT, "image_size": "square_hd", **params}


def assert_no_key(err: BaseException) -> None:
    text = f"{err} {err!r} {getattr(err, 'detail', '')}"
    for part in TEST_FAL_KEY.split(":"):
        assert part not in text


def status_polls(fake: FalFake) -> list[Recorded]:
    return [r for r in fake.received("GET") if r.path.endswith("/status")]


# ------------------------------------------------------------------------------- success
def test_success_walks_the_queue_and_downloads_the_image(fake, router):
    result = router.generate(make_request())

    assert_submit(fake)
    job = next(iter(fake.jobs.values()))
    polls = status_polls(fake)
    # 2 × IN_QUEUE, 1 × IN_PROGRESS, then COMPLETED: status URL from the submit answer.
    assert [p.path for p in polls] == [f"/fal-ai/flux/requests/{job.request_id}/status"] * 4
    assert all(p.query == {"logs": ["0"]} for p in polls)
    assert all(p.headers["authorization"] == f"Key {TEST_FAL_KEY}" for p in polls)
    result_get = [r for r in fake.received("GET") if r.path.endswith(job.request_id)]
    assert len(result_get) == 1
    download = fake.received("GET", "/files/")
    assert len(download) == 1 and "authorization" not in download[0].headers  # CDN: no key

    assert Image.open(io.BytesIO(result.image)).format == "JPEG"
    assert result.seed == str(UINT64_SEED)  # uint64, exact, as text
    assert result.request_id == job.request_id
    assert result.inference_s == pytest.approx(0.42)  # metrics.inference_time of the status
    assert result.meta["timings_inference"] == pytest.approx(0.40)
    assert result.queue_s is not None and 0 < result.queue_s < 5
    assert result.cost is not None and result.cost.kind == "reported"
    assert result.cost.usd == pytest.approx(0.003)  # 1 billable unit × $0.003/MP
    assert result.meta["billable_units"] == 1.0


def test_polls_no_faster_than_the_poll_interval(fake):
    r = FalRouter(catalog=CATALOG, key=TEST_FAL_KEY, base_url=fake.url, poll_interval=0.05)
    t = time.monotonic()
    r.generate(make_request())
    assert len(status_polls(fake)) == 4
    assert time.monotonic() - t >= 4 * 0.05


def test_default_poll_interval_is_gentle():
    assert 0.5 <= FalRouter.poll_interval <= 1.0


def test_seed_is_sent_and_echoed_as_text(fake, router):
    result = router.generate(make_request(common=CommonParams(seed=42)))
    assert_submit(fake, seed=42)
    assert result.seed == "42"


def test_png_output_and_fractional_billable_units(fake, router):
    fake.billable_units = 3.008
    model = CATALOG.model("fal:flux-2-pro")  # $0.03 first MP + $0.015 per extra MP
    req = make_request("fal:flux-2-pro")
    req = GenerationRequest(
        model=model,
        prompt=PROMPT,
        params={**req.params, "output_format": "png"},
        width=req.width,
        height=req.height,
        deadline=req.deadline,
    )
    result = router.generate(req)
    assert_submit(fake, "fal-ai/flux-2-pro", output_format="png")
    assert Image.open(io.BytesIO(result.image)).format == "PNG"
    assert result.cost.usd == pytest.approx(0.03 + 2.008 * 0.015)
    assert "3.008 billable units" in result.cost.basis


def test_without_billable_units_the_cost_is_left_to_the_runner(fake, router):
    fake.script("no_billable_units")
    result = router.generate(make_request())
    assert_submit(fake)
    assert result.cost is None and "billable_units" not in result.meta


def test_units_not_in_the_catalog_unit_give_an_estimate_that_says_why(fake, router):
    # fal bills openai/gpt-image-2 by tokens; the catalog prices it per image and size class.
    result = router.generate(make_request("fal:gpt-image-2"))
    sub = fake.received("POST")[0]
    assert sub.path == "/openai/gpt-image-2" and sub.body["quality"] == "medium"
    assert result.meta["billable_units"] == 1.0
    assert result.cost.kind == "estimated" and result.cost.usd == pytest.approx(0.053)
    assert "bills this model by tokens" in result.cost.basis


def test_build_router_reads_key_and_queue_url_from_env(fake):
    r = build_router(
        "fal", CATALOG, {"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url}, poll_interval=POLL
    )
    assert isinstance(r, FalRouter)
    assert r.generate(make_request()).image
    assert fake.received("POST")[0].headers["authorization"] == f"Key {TEST_FAL_KEY}"


def test_missing_key_sends_nothing(fake):
    r = FalRouter(catalog=CATALOG, key=None, base_url=fake.url, poll_interval=POLL)
    with pytest.raises(MissingKeyError, match="add FAL_KEY to enable"):
        r.generate(make_request())
    assert fake.requests == []


# ------------------------------------------------------------------------------- errors
def test_bad_key_is_an_auth_error(fake):
    r = FalRouter(
        catalog=CATALOG, key="wrong-id:wrong-secret", base_url=fake.url, poll_interval=POLL
    )
    with pytest.raises(AuthError) as info:
        r.generate(make_request())
    err = info.value
    assert (err.message, err.kind, err.status, str(err)) == ("bad key", "auth", 401, "fal: bad key")
    assert err.model == "fal:flux-schnell" and not err.retryable
    sub = fake.received("POST")[0]
    assert sub.headers["authorization"] == "Key wrong-id:wrong-secret"
    assert "wrong-secret" not in f"{err} {err!r} {err.detail}"
    assert fake.jobs == {}


SUBMIT_CASES = [
    ("401", AuthError, "bad key", "auth", 401),
    ("403_locked", InsufficientCreditsError, "account locked: balance exhausted", "balance", 403),
    ("500", ServerError, "server error 500: Internal Server Error", "router_error", 500),
    ("503", ServerError, "server error 503: Runner scheduling failure", "router_error", 503),
    ("malformed_submit", ProtocolError, "answered with malformed JSON", "protocol", 200),
]


@pytest.mark.parametrize("scenario, cls, message, kind, status", SUBMIT_CASES)
def test_errors_at_submit(fake, router, scenario, cls, message, kind, status):
    fake.script(scenario)
    with pytest.raises(cls) as info:
        router.generate(make_request())
    err = info.value
    assert (err.message, err.kind, err.status) == (message, kind, status)
    assert str(err) == f"fal: {message}"
    assert err.retryable == (cls is ServerError)
    assert_submit(fake)
    assert status_polls(fake) == []  # nothing queued, nothing polled
    assert_no_key(err)


RESULT_CASES = [
    (
        "422_list",
        RouterValidationError,
        "num_inference_steps: Input should be less than or equal to 12",
        "validation",
        422,
    ),
    ("422_string", RouterValidationError, "Unsupported image_size: square_xl", "validation", 422),
    # fal's own words are kept; the kind comes from detail[].type / error_type, not words.
    ("content_policy", ContentFilteredError, FLAGGED, "content_filter", 422),
    # 504 with error_type request_timeout: fal ran out of time, so the cell is a timeout.
    ("completed_error", RouterTimeout, "timed out: Request timed out", "timeout", 504),
    ("malformed_json", ProtocolError, "answered with malformed JSON", "protocol", 200),
]


@pytest.mark.parametrize("scenario, cls, message, kind, status", RESULT_CASES)
def test_errors_returned_by_the_result_fetch(fake, router, scenario, cls, message, kind, status):
    fake.script(scenario)
    with pytest.raises(cls) as info:
        router.generate(make_request())
    err = info.value
    assert (err.message, err.kind, err.status) == (message, kind, status)
    assert_submit(fake)
    job = next(iter(fake.jobs.values()))
    assert len(status_polls(fake)) == 4  # queued → in progress → COMPLETED first
    assert [r.path for r in fake.received("GET") if not r.path.endswith("/status")] == [
        f"/fal-ai/flux/requests/{job.request_id}"
    ]  # the result, and no image download
    assert_no_key(err)


def test_nsfw_flag_on_a_200_is_content_filtered(fake, router):
    fake.script("nsfw")
    with pytest.raises(ContentFilteredError) as info:
        router.generate(make_request())
    assert str(info.value) == "fal: content filtered" and info.value.kind == "content_filter"
    assert "has_nsfw_concepts" in info.value.detail
    assert_submit(fake)
    assert fake.received("GET", "/files/") == []  # the (black) image is not even fetched


def test_429_once_raises_rate_limit_then_the_next_call_succeeds(fake, router):
    fake.script("429_once")
    with pytest.raises(RateLimitError) as info:
        router.generate(make_request())
    err = info.value
    assert (err.message, err.kind, err.status, err.retry_after) == (
        "rate limited",
        "rate_limit",
        429,
        1.0,
    )
    assert err.retryable
    assert_submit(fake)
    result = router.generate(make_request())  # the runner's retry
    assert result.image
    assert len(fake.received("POST")) == 2 and len(fake.jobs) == 1


def test_a_transient_status_error_is_polled_through(fake, router):
    fake.script("poll_503_once")
    result = router.generate(make_request())
    assert result.image and len(status_polls(fake)) == 5  # one 503, then the usual four
    assert_submit(fake)


def test_never_completing_request_is_cancelled_after_the_deadline(fake, router):
    fake.script("never_completes")
    t = time.monotonic()
    with pytest.raises(RouterTimeout) as info:
        router.generate(make_request(deadline_s=0.3))
    elapsed = time.monotonic() - t
    assert str(info.value) == "fal: timed out" and info.value.kind == "timeout"
    assert 0.3 <= elapsed < 1.5
    job = next(iter(fake.jobs.values()))
    assert fake.cancels == [job.request_id]
    cancel = fake.received("PUT")
    assert len(cancel) == 1
    assert cancel[0].path == f"/fal-ai/flux/requests/{job.request_id}/cancel"
    assert cancel[0].headers["authorization"] == f"Key {TEST_FAL_KEY}"
    assert cancel[0].body is None
    assert len(status_polls(fake)) >= 5
    assert_submit(fake)


def test_image_404_is_a_clear_error(fake, router):
    fake.script("image_404")
    with pytest.raises(BadImageError) as info:
        router.generate(make_request())
    assert str(info.value) == "fal: image not found at its URL (HTTP 404)"
    assert info.value.kind == "bad_image" and info.value.status == 404
    assert_submit(fake)
    assert fake.received("GET", "/files/missing-")


def test_non_image_bytes_are_a_clear_error(fake, router):
    fake.script("not_image")
    with pytest.raises(BadImageError) as info:
        router.generate(make_request())
    assert str(info.value) == "fal: image URL returned text/html, not an image"
    assert_submit(fake)
    assert fake.received("GET", "/files/")[0].path.endswith(".html")


def test_unreachable_server_is_a_retryable_server_error():
    r = FalRouter(
        catalog=CATALOG, key=TEST_FAL_KEY, base_url="http://127.0.0.1:9", poll_interval=POLL
    )
    with pytest.raises(ServerError, match="could not reach fal"):
        r.generate(make_request())


def test_every_error_is_a_router_error_with_router_and_model(fake, router):
    fake.script("422_string")
    with pytest.raises(RouterError) as info:
        router.generate(make_request())
    assert (info.value.router, info.value.model) == ("fal", "fal:flux-schnell")


# ------------------------------------------------------------------------------- via the runner
def fal_runner(store, fake: FalFake, catalog=CATALOG) -> Runner:
    fake.retry_after = "0"  # keep the runner's retry pause at zero
    return Runner(
        store,
        catalog,
        env={"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url},
        router_options={"fal": {"poll_interval": POLL}},
        heartbeat=False,
    )


@pytest.mark.parametrize(
    "scenario, status, kind, message, attempts",
    [
        ("success", "ok", None, None, 1),
        ("401", "error", "auth", "fal: bad key", 1),
        ("403_locked", "error", "balance", "fal: account locked: balance exhausted", 1),
        (
            "422_list",
            "error",
            "validation",
            "fal: num_inference_steps: Input should be less than or equal to 12",
            1,
        ),
        ("content_policy", "error", "content_filter", f"fal: {FLAGGED}", 1),
        ("nsfw", "error", "content_filter", "fal: content filtered", 1),
        ("429_once", "ok", None, None, 2),  # the runner retries once and succeeds
        ("503", "ok", None, None, 2),
        ("malformed_json", "error", "protocol", "fal: answered with malformed JSON" + OPEN, 1),
        ("image_404", "error", "bad_image", "fal: image not found at its URL (HTTP 404)" + OPEN, 1),
    ],
)
def test_through_the_runner(store, fake, scenario, status, kind, message, attempts):
    fake.script(scenario)
    run_id = finish_run(fal_runner(store, fake), PROMPT, ["fal:flux-schnell"], CommonParams(seed=5))
    cell = store.run_view(run_id).cells[0]
    assert (cell.status, cell.error_kind, cell.error_message) == (status, kind, message)
    assert cell.attempts == attempts
    assert fake.received("POST")[0].body["seed"] == 5
    assert fake.received("POST")[0].headers["authorization"] == f"Key {TEST_FAL_KEY}"
    if status == "ok":
        assert cell.seed == "5" and cell.inference_s == pytest.approx(0.42)
        assert cell.queue_s is not None and cell.wall_s >= cell.queue_s
        assert (cell.cost_kind, cell.cost_usd) == ("reported", pytest.approx(0.003))


def test_timeout_through_the_runner_cancels_at_fal(store, fake):
    catalog = with_deadline(CATALOG, "fal:flux-schnell", 0.3)
    fake.script("never_completes")
    run_id = finish_run(
        fal_runner(store, fake, catalog), PROMPT, ["fal:flux-schnell"], CommonParams()
    )
    cell = store.run_view(run_id).cells[0]
    assert (cell.status, cell.error_kind, cell.error_message) == (
        "timeout",
        "timeout",
        "fal: timed out" + OPEN,
    )
    assert fake.cancels == list(fake.jobs)
