"""How a failed HTTP call becomes an error of the tree (vibegen/errors.py), said once.

Every HTTP adapter turns its failures into RouterErrors here: a call that got no answer
(`transport_error`), an answer with a failing status (`status_error`, the shared meaning of
401/402/403/404/400/422/429/5xx, after the adapter has applied its router's own codes), and an
answer that is not JSON (`decode_json`). The original failure stays reachable as the error's
`__cause__` (`raise … from exc`, `with_cause`): the sentence a grid cell shows is short, the
cause is what a log or a debugger needs.
"""

from __future__ import annotations

from typing import Any, TypedDict

import httpx

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
from vibegen.routers.transfer import clip, request_secrets


class ErrorContext(TypedDict):
    """The keyword arguments every RouterError of one failed answer shares (`**ctx`)."""

    router: str
    model: str
    status: int | None


def transport_error(
    exc: httpx.HTTPError,
    *,
    router: str,
    model: str,
    who: str,
    deadline_passed: bool,
    submit: bool = False,
) -> RouterError:
    """The RouterError for an HTTP call that got no answer; raise it `from exc`.

    A submit whose request went out but whose answer never came may still have started a
    paid job (`job_may_run`): only a failed connect proves nothing was sent.
    """
    if isinstance(exc, httpx.TimeoutException):
        err: RouterError = ServerError("did not answer in time", router=router, model=model)
        if deadline_passed:
            err = RouterTimeout("timed out", router=router, model=model)
        err.job_may_run = submit and not isinstance(exc, httpx.ConnectTimeout)
        return err
    err = ServerError(f"could not reach {who} ({type(exc).__name__})", router=router, model=model)
    err.job_may_run = submit and not isinstance(exc, httpx.ConnectError)
    return err


def status_error(
    status: int,
    text: str = "",
    *,
    router: str,
    model: str,
    retry_after: float | None = None,
    detail: str = "",
    not_found: str = "not found",
    other: str = "HTTP",
) -> RouterError:
    """The RouterError a failing status means on any router; `text` is the router's own
    words (already redacted and clipped), `not_found` / `other` how the router names a 404
    and a status nobody documents (`other` + " 418")."""
    kw: dict[str, Any] = {"router": router, "model": model, "status": status, "detail": detail}
    said = f": {text}" if text else ""
    if status == 401:  # never the router's words: a 401 message may quote the key
        return AuthError("bad key", **kw)
    if status == 402:
        return InsufficientCreditsError("insufficient credits", **kw)
    if status == 403:
        return AuthError("access denied" + said, **kw)
    if status == 429:
        return RateLimitError("rate limited", retry_after=retry_after, **kw)
    if status in (400, 422):
        return RouterValidationError(text or "rejected the parameters", **kw)
    if status == 404:
        return RouterValidationError(not_found + said, **kw)
    if status >= 500:
        # An HTML page's title already says "503 Service Unavailable": do not say it twice.
        what = text if text.startswith(f"{status} ") else f"server error {status}" + said
        return ServerError(what, retry_after=retry_after, **kw)
    return RouterError(f"{other} {status}" + said, **kw)


def with_cause(error: RouterError, response: httpx.Response) -> RouterError:
    """`error` with the failing answer behind it as its cause (httpx's HTTPStatusError,
    carrying the request and response); unchanged for an answer that did not fail (an
    envelope's error code under HTTP 200)."""
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        error.__cause__ = exc
    except RuntimeError:  # a Response built without a request: nothing more to keep
        pass
    return error


def decode_json(response: httpx.Response, router: str, model: str) -> Any:
    """The response body as JSON, or ProtocolError (caused by the decode error) when not."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(
            "answered with malformed JSON",
            router=router,
            model=model,
            status=response.status_code,
            detail=clip(response.text, 300, request_secrets(response)),
        ) from exc
