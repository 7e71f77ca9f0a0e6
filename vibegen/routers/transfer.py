"""Transfer helpers every HTTP router adapter shares: JSON bodies, Retry-After, image download.

The same rules for every router that hands back a URL: no auth header on the download (the
image lives on a CDN), the deadline bounds the transfer, and an answer that is clearly not an
image (an error page, no bytes, a 404) is a BadImageError in words.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import httpx

from vibegen.errors import BadImageError, ProtocolError, RouterTimeout
from vibegen.routers.base import GenerationRequest

# Longest router-provided text we put into a grid-cell message.
MESSAGE_CHARS = 160


def clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    """`text` on one line, shortened to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decode_json(response: httpx.Response, router: str, model: str) -> Any:
    """The response body as JSON, or ProtocolError when it is not JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("answered with malformed JSON", router=router, model=model,
                            status=response.status_code,
                            detail=clip(response.text, 300)) from None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric `Retry-After` header (HTTP dates are ignored)."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def fetch_image(http: httpx.Client, url: str, request: GenerationRequest,
                router: str) -> tuple[bytes, str]:
    """Download an output image (no auth header: it lives on a CDN); bytes and content type.

    Only the transfer is checked here — decoding is the runner's job — but an answer that is
    clearly not an image (an error page, no bytes, a 404) raises BadImageError in words.
    """
    model = request.model.key
    if url.startswith("data:"):  # fal's sync_mode returns a data URI instead of a URL
        head, _, payload = url.partition(",")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise BadImageError("image data URI is not valid base64", router=router,
                                model=model) from None
        return data, head[5:].split(";")[0]
    left = request.check_deadline(router)
    try:
        response = http.get(url, timeout=httpx.Timeout(left), follow_redirects=True)
    except httpx.TimeoutException:
        raise RouterTimeout("timed out downloading the image", router=router,
                            model=model) from None
    except httpx.HTTPError as exc:
        raise BadImageError(f"could not download the image ({type(exc).__name__})",
                            router=router, model=model) from None
    status = response.status_code
    if status == 404:
        raise BadImageError("image not found at its URL (HTTP 404)", router=router,
                            model=model, status=status)
    if status >= 400:
        raise BadImageError(f"image download failed (HTTP {status})", router=router,
                            model=model, status=status)
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.startswith("text/") or ctype in ("application/json", "application/xml"):
        raise BadImageError(f"image URL returned {ctype}, not an image", router=router,
                            model=model, status=status, detail=clip(response.text, 300))
    if not response.content:
        raise BadImageError("image URL returned no bytes", router=router, model=model,
                            status=status)
    return response.content, ctype
