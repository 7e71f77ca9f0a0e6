"""The Kie adapter against the local fake Kie API (real HTTP, both HTTP-status modes)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from tests.fakes.kie_server import TEST_KIE_KEY, KieFake, Recorded
from tests.routers.runs import finish_run, with_deadline
from vibegen.catalog import default_catalog
from vibegen.errors import (
    AuthError,
    BadImageError,
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
from vibegen.routers.kie_router import KieRouter, poll_delay
from vibegen.runner import Runner

# What a cell says when its paid job may still run (the runner's wording).
OPEN = " · its paid job may still finish: Retry follows it, not buying it again"
SCALE = 0.004  # poll cadence scale: 2.5 s → 10 ms


def _scaled(catalog):
    # Kie's account windows (20 creates / 10 s) on the same time scale as the polls, so a
    # refused create waits one window in milliseconds, not ten seconds.
    info = catalog.routers["kie"]
    fast = info.model_copy(
        update={
            "rate_limit_window_s": info.rate_limit_window_s * SCALE,
            "poll_limit_window_s": info.poll_limit_window_s * SCALE,
        }
    )
    return catalog.model_copy(update={"routers": {**catalog.routers, "kie": fast}})


CATALOG = _scaled(default_catalog())
PROMPT = "a red fox in the snow"
FLAGGED_PROMPT = "Invalid prompt: your prompt was flagged as containing prohibited content"
MODES = ["mirror", "always_200"]
JOBS = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"


@pytest.fixture(params=MODES)
def fake(request) -> Iterator[KieFake]:
    with KieFake(http_status_mode=request.param) as f:
        yield f


@pytest.fixture
def mirror() -> Iterator[KieFake]:
    with KieFake() as f:
        yield f


def kie(fake: KieFake, key: str | None = TEST_KIE_KEY) -> KieRouter:
    return KieRouter(catalog=CATALOG, key=key, base_url=fake.url, poll_interval=SCALE)


def make_request(
    model_key: str = "kie:nano-banana-pro",
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


def assert_create(fake: KieFake, model: str = "nano-banana-pro", **params: object) -> Recorded:
    """The fake received one createTask with Bearer auth and {"model", "input"}."""
    creates = fake.received("POST")
    assert len(creates) == 1
    create = creates[0]
    assert create.path == JOBS
    assert create.headers["authorization"] == f"Bearer {TEST_KIE_KEY}"
    assert create.headers["content-type"] == "application/json"
    expected = params or {"aspect_ratio": "1:1", "resolution": "1K"}
    assert create.body == {"model": model, "input": {"prompt": PROMPT, **expected}}
    return create


def polls(fake: KieFake, path: str = RECORD) -> list[Recorded]:
    return fake.received("GET", path)


def assert_no_key(err: BaseException) -> None:
    assert TEST_KIE_KEY not in f"{err} {err!r} {getattr(err, 'detail', '')}"


# ------------------------------------------------------------------------------- cadence
def test_poll_cadence_follows_kie_guidance():
    assert [poll_delay(t) for t in (0, 29, 30, 119, 120, 900)] == [2.5, 2.5, 7.5, 7.5, 20, 20]
    assert 2 <= poll_delay(0) <= 3 and 5 <= poll_delay(60) <= 10 and 15 <= poll_delay(600) <= 30
    # Scaled: phases and delays shrink together, so tests see the same shape in milliseconds.
    assert poll_delay(0.2, 0.01) == pytest.approx(0.025)
    assert poll_delay(0.31, 0.01) == pytest.approx(0.075)
    assert poll_delay(1.3, 0.01) == pytest.approx(0.2)


# ------------------------------------------------------------------------------- success
def test_success_polls_the_states_and_downloads_the_image(fake):
    result = kie(fake).generate(make_request())

    assert_create(fake)
    task_id = next(iter(fake.tasks))
    seen = polls(fake)
    assert len(seen) == 4  # waiting, queuing, generating, success
    assert all(p.query == {"taskId": [task_id]} for p in seen)
    assert all(p.headers["authorization"] == f"Bearer {TEST_KIE_KEY}" for p in seen)
    download = fake.received("GET", "/images/")
    assert len(download) == 1 and "authorization" not in download[0].headers

    assert Image.open(io.BytesIO(result.image)).size == (96, 64)
    assert result.request_id == task_id
    assert result.cost is not None and result.cost.kind == "reported"
    assert result.cost.usd == pytest.approx(18 * 0.005)  # consumeCredits × $/credit
    assert result.meta["credits"] == 18
    assert result.inference_s == pytest.approx(8.0)  # costTime 8000 ms
    assert result.queue_s == pytest.approx(1.5)  # completeTime − createTime − costTime
    assert result.seed is None  # nano-banana-pro takes no seed; Kie reports none
    assert fake.balance == 1000 - 18


@pytest.mark.parametrize(
    ("unit", "cost_time_ms", "queue_ms", "inference", "queue"),
    [
        ("ms", 8000, 1500, 8.0, 1.5),  # as documented
        ("s", 8000, 1500, 8.0, 1.5),  # costTime: 8, as in Kie's callback example
        ("ms", 900, 1_200_000, 0.9, 1200.0),  # a fast image after a long queue stays in ms
    ],
    ids=["ms", "seconds", "ms-long-queue"],
)
def test_cost_time_unit(unit, cost_time_ms, queue_ms, inference, queue):
    with KieFake(cost_time_ms=cost_time_ms, cost_time_unit=unit, queue_ms=queue_ms) as f:
        result = kie(f).generate(make_request())
    assert result.inference_s == pytest.approx(inference)
    assert result.queue_s == pytest.approx(queue)


def test_credits_under_the_other_field_name(mirror):
    mirror.credit_field = "creditsConsumed"
    result = kie(mirror).generate(make_request())
    assert_create(mirror)
    assert result.cost.kind == "reported" and result.cost.usd == pytest.approx(0.09)


def test_no_credit_field_leaves_the_cost_to_the_runner(mirror):
    mirror.script("no_credits")
    result = kie(mirror).generate(make_request())
    assert_create(mirror)
    assert result.cost is None and "credits" not in result.meta


def test_seed_and_model_params_are_sent_in_input(mirror):
    result = kie(mirror).generate(make_request("kie:qwen-image", CommonParams(seed=7)))
    assert_create(mirror, "qwen/text-to-image", image_size="square_hd", seed=7)
    assert result.seed == "7"


def test_polls_are_spaced_by_the_cadence(mirror):
    r = KieRouter(catalog=CATALOG, key=TEST_KIE_KEY, base_url=mirror.url, poll_interval=0.02)
    t = time.monotonic()
    r.generate(make_request())
    assert time.monotonic() - t >= 4 * 2.5 * 0.02


def test_build_router_reads_key_and_url_from_env(mirror):
    r = build_router(
        "kie",
        CATALOG,
        {"KIE_API_KEY": TEST_KIE_KEY, "VIBEGEN_KIE_URL": mirror.url},
        poll_interval=SCALE,
    )
    assert isinstance(r, KieRouter) and r.generate(make_request()).image
    assert_create(mirror)


def test_missing_key_sends_nothing(mirror):
    with pytest.raises(MissingKeyError, match="add KIE_API_KEY to enable"):
        kie(mirror, key=None).generate(make_request())
    assert mirror.requests == []


# ------------------------------------------------------------------------------- errors
def test_bad_key_is_an_auth_error(fake):
    with pytest.raises(AuthError) as info:
        KieRouter(
            catalog=CATALOG, key="not-the-key", base_url=fake.url, poll_interval=SCALE
        ).generate(make_request())
    err = info.value
    assert (str(err), err.kind, err.status) == ("kie: bad key", "auth", 401)
    create = fake.received("POST")[0]
    assert create.path == JOBS and create.headers["authorization"] == "Bearer not-the-key"
    assert "not-the-key" not in f"{err} {err!r} {err.detail}"
    assert fake.tasks == {}


CREATE_CASES = [
    ("401", AuthError, "bad key", "auth"),
    ("402", InsufficientCreditsError, "insufficient credits", "balance"),
    (
        "422",
        RouterValidationError,
        "aspect_ratio is not within the range of allowed options",
        "validation",
    ),
    ("500", ServerError, "server error 500: Internal server error", "router_error"),
    ("455", ServerError, "service under maintenance", "router_error"),
    ("501", ServerError, "generation failed: Generation failed", "router_error"),
    (
        "505",
        RouterError,
        "model disabled by Kie: This feature is currently disabled",
        "router_error",
    ),
]


@pytest.mark.parametrize("scenario, cls, message, kind", CREATE_CASES)
def test_errors_at_create_in_both_http_modes(fake, scenario, cls, message, kind):
    fake.script(scenario)
    with pytest.raises(cls) as info:
        kie(fake).generate(make_request())
    err = info.value
    assert type(err) is cls
    assert (err.message, err.kind, err.status) == (message, kind, int(scenario))
    assert str(err) == f"kie: {message}"
    assert err.retryable == (cls is ServerError)
    assert_create(fake)
    assert polls(fake) == [] and fake.tasks == {}
    assert_no_key(err)


def test_402_when_the_balance_runs_out(mirror):
    mirror.balance = 20  # enough for one nano-banana-pro (18 credits), not two
    kie(mirror).generate(make_request())
    with pytest.raises(InsufficientCreditsError, match="insufficient credits"):
        kie(mirror).generate(make_request())
    assert len(mirror.received("POST", JOBS)) == 2 and mirror.balance == 2


def test_unknown_input_key_is_a_validation_error(mirror):
    req = make_request()
    req = GenerationRequest(
        model=req.model,
        prompt=PROMPT,
        params={**req.params, "steps": 4},
        width=req.width,
        height=req.height,
        deadline=req.deadline,
    )
    with pytest.raises(RouterValidationError, match="Unknown input field: steps") as info:
        kie(mirror).generate(req)
    assert info.value.status == 422
    assert mirror.received("POST")[0].body["input"]["steps"] == 4


def test_429_once_then_success_in_both_http_modes(fake):
    fake.script("429_once")
    with pytest.raises(RateLimitError) as info:
        kie(fake).generate(make_request())
    err = info.value
    assert (str(err), err.kind, err.status, err.retryable) == (
        "kie: rate limited",
        "rate_limit",
        429,
        True,
    )
    assert_create(fake)
    assert kie(fake).generate(make_request()).image  # the runner's retry succeeds
    assert len(fake.received("POST")) == 2 and len(fake.tasks) == 1


def test_429_as_body_code_under_http_200():
    with KieFake(http_status_mode="always_200") as f:
        f.script("429_once")
        with pytest.raises(RateLimitError):
            kie(f).generate(make_request())
        assert_create(f)
    # The fake really answered HTTP 200 with {"code": 429}: checked with a raw call.
    with KieFake(http_status_mode="always_200") as f:
        f.script("429_once")
        raw = httpx.post(
            f.url + JOBS,
            json={"model": "z-image", "input": {"prompt": "p"}},
            headers={"Authorization": f"Bearer {TEST_KIE_KEY}"},
        )
        assert raw.status_code == 200 and raw.json()["code"] == 429


def test_the_fake_refuses_the_twenty_first_create_in_ten_seconds(mirror):
    body = {"model": "z-image", "input": {"prompt": "p"}}
    headers = {"Authorization": f"Bearer {TEST_KIE_KEY}"}
    codes = [
        httpx.post(mirror.url + JOBS, json=body, headers=headers).status_code for _ in range(21)
    ]
    assert codes == [200] * 20 + [429]


def test_creates_stay_under_the_account_limit_with_a_margin(mirror):
    # The adapter's own limiter holds creates to 90 % of Kie's 20 per 10 s, for all cells.
    info = CATALOG.routers["kie"].model_copy(
        update={
            "rate_limit_requests": 4,  # 90 %: 3
            "rate_limit_window_s": 0.5,
        }
    )
    catalog = CATALOG.model_copy(update={"routers": {**CATALOG.routers, "kie": info}})
    r = KieRouter(catalog=catalog, key=TEST_KIE_KEY, base_url=mirror.url, poll_interval=SCALE)
    t = time.monotonic()
    for _ in range(4):
        r._create(JOBS, {"model": "z-image", "input": {"prompt": "p"}}, RECORD, make_request())
    assert time.monotonic() - t >= 0.45  # the fourth waited for the window
    assert len(mirror.received("POST", JOBS)) == 4


FAIL_CASES = [
    # Kie sends a flagged prompt as failCode "422", the code of any invalid input, and names
    # no content code: the verdict is not guessed from its words, and its words are kept.
    ("fail_content", RouterValidationError, FLAGGED_PROMPT, "validation"),
    ("fail_validation", RouterValidationError, "resolution 8K is not supported", "validation"),
    (
        "fail_server",
        ServerError,
        "generation failed: Internal error, please try again later",
        "router_error",
    ),
]


@pytest.mark.parametrize("scenario, cls, message, kind", FAIL_CASES)
def test_failed_tasks_map_fail_code_and_message(fake, scenario, cls, message, kind):
    fake.script(scenario)
    with pytest.raises(cls) as info:
        kie(fake).generate(make_request())
    err = info.value
    assert (err.message, err.kind) == (message, kind)
    assert_create(fake)
    assert len(polls(fake)) == 4  # waiting, queuing, generating, fail
    assert fake.received("GET", "/images/") == []
    assert fake.balance == 1000  # failed tasks are refunded


def test_transient_poll_429_is_polled_through(mirror):
    mirror.script("poll_429_once")
    result = kie(mirror).generate(make_request())
    assert result.image and len(polls(mirror)) == 5
    assert_create(mirror)


def test_never_completing_task_times_out(mirror):
    mirror.script("never_completes")
    t = time.monotonic()
    with pytest.raises(RouterTimeout) as info:
        kie(mirror).generate(make_request(deadline_s=0.3))
    assert str(info.value) == "kie: timed out" and info.value.kind == "timeout"
    assert 0.3 <= time.monotonic() - t < 1.5
    assert_create(mirror)
    assert len(polls(mirror)) >= 5


def test_one_truncated_poll_is_polled_through(mirror):
    mirror.script("malformed_json")
    result = kie(mirror).generate(make_request())
    assert result.image and result.request_id
    assert_create(mirror)  # the same task, polled again: not bought twice


@pytest.mark.parametrize(
    "scenario, message",
    [
        ("malformed_result_json", "answered with malformed resultJson"),
    ],
)
def test_malformed_answers_are_protocol_errors(mirror, scenario, message):
    mirror.script(scenario)
    with pytest.raises(ProtocolError) as info:
        kie(mirror).generate(make_request())
    assert str(info.value) == f"kie: {message}" and info.value.kind == "protocol"
    assert_create(mirror)
    assert polls(mirror)


def test_unknown_task_id_is_a_protocol_error(mirror):
    r = kie(mirror)
    req = make_request()
    with pytest.raises(ProtocolError, match="task nope not found"):
        r._poll({"task_id": "nope", "poll_path": RECORD}, req, r._jobs_done)
    assert polls(mirror)[0].query == {"taskId": ["nope"]}


@pytest.mark.parametrize(
    "scenario, cls, message",
    [
        ("image_404", BadImageError, "image not found at its URL (HTTP 404)"),
        ("not_image", BadImageError, "image URL returned text/html, not an image"),
    ],
)
def test_image_download_errors(mirror, scenario, cls, message):
    mirror.script(scenario)
    with pytest.raises(cls) as info:
        kie(mirror).generate(make_request())
    assert str(info.value) == f"kie: {message}" and info.value.kind == "bad_image"
    assert_create(mirror)
    assert mirror.received("GET", "/images/")


def test_non_json_error_page_uses_the_http_status(fake):
    # Kie's Cloudflare answers 403 "error code: 1010" (no JSON) to odd clients.
    fake.script("cloudflare_1010")
    with pytest.raises(AuthError) as info:
        kie(fake).generate(make_request())
    assert str(info.value) == "kie: access denied: error code: 1010"
    assert info.value.status == 403
    assert_create(fake)


# ------------------------------------------------------------------------------- legacy APIs
def test_gpt4o_legacy_endpoint(fake):
    result = kie(fake).generate(make_request("kie:4o-image", CommonParams(aspect="3:2")))
    create = fake.received("POST")[0]
    assert create.path == "/api/v1/gpt4o-image/generate"
    assert create.headers["authorization"] == f"Bearer {TEST_KIE_KEY}"
    assert create.body == {"prompt": PROMPT, "size": "3:2"}
    task_id = next(iter(fake.tasks))
    seen = polls(fake, "/api/v1/gpt4o-image/record-info")
    assert len(seen) == 4 and seen[0].query == {"taskId": [task_id]}
    assert result.image and result.request_id == task_id
    assert result.cost.usd == pytest.approx(6 * 0.005)


def test_gpt4o_failure_maps_error_message(mirror):
    mirror.script("fail_content")
    with pytest.raises(RouterValidationError, match="flagged as containing prohibited"):
        kie(mirror).generate(make_request("kie:4o-image"))
    create = mirror.received("POST")[0]
    assert create.path == "/api/v1/gpt4o-image/generate"
    assert create.headers["authorization"] == f"Bearer {TEST_KIE_KEY}"
    assert create.body == {"prompt": PROMPT, "size": "1:1"}
    assert mirror.received("GET", "/api/v1/gpt4o-image/record-info")


def test_gpt4o_size_is_validated_by_the_fake(mirror):
    req = make_request("kie:4o-image")
    req = GenerationRequest(
        model=req.model,
        prompt=PROMPT,
        params={"size": "16:9"},
        width=1,
        height=1,
        deadline=req.deadline,
    )
    with pytest.raises(RouterValidationError, match="size must be one of"):
        kie(mirror).generate(req)


def test_midjourney_returns_the_first_of_four_images(fake):
    result = kie(fake).generate(make_request("kie:midjourney-v7", CommonParams(aspect="16:9")))
    create = fake.received("POST")[0]
    assert create.path == "/api/v1/mj/generate"
    assert create.headers["authorization"] == f"Bearer {TEST_KIE_KEY}"
    assert create.body == {
        "prompt": PROMPT,
        "taskType": "mj_txt2img",
        "version": "7",
        "speed": "fast",
        "aspectRatio": "16:9",
    }
    assert polls(fake, "/api/v1/mj/record-info")
    downloads = fake.received("GET", "/images/")
    assert len(downloads) == 1 and downloads[0].path.endswith("_0.png")
    assert result.meta["images_in_task"] == 4
    assert result.cost.usd == pytest.approx(8 * 0.005 / 4)  # task price / images per task


def test_midjourney_failure(mirror):
    mirror.script("fail_server")
    with pytest.raises(ServerError, match="generation failed"):
        kie(mirror).generate(make_request("kie:midjourney-v7"))
    create = mirror.received("POST")[0]
    assert create.path == "/api/v1/mj/generate"
    assert create.headers["authorization"] == f"Bearer {TEST_KIE_KEY}"
    assert create.body["taskType"] == "mj_txt2img" and create.body["prompt"] == PROMPT
    assert mirror.balance == 1000  # refunded


def test_fake_credit_and_download_url_endpoints(mirror):
    auth = {"Authorization": f"Bearer {TEST_KIE_KEY}"}
    kie(mirror).generate(make_request())
    credit = httpx.get(mirror.url + "/api/v1/chat/credit", headers=auth).json()
    assert credit == {"code": 200, "msg": "success", "data": 1000 - 18}
    url = mirror.url + "/images/x_0.png"
    link = httpx.post(
        mirror.url + "/api/v1/common/download-url", json={"url": url}, headers=auth
    ).json()
    assert link["data"] == url
    foreign = httpx.post(
        mirror.url + "/api/v1/common/download-url",
        json={"url": "https://example.com/a.png"},
        headers=auth,
    )
    assert foreign.status_code == 422 and foreign.json()["code"] == 422
    assert httpx.get(mirror.url + "/api/v1/chat/credit").json()["code"] == 401


# ------------------------------------------------------------------------------- via the runner
def kie_runner(store, fake: KieFake, catalog=CATALOG) -> Runner:
    return Runner(
        store,
        catalog,
        env={"KIE_API_KEY": TEST_KIE_KEY, "VIBEGEN_KIE_URL": fake.url},
        router_options={"kie": {"poll_interval": SCALE}},
        heartbeat=False,
    )


@pytest.mark.parametrize(
    "scenario, status, kind, message, attempts",
    [
        ("success", "ok", None, None, 1),
        ("401", "error", "auth", "kie: bad key", 1),
        ("402", "error", "balance", "kie: insufficient credits", 1),
        (
            "422",
            "error",
            "validation",
            "kie: aspect_ratio is not within the range of allowed options",
            1,
        ),
        ("fail_content", "error", "validation", f"kie: {FLAGGED_PROMPT}", 1),
        ("429_once", "ok", None, None, 2),  # the runner retries and succeeds
        ("500", "ok", None, None, 2),
        (
            "malformed_result_json",
            "error",
            "protocol",
            "kie: answered with malformed resultJson",
            1,
        ),
        (
            "not_image",
            "error",
            "bad_image",
            "kie: image URL returned text/html, not an image" + OPEN,
            1,
        ),
    ],
)
def test_through_the_runner(store, fake, scenario, status, kind, message, attempts):
    fake.script(scenario)
    run_id = finish_run(
        kie_runner(store, fake), PROMPT, ["kie:nano-banana-pro"], CommonParams(), timeout=15
    )
    cell = store.run_view(run_id).cells[0]
    assert (cell.status, cell.error_kind, cell.error_message) == (status, kind, message)
    assert cell.attempts == attempts
    assert fake.received("POST")[0].body == {
        "model": "nano-banana-pro",
        "input": {"prompt": PROMPT, "aspect_ratio": "1:1", "resolution": "1K"},
    }
    if status == "ok":
        assert (cell.cost_kind, cell.cost_usd) == ("reported", pytest.approx(0.09))
        assert cell.inference_s == pytest.approx(8.0) and cell.queue_s == pytest.approx(1.5)
        assert (cell.width, cell.height) == (96, 64)


def test_timeout_through_the_runner(store, mirror):
    catalog = with_deadline(CATALOG, "kie:z-image", 0.3)
    mirror.script("never_completes")
    run_id = finish_run(kie_runner(store, mirror, catalog), PROMPT, ["kie:z-image"], CommonParams())
    cell = store.run_view(run_id).cells[0]
    assert (cell.status, cell.error_kind, cell.error_message) == (
        "timeout",
        "timeout",
        "kie: timed out" + OPEN,
    )
