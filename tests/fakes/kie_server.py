"""A local fake of Kie.ai: the market jobs API plus the legacy 4o-image and Midjourney APIs.

Protocol (reference/protocols.md §2): every answer is `{"code", "msg", "data"}`; with
`http_status_mode="mirror"` the HTTP status equals the body code, with `"always_200"` it is 200
and only the body carries the verdict (sources disagree on which Kie does). Routes:

- `POST /api/v1/jobs/createTask` `{"model", "input": {...}}` → `data.taskId`
- `GET  /api/v1/jobs/recordInfo?taskId=` → `state` waiting → queuing → generating →
  success|fail, `resultJson` as a JSON *string*, `failCode`/`failMsg`, `costTime` (ms),
  epoch-ms times, and the consumed credits under `credit_field`
- `POST /api/v1/gpt4o-image/generate` (`size` 1:1|3:2|2:3) / `GET …/record-info` (successFlag,
  `response.resultUrls`); `POST /api/v1/mj/generate` / `GET /api/v1/mj/record-info`
  (`resultInfoJson.resultUrls[].resultUrl`, four images)
- `GET /api/v1/chat/credit`, `POST /api/v1/common/download-url`, `GET /images/<name>` (no auth)

Behaviour: Bearer check (401), credits charged at create and refunded on failure (402 when the
balance is short), 422 for unknown input keys / enum values of models in `input_schema`,
404 for an unknown taskId, 429 after more than `rate_limit` creates in `rate_window` seconds.

    with KieFake(http_status_mode="always_200") as fake:
        fake.script("429_once")           # the next create answers code 429, later ones succeed
        fake.received("POST")[0].body     # {"model": ..., "input": {...}}

Scenarios (one is consumed per create; default "success"):
- at create: `401`, `402`, `422`, `429_once` (alias `429`), `500`, `455`, `501`, `505`,
  `cloudflare_1010` (HTTP 403, plain text, whatever the mode), `html_503` (nginx's HTML 503
  page, whatever the mode)
- while polling: `fail_content`, `fail_validation`, `fail_server`, `never_completes`,
  `poll_429_once`, `malformed_json` (the first poll is not JSON), `malformed_result_json`
- at the result: `no_credits`, `image_404`, `not_image`
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.http_fake import HTML_503, FakeServer, Recorded, Reply, hosted_file, image_bytes

TEST_KIE_KEY = "fake-kie-key-0000"  # not a real key

CREATE_ERRORS: dict[str, tuple[int, str]] = {
    "401": (401, "You do not have access permissions"),
    "402": (402, "The current credits are insufficient. Please top up."),
    "422": (422, "aspect_ratio is not within the range of allowed options"),
    "429_once": (429, "The request rate is too high, please try again later"),
    "500": (500, "Internal server error"),
    "455": (455, "Service is under maintenance, please try again later"),
    "501": (501, "Generation failed"),
    "505": (505, "This feature is currently disabled"),
}
CREATE_ERRORS["429"] = CREATE_ERRORS["429_once"]
FAILS: dict[str, tuple[str, str]] = {
    "fail_content": (
        "422",
        "Invalid prompt: your prompt was flagged as containing prohibited content",
    ),
    "fail_validation": ("422", "resolution 8K is not supported"),
    "fail_server": ("500", "Internal error, please try again later"),
}
# Cloudflare in front of Kie answers odd clients with a bare 403 page (protocols.md §2.1).
CLOUDFLARE = Reply(403, b"error code: 1010", content_type="text/plain; charset=UTF-8")
POLL_VARIANTS = ("never_completes", "poll_429_once", "malformed_json", "malformed_result_json")
RESULT_VARIANTS = ("no_credits", "image_404", "not_image")
SCENARIOS = (
    "success",
    *CREATE_ERRORS,
    "cloudflare_1010",
    "html_503",
    *FAILS,
    *POLL_VARIANTS,
    *RESULT_VARIANTS,
)

# Input schemas for a few models (enum values from protocols.md §2.6); others accept anything.
ASPECTS = ["1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9", "4:5", "5:4", "auto"]
INPUT_SCHEMA: dict[str, dict[str, list[str] | None]] = {
    "nano-banana-pro": {
        "prompt": None,
        "image_input": None,
        "aspect_ratio": ASPECTS,
        "resolution": ["1K", "2K", "4K"],
        "output_format": ["png", "jpg"],
    },
    "z-image": {"prompt": None, "aspect_ratio": ["1:1", "4:3", "3:4", "16:9", "9:16"]},
    "flux-2/pro-text-to-image": {
        "prompt": None,
        "nsfw_checker": None,
        "resolution": ["1K", "2K"],
        "aspect_ratio": ["1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3"],
    },
}
DEFAULT_PRICES = {"nano-banana-pro": 18.0, "gpt4o": 6.0, "mj": 8.0}
GPT4O_SIZES = ("1:1", "3:2", "2:3")
MJ_IMAGES = 4


@dataclass
class KieTask:
    """One created task: its API family, scenario, request and how far it has progressed."""

    task_id: str
    api: str  # "jobs" | "gpt4o" | "mj"
    model: str
    scenario: str
    request: dict[str, Any]
    credits: float
    created_ms: int
    polls: int = 0
    hiccuped: bool = False  # poll_429_once: the 429 was answered


class KieFake(FakeServer):
    """Kie's envelope protocol on 127.0.0.1, with scripted errors and a request log."""

    label = "Kie"
    scenarios = SCENARIOS

    def __init__(
        self,
        key: str = TEST_KIE_KEY,
        *,
        credits: float = 1000.0,
        http_status_mode: str = "mirror",
        progression: tuple[str, ...] = ("waiting", "queuing", "generating"),
        credit_field: str | None = "consumeCredits",
        default_price: float = 4.0,
        rate_limit: int = 20,
        rate_window: float = 10.0,
        cost_time_ms: int = 8000,
        cost_time_unit: str = "ms",
        queue_ms: int = 1500,
        poll_limit: int | None = None,
        poll_window: float = 10.0,
    ) -> None:
        super().__init__()
        if http_status_mode not in ("mirror", "always_200"):
            raise ValueError("http_status_mode is 'mirror' or 'always_200'")
        self.key = key
        self.balance = credits
        self.http_status_mode = http_status_mode
        self.progression = progression  # states answered before the terminal one
        self.credit_field = credit_field  # "consumeCredits" | "creditsConsumed" | None
        self.prices = dict(DEFAULT_PRICES)
        self.default_price = default_price
        self.input_schema = {k: dict(v) for k, v in INPUT_SCHEMA.items()}
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.cost_time_ms = cost_time_ms
        # "ms" as documented; "s" as in one of Kie's own callback examples (costTime: 8).
        self.cost_time_unit = cost_time_unit
        self.queue_ms = queue_ms  # completeTime - createTime - costTime
        self.tasks: dict[str, KieTask] = {}
        self._creates: deque[float] = deque()
        # Status polls allowed per `poll_window` seconds for the account (None: no limit).
        self.poll_limit, self.poll_window = poll_limit, poll_window
        self._polls: deque[float] = deque()
        self.create_times: list[float] = []  # when every create arrived, refused or not
        self.refused_polls = 0  # polls answered 429 by the poll limit

    # -- envelope
    def _env(self, code: int, msg: str, data: Any = None, headers: dict | None = None) -> Reply:
        status = code if self.http_status_mode == "mirror" else 200
        return Reply(status, {"code": code, "msg": msg, "data": data}, headers or {})

    def handle(self, rec: Recorded) -> Reply:
        """Route one request: static images, Bearer auth, then the API routes."""
        if rec.method == "GET" and rec.path.startswith("/images/"):
            return self._image(rec.path.removeprefix("/images/"))
        if rec.headers.get("authorization") != f"Bearer {self.key}":
            return self._env(401, "You do not have access permissions")
        routes = {
            ("POST", "/api/v1/jobs/createTask"): self._create_jobs,
            ("GET", "/api/v1/jobs/recordInfo"): self._record_jobs,
            ("POST", "/api/v1/gpt4o-image/generate"): self._create_gpt4o,
            ("GET", "/api/v1/gpt4o-image/record-info"): self._record_legacy,
            ("POST", "/api/v1/mj/generate"): self._create_mj,
            ("GET", "/api/v1/mj/record-info"): self._record_legacy,
            ("GET", "/api/v1/chat/credit"): self._credit,
            ("POST", "/api/v1/common/download-url"): self._download_url,
        }
        route = routes.get((rec.method, rec.path))
        if route is None:
            return self._env(404, "Not Found")
        return route(rec)

    # -- creating tasks
    def _admit(self, model: str, price: float) -> tuple[str, Reply | None]:
        """Rate limit, scripted create errors and credits, shared by every create route."""
        now = time.monotonic()
        with self.lock:
            while self._creates and now - self._creates[0] > self.rate_window:
                self._creates.popleft()
            self._creates.append(now)
            self.create_times.append(now)
            if len(self._creates) > self.rate_limit:
                return "", self._env(429, CREATE_ERRORS["429"][1])
        scenario = self._next_scenario()
        if scenario == "cloudflare_1010":
            return scenario, CLOUDFLARE
        if scenario == "html_503":  # the proxy in front of Kie, not Kie: an HTML page
            return scenario, HTML_503
        if scenario in CREATE_ERRORS:
            code, msg = CREATE_ERRORS[scenario]
            return scenario, self._env(code, msg)
        with self.lock:
            if self.balance < price:
                return scenario, self._env(402, CREATE_ERRORS["402"][1])
            self.balance -= price
        return scenario, None

    def _new_task(self, api: str, model: str, scenario: str, body: dict, price: float) -> Reply:
        task_id = f"task_{api}_{uuid.uuid4().hex[:16]}"
        with self.lock:
            self.tasks[task_id] = KieTask(
                task_id, api, model, scenario, body, price, int(time.time() * 1000)
            )
        return self._env(200, "success", {"taskId": task_id})

    def _create_jobs(self, rec: Recorded) -> Reply:
        body = rec.body
        if not isinstance(body, dict):
            return self._env(400, "Request body is not valid JSON")
        model, inp = body.get("model"), body.get("input")
        if not isinstance(model, str) or not model:
            return self._env(422, "model is required")
        if not isinstance(inp, dict) or not inp.get("prompt"):
            return self._env(422, "input.prompt is required")
        problem = self._validate(model, inp)
        if problem:
            return self._env(422, problem)
        scenario, refused = self._admit(model, self.prices.get(model, self.default_price))
        if refused:
            return refused
        return self._new_task(
            "jobs", model, scenario, body, self.prices.get(model, self.default_price)
        )

    def _validate(self, model: str, inp: dict[str, Any]) -> str | None:
        schema = self.input_schema.get(model)
        if schema is None:
            return None
        for name, value in inp.items():
            if name not in schema:
                return f"Unknown input field: {name}"
            allowed = schema[name]
            if allowed is not None and str(value) not in allowed:
                return f"{name} is not within the range of allowed options"
        return None

    def _create_gpt4o(self, rec: Recorded) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        if not body.get("prompt") and not body.get("filesUrl"):
            return self._env(422, "prompt or filesUrl is required")
        if body.get("size") not in GPT4O_SIZES:
            return self._env(422, "size must be one of 1:1, 3:2, 2:3")
        scenario, refused = self._admit("gpt4o", self.prices["gpt4o"])
        return refused or self._new_task("gpt4o", "gpt4o", scenario, body, self.prices["gpt4o"])

    def _create_mj(self, rec: Recorded) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        if not body.get("prompt") or not body.get("taskType"):
            return self._env(422, "prompt and taskType are required")
        scenario, refused = self._admit("mj", self.prices["mj"])
        return refused or self._new_task("mj", "mj", scenario, body, self.prices["mj"])

    # -- polling
    def _task(self, rec: Recorded, api: str) -> tuple[KieTask | None, Reply | None]:
        task_id = (rec.query.get("taskId") or [""])[0]
        if not task_id:
            return None, self._env(400, "taskId parameter is required")
        with self.lock:
            task = self.tasks.get(task_id)
        if task is None or task.api != api:
            return None, self._env(404, "The task does not exist")
        return task, None

    def _advance(self, task: KieTask) -> tuple[str, Reply | None]:
        """Count one poll; the phase now ('running'/'success'/'fail') or a scripted reply."""
        with self.lock:
            if self.poll_limit is not None:
                now = time.monotonic()
                while self._polls and now - self._polls[0] > self.poll_window:
                    self._polls.popleft()
                self._polls.append(now)
                if len(self._polls) > self.poll_limit:
                    self.refused_polls += 1
                    return "", self._env(429, CREATE_ERRORS["429"][1])
            if task.scenario == "poll_429_once" and not task.hiccuped:
                task.hiccuped = True  # a rejected poll does not move the task on
                return "", self._env(429, CREATE_ERRORS["429"][1])
            task.polls += 1
            polls = task.polls
        if task.scenario == "malformed_json" and polls == 1:  # one truncated answer
            return "", Reply(200, b'{"code": 200, "data": {"state": ', {})
        if task.scenario == "never_completes" or polls <= len(self.progression):
            return "running", None
        if task.scenario in FAILS:
            with self.lock:
                if task.credits:  # failed tasks are not charged
                    self.balance += task.credits
                    task.credits = 0.0
            return "fail", None
        return "success", None

    def _urls(self, task: KieTask, count: int = 1) -> list[str]:
        name = {"image_404": "missing.png", "not_image": "error.html"}.get(task.scenario)
        return [f"{self.url}/images/{name or f'{task.task_id}_{i}.png'}" for i in range(count)]

    def _credits(self, task: KieTask, data: dict[str, Any]) -> None:
        if self.credit_field and task.scenario != "no_credits":
            data[self.credit_field] = task.credits
            data["remainedCredits"] = self.balance

    def _record_jobs(self, rec: Recorded) -> Reply:
        task, refused = self._task(rec, "jobs")
        if refused or task is None:
            return refused or self._env(404, "The task does not exist")
        phase, scripted = self._advance(task)
        if scripted:
            return scripted
        now = int(time.time() * 1000)
        polls = min(task.polls, len(self.progression))
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "model": task.model,
            "param": json.dumps(task.request),
            "state": self.progression[polls - 1]
            if phase == "running" and self.progression
            else "generating"
            if phase == "running"
            else phase,
            "resultJson": "",
            "failCode": "",
            "failMsg": "",
            "costTime": None,
            "completeTime": None,
            "createTime": task.created_ms,
            "updateTime": now,
        }
        if phase == "fail":
            data["failCode"], data["failMsg"] = FAILS[task.scenario]
            data["completeTime"] = now
        elif phase == "success":
            data["resultJson"] = (
                '{"resultUrls": ["'
                if task.scenario == "malformed_result_json"
                else json.dumps({"resultUrls": self._urls(task)})
            )
            data["costTime"] = (
                self.cost_time_ms
                if self.cost_time_unit == "ms"
                else round(self.cost_time_ms / 1000)
            )
            data["completeTime"] = task.created_ms + self.cost_time_ms + self.queue_ms
            self._credits(task, data)
        return self._env(200, "success", data)

    def _record_legacy(self, rec: Recorded) -> Reply:
        api = "gpt4o" if rec.path.startswith("/api/v1/gpt4o-image") else "mj"
        task, refused = self._task(rec, api)
        if refused or task is None:
            return refused or self._env(404, "The task does not exist")
        phase, scripted = self._advance(task)
        if scripted:
            return scripted
        flag = {"running": 0, "success": 1, "fail": 2}[phase]
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "paramJson": json.dumps(task.request),
            "createTime": task.created_ms,
            "completeTime": None,
            "successFlag": flag,
            "errorCode": None,
            "errorMessage": None,
        }
        if phase == "fail":
            code, msg = FAILS[task.scenario]
            data["errorCode"], data["errorMessage"] = int(code), msg
        if phase != "running":
            data["completeTime"] = int(time.time() * 1000)
        if phase == "success":
            self._credits(task, data)
        if api == "gpt4o":
            data["status"] = {
                "running": "GENERATING",
                "success": "SUCCESS",
                "fail": "GENERATE_FAILED",
            }[phase]
            data["progress"] = "1.00" if phase == "success" else "0.50"
            data["response"] = {"resultUrls": self._urls(task)} if phase == "success" else None
        else:
            data["taskType"] = task.request.get("taskType")
            info = {"resultUrls": [{"resultUrl": u} for u in self._urls(task, MJ_IMAGES)]}
            data["resultInfoJson"] = info if phase == "success" else None
        return self._env(200, "success", data)

    # -- common endpoints
    def _credit(self, rec: Recorded) -> Reply:
        with self.lock:
            return self._env(200, "success", self.balance)

    def _download_url(self, rec: Recorded) -> Reply:
        url = rec.body.get("url") if isinstance(rec.body, dict) else None
        if not isinstance(url, str) or not url.startswith(f"{self.url}/images/"):
            return self._env(422, "The url is not a valid Kie file url")
        return self._env(200, "success", url)

    def _image(self, name: str) -> Reply:
        return hosted_file(
            name,
            missing=Reply(404, b"<html>404 Not Found</html>", content_type="text/html"),
            page=b"<html><body>Error</body></html>",
            image=Reply(200, image_bytes(96, 64, "PNG", (40, 160, 90)), content_type="image/png"),
        )


@pytest.fixture
def kie_fake() -> Iterator[KieFake]:
    """A running KieFake (mirror mode) for one test."""
    with KieFake() as fake:
        yield fake


__all__ = ["SCENARIOS", "TEST_KIE_KEY", "KieFake", "KieTask", "Recorded", "Reply", "kie_fake"]
