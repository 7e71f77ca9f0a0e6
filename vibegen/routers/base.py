"""The router seam: one abstract method, `generate`, and the request/result it speaks.

Timing, retries, cost labelling and persistence live in the runner, once; an adapter only
turns a `GenerationRequest` into image bytes (or raises a `RouterError` subclass that says
what went wrong in words). Adapters take their base URL and HTTP client from outside so the
real adapter can be tested against a local fake server.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from vibegen.catalog import Catalog, Model
from vibegen.costs import Cost
from vibegen.errors import RouterTimeout


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
    needs_key: ClassVar[bool] = True
    needs_url: ClassVar[bool] = False
    # Seconds between status polls: no faster than the router documents.
    poll_interval: ClassVar[float] = 1.0

    def __init__(
        self,
        *,
        catalog: Catalog,
        key: str | None = None,
        base_url: str | None = None,
        http: httpx.Client | None = None,
        poll_interval: float | None = None,
    ) -> None:
        self.catalog = catalog
        self.info = catalog.routers[self.name]
        self.key = key
        self.base_url = (base_url or self.info.base_url).rstrip("/")
        self.http = http or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0),
                                         headers={"User-Agent": "vibegen/0.1"})
        if poll_interval is not None:
            self.poll_interval = poll_interval

    @abstractmethod
    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Make one image or raise a RouterError that says what went wrong."""

    def sleep(self, seconds: float, request: GenerationRequest) -> None:
        """Wait between polls without overrunning the request's deadline."""
        left = request.check_deadline(self.name)
        time.sleep(max(0.0, min(seconds, left)))
        request.check_deadline(self.name)
