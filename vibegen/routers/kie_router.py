"""Kie.ai: the market jobs API, plus the legacy 4o-image and Midjourney task APIs.

Every Kie answer is an envelope `{"code", "msg", "data"}` whose `code` may carry the verdict
even under HTTP 200 (sources disagree), so both the HTTP status and the body code are checked.
Tasks are created, then polled on Kie's documented cadence. Wire facts: protocols.md §2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from vibegen.catalog import Model
from vibegen.costs import Cost, from_credits
from vibegen.errors import (
    ContentFilteredError,
    ImageTooLargeError,
    InsufficientCreditsError,
    MissingKeyError,
    ProtocolError,
    RateLimitError,
    RouterError,
    RouterValidationError,
    ServerError,
)
from vibegen.routers.base import (
    DOWNLOAD_TRIES,
    GenerationRequest,
    GenerationResult,
    transient_download,
)
from vibegen.routers.failures import decode_json, status_error, with_cause
from vibegen.routers.limits import held
from vibegen.routers.polling import QueueRouter
from vibegen.routers.transfer import (
    DEFAULT_POLICY,
    TransferPolicy,
    clip,
    error_text,
    fetch_image,
    request_secrets,
    retry_after,
)

# Kie's codes that mean its safety system blocked the prompt or the image. Kie documents none
# (a flagged prompt comes back as failCode "422" like any invalid input, protocols.md §2.3),
# so this stays empty until Kie names one; a message's wording is never a verdict, because
# "safety_tolerance must be 1-6" is a validation error, not a filter.
CONTENT_CODES: frozenset[str] = frozenset()
RUNNING_STATES = ("waiting", "queuing", "generating")


def poll_delay(elapsed: float, scale: float = 1.0) -> float:
    """Seconds to wait before the next poll, on Kie's documented cadence.

    Kie: every 2–3 s for the first 30 s, 5–10 s until 2 min, then 15–30 s. `scale` shrinks
    both the phase boundaries and the delays (tests use ~0.01 so a run takes milliseconds).
    """
    scale = scale if scale > 0 else 1.0
    t = elapsed / scale
    base = 2.5 if t < 30 else 7.5 if t < 120 else 20.0
    return base * scale


def _is_content(code: Any) -> bool:
    return str(code).strip().lower() in CONTENT_CODES


def kie_error(
    code: int, message: str, model: str, *, retry_after_s: float | None = None
) -> RouterError:
    """The RouterError for a Kie error code (from the HTTP status or the body's `code`).

    `status` on the error is that effective code, even when it came under HTTP 200. Kie's
    message is kept in words; `message` must already be redacted of the key.
    """
    kw: dict[str, Any] = {
        "router": "kie",
        "model": model,
        "status": code,
        "detail": clip(message, 500),
    }
    said = f": {clip(message)}" if message else ""
    # Kie's own codes first (protocols.md §2.2); the rest mean what they mean everywhere.
    if code == 433:
        return InsufficientCreditsError("key usage limit reached", **kw)
    if _is_content(code):
        return ContentFilteredError("content filtered" + said, **kw)
    if code == 451:
        return RouterValidationError("could not download the input image" + said, **kw)
    if code == 455:
        return ServerError("service under maintenance", retry_after=retry_after_s, **kw)
    if code == 501:
        return ServerError("generation failed" + said, **kw)
    if code == 505:  # the model or feature is switched off: retrying will not help
        return RouterError("model disabled by Kie" + said, **kw)
    if code == 550:
        return ServerError("queue full", retry_after=retry_after_s, **kw)
    return status_error(
        code,
        clip(message),
        router="kie",
        model=model,
        detail=kw["detail"],
        retry_after=retry_after_s,
        other="error",
    )


def _fail_error(code: Any, message: str, model: str) -> RouterError:
    """The error for a task that ended in failure (failCode/failMsg or errorCode/errorMessage)."""
    message = str(message or "")
    kw: dict[str, Any] = {"router": "kie", "model": model, "detail": clip(message, 500)}
    if _is_content(code):
        return ContentFilteredError(
            "content filtered" + (f": {clip(message)}" if message else ""), **kw
        )
    try:
        number = int(str(code).strip())
    except ValueError:
        number = None
    if number is not None and number not in (200, 500, 501):
        err = kie_error(number, message, model)
        err.status = None  # the query succeeded; the code is the task's, not HTTP's
        return err
    return ServerError("generation failed" + (f": {clip(message)}" if message else ""), **kw)


def _json_field(value: Any, what: str, model: str) -> dict[str, Any]:
    """Kie nests JSON as a string (`resultJson`, `resultInfoJson`); accept either form."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise ProtocolError(
                f"answered with malformed {what}",
                router="kie",
                model=model,
                detail=clip(value, 300),
            ) from exc
        if isinstance(parsed, dict):
            return parsed
    raise ProtocolError(f"answer has no {what}", router="kie", model=model)


def _first_url(urls: Any) -> tuple[str | None, int]:
    """The first URL of a result list (strings, or MJ's {"resultUrl": …}) and the count."""
    if not isinstance(urls, list):
        return None, 0
    found = [u.get("resultUrl") if isinstance(u, dict) else u for u in urls]
    found = [u for u in found if isinstance(u, str) and u]
    return (found[0] if found else None), len(found)


def _inference_seconds(cost_time: float | None, span_s: float | None) -> float | None:
    """Kie's `costTime` in seconds.

    Documented in ms (15000), yet one of Kie's own examples reads 8 for a task of seconds. A
    value that as ms would be an impossibly quick image (under 0.25 s) while as seconds it
    fits inside the task's own span (createTime to completeTime) is taken as seconds.
    """
    if cost_time is None:
        return None
    if cost_time < 250 and span_s is not None and cost_time <= span_s:
        return cost_time
    return cost_time / 1000.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _credits(data: dict[str, Any]) -> float | None:
    for name in ("consumeCredits", "creditsConsumed"):
        value = _number(data.get(name))
        if value is not None:
            return value
    return None


class KieRouter(QueueRouter):
    """Kie.ai: `Authorization: Bearer …`, create a task, poll its record, download the output."""

    name = "kie"
    # A scale on Kie's documented cadence (1.0 = 2.5 s, then 7.5 s, then 20 s; see poll_delay).
    poll_interval = 1.0

    def __init__(self, *, transfer: TransferPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transfer = transfer or DEFAULT_POLICY  # download caps, set where it is built

    # ------------------------------------------------------------------ transport
    def _call(
        self,
        method: str,
        path: str,
        request: GenerationRequest,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        submit: bool = False,
    ) -> httpx.Response:
        """One authenticated call to `{base}{path}`, bounded by the request's deadline."""
        return self.send(
            method,
            f"{self.base_url}{path}",
            request,
            who="Kie",
            headers={"Authorization": f"Bearer {self.key}"},
            json_body=json_body,
            params=params,
            submit=submit,
        )

    def _data(self, response: httpx.Response, model: str) -> Any:
        """The envelope's `data`, after checking the HTTP status and then the body `code`."""
        http_status = response.status_code
        wait = retry_after(response)
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            if http_status >= 400:  # e.g. a Cloudflare page: the HTTP status is all we have
                raise with_cause(
                    kie_error(http_status, error_text(response, 200), model, retry_after_s=wait),
                    response,
                )
            if body is None:
                decode_json(response, self.name, model)  # raises "malformed JSON"
            raise ProtocolError(
                "answered with unexpected JSON (not an envelope)",
                router=self.name,
                model=model,
                status=http_status,
            )
        code = body.get("code")
        if isinstance(code, str) and code.strip().isdigit():
            code = int(code)  # tolerate "200" as well as 200
        message = clip(
            str(body.get("msg") or body.get("message") or ""), 500, request_secrets(response)
        )
        if http_status >= 400:
            effective = code if isinstance(code, int) and code != 200 else http_status
            raise with_cause(kie_error(effective, message, model, retry_after_s=wait), response)
        if code is None or code == 200:
            return body.get("data")
        if not isinstance(code, int):
            raise ProtocolError(
                f"answered with a non-numeric code {code!r}",
                router=self.name,
                model=model,
                status=http_status,
            )
        raise kie_error(code, message, model, retry_after_s=wait)

    # ------------------------------------------------------------------ flow
    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Create the task on the model's API (jobs / gpt4o / mj), poll it, fetch the image."""
        model = request.model
        if not self.key:
            raise MissingKeyError(self.info.key_message(), router=self.name, model=model.key)
        api = model.api
        if api in ("default", "jobs"):
            return self._jobs(request)
        if api == "gpt4o":
            return self._legacy(request, "/api/v1/gpt4o-image", self._gpt4o_done)
        if api == "mj":
            return self._legacy(request, "/api/v1/mj", self._mj_done)
        raise RouterError(
            f"catalog api {api!r} is not supported by the Kie adapter",
            router=self.name,
            model=model.key,
        )

    def _create(
        self, path: str, body: dict[str, Any], poll_path: str, request: GenerationRequest
    ) -> dict[str, Any]:
        """Create a task (within the account's new-task limit); its handle, saved at once."""
        return self.follow(request, lambda: self._submit(path, body, poll_path, request))

    def _submit(
        self, path: str, body: dict[str, Any], poll_path: str, request: GenerationRequest
    ) -> dict[str, Any]:
        """POST the task; its handle (`follow` saves it before any poll)."""
        with held(self.submit_limit, request.deadline):
            response = self._call("POST", path, request, json_body=body, submit=True)
        try:
            data = self._data(response, request.model.key)
        except RateLimitError as exc:
            if self.submit_limit is not None:  # over the account limit: everyone waits
                # Kie sends no Retry-After: wait out one window of the documented limit.
                self.submit_limit.pause(exc.retry_after or self.submit_limit.hold_s)
            raise
        except ProtocolError as exc:
            exc.job_may_run = response.status_code < 400  # accepted, but the answer garbled
            raise
        task_id = data.get("taskId") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            err = ProtocolError(
                "create answer has no taskId", router=self.name, model=request.model.key
            )
            err.job_may_run = True
            raise err
        return {"task_id": task_id, "poll_path": poll_path}

    def _poll(
        self,
        job: dict[str, Any],
        request: GenerationRequest,
        done: Callable[[dict[str, Any], str], bool],
    ) -> dict[str, Any]:
        """Poll the task's record on the documented cadence until `done(data)` says finished.

        Polls of all cells share the account's poll limit; a 429 pauses them all and the task
        is polled again later, never abandoned. Other transient failures are retried on the
        same task with backoff until the deadline. No Kie API cancels a task, so a task still
        running at the deadline may finish and be billed: the error says so.
        """
        model = request.model.key
        task_id = job["task_id"]

        def poll() -> Any:
            with held(self.poll_limit, request.deadline):
                response = self._call("GET", job["poll_path"], request, params={"taskId": task_id})
            try:
                return self._data(response, model)
            except RateLimitError as exc:
                if self.poll_limit is not None:
                    self.poll_limit.pause(exc.retry_after or self.poll_limit.hold_s / 2)
                raise
            except RouterValidationError as exc:
                if exc.status == 404:
                    raise ProtocolError(
                        f"task {task_id} not found",
                        router=self.name,
                        model=model,
                        status=exc.status,
                    ) from exc
                raise

        def finished(data: Any) -> bool:
            if not isinstance(data, dict):
                raise ProtocolError("task record is missing", router=self.name, model=model)
            try:
                return done(data, model)
            except RouterError as exc:  # the task failed: Kie says what (if anything) it cost
                credits = _credits(data)
                if credits is not None:
                    exc.cost = from_credits(request.model, credits, self.catalog)
                raise

        return self.poll_until(
            request, poll, finished, delay=lambda elapsed: poll_delay(elapsed, self.poll_interval)
        )

    def _jobs(self, request: GenerationRequest) -> GenerationResult:
        """Market jobs API: createTask → recordInfo (state, resultJson string)."""
        model = request.model
        job = self._create(
            "/api/v1/jobs/createTask",
            {
                "model": model.endpoint,
                "input": {"prompt": request.prompt, **request.params},
            },
            "/api/v1/jobs/recordInfo",
            request,
        )
        task_id = job["task_id"]
        data = self._poll(job, request, self._jobs_done)
        result = _json_field(data.get("resultJson"), "resultJson", model.key)
        url, count = _first_url(result.get("resultUrls"))
        created, completed = _number(data.get("createTime")), _number(data.get("completeTime"))
        span_s = (
            (completed - created) / 1000.0
            if created is not None and completed is not None
            else None
        )
        inference_s = _inference_seconds(_number(data.get("costTime")), span_s)
        queue_s = None
        if created is not None and completed is not None and inference_s is not None:
            # Kie stamps the task's creation and completion; what is not inference was queue.
            gap = (completed - created) / 1000.0 - inference_s
            queue_s = gap if gap >= 0 else None
        return self._finish(
            request,
            task_id,
            url,
            count,
            _credits(data),
            inference_s,
            queue_s,
            {"cost_time": data.get("costTime")},
        )

    @staticmethod
    def _jobs_done(data: dict[str, Any], model: str) -> bool:
        state = data.get("state")
        if state in RUNNING_STATES:
            return False
        if state == "success":
            return True
        if state == "fail":
            raise _fail_error(data.get("failCode"), data.get("failMsg") or "", model)
        raise ProtocolError(f"unknown task state {state!r}", router="kie", model=model)

    def _legacy(
        self, request: GenerationRequest, prefix: str, done: Callable[[dict[str, Any], str], bool]
    ) -> GenerationResult:
        """4o-image and Midjourney: `{prefix}/generate` → `{prefix}/record-info` (successFlag)."""
        model = request.model
        path = model.endpoint if model.endpoint.startswith("/") else f"{prefix}/generate"
        poll_path = path.rsplit("/", 1)[0] + "/record-info"
        job = self._create(path, {"prompt": request.prompt, **request.params}, poll_path, request)
        task_id = job["task_id"]
        data = self._poll(job, request, done)
        if model.api == "mj":
            info = _json_field(data.get("resultInfoJson"), "resultInfoJson", model.key)
            url, count = _first_url(info.get("resultUrls"))
        else:
            raw = data.get("response")
            response = raw if isinstance(raw, dict) else {}
            url, count = _first_url(response.get("resultUrls"))
        return self._finish(request, task_id, url, count, _credits(data), None, None, {})

    @staticmethod
    def _gpt4o_done(data: dict[str, Any], model: str) -> bool:
        return KieRouter._flag_done(
            data, model, failed_status=("CREATE_TASK_FAILED", "GENERATE_FAILED")
        )

    @staticmethod
    def _mj_done(data: dict[str, Any], model: str) -> bool:
        return KieRouter._flag_done(data, model, failed_status=())

    @staticmethod
    def _flag_done(data: dict[str, Any], model: str, failed_status: tuple[str, ...]) -> bool:
        # Legacy convention: 0 generating, 1 success, 2 failed, 3 created but generation failed.
        flag = data.get("successFlag")
        status = data.get("status")
        if flag == 1:
            return True
        if flag in (2, 3) or status in failed_status:
            raise _fail_error(data.get("errorCode"), data.get("errorMessage") or "", model)
        if flag in (0, None):
            return False
        raise ProtocolError(f"unknown successFlag {flag!r}", router="kie", model=model)

    def _finish(
        self,
        request: GenerationRequest,
        task_id: str,
        url: str | None,
        count: int,
        credits: float | None,
        inference_s: float | None,
        queue_s: float | None,
        meta: dict[str, Any],
    ) -> GenerationResult:
        """Download the first image and describe it (cost, timings, images in the task)."""
        model = request.model
        per_task = max(model.images_per_task, 1)
        try:
            if url is None:
                raise ProtocolError("result has no image URL", router=self.name, model=model.key)
            # A failed download is retried as a download: the task is done and paid for.
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
            # Kie keeps results for days: fetch again later (unless the image is over the caps).
            exc.job_may_run = url is not None and not isinstance(exc, ImageTooLargeError)
            exc.cost = self._cost(model, credits, per_task)
            raise
        meta = {**meta, "credits": credits, "content_type": content_type or None}
        if per_task > 1 or count > 1:
            meta["images_in_task"] = count
        sent_seed = request.params.get(model.seed_param) if model.seed_supported else None
        return GenerationResult(
            image=image,
            # Kie reports no seed; the one we sent is the one the model used.
            seed=str(sent_seed) if sent_seed is not None else None,
            cost=self._cost(model, credits, per_task),
            queue_s=queue_s,
            inference_s=inference_s,
            request_id=task_id,
            meta={k: v for k, v in meta.items() if v is not None},
        )

    def _cost(self, model: Model, credits: float | None, per_task: int) -> Cost | None:
        """Reported credits × credit rate, per image; None lets the runner estimate it."""
        if credits is None:
            return None
        cost = from_credits(model, credits / per_task, self.catalog)
        return cost if cost.usd is not None else None
