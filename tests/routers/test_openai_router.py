"""The OpenAI adapter against the local fake Images API (real HTTP through the openai SDK)."""

from __future__ import annotations

import base64
import io
import socket
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.fakes.openai_server import TEST_KEY, OpenAIFake, size_error
from tests.routers.runs import finish_run, with_deadline
from vibegen.catalog import default_catalog
from vibegen.errors import (
    AuthError,
    ContentFilteredError,
    InsufficientCreditsError,
    MissingKeyError,
    ProtocolError,
    RateLimitError,
    RouterTimeout,
    RouterValidationError,
    ServerError,
)
from vibegen.params import CommonParams, map_params
from vibegen.routers import build_router
from vibegen.routers.base import GenerationRequest
from vibegen.routers.openai_router import OpenAIRouter, _retry_after

CATALOG = default_catalog()
PROMPT = "a red fox in the snow"  # 21 chars: the fake counts 5 text tokens


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(slow_s=3.0) as f:
        yield f


@pytest.fixture
def router(fake: OpenAIFake) -> Iterator[OpenAIRouter]:
    r = OpenAIRouter(catalog=CATALOG, key=TEST_KEY, base_url=fake.url)
    yield r
    r.close()


def make_request(
    model_key: str = "openai:gpt-image-2",
    common: CommonParams | None = None,
    deadline_s: float = 10.0,
    **extra: object,
) -> GenerationRequest:
    model = CATALOG.model(model_key)
    mapped = map_params(model, common or CommonParams(quality="low"))
    return GenerationRequest(
        model=model,
        prompt=PROMPT,
        params={**mapped.params, **extra},
        width=mapped.width,
        height=mapped.height,
        deadline=time.monotonic() + deadline_s,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- success
def test_success_sends_sdk_request_and_computes_cost(fake, router):
    result = router.generate(make_request(common=CommonParams(aspect="16:9", quality="low")))

    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/v1/images/generations")
    assert req.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert req.headers["content-type"].startswith("application/json")
    assert req.body == {
        "model": "gpt-image-2",
        "prompt": PROMPT,
        "n": 1,
        "size": "1360x768",
        "quality": "low",
    }
    img = Image.open(io.BytesIO(result.image))
    assert (img.format, img.size) == ("PNG", (1360, 768))
    assert result.seed is None
    assert result.request_id == "req_fake_1"
    # 5 text tokens × $5/M + 272 image output tokens × $30/M
    assert result.cost is not None and result.cost.kind == "computed"
    assert result.cost.usd == pytest.approx((5 * 5.0 + 272 * 30.0) / 1e6)
    assert "5 input + 272 output tokens" in result.cost.basis
    assert result.meta["usage"]["output_tokens"] == 272
    assert result.meta["size"] == "1360x768" and result.meta["quality"] == "low"


def test_fixed_size_family_gets_one_of_its_sizes(fake, router):
    result = router.generate(
        make_request("openai:gpt-image-1.5", CommonParams(aspect="3:2", quality="high"))
    )
    assert fake.last.body["size"] == "1536x1024"
    assert fake.last.body["quality"] == "high"
    assert Image.open(io.BytesIO(result.image)).size == (1536, 1024)
    assert result.cost.kind == "computed"
    assert result.cost.usd == pytest.approx((5 * 5.0 + 4160 * 32.0) / 1e6)


def test_extra_params_ride_in_the_json_body(fake, router):
    router.generate(make_request(moderation="low", output_format="png", style_hint="flat"))
    body = fake.last.body
    assert body["moderation"] == "low" and body["output_format"] == "png"
    assert body["style_hint"] == "flat"


def test_no_usage_leaves_cost_to_the_runner(fake, router):
    fake.script("no_usage")
    result = router.generate(make_request())
    assert result.cost is None
    assert Image.open(io.BytesIO(result.image)).format == "PNG"
    assert "usage" not in result.meta


# ---------------------------------------------------------------------- configuration
def test_no_key_is_a_missing_key_error_and_sends_nothing(fake):
    r = OpenAIRouter(catalog=CATALOG, key=None, base_url=fake.url)
    with pytest.raises(MissingKeyError) as info:
        r.generate(make_request())
    assert info.value.kind == "config"
    assert str(info.value) == "openai: add OPENAI_API_KEY to enable"
    assert fake.requests == []


def test_default_base_url_and_registry_env(fake):
    assert OpenAIRouter(catalog=CATALOG, key=TEST_KEY).base_url == "https://api.openai.com/v1"
    r = build_router("openai", CATALOG, {"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fake.url})
    try:
        r.generate(make_request())
    finally:
        r.close()
    assert fake.last.headers["authorization"] == f"Bearer {TEST_KEY}"


# --------------------------------------------------------------------------- errors
def test_401_is_bad_key_without_the_key(fake, router):
    fake.script("401")
    with pytest.raises(AuthError) as info:
        router.generate(make_request())
    err = info.value
    assert (err.kind, err.status, str(err)) == ("auth", 401, "openai: bad key")
    assert fake.last.headers["authorization"].split()[0] == "Bearer"
    assert TEST_KEY not in str(err) and TEST_KEY[:3] not in err.detail


def test_wrong_key_is_refused_by_the_fake(fake):
    r = OpenAIRouter(catalog=CATALOG, key="wrong-key-for-tests", base_url=fake.url)
    with pytest.raises(AuthError, match="bad key"):
        r.generate(make_request())
    assert fake.last.headers["authorization"] == "Bearer wrong-key-for-tests"
    r.close()


@pytest.mark.parametrize("scenario", ["moderation_blocked", "content_policy_violation"])
def test_safety_block_is_content_filtered(fake, router, scenario):
    fake.script(scenario)
    with pytest.raises(ContentFilteredError) as info:
        router.generate(make_request())
    err = info.value
    assert (err.kind, err.status) == ("content_filter", 400)
    # OpenAI's own sentence is kept after the verdict, which comes from error.code.
    assert str(err).startswith("openai: content filtered: Your request was rejected")
    assert not err.retryable
    assert fake.last.body["prompt"] == PROMPT
    if scenario == "moderation_blocked":
        assert err.detail == "stage input; violence"
    else:
        assert "safety system" in err.detail


def test_429_is_retryable_once_with_retry_after_then_success(fake, router):
    fake.script("429_once")
    with pytest.raises(RateLimitError) as info:
        router.generate(make_request())
    err = info.value
    assert (err.kind, err.status, err.message) == ("rate_limit", 429, "rate limited")
    assert err.retryable and err.retry_after == 1.0
    assert len(fake.requests) == 1  # max_retries=0: the SDK did not retry on its own
    result = router.generate(make_request())  # the runner's one retry
    assert result.image and len(fake.requests) == 2


def test_insufficient_quota_is_a_balance_error(fake, router):
    fake.script("insufficient_quota")
    with pytest.raises(InsufficientCreditsError) as info:
        router.generate(make_request())
    err = info.value
    assert (err.kind, err.status, str(err)) == ("balance", 429, "openai: insufficient quota")
    assert not err.retryable
    assert len(fake.requests) == 1


def test_404_unknown_model_says_model_not_served(fake, router):
    fake.script("404_model")
    with pytest.raises(RouterValidationError) as info:
        router.generate(make_request())
    err = info.value
    assert (err.kind, err.status, err.message) == (
        "validation",
        404,
        "model not served: gpt-image-2",
    )
    assert "does not exist" in err.detail


def test_retired_model_in_catalog_is_not_served(fake, router):
    # gpt-image-1 shut down 2026-10-23: the fake (like OpenAI) no longer serves it.
    with pytest.raises(RouterValidationError, match="model not served: gpt-image-1$"):
        router.generate(make_request("openai:gpt-image-1"))
    assert fake.last.body["model"] == "gpt-image-1"


def test_invalid_size_is_a_validation_error_with_the_message(fake, router):
    with pytest.raises(RouterValidationError) as info:
        router.generate(make_request(size="1000x1000"))
    err = info.value
    assert err.status == 400 and "multiples of 16" in err.message
    assert fake.last.body["size"] == "1000x1000"


def test_scripted_400_other_is_a_validation_error(fake, router):
    fake.script("400_invalid")
    with pytest.raises(RouterValidationError) as info:
        router.generate(make_request())
    assert info.value.message.startswith("Invalid value for 'background'")


def test_500_is_a_retryable_server_error(fake, router):
    fake.script("500")
    with pytest.raises(ServerError) as info:
        router.generate(make_request())
    err = info.value
    assert (err.kind, err.status, err.message) == ("router_error", 500, "server error 500")
    assert err.retryable
    assert len(fake.requests) == 1


def test_malformed_json_is_a_protocol_error(fake, router):
    fake.script("malformed_json")
    with pytest.raises(ProtocolError) as info:
        router.generate(make_request())
    assert (info.value.kind, info.value.message) == ("protocol", "answered with malformed JSON")
    assert fake.last.path == "/v1/images/generations"


def test_slow_answer_hits_the_deadline(fake, router):
    fake.script("slow")
    start = time.monotonic()
    with pytest.raises(RouterTimeout) as info:
        router.generate(make_request(deadline_s=0.4))
    elapsed = time.monotonic() - start
    assert info.value.kind == "timeout" and str(info.value) == "openai: timed out"
    assert 0.3 < elapsed < 1.5  # bounded by the deadline, not the fake's 3 s
    assert len(fake.requests) == 1


def test_deadline_already_passed_sends_nothing(fake, router):
    with pytest.raises(RouterTimeout):
        router.generate(make_request(deadline_s=-1))
    assert fake.requests == []


def test_connection_refused_names_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    r = OpenAIRouter(catalog=CATALOG, key=TEST_KEY, base_url=url)
    with pytest.raises(ServerError) as info:
        r.generate(make_request())
    assert info.value.message == f"cannot reach OpenAI at {url}"
    r.close()


# ----------------------------------------------------------------------- fake fidelity
def test_fake_validates_sizes_per_family():
    assert size_error("gpt-image-2", "3840x2160", "high") is None
    assert size_error("gpt-image-2", "3856x2160", "high")  # edge over 3840
    assert size_error("gpt-image-2", "3072x1008", "low")  # ratio over 3:1
    assert size_error("gpt-image-2", "1000x1008", "low")  # not a multiple of 16
    assert size_error("gpt-image-2", "1024x1024", "max")  # 2.5+ only
    assert size_error("gpt-image-2.6-flare", "1024x1024", "max") is None
    assert size_error("gpt-image-1.5", "1024x1536", "medium") is None
    assert size_error("gpt-image-1.5", "1360x768", "medium")
    assert size_error("gpt-image-1-mini", "auto", None) is None


def test_fake_answers_the_sdk_with_b64_and_usage(fake):
    import openai

    client = openai.OpenAI(api_key=TEST_KEY, base_url=fake.url, max_retries=0)
    answer = client.images.generate(
        model="gpt-image-2", prompt="x", size="1024x1024", quality="medium", n=2
    )
    client.close()
    assert len(answer.data) == 2
    assert Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json))).size == (1024, 1024)
    usage = answer.usage
    assert usage.input_tokens_details.text_tokens == usage.input_tokens
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert fake.last.body["n"] == 2


def test_retry_after_header_forms():
    assert _retry_after({"retry-after-ms": "250"}) == 0.25
    assert _retry_after({"retry-after": "2"}) == 2.0
    assert _retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert _retry_after({}) is None


# ------------------------------------------------------------------ through the runner
@pytest.mark.parametrize(
    ("scenarios", "status", "kind", "message", "attempts"),
    [
        ((), "ok", None, None, 1),
        (("429_once",), "ok", None, None, 2),
        (("500",), "ok", None, None, 2),
        (
            ("moderation_blocked",),
            "error",
            "content_filter",
            "openai: content filtered: Your request was rejected by the safety system. "
            "If you believe this is an error, contact us at help.openai.com "
            "and include the request ID req_fake.",
            1,
        ),
        (("insufficient_quota",), "error", "balance", "openai: insufficient quota", 1),
        (("401",), "error", "auth", "openai: bad key", 1),
        (("404_model",), "error", "validation", "openai: model not served: gpt-image-2", 1),
        (("malformed_json",), "error", "protocol", "openai: answered with malformed JSON", 1),
        (("slow",), "timeout", "timeout", "openai: timed out", 1),
    ],
    ids=["ok", "429_once", "500_once", "moderation", "quota", "401", "404", "malformed", "slow"],
)
def test_runner_cells(store, scenarios, status, kind, message, attempts):
    from vibegen.runner import Runner

    catalog = with_deadline(CATALOG, "openai:gpt-image-2", 0.5) if "slow" in scenarios else CATALOG
    with OpenAIFake(retry_after="0.05") as fake:
        fake.script(*scenarios)
        runner = Runner(
            store,
            catalog,
            env={"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fake.url},
            heartbeat=False,
        )
        run_id = finish_run(runner, PROMPT, ["openai:gpt-image-2"], CommonParams(quality="low"))
        requests = fake.requests
    [cell] = store.run_view(run_id).cells
    assert (cell.status, cell.error_kind, cell.error_message) == (status, kind, message)
    assert cell.attempts == attempts and len(requests) == attempts
    assert all(r.headers["authorization"] == f"Bearer {TEST_KEY}" for r in requests)
    assert requests[-1].body["size"] == "1024x1024" and requests[-1].body["quality"] == "low"
    assert cell.wall_s is not None and cell.wall_s > 0
    if status == "ok":
        assert (cell.cost_kind, cell.width, cell.height) == ("computed", 1024, 1024)
        assert cell.cost_usd == pytest.approx((5 * 5.0 + 272 * 30.0) / 1e6)
        assert cell.seed is None and cell.queue_s is None and cell.inference_s is None
    assert TEST_KEY not in (cell.error_message or "")


def test_runner_falls_back_to_the_tier_table_without_usage(store):
    from vibegen.runner import Runner

    with OpenAIFake() as fake:
        fake.script("no_usage")
        runner = Runner(
            store,
            CATALOG,
            env={"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fake.url},
            heartbeat=False,
        )
        run_id = finish_run(runner, PROMPT, ["openai:gpt-image-2"], CommonParams(quality="low"))
    [cell] = store.run_view(run_id).cells
    assert (cell.status, cell.cost_kind, cell.cost_usd) == ("ok", "estimated", 0.006)


def test_runner_refuses_openai_without_a_key(store):
    from vibegen.errors import InputError
    from vibegen.runner import Runner

    runner = Runner(store, CATALOG, env={}, heartbeat=False)
    try:
        with pytest.raises(InputError, match="add OPENAI_API_KEY to enable"):
            runner.start_run(PROMPT, ["openai:gpt-image-2"], CommonParams())
    finally:
        runner.close()


def test_a_connection_broken_after_the_request_is_not_sent_again(store):
    # OpenAI's call is the job: once the request went out it may be generated and billed.
    from vibegen.runner import Runner

    with OpenAIFake() as fake:
        fake.script("dropped")
        runner = Runner(
            store,
            CATALOG,
            env={"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fake.url},
            heartbeat=False,
        )
        run_id = finish_run(runner, PROMPT, ["openai:gpt-image-2"], CommonParams(quality="low"))
        assert len(fake.requests) == 1
    [cell] = store.run_view(run_id).cells
    assert cell.status == "error" and "may have started (and billed)" in cell.error_message
    assert cell.cost_kind == "estimated" and "may bill" in cell.cost_basis
