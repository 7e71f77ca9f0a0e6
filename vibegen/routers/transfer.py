"""Transfer helpers every HTTP router adapter shares: JSON bodies, Retry-After, error text,
image download.

The same rules for every router that hands back a URL: the URL passes the host policy
(vibegen/routers/hosts.py: http(s) only, no private addresses unless the router is on one,
checked again on every redirect); no auth header on the download (the image lives on a CDN);
the request's deadline bounds the whole transfer, a trickling one included; the body may not
exceed the byte cap and the image, read from its header before anything decodes it, not the
pixel cap; and an answer that is clearly not an image (an error page, no bytes, a 404) is a
BadImageError in words.
"""

from __future__ import annotations

import base64
import binascii
import html
import io
import re
import socket
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx
from PIL import Image, UnidentifiedImageError

from vibegen.errors import (
    BadImageError,
    ImageTooLargeError,
    RefusedURLError,
    RouterTimeout,
)
from vibegen.keys import redact
from vibegen.routers.hosts import RefusedURL, Resolver, check_image_url, system_resolve

if TYPE_CHECKING:  # base imports the failure mapping, which imports this module
    from vibegen.routers.base import GenerationRequest

# Longest router-provided text we put into a grid-cell message.
MESSAGE_CHARS = 160
MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 64 * MIB
DEFAULT_MAX_PIXELS = 80_000_000
# A CDN may redirect once or twice; more is a loop.
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class TransferPolicy:
    """Limits on an image download, given to an adapter where it is built (`transfer=`)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    # host → addresses; tests inject a table so the host policy needs no DNS.
    resolve: Resolver = field(default=system_resolve, compare=False)


DEFAULT_POLICY = TransferPolicy()


def clip(text: str, limit: int = MESSAGE_CHARS, secrets: Sequence[str] = ()) -> str:
    """`text` redacted of `secrets`, on one line, shortened to `limit` characters.

    Redaction comes first: a cut through a key would leave a head `redact` no longer matches.
    """
    text = " ".join(redact(text, secrets).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def request_secrets(response: httpx.Response) -> list[str]:
    """The credential the request behind `response` carried (`Key …`, `Bearer …`, Basic
    user:pass), so an error built from the answer can redact it wherever it is echoed."""
    try:
        value = response.request.headers.get("authorization", "")
    except RuntimeError:  # a Response built without a request
        return []
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if not token:
        return []
    found = [token]
    if scheme.lower() == "basic":
        try:
            found.append(base64.b64decode(token, validate=True).decode())
        except (binascii.Error, ValueError):
            pass
    return found


_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_HEADING = re.compile(r"<h[1-6][^>]*>(.*?)</h[1-6]\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


def looks_like_html(text: str) -> bool:
    """True when `text` is an HTML page (a proxy's or a CDN's error page) rather than data."""
    head = text.lstrip()[:512].lower()
    return head.startswith(("<!doctype html", "<html")) or "<title" in head or "<body" in head


def html_line(text: str) -> str:
    """One line for an HTML error page: its <title>, else its first heading, else its text."""
    for pattern in (_TITLE, _HEADING):
        match = pattern.search(text)
        if match:
            line = " ".join(html.unescape(_TAG.sub(" ", match.group(1))).split())
            if line:
                return line
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def error_text(response: httpx.Response, limit: int = MESSAGE_CHARS) -> str:
    """A non-JSON error body as one redacted line: an HTML page's title, or the text clipped."""
    text = response.text
    line = html_line(text) if looks_like_html(text) else text
    return clip(line, limit, request_secrets(response))


def status_line(status: int, line: str) -> str:
    """`503 Service Unavailable` as it is, or `HTTP 502: Bad gateway` when the line lacks it."""
    if not line:
        return f"HTTP {status}"
    return line if line.startswith(str(status)) else f"HTTP {status}: {line}"


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric `Retry-After` header (HTTP dates are ignored)."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _size(n: int) -> str:
    """Bytes in words: 130 MB, 1.5 KB, 900 bytes (binary multiples, as the caps are set)."""
    for unit, scale in (("GB", 1024 * MIB), ("MB", MIB), ("KB", 1024)):
        if n >= scale:
            value = n / scale
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value == int(value)
                else f"{value:.1f} {unit}"
            )
    return f"{n} bytes"


def _megapixels(pixels: int) -> str:
    value = pixels / 1_000_000
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}".removesuffix(".0") if value >= 0.1 else f"{value:.3f}"


def check_pixels(
    data: bytes, policy: TransferPolicy, router: str, model: str, status: int | None = None
) -> None:
    """ImageTooLargeError when the image's header says it is over the pixel cap.

    Pillow's `Image.open` reads only the header (the size is known before any pixel is
    decoded), so a decompression bomb is refused without being expanded. Bytes Pillow cannot
    identify pass: whether they decode is the runner's check (BadImageError there).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            "the image is a decompression bomb (its header claims more "
            "pixels than Pillow will open)",
            router=router,
            model=model,
            status=status,
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError):
        return
    if width * height > policy.max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}×{height} ({_megapixels(width * height)} megapixels), over "
            f"the {_megapixels(policy.max_pixels)} megapixel cap",
            router=router,
            model=model,
            status=status,
        )


def _too_big(
    size: int | None, policy: TransferPolicy, router: str, model: str, status: int | None
) -> ImageTooLargeError:
    cap = _size(policy.max_bytes)
    said = (
        f"the image is {_size(size)}, over the {cap} cap"
        if size is not None
        else f"the image is larger than the {cap} cap"
    )
    return ImageTooLargeError(said, router=router, model=model, status=status)


def _data_uri(url: str, policy: TransferPolicy, router: str, model: str) -> tuple[bytes, str]:
    # fal's sync_mode returns a data URI instead of a URL
    head, _, payload = url.partition(",")
    if len(payload) * 3 // 4 > policy.max_bytes:  # refuse before decoding the base64
        raise _too_big(len(payload) * 3 // 4, policy, router, model, None)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImageError(
            "image data URI is not valid base64", router=router, model=model
        ) from exc
    check_pixels(data, policy, router, model)
    return data, head[5:].split(";")[0]


def _cut_at_deadline(response: httpx.Response, seconds: float) -> threading.Timer | None:
    """A timer that shuts the download's socket at the deadline, waking a read that waits on a
    server that has gone quiet (a per-read timeout alone would let a trickle run for ever)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket):
        return None

    def cut() -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the download ended on its own

    timer = threading.Timer(max(0.0, seconds), cut)
    timer.daemon = True
    timer.start()
    return timer


def _read_body(
    response: httpx.Response, request: GenerationRequest, policy: TransferPolicy, router: str
) -> bytes:
    """The body, at most `policy.max_bytes`, checking the deadline after every chunk."""
    model = request.model.key
    status = response.status_code
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise _too_big(int(declared), policy, router, model, status)
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():  # as the bytes arrive, so a trickle is seen
        total += len(chunk)
        if total > policy.max_bytes:
            raise _too_big(None, policy, router, model, status)
        chunks.append(chunk)
        if request.remaining() <= 0:
            raise RouterTimeout("timed out downloading the image", router=router, model=model)
    return b"".join(chunks)


def fetch_image(
    http: httpx.Client,
    url: str,
    request: GenerationRequest,
    router: str,
    *,
    base_url: str = "",
    policy: TransferPolicy = DEFAULT_POLICY,
) -> tuple[bytes, str]:
    """Download an output image (no auth header: it lives on a CDN); bytes and content type.

    `base_url` is the router's configured address: private image addresses are allowed only
    when it is on one too. Only the transfer and the image header are checked here — decoding
    is the runner's job — but an answer that is clearly not an image (an error page, no bytes,
    a 404) raises BadImageError in words, a URL the host policy refuses RefusedURLError, one
    over a cap ImageTooLargeError, and the deadline RouterTimeout (the caller cancels the job).
    """
    model = request.model.key
    if url.startswith("data:"):
        return _data_uri(url, policy, router, model)
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_image_url(url, base_url, policy.resolve)
        except RefusedURL as exc:
            raise RefusedURLError(str(exc), router=router, model=model) from exc
        left = request.check_deadline(router)
        timer = None
        try:
            # Redirects are followed by hand so every hop passes the host policy.
            with http.stream(
                "GET", url, timeout=httpx.Timeout(left), follow_redirects=False
            ) as response:
                timer = _cut_at_deadline(response, request.remaining())
                if response.is_redirect and response.headers.get("location"):
                    url = urljoin(url, response.headers["location"])
                    continue
                return _checked(response, request, policy, router)
        except httpx.TimeoutException as exc:
            raise RouterTimeout(
                "timed out downloading the image", router=router, model=model
            ) from exc
        except httpx.HTTPError as exc:
            if request.remaining() <= 0:  # the deadline timer cut the connection
                raise RouterTimeout(
                    "timed out downloading the image", router=router, model=model
                ) from exc
            raise BadImageError(
                f"could not download the image ({type(exc).__name__})", router=router, model=model
            ) from exc
        finally:
            if timer is not None:
                timer.cancel()
    raise BadImageError(
        f"the image URL redirected more than {MAX_REDIRECTS} times", router=router, model=model
    )


def _checked(
    response: httpx.Response, request: GenerationRequest, policy: TransferPolicy, router: str
) -> tuple[bytes, str]:
    """The body of a final (non-redirect) image answer, after every check that needs no decode."""
    model = request.model.key
    status = response.status_code
    if status == 404:
        raise BadImageError(
            "image not found at its URL (HTTP 404)", router=router, model=model, status=status
        )
    if status >= 400:
        raise BadImageError(
            f"image download failed (HTTP {status})", router=router, model=model, status=status
        )
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.startswith("text/") or ctype in ("application/json", "application/xml"):
        text = _read_body(response, request, policy, router)[:4096].decode("utf-8", "replace")
        raise BadImageError(
            f"image URL returned {ctype}, not an image",
            router=router,
            model=model,
            status=status,
            detail=clip(text, 300),
        )
    data = _read_body(response, request, policy, router)
    if not data:
        raise BadImageError(
            "image URL returned no bytes", router=router, model=model, status=status
        )
    check_pixels(data, policy, router, model, status)
    return data, ctype
