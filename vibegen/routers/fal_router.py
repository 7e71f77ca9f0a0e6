"""fal.ai over its queue protocol (submit → poll status → fetch result → download the image).

Spoken over httpx rather than `fal-client`: the SDK discards the `x-fal-billable-units` header
(the only place fal says what it billed) and can only build `https://` URLs fixed at import
time, so it could not be pointed at a local fake. Wire facts: reference/protocols.md §1.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from vibegen.catalog import Model
from vibegen.costs import Cost, from_billable_units
from vibegen.errors import (
    ContentFilteredError,
    ImageTooLargeError,
    InsufficientCreditsError,
    MissingKeyError,
    ProtocolError,
    RefusedURLError,
    RouterError,
    RouterTimeout,
    ServerError,
)
from vibegen.routers.base import (
    DOWNLOAD_TRIES,
    GenerationRequest,
    GenerationResult,
    transient_download,
)
from vibegen.routers.failures import decode_json, status_error, with_cause
from vibegen.routers.hosts import RefusedURL, require_same_host
from vibegen.routers.polling import QueueRouter
from vibegen.routers.transfer import (
    DEFAULT_POLICY,
    TransferPolicy,
    clip,
    error_text,
    fetch_image,
    request_secrets,
    retry_after,
    status_line,
)

# Seconds allowed for the best-effort cancel sent after the deadline has already passed.
CANCEL_TIMEOUT_S = 5.0
# fal's content checker, in its error `type` / `error_type` fields.
CONTENT_POLICY = "content_policy_violation"
# fal's own timeouts (error_type / X-Fal-Error-Type, usually with HTTP 504): the request ran
# out of time at fal, which is a timeout for the cell, not a server error to retry.
TIMEOUT_TYPES = ("request_timeout", "startup_timeout")


def _detail_text(detail: Any) -> str:
    """fal's `detail`: a string, or a pydantic-style list of {loc, msg, type} → one sentence."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            loc = [str(p) for p in item.get("loc") or [] if p != "body"]
            msg = str(item.get("msg") or item.get("type") or "invalid")
            parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
        return "; ".join(parts)
    return "" if detail is None else json.dumps(detail)


def _is_content_policy(detail: Any, error_type: str | None) -> bool:
    if error_type == CONTENT_POLICY:
        return True
    return isinstance(detail, list) and any(
        isinstance(item, dict) and item.get("type") == CONTENT_POLICY for item in detail
    )


def _locked_message(detail: str) -> str:
    # "User is locked. Reason: Exhausted balance. Top up …" → "account locked: balance exhausted"
    if "balance" in detail.lower():
        return "account locked: balance exhausted"
    reason = re.search(r"Reason:\s*([^.]+)", detail)
    return f"account locked: {reason.group(1).strip().lower()}" if reason else "account locked"


def _error_types(detail: Any, error_type: str | None) -> set[str]:
    """fal's structured error codes: `error_type` / the header, and every `detail[].type`."""
    types = {error_type} if error_type else set()
    if isinstance(detail, list):
        types |= {
            str(item["type"]) for item in detail if isinstance(item, dict) and item.get("type")
        }
    return types


def fal_error(response: httpx.Response, model: str) -> RouterError:
    """The RouterError for a non-2xx fal answer (submit, status or result).

    The kind comes from fal's structured codes (`detail[].type`, `error_type`,
    `X-Fal-Error-Type`), never from words in the message; the message fal wrote is kept, after
    the key it may echo is redacted. An HTML page (a proxy's 503) becomes its title.
    """
    status = response.status_code
    secrets = request_secrets(response)
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    error_type = (
        body.get("error_type") if isinstance(body, dict) else None
    ) or response.headers.get("x-fal-error-type")
    types = _error_types(detail, error_type)
    if detail is not None:
        text = clip(_detail_text(detail), secrets=secrets)
    elif body is None:
        text = error_text(response)
    else:
        text = ""
    kw: dict[str, Any] = {
        "router": "fal",
        "model": model,
        "status": status,
        "detail": clip(response.text, 500, secrets),
    }
    said = f": {text}" if text else ""
    if status == 403 and "locked" in text.lower():
        # fal sends no code for a locked account; its detail names the lock ("User is locked").
        return with_cause(InsufficientCreditsError(_locked_message(text), **kw), response)
    if status not in (401, 403):
        if _is_content_policy(detail, error_type):
            return with_cause(ContentFilteredError("content filtered" + said, **kw), response)
        if types & set(TIMEOUT_TYPES):
            return with_cause(RouterTimeout("timed out" + said, **kw), response)
        if status != 429 and body is None and text:  # an HTML or text page: its line says it
            cls = ServerError if status >= 500 else RouterError
            return with_cause(
                cls(status_line(status, text), retry_after=retry_after(response), **kw), response
            )
    shared = status_error(
        status,
        (text or error_type or "") if status >= 500 else text,
        router="fal",
        model=model,
        detail=kw["detail"],
        retry_after=retry_after(response),
        not_found="endpoint or request not found",
    )
    return with_cause(shared, response)


def _completed_error(status_body: dict[str, Any], model: str) -> RouterError:
    """The error for a COMPLETED status that carries `error` when the result fetch did not."""
    error_type = status_body.get("error_type")
    message = str(status_body.get("error") or error_type or "request failed")
    kw: dict[str, Any] = {"router": "fal", "model": model, "detail": message}
    if error_type == CONTENT_POLICY:
        return ContentFilteredError(f"content filtered: {clip(message)}", **kw)
    if error_type in TIMEOUT_TYPES:
        return RouterTimeout(f"timed out: {clip(message)}", **kw)
    return ServerError(f"request failed: {clip(message)}", **kw)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class FalRouter(QueueRouter):
    """fal.ai's queue API: `Authorization: Key …`, poll the status URL, download the output."""

    name = "fal"
    # fal-client polls every 0.1 s; for a grid of many models that is needlessly aggressive.
    poll_interval = 0.75

    def __init__(self, *, transfer: TransferPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transfer = transfer or DEFAULT_POLICY  # download caps, set where it is built

    def _check_host(self, url: str, request: GenerationRequest, what: str = "URL") -> None:
        """RefusedURLError unless `url` is on the configured fal host (the key goes nowhere
        else; fal's submit answer names the status/result/cancel URLs, so they are checked)."""
        try:
            require_same_host(url, self.base_url, what)
        except RefusedURL as exc:
            raise RefusedURLError(str(exc), router=self.name, model=request.model.key) from exc

    def _call(
        self,
        method: str,
        url: str,
        request: GenerationRequest,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        submit: bool = False,
    ) -> httpx.Response:
        """One authenticated queue call, bounded by the request's deadline."""
        self._check_host(url, request)
        return self.send(
            method,
            url,
            request,
            who="fal",
            headers={"Authorization": f"Key {self.key}"},
            json_body=json_body,
            params=params,
            submit=submit,
        )

    def _json_object(self, response: httpx.Response, model: str) -> dict[str, Any]:
        data = decode_json(response, self.name, model)
        if not isinstance(data, dict):
            raise ProtocolError(
                "answered with unexpected JSON (not an object)",
                router=self.name,
                model=model,
                status=response.status_code,
            )
        return data

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Submit (or resume) a queue job, wait for COMPLETED, fetch the result and image."""
        model = request.model
        if not self.key:
            raise MissingKeyError(self.info.key_message(), router=self.name, model=model.key)
        submitted = time.monotonic()
        job = self.follow(request, lambda: self._submit(request))
        try:
            status_body, queue_s = self._wait(job["status_url"], request, submitted)
            failed = bool(status_body.get("error") or status_body.get("error_type"))
            response = self.persist(
                request,
                "result fetch",
                lambda: self._fetch_result(job["response_url"], request, failed),
            )
            ended: RouterError | None = None  # fal's own verdict: the job is over
            if response.status_code >= 400:
                ended = fal_error(response, model.key)
            elif failed:
                ended = _completed_error(status_body, model.key)
            if ended is not None:
                ended.reported_end = True
                raise self._billed(ended, response, request)
            try:
                output = self._json_object(response, model.key)
            except ProtocolError as exc:  # done and billed, but unreadable: fetch it again later
                exc.job_may_run = True
                raise self._billed(exc, response, request) from exc
            return self._result(
                output, response, status_body, queue_s, request, job.get("request_id")
            )
        except RouterTimeout as exc:
            if exc.reported_end:
                raise  # fal said the request timed out: nothing left to cancel or follow
            exc.job_may_run = True
            self._cancel(job["cancel_url"])
            raise

    def _submit(self, request: GenerationRequest) -> dict[str, Any]:
        """POST the input to the queue; the job handle (`follow` saves it before any poll)."""
        model = request.model
        body: dict[str, Any] = {"prompt": request.prompt, **request.params}
        if request.seed is not None and model.seed_supported:
            body.setdefault(model.seed_param, request.seed)
        response = self._call(
            "POST",
            f"{self.base_url}/{model.endpoint.strip('/')}",
            request,
            json_body=body,
            submit=True,
        )
        if response.status_code >= 400:
            raise fal_error(response, model.key)
        try:
            handle = self._json_object(response, model.key)
        except ProtocolError as exc:
            # fal queued the request but its answer was garbled: rebuild the handle from the
            # request id header, so the paid job is followed rather than bought again.
            job = self._handle_from_header(response, model)
            if job is None:
                exc.job_may_run = True
                raise
            handle = job
        job = {k: handle.get(k) for k in ("request_id", "status_url", "response_url", "cancel_url")}
        if not all(
            isinstance(job[k], str) and job[k] for k in ("status_url", "response_url", "cancel_url")
        ):
            rebuilt = self._handle_from_header(response, model)
            if rebuilt is None:
                err = ProtocolError(
                    "submit answer lacks status/response/cancel URLs",
                    router=self.name,
                    model=model.key,
                )
                err.job_may_run = True
                raise err
            job = rebuilt
        job["request_id"] = job.get("request_id") or response.headers.get("x-fal-request-id")
        return job

    def _handle_from_header(self, response: httpx.Response, model: Model) -> dict[str, Any] | None:
        """The job's URLs built from `x-fal-request-id` (protocols.md §1.1: owner/app only)."""
        request_id = response.headers.get("x-fal-request-id")
        if not request_id:
            return None
        parts = model.endpoint.strip("/").split("/")
        app = parts[:3] if parts[0] in ("workflows", "comfy") else parts[:2]
        base = f"{self.base_url}/{'/'.join(app)}/requests/{request_id}"
        return {
            "request_id": request_id,
            "status_url": f"{base}/status",
            "response_url": base,
            "cancel_url": f"{base}/cancel",
        }

    def _fetch_result(
        self, url: str, request: GenerationRequest, failed: bool = False
    ) -> httpx.Response:
        """GET the result; a 429 or 5xx is raised so `persist` can try again.

        When the status already said the request failed, a 5xx is the model's own error
        (fal returns "the same error" as the result), so it is returned to be reported.
        """
        response = self._call("GET", url, request)
        if response.status_code == 429 or (response.status_code >= 500 and not failed):
            raise fal_error(response, request.model.key)
        return response

    def _billed(
        self, exc: RouterError, response: httpx.Response, request: GenerationRequest
    ) -> RouterError:
        """Attach what fal billed for a failed result (its billable units), if it said."""
        units = self._billable_units(response)
        if units is not None:
            exc.cost = self._cost(request.model, units, request.params)
        return exc

    def _wait(
        self, status_url: str, request: GenerationRequest, submitted: float
    ) -> tuple[dict[str, Any], float | None]:
        """Poll until COMPLETED; the final status body and the observed time in queue.

        A failing poll (429, 5xx, network, a truncated body) is retried on the same job with
        backoff until the deadline: the request is still queued or running on fal's side.
        """
        model = request.model.key
        queue_s: float | None = None

        def poll() -> dict[str, Any]:
            response = self._call("GET", status_url, request, params={"logs": "0"})
            if response.status_code >= 400:
                raise fal_error(response, model)
            return self._json_object(response, model)

        def done(data: dict[str, Any]) -> bool:
            nonlocal queue_s
            state = data.get("status")
            if state == "IN_QUEUE":
                position = data.get("queue_position")
                # fal counts from 0 (next up); a person counts from 1.
                at = f", position {position + 1}" if isinstance(position, int) else ""
                request.progress(f"in fal's queue{at}")
                return False
            if state == "IN_PROGRESS":
                if queue_s is None:  # first time we see it running: time spent queued
                    queue_s = time.monotonic() - submitted
                request.progress("generating")
                return False
            if state == "COMPLETED":
                return True
            raise ProtocolError(f"unknown queue status {state!r}", router=self.name, model=model)

        return self.poll_until(request, poll, done), queue_s

    def _cancel(self, cancel_url: str) -> None:
        """Best-effort `PUT cancel_url`: queued requests are only ever cancelled this way."""
        try:
            require_same_host(cancel_url, self.base_url, "cancel URL")
        except RefusedURL:
            return  # the key goes to fal's host only; nothing to cancel elsewhere
        try:
            self.http.put(
                cancel_url,
                headers={"Authorization": f"Key {self.key}"},
                timeout=httpx.Timeout(CANCEL_TIMEOUT_S),
            )
        except httpx.HTTPError:
            pass  # the timeout is what the user needs to see, not a failed cancel

    def _result(
        self,
        output: dict[str, Any],
        response: httpx.Response,
        status_body: dict[str, Any],
        queue_s: float | None,
        request: GenerationRequest,
        request_id: str | None,
    ) -> GenerationResult:
        """Turn the model output into a GenerationResult (image bytes, seed, cost, timings)."""
        model = request.model
        nsfw = output.get("has_nsfw_concepts")
        if isinstance(nsfw, list) and any(v is True for v in nsfw):
            raise self._billed(
                ContentFilteredError(
                    "content filtered",
                    router=self.name,
                    model=model.key,
                    detail="has_nsfw_concepts: true",
                ),
                response,
                request,
            )
        images = output.get("images")
        first = images[0] if isinstance(images, list) and images else output.get("image")
        item: dict[str, Any] = first if isinstance(first, dict) else {}
        url = item.get("url")
        if not isinstance(url, str) or not url:
            raise self._billed(
                ProtocolError("answer has no image URL", router=self.name, model=model.key),
                response,
                request,
            )
        try:  # a failed download is retried as a download: the image is already paid for
            image, content_type = self.persist(
                request,
                "download",
                lambda: fetch_image(
                    self.http, url, request, self.name, base_url=self.base_url, policy=self.transfer
                ),
                transient=transient_download,
                max_tries=DOWNLOAD_TRIES,
            )
        except RouterError as exc:
            # fal keeps the result a while: a retry fetches it again (an image over the caps
            # would only be over them again).
            exc.job_may_run = not isinstance(exc, ImageTooLargeError)
            raise self._billed(exc, response, request) from exc.__cause__

        metrics = status_body.get("metrics")
        metrics_inference = (
            _number(metrics.get("inference_time")) if isinstance(metrics, dict) else None
        )
        timings = output.get("timings")
        timings_inference = _number(timings.get("inference")) if isinstance(timings, dict) else None
        units = self._billable_units(response)
        seed = output.get("seed")
        meta: dict[str, Any] = {
            "billable_units": units,
            "metrics_inference_time": metrics_inference,
            "timings_inference": timings_inference,
            "content_type": (item.get("content_type") or content_type) or None,
            "width": item.get("width"),
            "height": item.get("height"),
        }
        if queue_s is not None:
            meta["queue_s_source"] = "observed: submit until first IN_PROGRESS poll"
        return GenerationResult(
            image=image,
            seed=str(seed)
            if isinstance(seed, int | str) and not isinstance(seed, bool)
            else None,  # uint64: kept as text
            cost=self._cost(model, units, request.params),
            queue_s=queue_s,
            inference_s=metrics_inference if metrics_inference is not None else timings_inference,
            request_id=request_id or response.headers.get("x-fal-request-id"),
            meta={k: v for k, v in meta.items() if v is not None},
        )

    @staticmethod
    def _billable_units(response: httpx.Response) -> float | None:
        value = response.headers.get("x-fal-billable-units")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    @staticmethod
    def _cost(model: Model, units: float | None, params: dict[str, Any]) -> Cost | None:
        """Cost from billable units at this request's tier; None lets the runner estimate it."""
        if units is None:
            return None
        cost = from_billable_units(model, units, params)
        return cost if cost.usd is not None else None
