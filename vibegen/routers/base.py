"""The router seam: one abstract method, `generate`, and the request/result it speaks.

Timing, cost labelling and persistence live in the runner, once; an adapter only turns a
`GenerationRequest` into image bytes (or raises a `RouterError` subclass that says what went
wrong in words). Adapters take their base URL and HTTP client from outside so the real adapter
can be tested against a local fake server.

Money rule (DESIGN.md §8): a generation is a paid job. The moment a router accepts one, the
adapter hands its handle (request id, status URLs) to `request.on_job`, which saves it before
the first poll. A request that carries a `job` resumes that job instead of submitting a new
one. After a job exists, failures are retried on that job (`Router.persist`), never by
submitting again.
"""

from __future__ import annotations

import random
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import httpx

from vibegen.catalog import Catalog, Model, RouterSpec
from vibegen.costs import Cost
from vibegen.errors import (
    BadImageError,
    ProtocolError,
    RateLimitError,
    RefusedURLError,
    RouterError,
    RouterTimeout,
    ServerError,
)
from vibegen.routers.failures import transport_error
from vibegen.routers.limits import Limiter, LimiterFactory, local_limiter
from vibegen.settings import Settings

T = TypeVar("T")
# Longest pause between two tries on the same job (polls, result fetches, downloads).
# Its own generator, not the random module's: the global one is the caller's (a seeded test,
# Hypothesis) and a retry in a background thread must not move it.
_JITTER = random.Random()
MAX_BACKOFF_S = 20.0


@dataclass(frozen=True)
class GenerationRequest:
    """One image to make: the model, the prompt, its native parameters and a deadline."""

    model: Model
    prompt: str
    params: dict[str, Any]
    width: int
    height: int
    deadline: float  # time.monotonic() value after which the call is a timeout
    image_index: int = 0
    seed: int | None = None
    # A job already accepted by the router for this cell (saved handle): resume, don't submit.
    job: dict[str, Any] | None = None
    # Called with the job handle the moment the router accepts the job, before any poll.
    on_job: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False, repr=False)
    # Called with where the job is, in words ("in fal's queue, position 3", "generating"),
    # each time that changes; shown in the cell while it waits.
    on_progress: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    # Called right before each call that may buy an image (the submit); raises to stop it
    # (team mode: the worker's lease fence, vibegen.errors.LeaseLost).
    on_submit: Callable[[], None] | None = field(default=None, compare=False, repr=False)

    def submitting(self) -> None:
        """The paid call is about to leave: let the caller stop it (nothing when unwatched)."""
        if self.on_submit is not None:
            self.on_submit()

    def progress(self, where: str) -> None:
        """Say where the job is now (for the cell's caption); nothing when nobody listens."""
        if self.on_progress is not None:
            self.on_progress(where)

    def remaining(self) -> float:
        """Seconds left before the deadline (may be negative)."""
        return self.deadline - time.monotonic()

    def check_deadline(self, router: str) -> float:
        """Seconds left, or RouterTimeout when none are."""
        left = self.remaining()
        if left <= 0:
            raise RouterTimeout("timed out", router=router, model=self.model.key)
        return left


@dataclass
class GenerationResult:
    """What an adapter got back: the image bytes and what the router told us about them."""

    image: bytes
    seed: str | None = None
    cost: Cost | None = None  # None: the runner estimates it from the catalog
    queue_s: float | None = None  # router-reported time in queue
    inference_s: float | None = None  # router-reported inference time
    request_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Router(ABC):
    """A way to reach image models. Subclasses implement `generate` and nothing else."""

    name: ClassVar[str]
    # Seconds between status polls: no faster than the router documents. A class default
    # that an instance may override (tests poll faster), so not a ClassVar.
    poll_interval: float = 1.0

    def __init__(
        self,
        *,
        catalog: Catalog,
        key: str | None = None,
        base_url: str | None = None,
        http: httpx.Client | None = None,
        poll_interval: float | None = None,
        limits: LimiterFactory | None = None,
    ) -> None:
        self.catalog = catalog
        self.info = catalog.routers[self.name]
        self.key = key
        self.base_url = (base_url or self.info.base_url).rstrip("/")
        if http is None:
            http = httpx.Client(
                timeout=httpx.Timeout(60.0, connect=10.0), headers={"User-Agent": "vibegen/0.1"}
            )
            # A client the adapter made is the adapter's to close: when it is closed or
            # dropped, so its pooled sockets are shut rather than left to the collector.
            self._closer = weakref.finalize(self, http.close)
        else:
            self._closer = weakref.finalize(self, lambda: None)  # the caller owns its client
        self.http = http
        if poll_interval is not None:
            self.poll_interval = poll_interval
        # The router's account limits, shared by every cell this instance serves (and, with
        # a factory of database-held limiters, by every worker of the team).
        info = self.info
        make = limits or local_limiter
        self.submit_limit: Limiter | None = (
            make(f"{self.name}:submit", info.rate_limit_requests, info.rate_limit_window_s)
            if info.rate_limit_requests and info.rate_limit_window_s
            else None
        )
        self.poll_limit: Limiter | None = (
            make(f"{self.name}:poll", info.poll_limit_requests, info.poll_limit_window_s)
            if info.poll_limit_requests and info.poll_limit_window_s
            else None
        )

    def close(self) -> None:
        """Close the HTTP client this adapter made (a client passed in stays open)."""
        self._closer()

    @abstractmethod
    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Make one image or raise a RouterError that says what went wrong."""

    @classmethod
    def options(cls, spec: RouterSpec, settings: Settings) -> dict[str, Any]:
        """Constructor options this adapter takes from the settings (besides key and URL)."""
        return {}

    def transport_error(
        self, exc: httpx.HTTPError, request: GenerationRequest, who: str, submit: bool = False
    ) -> RouterError:
        """The RouterError for an HTTP call that got no answer (raise it `from exc`)."""
        return transport_error(
            exc,
            router=self.name,
            model=request.model.key,
            who=who,
            deadline_passed=request.remaining() <= 0,
            submit=submit,
        )

    def job_started(self, request: GenerationRequest, handle: dict[str, Any]) -> None:
        """Hand a new job's handle to the caller (who saves it) before the first poll."""
        if request.on_job is not None:
            request.on_job(handle)

    def persist(
        self,
        request: GenerationRequest,
        what: str,
        call: Callable[[], T],
        transient: Callable[[RouterError], bool] | None = None,
        max_tries: int | None = None,
    ) -> T:
        """Run `call` on an existing job until it succeeds or the deadline passes.

        Rate limits, server errors, network failures and malformed answers are retried with
        backoff (honouring Retry-After) on the same job: the job is paid for, so giving up
        early would only lose the image. Other errors end the call. At the deadline the last
        failure becomes the RouterTimeout's cause; the error says the job may still run.
        """
        is_transient_ = transient or is_transient
        failures = 0
        while True:
            try:
                return call()
            except RouterError as exc:
                failures += 1
                if not is_transient_(exc) or (max_tries is not None and failures >= max_tries):
                    raise
                pause = backoff(failures, self.poll_interval, exc.retry_after)
                if request.remaining() <= pause:
                    timeout = RouterTimeout(
                        f"timed out: {failures} {what} attempt(s) failed, last: {exc.message}",
                        router=self.name,
                        model=request.model.key,
                        status=exc.status,
                    )
                    timeout.job_may_run = True
                    raise timeout from exc
                time.sleep(pause)

    def sleep(self, seconds: float, request: GenerationRequest) -> None:
        """Wait between polls without overrunning the request's deadline."""
        left = request.check_deadline(self.name)
        time.sleep(max(0.0, min(seconds, left)))
        request.check_deadline(self.name)


def is_transient(exc: RouterError) -> bool:
    """Failures worth another try on the same job: slow-downs, 5xx, network, garbled answers."""
    if isinstance(exc, RouterTimeout):
        return False
    if isinstance(exc, RateLimitError | ServerError):
        return True
    # A URL refused by the host policy stays refused: asking again would not make it safe.
    return (
        isinstance(exc, ProtocolError)
        and exc.status != 404
        and not isinstance(exc, RefusedURLError)
    )


def backoff(failures: int, base_s: float, retry_after: float | None = None) -> float:
    """Seconds before try `failures + 1`: Retry-After if given, else capped exponential, jittered.

    The jitter (±25 %) keeps many cells that failed together from retrying in lock-step.
    """
    if retry_after is not None:
        return min(max(0.0, retry_after), MAX_BACKOFF_S * 3)
    base_s = max(base_s, 0.005)
    # Capped at 32 poll intervals (20 s at most): a router polled every 0.75 s waits up to 20 s.
    pause = min(MAX_BACKOFF_S, base_s * 32, base_s * 2 ** min(failures - 1, 10))
    return pause * _JITTER.uniform(0.75, 1.25)


# Tries of one image download: a file that is still missing (or an error page) after this many
# is not coming; the job itself stays followable, so "retry" can fetch its result again.
DOWNLOAD_TRIES = 4


def transient_download(exc: RouterError) -> bool:
    """Download failures worth another try: network errors, 404 (CDN lag), 429 and 5xx."""
    if isinstance(exc, BadImageError):
        return exc.status is None or exc.status in (404, 408, 429) or exc.status >= 500
    return is_transient(exc)
