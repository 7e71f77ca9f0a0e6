"""The HTTP plumbing every router fake shares: a real server on 127.0.0.1, a request log and a
script of scenarios. Each `<router>_server.py` subclasses `FakeServer` and writes only its
router's protocol, in `handle(rec) -> Reply | None`.

    class EchoFake(FakeServer):
        label = "echo"
        scenarios = ("success", "500")

        def handle(self, rec: Recorded) -> Reply | None:
            if self._next_scenario() == "500":
                return Reply(500, {"detail": "boom"})
            return Reply(200, rec.body)

    with EchoFake() as fake:
        fake.script("500")               # the next request that consumes a scenario fails
        ...
        fake.last.headers["authorization"]; fake.received("POST", "/v1/"); fake.clear()

What the base gives: `start()` / `stop()` / `with`, `.root_url` (and `.url`, the same unless a
fake overrides it), `.script(...)` (checked against `scenarios`), `.requests` (a copy, oldest
first), `.last`, `.received(method, path_prefix)`, `.clear()`, `.lock` (re-entrant, for the
fake's own state) and `.pause(seconds)` for scenarios that answer slowly; beside it `Recorded`,
`Reply`, `image_bytes` / `png_bytes` (real images), `hosted_file` (served output files) and
the transfer faults every router's CDN can show: `HTML_503` (a proxy's error page),
`trickle(...)` (a body that arrives a few bytes at a time), `padded_png(...)` (a real image
of many bytes), `png_header(...)` (a PNG that claims any size, for pixel caps),
`png_bad_pixels(...)` (whole, but its pixels do not decode) and `redirect(...)`.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from PIL import Image

ORANGE = (200, 90, 40)


@dataclass(frozen=True)
class Recorded:
    """One request a fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw: bytes = b""
    at: float = field(default_factory=time.time)  # when it arrived (epoch s), for benchmarks


@dataclass
class Reply:
    """What a fake answers: a status, a JSON-able body (or raw bytes) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # (bytes per write, seconds between writes): a body that trickles in.
    trickle: tuple[int, float] | None = None
    # False: no Content-Length; the body ends when the connection closes.
    length: bool = True


HTML_503 = Reply(
    503,
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>"
    b"\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>"
    b"\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    content_type="text/html",
)


def trickle(data: bytes, content_type: str, chunk: int = 64, every_s: float = 0.05) -> Reply:
    """A 200 whose body arrives `chunk` bytes every `every_s` seconds (a stalling CDN)."""
    return Reply(200, data, content_type=content_type, trickle=(chunk, every_s))


def redirect(location: str, status: int = 302) -> Reply:
    """A redirect to `location`."""
    return Reply(status, b"", {"Location": location}, content_type="text/plain")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width`×`height` in its header but holds one tiny IDAT: Pillow reads
    the size without decoding, so pixel caps can be tested without allocating the pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _chunk(b"IEND", b"")
    )


def png_bad_pixels(width: int = 64, height: int = 48) -> bytes:
    """A PNG whole and well-formed (every chunk's CRC right, IEND present) whose IDAT is no
    deflate stream: only decoding it shows it is broken."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"not deflate data")
        + _chunk(b"IEND", b"")
    )


@lru_cache(maxsize=4)
def padded_png(size: int) -> bytes:
    """A real, readable 64×48 PNG made `size` bytes long by a private ancillary chunk."""
    small = image_bytes(64, 48, "PNG")
    pad = max(0, size - len(small) - 12)
    return small[:-12] + _chunk(b"vgPd", b"\x00" * pad) + small[-12:]


@lru_cache(maxsize=32)
def image_bytes(
    width: int = 64, height: int = 48, fmt: str = "PNG", rgb: tuple[int, int, int] = ORANGE
) -> bytes:
    """A real, small PNG or JPEG (solid colour, so it is quick to encode) Pillow can open."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(buf, format=fmt)
    return buf.getvalue()


def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = ORANGE) -> bytes:
    """A real PNG of the given size (see `image_bytes`)."""
    return image_bytes(width, height, "PNG", rgb)


def hosted_file(name: str, *, missing: Reply, page: bytes, image: Reply) -> Reply:
    """A file a fake hosts for download: names starting `missing` are absent (`missing`), `.html`
    names are a web page rather than an image (`page`), any other name is `image`."""
    if name.startswith("missing"):
        return missing
    if name.endswith(".html"):
        return Reply(200, page, content_type="text/html; charset=utf-8")
    return image


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A run's whole fan-out connects at once: the default backlog of 5 made the kernel drop
    # SYNs past it, and each dropped connection retried a second later.
    request_queue_size = 1024
    fake: FakeServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffer the reply so headers and body leave in one write (no Nagle/delayed-ACK stall).
    wbufsize = 1 << 16
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        split = urlsplit(self.path)
        rec = Recorded(
            self.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            raw,
        )
        fake = self.server.fake
        fake._record(rec)
        reply = fake.handle(rec)
        if reply is None:  # the fake is stopping: drop the connection without an answer
            self.close_connection = True
            return
        payload = (
            reply.body
            if isinstance(reply.body, bytes)
            else (
                b""
                if reply.body is None and reply.content_type != "application/json"
                else json.dumps(reply.body).encode()
            )
        )
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.length:
                self.send_header("Content-Length", str(len(payload)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.trickle is None:
                self.wfile.write(payload)
                self.wfile.flush()
                return
            step, every = reply.trickle
            self.wfile.flush()
            for start in range(0, len(payload), step):
                if fake.pause(every):
                    break
                self.wfile.write(payload[start : start + step])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (deadline tests)

    do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's naming


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1:0 in a daemon thread, logging every request.

    Subclasses set `label` (named in errors), `scenarios` (what `script` accepts) and
    `default_scenario` (what `_next_scenario` answers when nothing is scripted), and implement
    `handle`.
    """

    label = "fake"
    scenarios: tuple[str, ...] = ("success",)
    default_scenario = "success"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._log: list[Recorded] = []
        self._scripts: deque[str] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None

    # -- lifecycle
    def start(self) -> Self:
        """Bind to a free port and serve in the background."""
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (a slow answer in flight is cut short)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the fake stops meanwhile; True when it is stopping."""
        return self._stopping.wait(seconds)

    @property
    def root_url(self) -> str:
        """http://127.0.0.1:PORT (no path, no trailing slash)."""
        assert self._server is not None, "fake server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The base URL a client is given (the root URL unless a fake says otherwise)."""
        return self.root_url

    # -- scripting and the log
    def script(self, *scenarios: str) -> None:
        """Queue behaviours for the next requests that consume a scenario (FIFO)."""
        for name in scenarios:
            if name not in self.scenarios:
                raise ValueError(
                    f"unknown {self.label} scenario {name!r}; known: {', '.join(self.scenarios)}"
                )
        with self.lock:
            self._scripts.extend(scenarios)

    def _next_scenario(self) -> str:
        with self.lock:
            return self._scripts.popleft() if self._scripts else self.default_scenario

    def _record(self, rec: Recorded) -> None:
        with self.lock:
            self._log.append(rec)

    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far, oldest first (a copy)."""
        with self.lock:
            return list(self._log)

    @property
    def last(self) -> Recorded:
        """The most recent request."""
        with self.lock:
            return self._log[-1]

    def received(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Requests so far, optionally only one method and/or paths starting with `path`."""
        with self.lock:
            return [
                r
                for r in self._log
                if (method is None or r.method == method)
                and (path is None or r.path.startswith(path))
            ]

    def clear(self) -> None:
        """Forget received requests and queued behaviours."""
        with self.lock:
            self._log.clear()
            self._scripts.clear()

    # -- the protocol
    def handle(self, rec: Recorded) -> Reply | None:
        """Answer one request; None drops the connection unanswered (subclasses implement)."""
        raise NotImplementedError
