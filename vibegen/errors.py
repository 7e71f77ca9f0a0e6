"""The exception tree. Every error carries the context a user needs to act on it.

* VibegenError
  x ConfigError               the catalog or a setting is wrong (names the entry and field)
  x InputError                the user asked for something we cannot do (empty prompt, ...)
  x UnknownRouterError        a router name that is not registered
  x UnknownModelError         a model key that is not in the catalog
  x RunNotFoundError          a run link that points nowhere
  x StoreError                the database could not be opened or written; `reason` says
                              why in a few words ("disk full", "database locked")
  x LeaseHeld                 a queued cell another worker's live lease still holds
  x LeaseLost                 this worker can no longer prove its lease on a cell: it must
                              not buy the cell's image
  x RouterError               a call to a router failed; carries router, model, status, kind
    + MissingKeyError         no key / URL configured for this router       kind=config
    + AuthError               the router refused the key                    kind=auth
    + InsufficientCreditsError balance exhausted or account locked          kind=balance
    + ContentFilteredError    the router's safety system blocked it         kind=content_filter
    + RateLimitError          too many requests (retryable)                 kind=rate_limit
    + ServerError             5xx from the router (retryable)               kind=router_error
    + RouterValidationError   the router rejected the parameters            kind=validation
    + ProtocolError           an answer we could not understand             kind=protocol
      + RefusedURLError       a URL we will not call or send the key to     kind=protocol
    + BadImageError           the returned bytes are not an image           kind=bad_image
      + ImageTooLargeError    over the byte or pixel cap                    kind=bad_image
    + RouterTimeout           the per-model deadline passed                 kind=timeout

`RouterError.kind` is what the store keeps for success-rate statistics; `str(error)` is the
sentence a grid cell shows ("fal: content filtered"). One kind is not a router's: a cell whose
image (or start) the store could not take is stored as `STORE_UNAVAILABLE`, its message saying
why ("could not be saved: disk full") and what Retry does (vibegen/unsaved.py).
"""

from __future__ import annotations

from typing import Any

STORE_UNAVAILABLE = "store_unavailable"


class VibegenError(Exception):
    """Base of every error VibeGen raises on purpose."""


class ConfigError(VibegenError):
    """The catalog or a setting is invalid."""


class InputError(VibegenError):
    """The user's request cannot be carried out as given."""


class UnknownRouterError(VibegenError, KeyError):
    """A router name that is not registered."""

    def __str__(self) -> str:
        return f"Unknown router: {self.args[0]}"


class UnknownModelError(VibegenError, KeyError):
    """A model key that is not in the catalog."""

    def __str__(self) -> str:
        return f"Unknown model: {self.args[0]}"


class RunNotFoundError(VibegenError):
    """A run id that is malformed or not in the store."""


class StoreError(VibegenError):
    """The store could not be opened or written."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        # What a grid cell says of a refused write: "disk full", "database locked", ...
        self.reason = reason or "the database refused the write"


class LeaseHeld(VibegenError):
    """Another worker's lease on the cell is live: try again after `wait_s` seconds."""

    def __init__(self, cell_id: str, wait_s: float) -> None:
        super().__init__(f"cell {cell_id} is held by another worker for {wait_s:.1f} s more")
        self.wait_s = wait_s


class LeaseLost(VibegenError):
    """The cell's lease is not (provably) this worker's: nothing may be bought for it.

    `handback`: the store could not be asked (the job goes back to the queue); otherwise
    another worker holds the cell now and the job is already theirs.
    """

    def __init__(self, message: str, *, handback: bool = False) -> None:
        super().__init__(message)
        self.handback = handback


class RouterError(VibegenError):
    """A router call failed; the message is what the grid cell shows."""

    kind = "router_error"
    retryable = False
    # Set by an adapter once a paid job exists: the job may still run (or its result may still
    # be fetched), so the runner must not start a second one for the same cell.
    job_may_run = False
    # Set when the router itself said the job ended (e.g. fal's request_timeout): nothing to
    # follow or cancel, whatever the error's kind.
    reported_end = False
    # What the router billed for this failed request (a Cost), when it said so.
    cost: Any = None

    def __init__(
        self,
        message: str,
        *,
        router: str = "",
        model: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.router = router
        self.model = model
        self.status = status
        self.retry_after = retry_after
        self.detail = detail

    def __str__(self) -> str:
        prefix = f"{self.router}: " if self.router else ""
        return f"{prefix}{self.message}"


class MissingKeyError(RouterError):
    """No key or URL is configured for the router."""

    kind = "config"


class AuthError(RouterError):
    """The router refused the key."""

    kind = "auth"


class InsufficientCreditsError(RouterError):
    """The account has no balance left (or is locked)."""

    kind = "balance"


class ContentFilteredError(RouterError):
    """The router's safety system blocked the prompt or the image."""

    kind = "content_filter"


class RateLimitError(RouterError):
    """The router asked us to slow down."""

    kind = "rate_limit"
    retryable = True


class ServerError(RouterError):
    """The router had an internal error."""

    kind = "router_error"
    retryable = True


class RouterValidationError(RouterError):
    """The router rejected the request's parameters."""

    kind = "validation"


class ProtocolError(RouterError):
    """The router answered something we could not understand."""

    kind = "protocol"


class RefusedURLError(ProtocolError):
    """The router pointed us at a URL the host policy refuses (vibegen/routers/hosts.py)."""


class BadImageError(RouterError):
    """The bytes the router gave us are not a readable image."""

    kind = "bad_image"


class ImageTooLargeError(BadImageError):
    """The image is over the configured byte or pixel cap (refused before decoding it)."""


class RouterTimeout(RouterError):
    """The per-model deadline passed before the image arrived."""

    kind = "timeout"
