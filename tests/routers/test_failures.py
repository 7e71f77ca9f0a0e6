"""One mapping from HTTP and transport failures to the error tree, keeping the cause; one
polling loop the queue-style adapters share, which saves the job before its first poll."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest

from tests.fakes.fal_server import TEST_FAL_KEY, FalFake
from tests.fakes.kie_server import TEST_KIE_KEY, KieFake
from vibegen.catalog import default_catalog
from vibegen.errors import (
    AuthError,
    InsufficientCreditsError,
    ProtocolError,
    RateLimitError,
    RouterError,
    RouterTimeout,
    RouterValidationError,
    ServerError,
)
from vibegen.params import CommonParams, map_params
from vibegen.routers.base import GenerationRequest, GenerationResult
from vibegen.routers.failures import decode_json, status_error, transport_error, with_cause
from vibegen.routers.fal_router import FalRouter
from vibegen.routers.kie_router import KieRouter
from vibegen.routers.polling import QueueRouter

CATALOG = default_catalog()


def make_request(model_key: str, deadline_s: float = 10.0, **kwargs: Any) -> GenerationRequest:
    model = CATALOG.model(model_key)
    mapped = map_params(model, CommonParams())
    return GenerationRequest(
        model=model,
        prompt="a lighthouse",
        params=mapped.params,
        width=mapped.width,
        height=mapped.height,
        deadline=time.monotonic() + deadline_s,
        **kwargs,
    )


@pytest.mark.parametrize(
    "status, cls, message",
    [
        (400, RouterValidationError, "size must be 1024x1024"),
        (401, AuthError, "bad key"),  # never the router's words: they may quote the key
        (402, InsufficientCreditsError, "insufficient credits"),
        (403, AuthError, "access denied: size must be 1024x1024"),
        (404, RouterValidationError, "not found: size must be 1024x1024"),
        (422, RouterValidationError, "size must be 1024x1024"),
        (429, RateLimitError, "rate limited"),
        (500, ServerError, "server error 500: size must be 1024x1024"),
        (503, ServerError, "server error 503: size must be 1024x1024"),
        (418, RouterError, "HTTP 418: size must be 1024x1024"),
    ],
)
def test_each_status_maps_to_its_error_with_context(status, cls, message):
    err = status_error(
        status,
        "size must be 1024x1024",
        router="kie",
        model="kie:m",
        retry_after=2.0,
        detail="the body",
    )
    assert type(err) is cls
    assert (err.message, err.router, err.model, err.status, err.detail) == (
        message,
        "kie",
        "kie:m",
        status,
        "the body",
    )
    assert str(err) == f"kie: {message}"
    assert err.retryable == (cls in (RateLimitError, ServerError))
    assert err.retry_after == (2.0 if cls in (RateLimitError, ServerError) else None)


def test_an_html_title_is_not_said_twice():
    err = status_error(503, "503 Service Temporarily Unavailable", router="fal", model="m")
    assert err.message == "503 Service Temporarily Unavailable"


def _response(status: int, body: bytes = b"{}") -> httpx.Response:
    return httpx.Response(
        status, content=body, request=httpx.Request("GET", "http://127.0.0.1:9/x")
    )


def test_with_cause_keeps_the_failing_answer():
    err = with_cause(status_error(500, router="fal", model="m"), _response(500))
    assert isinstance(err.__cause__, httpx.HTTPStatusError)
    assert err.__cause__.response.status_code == 500
    # An envelope's error code under HTTP 200 has no HTTP failure behind it.
    assert with_cause(status_error(402, router="kie", model="m"), _response(200)).__cause__ is None


def test_bad_json_is_a_protocol_error_caused_by_the_decode_error():
    with pytest.raises(ProtocolError) as info:
        decode_json(_response(200, b"{not json"), "fal", "fal:m")
    err = info.value
    assert (err.message, err.router, err.model, err.status) == (
        "answered with malformed JSON",
        "fal",
        "fal:m",
        200,
    )
    assert isinstance(err.__cause__, json.JSONDecodeError)


@pytest.mark.parametrize(
    "exc, cls, may_run",
    [
        (httpx.ConnectError("refused"), ServerError, False),  # nothing was sent
        (httpx.ConnectTimeout("slow connect"), ServerError, False),
        (httpx.ReadTimeout("no answer"), ServerError, True),  # sent: the job may exist
        (httpx.RemoteProtocolError("dropped"), ServerError, True),
    ],
)
def test_transport_failures_of_a_submit(exc, cls, may_run):
    err = transport_error(
        exc, router="kie", model="kie:m", who="Kie", deadline_passed=False, submit=True
    )
    assert type(err) is cls and err.job_may_run is may_run
    assert (err.router, err.model) == ("kie", "kie:m")
    polled = transport_error(exc, router="kie", model="kie:m", who="Kie", deadline_passed=False)
    assert polled.job_may_run is False  # a poll starts nothing


def test_a_timeout_past_the_deadline_is_a_timeout():
    err = transport_error(
        httpx.ReadTimeout("late"), router="fal", model="m", who="fal", deadline_passed=True
    )
    assert type(err) is RouterTimeout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_router_error_keeps_the_httpx_cause():
    r = FalRouter(
        catalog=CATALOG,
        key=TEST_FAL_KEY,
        base_url=f"http://127.0.0.1:{_closed_port()}",
        poll_interval=0.01,
    )
    with pytest.raises(ServerError) as info:
        r.generate(make_request("fal:flux-schnell"))
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert not info.value.job_may_run


@pytest.mark.parametrize(
    "scenario, cls, status",
    [
        ("401", AuthError, 401),
        ("500", ServerError, 500),
        ("403_locked", InsufficientCreditsError, 403),
    ],
)
def test_fal_status_errors_keep_the_answer_as_cause(scenario, cls, status):
    with FalFake() as fake:
        fake.script(scenario)
        r = FalRouter(catalog=CATALOG, key=TEST_FAL_KEY, base_url=fake.url, poll_interval=0.01)
        with pytest.raises(cls) as info:
            r.generate(make_request("fal:flux-schnell"))
    cause = info.value.__cause__
    assert isinstance(cause, httpx.HTTPStatusError)
    assert cause.response.status_code == status
    assert (info.value.router, info.value.model, info.value.status) == (
        "fal",
        "fal:flux-schnell",
        status,
    )


def test_kie_status_errors_keep_the_answer_as_cause():
    with KieFake(http_status_mode="mirror") as fake:
        fake.script("402")
        r = KieRouter(catalog=CATALOG, key=TEST_KIE_KEY, base_url=fake.url, poll_interval=0.004)
        with pytest.raises(InsufficientCreditsError) as info:
            r.generate(make_request("kie:flux-2-pro"))
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    assert info.value.__cause__.response.status_code == 402


class _Scripted(QueueRouter):
    """A queue router whose submit and polls are scripted, recording the order of events."""

    name = "fal"  # borrows fal's declaration: limits and URL are not used here

    def __init__(self, states: list[Any], **kwargs: Any) -> None:
        super().__init__(catalog=CATALOG, poll_interval=0.001, **kwargs)
        self.states = states
        self.events: list[str] = []

    def generate(self, request: GenerationRequest) -> GenerationResult:
        self.follow(request, self._submit)

        def poll() -> Any:
            self.events.append("poll")
            state = self.states.pop(0)
            if isinstance(state, RouterError):
                raise state
            return state

        self.poll_until(request, poll, lambda state: state == "done")
        return GenerationResult(image=b"")

    def _submit(self) -> dict[str, Any]:
        self.events.append("submit")
        return {"request_id": "r1"}


def test_the_job_is_saved_before_the_first_poll_and_polls_retry_on_it():
    saved: list[dict[str, Any]] = []
    r = _Scripted(["running", ServerError("503", router="fal"), "running", "done"])
    r.events = []
    request = make_request(
        "fal:flux-schnell", on_job=lambda job: (saved.append(job), r.events.append("saved"))
    )
    r.generate(request)
    assert r.events == ["submit", "saved", "poll", "poll", "poll", "poll"]
    assert saved == [{"request_id": "r1"}]


def test_a_saved_job_is_resumed_never_submitted_again():
    r = _Scripted(["done"])
    r.generate(
        make_request(
            "fal:flux-schnell",
            job={"request_id": "r0"},
            on_job=lambda job: pytest.fail("a resumed job is not new"),
        )
    )
    assert r.events == ["poll"]


def test_polling_stops_at_the_deadline_with_the_job_possibly_running():
    r = _Scripted(["running"] * 10_000)
    with pytest.raises(RouterTimeout):
        r.generate(make_request("fal:flux-schnell", deadline_s=0.5))
    assert r.events[0] == "submit" and "poll" in r.events
