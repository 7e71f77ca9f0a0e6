"""OpenAI Images API through the official `openai` SDK (3.x, which runs on httpx2).

One `images.generate` call per image: synchronous, base64 output, token usage in the answer.
The SDK's own retries are off (`max_retries=0`) because the runner retries once, centrally;
its timeout is bounded by the request's deadline. Error answers are turned into the
`RouterError` subclass whose message a grid cell shows.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
import threading
import time
from typing import Any

import openai

from vibegen.costs import Cost, from_tokens
from vibegen.errors import (
    ContentFilteredError,
    InsufficientCreditsError,
    MissingKeyError,
    ProtocolError,
    RouterError,
    RouterTimeout,
    ServerError,
)
from vibegen.routers.base import GenerationRequest, GenerationResult, Router
from vibegen.routers.failures import ErrorContext, status_error
from vibegen.routers.transfer import clip, html_line, looks_like_html, status_line

# Params the SDK takes as keyword arguments; anything else rides in `extra_body`.
_SDK_PARAMS = ("size", "quality", "background", "output_format", "output_compression", "moderation")
_FILTER_CODES = ("moderation_blocked", "content_policy_violation")
_QUOTA_CODES = ("insufficient_quota", "billing_hard_limit_reached")
_KEYISH = re.compile(r"\b(sk|rk|org|proj)-[A-Za-z0-9_\-*]{4,}")
_CONNECT_TIMEOUT_S = 5.0


class OpenAIRouter(Router):
    """OpenAI direct: gpt-image models, cost computed from the reported token usage."""

    name = "openai"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: openai.OpenAI | None = None
        self._client_lock = threading.Lock()

    def _sdk(self, model_key: str = "") -> openai.OpenAI:
        """The SDK client, built on first use and only when a key is present."""
        if not self.key:
            raise MissingKeyError(self.info.key_message(), router=self.name, model=model_key)
        with self._client_lock:
            if self._client is None:
                # Our httpx client is not an httpx2 client, so the SDK keeps its own.
                self._client = openai.OpenAI(
                    api_key=self.key, base_url=self.base_url, max_retries=0
                )
            return self._client

    def close(self) -> None:
        """Release the SDK's connection pool."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate one image with `images.generate` and decode its base64 payload."""
        model = request.model
        client = self._sdk(model.key)
        left = request.check_deadline(self.name)
        params = dict(request.params)
        kwargs = {k: params.pop(k) for k in _SDK_PARAMS if k in params}
        request.submitting()  # this call buys the image: the caller's fence first
        try:
            raw = client.images.with_raw_response.generate(
                model=model.endpoint,
                prompt=request.prompt,
                n=1,
                extra_body=params or None,
                timeout=openai.Timeout(left, connect=min(_CONNECT_TIMEOUT_S, left)),
                **kwargs,
            )
            answer = raw.parse()
        except openai.APITimeoutError as exc:
            raise RouterTimeout("timed out", router=self.name, model=model.key) from exc
        except openai.APIConnectionError as exc:
            lost = ServerError(
                f"cannot reach OpenAI at {self.base_url}", router=self.name, model=model.key
            )
            # The call is the job: a connection that broke after the request went out may
            # have been generated and billed, so only a failed connect may be sent again.
            lost.job_may_run = type(exc.__cause__).__name__ not in (
                "ConnectError",
                "ConnectTimeout",
            )
            raise lost from exc
        except openai.APIStatusError as err:
            raise self._status_error(err, model.key, model.endpoint) from err
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise ProtocolError(
                "answered with malformed JSON", router=self.name, model=model.key
            ) from exc

        request_id = raw.headers.get("x-request-id")
        image = self._image(answer, model.key)
        usage = answer.usage.model_dump() if answer.usage is not None else None
        return GenerationResult(
            image=image,
            seed=None,  # OpenAI image models take no seed
            cost=self._cost(request, usage),
            request_id=request_id,
            meta={
                k: v
                for k, v in (
                    ("size", answer.size),
                    ("quality", answer.quality),
                    ("output_format", answer.output_format),
                    ("usage", usage),
                )
                if v is not None
            },
        )

    # --- helpers --------------------------------------------------------------------------
    def _image(self, answer: Any, model_key: str) -> bytes:
        """The first image's bytes from `data[0].b64_json`."""
        data = answer.data or []
        b64 = data[0].b64_json if data else None
        if not b64:
            raise ProtocolError(
                "answered without base64 image data", router=self.name, model=model_key
            )
        try:
            return base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(
                "answered with invalid base64 image data", router=self.name, model=model_key
            ) from exc

    @staticmethod
    def _cost(request: GenerationRequest, usage: dict[str, Any] | None) -> Cost | None:
        """Tokens × published rates; None (the runner estimates) when usage is missing."""
        if not usage:
            return None
        cost = from_tokens(request.model, usage)
        return cost if cost.usd is not None else None

    def _clean(self, text: str) -> str:
        """A server message made safe to show: no key (in any encoding), nothing key-like,
        an HTML page as its title, one line of bounded length — redacted before it is cut."""
        if looks_like_html(text):
            text = html_line(text)
        return clip(_KEYISH.sub("***", text), 300, [self.key] if self.key else [])

    def _status_error(
        self, err: openai.APIStatusError, model_key: str, endpoint: str
    ) -> RouterError:
        """Map an HTTP error answer onto the error tree."""
        status = err.status_code
        body = err.body if isinstance(err.body, dict) else {}
        code = err.code or ""
        # A non-JSON answer (a proxy's HTML page) arrives as the body string itself.
        raw = (
            body.get("message")
            or (err.body if isinstance(err.body, str) else "")
            or err.message
            or ""
        )
        message = self._clean(str(raw))
        ctx: ErrorContext = {"router": self.name, "model": model_key, "status": status}
        # OpenAI's own codes first; every status after that means what it means on any router.
        if code in _FILTER_CODES:
            details = body.get("moderation_details") or {}
            stage = details.get("moderation_stage")
            cats = ", ".join(details.get("categories") or [])
            detail = "; ".join(p for p in (f"stage {stage}" if stage else "", cats) if p)
            said = f": {clip(message)}" if message else ""
            return ContentFilteredError("content filtered" + said, detail=detail or message, **ctx)
        if code in _QUOTA_CODES:
            return InsufficientCreditsError("insufficient quota", detail=message, **ctx)
        if isinstance(err.body, str) and message and status >= 500:
            # a proxy's page: its own line says it
            return ServerError(status_line(status, clip(message)), detail=message, **ctx)
        if status in (408, 409):  # OpenAI's advice: retry a timeout or a conflict
            return ServerError(f"server error {status}", detail=message, **ctx)
        return status_error(
            status,
            message if status in (400, 403, 422) else "",  # a 5xx's words go to its detail
            retry_after=_retry_after(err.response.headers),
            detail="" if status == 401 else message,  # a 401's words may quote the key
            not_found=f"model not served: {endpoint}",
            other="unexpected HTTP",
            router=self.name,
            model=model_key,
        )


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
