"""A local fake of an AUTOMATIC1111 / Forge API server (`--api`) for adapter tests.

Routes: `POST /sdapi/v1/txt2img` and `GET /sdapi/v1/sd-models`. Optional HTTP basic auth
(`SDFake(auth="user:pass")`, like `--api-auth`), FastAPI-style 422 bodies, A1111's 500 body,
and one generation at a time behind a lock, as A1111's queue lock does. Tests script the next
txt2img request(s):

    with SDFake() as fake:
        fake.script("bad_info")
        ...
        fake.requests[-1].body["seed"]

Scenarios (one queued behaviour is consumed per txt2img request; default = success):
`401`, `422`, `500`, `malformed_json`, `no_info`, `bad_info`, `no_images`, `bad_base64`,
`slow`.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

SCENARIOS = ("ok", "401", "422", "500", "malformed_json", "no_info", "bad_info", "no_images",
             "bad_base64", "slow")
CHECKPOINT = "sd_xl_base_1.0.safetensors [31e35c80fc]"
_INT_FIELDS = ("width", "height", "steps", "seed", "batch_size", "n_iter")


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
def png_bytes(width: int, height: int) -> bytes:
    """A real PNG of the given size (solid colour, so it is small and quick to encode)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 90, 40)).save(buf, format="PNG")
    return buf.getvalue()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: SDFake


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
        """Route a GET."""
        self.server.fake._handle(self)


class SDFake:
    """A fake A1111 API on 127.0.0.1; `.url` is what VIBEGEN_SD_URL would be."""

    def __init__(self, auth: str | None = None, *, slow_s: float = 2.0,
                 work_s: float = 0.0) -> None:
        self.auth = auth
        self.slow_s = slow_s
        self.work_s = work_s  # simulated time per generation (inside the lock)
        self.max_concurrent = 0  # most generations ever running at once (must stay 1)
        self._running = 0
        self._gen_lock = threading.Lock()  # A1111's queue lock
        self._queue: deque[str] = deque()
        self._log: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> SDFake:
        """Bind a free port and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving (a slow response in flight is cut short)."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SDFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT."""
        assert self._server is not None, "fake not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- scripting and log ----------------------------------------------------------------
    def script(self, *behaviours: str) -> None:
        """Queue behaviours for the next txt2img requests, one each (default: success)."""
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
        route = (h.command, parts.path)
        if route not in (("POST", "/sdapi/v1/txt2img"), ("GET", "/sdapi/v1/sd-models")):
            self._send(h, 404, {"detail": "Not Found"})
            return
        behaviour = "ok"
        if route[0] == "POST":
            with self._lock:
                behaviour = self._queue.popleft() if self._queue else "ok"
        if behaviour == "401" or not self._authorised(rec):
            detail = "Incorrect username or password" if "authorization" in rec.headers \
                else "Not authenticated"
            self._send(h, 401, {"detail": detail}, {"WWW-Authenticate": "Basic"})
            return
        if route[0] == "GET":
            self._send(h, 200, [{"title": CHECKPOINT, "model_name": "sd_xl_base_1.0",
                                 "hash": "31e35c80fc", "filename": "/models/sd_xl_base_1.0"}])
            return
        self._txt2img(h, rec, behaviour)

    def _authorised(self, rec: Recorded) -> bool:
        if not self.auth:
            return True
        expected = "Basic " + base64.b64encode(self.auth.encode()).decode()
        return rec.headers.get("authorization") == expected

    def _txt2img(self, h: _Handler, rec: Recorded, behaviour: str) -> None:
        body = rec.body if isinstance(rec.body, dict) else None
        if body is None:
            self._send(h, 422, {"detail": [{"loc": ["body"], "msg": "field required",
                                            "type": "value_error.missing"}]})
            return
        bad = [f for f in _INT_FIELDS if f in body and not isinstance(body[f], int)]
        if behaviour == "422" and not bad:
            bad = ["width"]
        if bad:
            self._send(h, 422, {"detail": [{"loc": ["body", f], "msg": "value is not a valid "
                                            "integer", "type": "type_error.integer"}
                                           for f in bad]})
            return
        with self._gen_lock:  # one generation at a time, like A1111
            with self._lock:
                self._running += 1
                self.max_concurrent = max(self.max_concurrent, self._running)
            try:
                if behaviour == "slow" and self._stop.wait(self.slow_s):
                    return  # shutting down: drop the connection
                if self.work_s:
                    self._stop.wait(self.work_s)
                self._answer(h, body, behaviour)
            finally:
                with self._lock:
                    self._running -= 1

    def _answer(self, h: _Handler, body: dict, behaviour: str) -> None:
        if behaviour == "500":
            self._send(h, 500, {"error": "OutOfMemoryError", "detail": "", "body": "",
                                "errors": "CUDA out of memory. Tried to allocate 2.00 GiB"})
            return
        if behaviour == "malformed_json":
            self._send_raw(h, 200, b'{"images": ["iVBORw0KGgo', "application/json")
            return
        width, height = body.get("width", 512), body.get("height", 512)
        seed = body.get("seed", -1)
        seed = random.randrange(2**32) if seed in (-1, None) else seed
        info = {"prompt": body.get("prompt", ""), "all_prompts": [body.get("prompt", "")],
                "negative_prompt": body.get("negative_prompt", ""), "seed": seed,
                "all_seeds": [seed], "subseed": 1234, "width": width, "height": height,
                "sampler_name": body.get("sampler_name", "Euler a"),
                "cfg_scale": body.get("cfg_scale", 7.0), "steps": body.get("steps", 20),
                "batch_size": 1, "sd_model_name": "sd_xl_base_1.0",
                "sd_model_hash": "31e35c80fc", "infotexts": [f"{body.get('prompt', '')}\n"
                                                             f"Steps: 20, Seed: {seed}"]}
        image = base64.b64encode(png_bytes(width, height)).decode()
        answer: dict[str, Any] = {"images": [image], "parameters": body,
                                  "info": json.dumps(info)}
        if behaviour == "no_info":
            del answer["info"]
        elif behaviour == "bad_info":
            answer["info"] = "Steps: 20, Sampler: Euler a, Seed: 42"  # text, not JSON
        elif behaviour == "no_images":
            answer["images"] = []
        elif behaviour == "bad_base64":
            answer["images"] = ["this is not base64!"]
        self._send(h, 200, answer)

    def _send(self, h: _Handler, status: int, payload: Any,
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
def sd_fake() -> Iterator[SDFake]:
    """A running SDFake (no auth) for one test."""
    with SDFake() as fake:
        yield fake


__all__ = ["CHECKPOINT", "Recorded", "SCENARIOS", "SDFake", "png_bytes", "sd_fake"]
