"""A local fake of fal.ai's queue API, strict enough for the official `fal-client` to use.

Protocol (reference/protocols.md §1.2–1.4): `POST /{owner}/{app}[/{path}]` submits and answers
`request_id`, `status`, `queue_position` and absolute `status_url` / `response_url` /
`cancel_url` (owner/app only); `GET …/requests/{id}/status?logs=1|0|true|false` walks
IN_QUEUE (with `queue_position`) → IN_PROGRESS (with `logs`) → COMPLETED (with `logs`,
`metrics`), answering 202 until COMPLETED and 200 then; `GET …/requests/{id}` returns the model
output with `x-fal-billable-units`, or the model's error status and body; `PUT …/cancel` is
recorded. Output images are real PNG/JPEG bytes served by the same server under `/files/`.

    with FalFake() as fake:
        fake.script("429_once")           # the next submit answers 429, later ones succeed
        ...
        fake.received("POST")[0].headers["authorization"]   # "Key <key>"
        fake.cancels                                         # request ids cancelled

Scenarios (one is consumed per submit; default "success"):
- at submit: `401`, `403_locked`, `429_once` (alias `429`), `500`, `503`, `malformed_submit`,
  `html_503` (a proxy's HTML error page), `echo_key` (a 400 whose message quotes the key
  raw and base64-encoded), `status_elsewhere` (the submit answer's status URL
  is on `elsewhere_url`, another host)
- at the result: `422_list`, `422_string`, `content_policy`, `nsfw`, `completed_error`,
  `malformed_json`, `no_billable_units`, `image_404`, `not_image`
- the image download: `image_trickle` (64 bytes every 50 ms), `image_oversize` (a real PNG of
  2 MiB), `image_huge` (a PNG header claiming 10000×9000 = 90 MP), `image_redirect` (a 302 to
  the real file), `image_redirect_private` (a 302 to http://10.0.0.7/…, a private address)
- queue: `success` (progression of `queue_steps` IN_QUEUE polls, `progress_steps` IN_PROGRESS
  polls, then COMPLETED), `never_completes` (IN_PROGRESS forever), `poll_503_once` (the first
  status poll answers 503 without moving the request on)

The HTTP plumbing (`FakeServer`, `Recorded`, `Reply`, `image_bytes`) lives in `http_fake`; it is
re-exported here for older imports.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes.http_fake import (
    HTML_503,
    FakeServer,
    Recorded,
    Reply,
    hosted_file,
    image_bytes,
    padded_png,
    png_header,
    redirect,
    trickle,
)

TEST_FAL_KEY = "fake-key-id:fake-key-secret"  # shaped like a FAL_KEY, not a real one
UINT64_SEED = 17454220438242315174  # a real fal seed (protocols.md §0.3): > int64

SUBMIT_ERRORS: dict[str, Reply] = {
    "401": Reply(401, {"detail": "No user found for Key ID and Secret"}),
    "403_locked": Reply(
        403,
        {
            "detail": "User is locked. Reason: Exhausted balance. Top up "
            "your balance at fal.ai/dashboard/billing."
        },
    ),
    "429_once": Reply(429, {"detail": "Too many requests"}),  # + Retry-After: fake.retry_after
    "500": Reply(500, {"detail": "Internal Server Error"}),
    "503": Reply(
        503,
        {"detail": "Runner scheduling failure", "error_type": "runner_scheduling_failure"},
        {"X-Fal-Error-Type": "runner_scheduling_failure"},
    ),
    "malformed_submit": Reply(
        200, b'{"request_id": "r1", "status_url": ', content_type="application/json"
    ),
    "html_503": HTML_503,
}
SUBMIT_ERRORS["429"] = SUBMIT_ERRORS["429_once"]

VALIDATION_LIST = {
    "detail": [
        {
            "loc": ["body", "num_inference_steps"],
            "msg": "Input should be less than or equal to 12",
            "type": "less_than_equal",
            "ctx": {"le": 12},
            "input": 50,
        }
    ]
}
VALIDATION_STRING = {"detail": "Unsupported image_size: square_xl"}
CONTENT_POLICY = {
    "detail": [
        {
            "loc": ["body", "prompt"],
            "msg": "The content was flagged by a content checker.",
            "type": "content_policy_violation",
            "url": "https://docs.fal.ai/errors#content_policy_violation",
            "input": "<flagged>",
        }
    ]
}
REQUEST_TIMEOUT = {"detail": "Request timed out", "error_type": "request_timeout"}

RESULT_ERRORS: dict[str, Reply] = {
    "422_list": Reply(422, VALIDATION_LIST),
    "422_string": Reply(422, VALIDATION_STRING),
    "content_policy": Reply(422, CONTENT_POLICY),
    "completed_error": Reply(504, REQUEST_TIMEOUT, {"X-Fal-Error-Type": "request_timeout"}),
    "malformed_json": Reply(200, b'{"images": [{"url": ', content_type="application/json"),
}
FLAKES = (
    Reply(
        503,
        b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>",
        content_type="text/html",
    ),
    Reply(429, {"detail": "Too many requests"}),
    Reply(202, b'{"status": "IN_PROG', content_type="application/json"),
)
# Image download faults: the scenario → the file name prefix `_file` recognises.
IMAGE_FAULTS = {
    "image_trickle": "trickle",
    "image_oversize": "oversize",
    "image_huge": "huge",
    "image_redirect": "redirect",
    "image_redirect_private": "private",
}
OVERSIZE_BYTES = 2 * 1024 * 1024
HUGE_SIZE = (10_000, 9_000)
PRIVATE_IMAGE = "http://10.0.0.7/files/internal.png"
RESULT_VARIANTS = ("nsfw", "no_billable_units", "image_404", "not_image", *IMAGE_FAULTS)
SCENARIOS = (
    "success",
    "never_completes",
    "poll_503_once",
    "echo_key",
    "status_elsewhere",
    *SUBMIT_ERRORS,
    *RESULT_ERRORS,
    *RESULT_VARIANTS,
)

_REQUEST_PATH = re.compile(
    r"^/(?:(?P<ns>workflows|comfy)/)?(?P<owner>[^/]+)/(?P<app>[^/]+)/requests/(?P<id>[^/]+)"
    r"(?P<op>/status|/cancel)?$"
)
_LOG_FLAGS = {"1": True, "true": True, "0": False, "false": False}


@dataclass
class FalJob:
    """One queued request: its scenario, input and how far its status has progressed."""

    request_id: str
    endpoint: str
    base: str  # {url}/{owner}/{app}/requests/{id}
    scenario: str
    input: Any
    steps: list[tuple[str, int]]  # ("IN_QUEUE", position) / ("IN_PROGRESS", 0) / ("COMPLETED", 0)
    polls: int = 0
    cancelled: bool = False
    hiccuped: bool = False  # poll_503_once: the 503 was answered
    flaked: int = 0  # failed status polls answered so far (flaky_polls)
    # When the submit arrived and the result was first served (epoch s): how many jobs a
    # team of workers held open at once.
    submitted_at: float = field(default_factory=time.time)
    fetched_at: float | None = None

    @property
    def state(self) -> str:
        """The status the last poll reported (submit counts as IN_QUEUE)."""
        return self.steps[min(self.polls, len(self.steps)) - 1][0] if self.polls else "IN_QUEUE"


class FalFake(FakeServer):
    """fal's queue protocol on 127.0.0.1, with scripted errors and a request log."""

    label = "fal"
    scenarios = SCENARIOS

    def __init__(
        self,
        key: str = TEST_FAL_KEY,
        *,
        queue_steps: int = 2,
        progress_steps: int = 1,
        billable_units: float | None = 1.0,
        inference_time: float = 0.42,
        retry_after: str | None = "1",
        advertised_url: str | None = None,
        elsewhere_url: str = "http://elsewhere.invalid",
        flaky_polls: int = 0,
        image_size: int = 0,
    ) -> None:
        super().__init__()
        # The base URL written into answers (the root URL unless set): with an HTTP proxy
        # pointed at this fake, a client can believe it talks to a public host.
        self.advertised_url = advertised_url
        self.elsewhere_url = elsewhere_url.rstrip("/")  # status_elsewhere's status URL host
        self.key = key
        self.queue_steps = queue_steps  # polls answered IN_QUEUE (positions counting down)
        self.progress_steps = progress_steps  # polls answered IN_PROGRESS
        self.billable_units = billable_units  # x-fal-billable-units on a successful result
        self.inference_time = inference_time
        self.retry_after = retry_after  # Retry-After header on a scripted 429
        self.jobs: dict[str, FalJob] = {}
        self.cancels: list[str] = []
        self.billed: dict[str, float] = {}  # request id → billable units charged
        # The first `flaky_polls` status polls of every job fail (503, 429, a truncated body,
        # in turn) without moving the job on, as a flaky edge would.
        self.flaky_polls = flaky_polls
        # Output PNGs padded to this many bytes (0: as small as they come), e.g. to be larger
        # than a database page.
        self.image_size = image_size

    @property
    def url(self) -> str:
        """The base URL clients are given and answers name (see `advertised_url`)."""
        return self.advertised_url or self.root_url

    def handle(self, rec: Recorded) -> Reply:
        """Route one request: images, auth, then submit / status / result / cancel."""
        if rec.method == "GET" and rec.path.startswith("/files/"):
            return self._file(rec.path.removeprefix("/files/"))
        if rec.headers.get("authorization") != f"Key {self.key}":
            return SUBMIT_ERRORS["401"]
        match = _REQUEST_PATH.match(rec.path)
        if match:
            with self.lock:
                job = self.jobs.get(match["id"])
            if job is None:
                return Reply(404, {"detail": f"Request {match['id']} not found"})
            if match["op"] == "/status" and rec.method == "GET":
                return self._status(job, rec)
            if match["op"] == "/cancel" and rec.method == "PUT":
                return self._cancel(job)
            if match["op"] is None and rec.method == "GET":
                return self._result(job)
            return Reply(405, {"detail": "Method Not Allowed"})
        if rec.method == "POST":
            return self._submit(rec)
        return Reply(404, {"detail": "Not Found"})

    # -- routes
    def _submit(self, rec: Recorded) -> Reply:
        scenario = self._next_scenario()
        if scenario in ("429", "429_once") and self.retry_after is not None:
            return Reply(429, SUBMIT_ERRORS[scenario].body, {"Retry-After": self.retry_after})
        if scenario in SUBMIT_ERRORS:
            return SUBMIT_ERRORS[scenario]
        if scenario == "echo_key":  # some gateways quote the header they refused
            token = rec.headers.get("authorization", "").removeprefix("Key ")
            quoted = base64.b64encode(token.encode()).decode()
            return Reply(
                400,
                {
                    "detail": f"Malformed header (base64 {quoted}); "
                    f"raw {rec.headers.get('authorization', '')}"
                },
            )
        if not isinstance(rec.body, dict):
            return Reply(
                422,
                {
                    "detail": [
                        {
                            "loc": ["body"],
                            "msg": "Input should be a valid dictionary",
                            "type": "dict_type",
                        }
                    ]
                },
            )
        parts = rec.path.strip("/").split("/")
        app = parts[:3] if parts[0] in ("workflows", "comfy") else parts[:2]
        request_id = str(uuid.uuid4())
        base = f"{self.url}/{'/'.join(app)}/requests/{request_id}"
        queue = [("IN_QUEUE", pos) for pos in range(self.queue_steps - 1, -1, -1)]
        if scenario == "never_completes":
            steps = [*queue, ("IN_PROGRESS", 0)]
        else:
            steps = [*queue, *[("IN_PROGRESS", 0)] * self.progress_steps, ("COMPLETED", 0)]
        job = FalJob(request_id, rec.path.strip("/"), base, scenario, rec.body, steps)
        with self.lock:
            self.jobs[request_id] = job
        return Reply(
            200,
            {
                "request_id": request_id,
                "gateway_request_id": request_id,
                "status": "IN_QUEUE",
                "queue_position": self.queue_steps,
                "response_url": base,
                "cancel_url": f"{base}/cancel",
                "status_url": (
                    base.replace(self.url, self.elsewhere_url, 1)
                    if scenario == "status_elsewhere"
                    else base
                )
                + "/status",
            },
            {"x-fal-request-id": request_id},
        )

    def _status(self, job: FalJob, rec: Recorded) -> Reply:
        flag = (rec.query.get("logs") or ["0"])[0].lower()
        if flag not in _LOG_FLAGS:
            return Reply(
                422,
                {
                    "detail": [
                        {
                            "loc": ["query", "logs"],
                            "type": "bool_parsing",
                            "msg": "Input should be a valid boolean",
                        }
                    ]
                },
            )
        with self.lock:
            if job.flaked < self.flaky_polls:
                job.flaked += 1
                return FLAKES[job.flaked % len(FLAKES)]
            if job.scenario == "poll_503_once" and not job.hiccuped:
                job.hiccuped = True
                return Reply(503, {"detail": "Service Unavailable"})
            state, position = job.steps[min(job.polls, len(job.steps) - 1)]
            job.polls += 1
        logs = (
            [
                {
                    "message": "step 1/4",
                    "level": "INFO",
                    "source": "USER",
                    "timestamp": "2026-11-24T10:00:00Z",
                }
            ]
            if _LOG_FLAGS[flag]
            else None
        )
        body: dict[str, Any] = {"status": state, "response_url": job.base}
        if state == "IN_QUEUE":
            body["queue_position"] = position
            return Reply(202, body)
        body["logs"] = logs
        if state == "IN_PROGRESS":
            return Reply(202, body)
        body["metrics"] = {"inference_time": self.inference_time}
        if job.scenario == "completed_error":
            body.update(error=REQUEST_TIMEOUT["detail"], error_type="request_timeout")
        return Reply(200, body)

    def _cancel(self, job: FalJob) -> Reply:
        with self.lock:
            self.cancels.append(job.request_id)
            if job.state == "COMPLETED":
                return Reply(400, {"status": "ALREADY_COMPLETED"})
            job.cancelled = True
        return Reply(202, {"status": "CANCELLATION_REQUESTED"})

    def _result(self, job: FalJob) -> Reply:
        if job.state != "COMPLETED":
            return Reply(400, {"detail": "Request is still in progress"})
        if job.scenario in RESULT_ERRORS:
            reply = RESULT_ERRORS[job.scenario]
            return Reply(
                reply.status,
                reply.body,
                {**reply.headers, "x-fal-request-id": job.request_id},
                reply.content_type,
            )
        inp = job.input if isinstance(job.input, dict) else {}
        ext = "png" if inp.get("output_format") == "png" else "jpeg"
        name = {
            "image_404": f"missing-{job.request_id}.{ext}",
            "not_image": f"{job.request_id}.html",
        }.get(job.scenario, f"{job.request_id}.{ext}")
        if job.scenario in IMAGE_FAULTS:
            name = f"{IMAGE_FAULTS[job.scenario]}-{job.request_id}.png"
        headers = {"x-fal-request-id": job.request_id}
        with self.lock:  # fal bills a completed output once, however often it is fetched
            self.billed.setdefault(job.request_id, self.billable_units or 0.0)
            if job.fetched_at is None:
                job.fetched_at = time.time()
        if self.billable_units is not None and job.scenario != "no_billable_units":
            headers["x-fal-billable-units"] = f"{self.billable_units:g}"
        return Reply(
            200,
            {
                "images": [
                    {
                        "url": f"{self.url}/files/{name}",
                        "width": 64,
                        "height": 48,
                        "content_type": f"image/{ext}",
                        "file_name": name,
                    }
                ],
                "seed": inp.get("seed", UINT64_SEED),
                "has_nsfw_concepts": [job.scenario == "nsfw"],
                "prompt": inp.get("prompt"),
                "timings": {"inference": round(self.inference_time - 0.02, 3)},
            },
            headers,
        )

    def _file(self, name: str) -> Reply:
        fault = name.split("-", 1)[0]
        if fault == "trickle":
            return trickle(padded_png(40_000), "image/png")  # 64 B / 50 ms: ~30 s
        if fault == "oversize":
            return Reply(200, padded_png(OVERSIZE_BYTES), content_type="image/png")
        if fault == "huge":
            return Reply(200, png_header(*HUGE_SIZE), content_type="image/png")
        if fault == "redirect":
            return redirect(f"{self.url}/files/{name.removeprefix('redirect-')}")
        if fault == "private":
            return redirect(PRIVATE_IMAGE)
        fmt = "PNG" if name.endswith(".png") else "JPEG"
        image = (
            Reply(200, padded_png(self.image_size), content_type="image/png")
            if self.image_size
            else Reply(200, image_bytes(fmt=fmt), content_type=f"image/{fmt.lower()}")
        )
        return hosted_file(
            name,
            missing=Reply(404, b"Not Found", content_type="text/plain"),
            page=b"<html><body>Access denied</body></html>",
            image=image,
        )


@pytest.fixture
def fal_fake() -> Iterator[FalFake]:
    """A running FalFake for one test."""
    with FalFake() as fake:
        yield fake


__all__ = [
    "SCENARIOS",
    "TEST_FAL_KEY",
    "UINT64_SEED",
    "FakeServer",
    "FalFake",
    "FalJob",
    "Recorded",
    "Reply",
    "fal_fake",
    "image_bytes",
]
