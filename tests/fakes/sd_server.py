"""A local fake of an AUTOMATIC1111 / Forge API server (`--api`) for adapter tests.

Routes: `POST /sdapi/v1/txt2img`, `GET /sdapi/v1/sd-models` and `POST /sdapi/v1/interrupt`
(A1111's Interrupt button: the running generation stops early and answers with what it has;
`interrupts` counts them). Optional HTTP basic auth
(`SDFake(auth="user:pass")`, like `--api-auth`), FastAPI-style 422 bodies, A1111's 500 body,
and one generation at a time behind a lock, as A1111's queue lock does. Tests script the next
txt2img request(s):

    with SDFake() as fake:
        fake.script("bad_info")
        ...
        fake.requests[-1].body["seed"]

Scenarios (one queued behaviour is consumed per txt2img request; default = success):
`401`, `422`, `500`, `malformed_json`, `no_info`, `bad_info`, `no_images`, `bad_base64`,
`slow`, `html_503` (a reverse proxy's HTML page), `echo_auth` (a 500 debug page that prints the
request's Authorization header, i.e. the base64 of user:pass).

The server, request log and scripting come from `http_fake.FakeServer`.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.http_fake import HTML_503, FakeServer, Recorded, Reply, png_bytes

SCENARIOS = (
    "ok",
    "401",
    "422",
    "500",
    "malformed_json",
    "no_info",
    "bad_info",
    "no_images",
    "bad_base64",
    "slow",
    "html_503",
    "echo_auth",
)
CHECKPOINT = "sd_xl_base_1.0.safetensors [31e35c80fc]"
_INT_FIELDS = ("width", "height", "steps", "seed", "batch_size", "n_iter")
TXT2IMG, MODELS, INTERRUPT = "/sdapi/v1/txt2img", "/sdapi/v1/sd-models", "/sdapi/v1/interrupt"
ROUTES = (("POST", TXT2IMG), ("GET", MODELS), ("POST", INTERRUPT))


class SDFake(FakeServer):
    """A fake A1111 API on 127.0.0.1; `.url` is what VIBEGEN_SD_URL would be."""

    label = "SD"
    scenarios = SCENARIOS
    default_scenario = "ok"

    def __init__(
        self,
        auth: str | None = None,
        *,
        slow_s: float = 2.0,
        work_s: float = 0.0,
        interrupt: bool = True,
    ) -> None:
        super().__init__()
        self.auth = auth
        self.slow_s = slow_s
        self.work_s = work_s  # simulated time per generation (inside the lock)
        self.max_concurrent = 0  # most generations ever running at once (must stay 1)
        self._running = 0
        self._gen_lock = threading.Lock()  # A1111's queue lock
        self._interrupt = threading.Event()  # set by /interrupt, cleared per generation
        self.interrupts = 0
        self.has_interrupt = interrupt  # False: a fork without the route (404)

    def handle(self, rec: Recorded) -> Reply | None:
        """Route one request; only txt2img consumes a scenario, the model list shares the auth."""
        if (rec.method, rec.path) not in ROUTES or (
            rec.path == INTERRUPT and not self.has_interrupt
        ):
            return Reply(404, {"detail": "Not Found"})
        behaviour = self._next_scenario() if rec.path == TXT2IMG else "ok"
        if behaviour == "401" or not self._authorised(rec):
            detail = (
                "Incorrect username or password"
                if "authorization" in rec.headers
                else "Not authenticated"
            )
            return Reply(401, {"detail": detail}, {"WWW-Authenticate": "Basic"})
        if behaviour == "html_503":
            return HTML_503
        if behaviour == "echo_auth":
            shown = rec.headers.get("authorization", "")
            return Reply(
                500,
                f"Internal Server Error: cannot check {shown}; headers: {rec.headers}".encode(),
                content_type="text/plain",
            )
        if rec.path == INTERRUPT:
            with self.lock:
                self.interrupts += 1
            self._interrupt.set()
            return Reply(200, {})
        if rec.method == "GET":
            return Reply(
                200,
                [
                    {
                        "title": CHECKPOINT,
                        "model_name": "sd_xl_base_1.0",
                        "hash": "31e35c80fc",
                        "filename": "/models/sd_xl_base_1.0",
                    }
                ],
            )
        return self._txt2img(rec, behaviour)

    def _authorised(self, rec: Recorded) -> bool:
        if not self.auth:
            return True
        expected = "Basic " + base64.b64encode(self.auth.encode()).decode()
        return rec.headers.get("authorization") == expected

    def _txt2img(self, rec: Recorded, behaviour: str) -> Reply | None:
        body = rec.body if isinstance(rec.body, dict) else None
        if body is None:
            return Reply(
                422,
                {
                    "detail": [
                        {"loc": ["body"], "msg": "field required", "type": "value_error.missing"}
                    ]
                },
            )
        bad = [f for f in _INT_FIELDS if f in body and not isinstance(body[f], int)]
        if behaviour == "422" and not bad:
            bad = ["width"]
        if bad:
            return Reply(
                422,
                {
                    "detail": [
                        {
                            "loc": ["body", f],
                            "msg": "value is not a valid integer",
                            "type": "type_error.integer",
                        }
                        for f in bad
                    ]
                },
            )
        with self._gen_lock:  # one generation at a time, like A1111
            self._interrupt.clear()
            with self.lock:
                self._running += 1
                self.max_concurrent = max(self.max_concurrent, self._running)
            try:
                if behaviour == "slow" and self._slow():
                    return None  # shutting down: drop the connection
                if self.work_s:
                    self.pause(self.work_s)
                return self._answer(body, behaviour)
            finally:
                with self.lock:
                    self._running -= 1

    def _slow(self) -> bool:
        """Work for `slow_s` unless interrupted first; True when the fake is stopping."""
        deadline = time.monotonic() + self.slow_s
        while not self._interrupt.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.pause(min(left, 0.02)):
                return True
        return False

    def _answer(self, body: dict, behaviour: str) -> Reply:
        if behaviour == "500":
            return Reply(
                500,
                {
                    "error": "OutOfMemoryError",
                    "detail": "",
                    "body": "",
                    "errors": "CUDA out of memory. Tried to allocate 2.00 GiB",
                },
            )
        if behaviour == "malformed_json":
            return Reply(200, b'{"images": ["iVBORw0KGgo')
        width, height = body.get("width", 512), body.get("height", 512)
        seed = body.get("seed", -1)
        seed = random.randrange(2**32) if seed in (-1, None) else seed
        info = {
            "prompt": body.get("prompt", ""),
            "all_prompts": [body.get("prompt", "")],
            "negative_prompt": body.get("negative_prompt", ""),
            "seed": seed,
            "all_seeds": [seed],
            "subseed": 1234,
            "width": width,
            "height": height,
            "sampler_name": body.get("sampler_name", "Euler a"),
            "cfg_scale": body.get("cfg_scale", 7.0),
            "steps": body.get("steps", 20),
            "batch_size": 1,
            "sd_model_name": "sd_xl_base_1.0",
            "sd_model_hash": "31e35c80fc",
            "infotexts": [f"{body.get('prompt', '')}\nSteps: 20, Seed: {seed}"],
        }
        image = base64.b64encode(png_bytes(width, height)).decode()
        answer: dict[str, Any] = {"images": [image], "parameters": body, "info": json.dumps(info)}
        if behaviour == "no_info":
            del answer["info"]
        elif behaviour == "bad_info":
            answer["info"] = "Steps: 20, Sampler: Euler a, Seed: 42"  # text, not JSON
        elif behaviour == "no_images":
            answer["images"] = []
        elif behaviour == "bad_base64":
            answer["images"] = ["this is not base64!"]
        return Reply(200, answer)


@pytest.fixture
def sd_fake() -> Iterator[SDFake]:
    """A running SDFake (no auth) for one test."""
    with SDFake() as fake:
        yield fake


__all__ = ["CHECKPOINT", "Recorded", "SCENARIOS", "SDFake", "png_bytes", "sd_fake"]
