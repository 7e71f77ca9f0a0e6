"""The queue-style flow fal and Kie share: submit → save the handle → poll → fetch the result.

Money rule (DESIGN.md §8): the handle of a job the router accepted is handed to
`request.on_job` (which saves it) before the first poll, and a request that carries a saved
`job` resumes it instead of submitting again, so a cell never has two paid jobs running.
Polls that fail transiently are retried on the same job with backoff (`Router.persist`);
the loop ends when the adapter's `done` says finished (or raises the job's failure), or when
the request's deadline passes (RouterTimeout, the job possibly still running).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from vibegen.routers.base import GenerationRequest, Router

T = TypeVar("T")


class QueueRouter(Router):
    """A router whose jobs are submitted once, then polled until they end."""

    def send(
        self,
        method: str,
        url: str,
        request: GenerationRequest,
        *,
        who: str,
        headers: dict[str, str],
        json_body: Any = None,
        params: dict[str, str] | None = None,
        submit: bool = False,
    ) -> httpx.Response:
        """One HTTP call bounded by the request's deadline; a call that got no answer is the
        error `transport_error` maps it to (`who` names the router in its words)."""
        left = request.check_deadline(self.name)
        if submit:  # the call that buys the image: the caller's fence comes right before it
            request.submitting()
        try:
            return self.http.request(
                method,
                url,
                json=json_body,
                params=params,
                headers=headers,
                timeout=httpx.Timeout(left),
            )
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, request, who, submit) from exc

    def follow(
        self, request: GenerationRequest, submit: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """The saved job to resume, else a new one from `submit`, saved before any poll."""
        if request.job is not None:
            return request.job
        job = submit()
        self.job_started(request, job)
        return job

    def poll_until(
        self,
        request: GenerationRequest,
        poll: Callable[[], T],
        done: Callable[[T], bool],
        delay: Callable[[float], float] | None = None,
    ) -> T:
        """Wait, poll (retrying transient failures on the same job), until `done(answer)`.

        `delay(seconds since polling began)` is the pause before each poll (default: the
        router's `poll_interval`); neither the pause nor a retry overruns the deadline.
        """
        started = time.monotonic()
        while True:
            pause = delay(time.monotonic() - started) if delay else self.poll_interval
            self.sleep(pause, request)
            answer = self.persist(request, "status poll", poll)
            if done(answer):
                return answer
