"""A local fake of OpenAI's Images API (`POST /v1/images/generations`) for adapter tests.

It speaks the wire protocol of protocols.md §3: Bearer auth, per-family size/quality checks,
base64 PNG output with `usage`, and OpenAI's error bodies. Tests script the next request(s):

    with OpenAIFake() as fake:
        fake.script("429_once")            # the next generation answers 429, then success
        ...
        fake.requests[-1].headers["authorization"]

Scenarios (one queued behaviour is consumed per generation request; default = success):
`401`, `moderation_blocked`, `content_policy_violation`, `429_once` (alias `rate_limit`),
`insufficient_quota`, `404_model`, `400_invalid`, `500`, `malformed_json`, `no_usage`, `slow`.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

TEST_KEY = "test-openai-key-not-real"

# The families the fake serves (protocols.md §3.2); anything else is "model not found".
FREE_SIZE_MODELS = (
    "gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08", "gpt-image-2.5-flare", "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst", "gpt-image-2.6-flare",
)
FIXED_SIZE_MODELS = ("gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest")
FIXED_SIZES = ("1024x1024", "1536x1024", "1024x1536")
QUALITIES = ("low", "medium", "high", "auto")
EXTRA_QUALITIES = ("xhigh", "max")  # the 2.5 / 2.6 families only

SCENARIOS = (
    "ok", "401", "moderation_blocked", "content_policy_violation", "429_once", "rate_limit",
    "insufficient_quota", "404_model", "400_invalid", "500", "malformed_json", "no_usage",
    "slow",
)

MODERATION_BODY = {"error": {
    "message": "Your request was rejected by the safety system. If you believe this is an "
               "error, contact us at help.openai.com and include the request ID req_fake.",
    "type": "image_generation_user_error", "param": None, "code": "moderation_blocked",
    "moderation_details": {"moderation_stage": "input", "categories": ["violence"]}}}
POLICY_BODY = {"error": {
    "message": "Your request was rejected as a result of our safety system. Your prompt may "
               "contain text that is not allowed by our safety system.",
    "type": "invalid_request_error", "param": None, "code": "content_policy_violation"}}


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None when the body was not JSON
    raw: bytes = b""


@lru_cache(maxsize=32)
def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A real PNG of the given size (solid colour, so it is small and quick to encode)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(buf, format="PNG")
    return buf.getvalue()


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def size_error(model: str, size: Any, quality: Any) -> str | None:
    """Why `size`/`quality` are not accepted by `model`'s family (None when they are)."""
    qualities = QUALITIES + (EXTRA_QUALITIES if model.startswith(("gpt-image-2.5",
                                                                  "gpt-image-2.6")) else ())
    if quality is not None and quality not in qualities:
        return f"Invalid value: '{quality}'. Supported values are: " + \
            ", ".join(f"'{q}'" for q in qualities) + "."
    if size is None or size == "auto":
        return None
    if model in FIXED_SIZE_MODELS:
        if size not in FIXED_SIZES:
            return f"Invalid value: '{size}'. Supported values are: 'auto', " + \
                ", ".join(f"'{s}'" for s in FIXED_SIZES) + "."
        return None
    try:
        w, h = (int(p) for p in str(size).lower().split("x"))
    except ValueError:
        return f"Invalid value: '{size}'. Size must be 'auto' or WIDTHxHEIGHT."
    if w % 16 or h % 16:
        return f"Invalid size '{size}': width and height must be multiples of 16."
    if max(w, h) > 3840:
        return f"Invalid size '{size}': the longest edge must be at most 3840 pixels."
    if max(w, h) > 3 * min(w, h):
        return f"Invalid size '{size}': the aspect ratio must be between 1:3 and 3:1."
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: OpenAIFake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Buffer the reply so headers and body leave in one write (no Nagle/delayed-ACK stall).
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        """Route a POST."""
        self.server.fake._handle(self)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """Route a GET (only 404s: the fake serves no GET routes)."""
        self.server.fake._handle(self)


class OpenAIFake:
    """A fake OpenAI Images API on 127.0.0.1; `.url` is the SDK base URL (ends in /v1)."""

    def __init__(self, key: str = TEST_KEY, *, slow_s: float = 2.0, retry_after: str = "1",
                 models: tuple[str, ...] = FREE_SIZE_MODELS + FIXED_SIZE_MODELS) -> None:
        self.key = key
        self.slow_s = slow_s
        self.retry_after = retry_after  # the `retry-after` header sent with a 429
        self.models = models
        self._queue: deque[str] = deque()
        self._log: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> OpenAIFake:
        """Bind a free port and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (a slow response in flight is cut short)."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """http://127.0.0.1:PORT (no path)."""
        assert self._server is not None, "fake not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The base URL to give the SDK: http://127.0.0.1:PORT/v1."""
        return self.root_url + "/v1"

    # --- scripting and log ----------------------------------------------------------------
    def script(self, *behaviours: str) -> None:
        """Queue behaviours for the next generation requests, one each (default: success)."""
        for b in behaviours:
            if b not in SCENARIOS:
                raise ValueError(f"unknown scenario {b!r}; known: {', '.join(SCENARIOS)}")
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def last(self) -> Recorded:
        """The most recent request."""
        with self._lock:
            return self._log[-1]

    def clear(self) -> None:
        """Forget received requests and queued behaviours."""
        with self._lock:
            self._log.clear()
            self._queue.clear()

    # --- protocol -------------------------------------------------------------------------
    def _handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = Recorded(h.command, parts.path, parse_qs(parts.query),
                       {k.lower(): v for k, v in h.headers.items()}, body, raw)
        with self._lock:
            self._log.append(rec)
        if h.command != "POST" or parts.path != "/v1/images/generations":
            self._send(h, 404, _error(f"Invalid URL ({h.command} {parts.path})",
                                      "invalid_request_error", None))
            return
        with self._lock:
            behaviour = self._queue.popleft() if self._queue else "ok"
        self._generate(h, rec, behaviour)

    def _generate(self, h: _Handler, rec: Recorded, behaviour: str) -> None:
        auth = rec.headers.get("authorization", "")
        if behaviour == "401" or auth != f"Bearer {self.key}":
            shown = auth.removeprefix("Bearer ")[:3] + "***"
            self._send(h, 401, _error(f"Incorrect API key provided: {shown}. You can find your "
                                      "API key at https://platform.openai.com/account/api-keys.",
                                      "invalid_request_error", "invalid_api_key"))
            return
        if behaviour == "moderation_blocked":
            self._send(h, 400, MODERATION_BODY)
            return
        if behaviour == "content_policy_violation":
            self._send(h, 400, POLICY_BODY)
            return
        if behaviour in ("429_once", "rate_limit"):
            self._send(h, 429, _error("Rate limit reached for images per minute. Please try "
                                      "again in 1s.", "requests", "rate_limit_exceeded"),
                       {"x-should-retry": "false", "retry-after": self.retry_after})
            return
        if behaviour == "insufficient_quota":
            self._send(h, 429, _error("You exceeded your current quota, please check your plan "
                                      "and billing details.", "insufficient_quota",
                                      "insufficient_quota"), {"x-should-retry": "false"})
            return
        if behaviour == "500":
            self._send(h, 500, _error("The server had an error while processing your request.",
                                      "server_error", None), {"x-should-retry": "false"})
            return
        if behaviour == "400_invalid":
            self._send(h, 400, _error("Invalid value for 'background': transparent is not "
                                      "supported with jpeg.", "invalid_request_error",
                                      "invalid_value", "background"))
            return
        if behaviour == "malformed_json":
            self._send_raw(h, 200, b'{"created": 1700000000, "data": [{"b64_json": "iVBO',
                           "application/json")
            return
        if behaviour == "slow" and self._stop.wait(self.slow_s):
            return  # shutting down: drop the connection
        body = rec.body if isinstance(rec.body, dict) else {}
        model = body.get("model")
        if behaviour == "404_model" or model not in self.models:
            self._send(h, 404, _error(f"The model `{model}` does not exist or you do not have "
                                      "access to it.", "invalid_request_error",
                                      "model_not_found"))
            return
        if not body.get("prompt"):
            self._send(h, 400, _error("Missing required parameter: 'prompt'.",
                                      "invalid_request_error", "missing_required_parameter",
                                      "prompt"))
            return
        problem = size_error(model, body.get("size"), body.get("quality"))
        if problem:
            self._send(h, 400, _error(problem, "invalid_request_error", "invalid_value", "size"))
            return
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            self._send(h, 400, _error(f"Invalid value for 'n': {n}.", "invalid_request_error",
                                      "invalid_value", "n"))
            return
        self._send(h, 200, self._success(model, body, n, with_usage=behaviour != "no_usage"),
                   {"x-request-id": f"req_fake_{len(self.requests)}"})

    def _success(self, model: str, body: dict, n: int, *, with_usage: bool) -> dict:
        size = body.get("size") or "auto"
        w, h = (1024, 1024) if size == "auto" else (int(p) for p in size.split("x"))
        b64 = base64.b64encode(png_bytes(w, h)).decode()  # solid colour: small, cached
        quality = body.get("quality") or "auto"
        out_tokens = {"low": 272, "medium": 1056, "high": 4160}.get(quality, 1056)
        text_tokens = max(1, len(body.get("prompt", "")) // 4)
        answer: dict[str, Any] = {
            "created": int(time.time()), "data": [{"b64_json": b64} for _ in range(n)],
            "background": "opaque", "output_format": "png", "quality": quality, "size": size,
        }
        if with_usage:
            answer["usage"] = {
                "input_tokens": text_tokens,
                "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
                "output_tokens": out_tokens * n,
                "output_tokens_details": {"image_tokens": out_tokens * n, "text_tokens": 0},
                "total_tokens": text_tokens + out_tokens * n,
            }
        return answer

    def _send(self, h: _Handler, status: int, payload: dict,
              headers: dict[str, str] | None = None) -> None:
        self._send_raw(h, status, json.dumps(payload).encode(), "application/json", headers)

    @staticmethod
    def _send_raw(h: _Handler, status: int, data: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (deadline tests)


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    """A running OpenAIFake for one test."""
    with OpenAIFake() as fake:
        yield fake


__all__ = ["FIXED_SIZES", "OpenAIFake", "Recorded", "SCENARIOS", "TEST_KEY", "openai_fake",
           "png_bytes", "size_error"]
