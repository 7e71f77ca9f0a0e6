"""Records: runs, cells and billed events as plain values, apart from where they are stored.

The store reads and writes these; the runner, the review, the share links and the pages only
read them, so they import this module and never the store for a type. Status words are a
`StrEnum`: the stored text and every existing comparison with a bare string keep working.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, overload

from vibegen import money
from vibegen.catalog import default_catalog
from vibegen.costs import Cost
from vibegen.errors import RunNotFoundError

RUN_ID = re.compile(r"^[0-9a-f]{32}$")

# The routers whose images are made up and whose prices are pretend: nothing is billed, no cap
# applies, and their amounts are shown apart from real money. Their router declarations
# (`simulated = true` in catalog.toml) say which; stored cells carry only the router's name.
SIMULATED_ROUTERS = frozenset(
    name for name, spec in default_catalog().routers.items() if spec.simulated
)


def simulated_router(router: str) -> bool:
    """Whether `router` only simulates: made-up images at pretend prices, never billed."""
    return router in SIMULATED_ROUTERS


class Status(StrEnum):
    """Where a cell is: waiting, being made, or finished one way or another."""

    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"


IN_FLIGHT = (Status.PENDING, Status.RUNNING)
FAILED = (Status.ERROR, Status.TIMEOUT, Status.INTERRUPTED)
FINISHED = (Status.OK, *FAILED)


class RunStatus(StrEnum):
    """A run as the history lists it."""

    RUNNING = "running"
    COMPLETE = "complete"
    COMPLETE_WITH_FAILURES = "complete with failures"

    @classmethod
    def of(cls, complete: bool, failures: int) -> RunStatus:
        """Running until every cell is finished, then complete, with or without failures."""
        if not complete:
            return cls.RUNNING
        return cls.COMPLETE_WITH_FAILURES if failures else cls.COMPLETE


@dataclass(frozen=True)
class RunFilter:
    """Which runs History lists: every field narrows; the default is every unarchived run."""

    search: str = ""  # part of the prompt, any case
    models: tuple[str, ...] = ()  # model keys: runs that used any of them
    routers: tuple[str, ...] = ()  # router names: runs that used any of them
    since: dt.datetime | None = None  # created at or after (aware)
    before: dt.datetime | None = None  # created before (aware)
    statuses: tuple[RunStatus, ...] = ()  # any of these
    archived: bool = False  # True: archived runs are listed too (marked)


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    """A random 128-bit id in hex."""
    return secrets.token_hex(16)


@overload
def utc(value: dt.datetime) -> dt.datetime: ...
@overload
def utc(value: None) -> None: ...
@overload
def utc(value: dt.datetime | None) -> dt.datetime | None: ...
def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as timezone-aware UTC (SQLite hands back naive datetimes, meaning UTC)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def is_id(value: object) -> bool:
    """Whether `value` has `new_id`'s form (runs, cells and briefs share it)."""
    return isinstance(value, str) and bool(RUN_ID.fullmatch(value))


def check_run_id(run_id: str) -> str:
    """Return `run_id` if well formed, else RunNotFoundError saying what is wrong."""
    if not is_id(run_id):
        raise RunNotFoundError("this run link is malformed: a run id is 32 hexadecimal characters")
    return run_id


@dataclass(frozen=True)
class CellSpec:
    """One grid cell to create: which model, which image, with what native parameters."""

    model_key: str
    router: str
    label: str
    image_index: int
    prompt: str
    params: dict[str, Any]
    notes: dict[str, str]
    cost: Cost  # the pre-run estimate; replaced by the real figure on success
    width: int | None = None  # expected size; replaced by the image's own on success
    height: int | None = None

    @property
    def simulated(self) -> bool:
        """Whether the cell's router only simulates (nothing will be billed for it)."""
        return simulated_router(self.router)


@dataclass
class Cell:
    """A grid cell as stored: a generation and (once it succeeded) its image."""

    id: str
    run_id: str
    position: int
    model_key: str
    router: str
    label: str
    image_index: int
    prompt: str
    params: dict[str, Any]
    notes: dict[str, str]
    status: Status
    error_kind: str | None
    error_message: str | None
    seed: str | None
    wall_s: float | None
    queue_s: float | None
    inference_s: float | None
    cost_usd: float | None
    cost_kind: str
    cost_basis: str | None
    cost_source: str | None
    cost_seen: str | None
    width: int | None
    height: int | None
    attempts: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    job: dict[str, Any] | None = None  # the router's handle for the paid job behind the cell
    job_open: bool = False  # that job may still run or its result may still be fetched
    lease_epoch: int = 0  # team mode: which claim of the cell this is (vibegen.store.take_cell)
    # A claim passed the fence before a paid call, but no handle was saved: it may be on the wire.
    submit_unsaved: bool = False

    @property
    def finished(self) -> bool:
        """Whether the cell has its final result (image or error)."""
        return self.status in FINISHED

    @property
    def ok(self) -> bool:
        """Whether the cell has its image."""
        return self.status == Status.OK

    @property
    def in_flight(self) -> bool:
        """Whether the cell still waits for a worker or is being made."""
        return self.status in IN_FLIGHT

    @property
    def failed(self) -> bool:
        """Whether the cell ended without an image (error, timeout, interrupted)."""
        return self.status in FAILED

    @property
    def simulated(self) -> bool:
        """Whether the cell's router only simulates: a made-up image at a pretend price."""
        return simulated_router(self.router)

    @property
    def cost(self) -> Cost:
        """The cell's cost with its provenance."""
        return Cost(
            self.cost_usd,
            self.cost_kind,
            self.cost_basis or "",
            self.cost_source or "",
            self.cost_seen or "",
        )


@dataclass(frozen=True)
class Spend:
    """One billed event of the ledger: what a cell's request cost, image or not."""

    generation_id: str
    run_id: str
    router: str
    model_key: str
    outcome: str  # "image" or "failed"
    cost: Cost
    at: dt.datetime

    @property
    def usd(self) -> float | None:
        """The amount in USD, None when billed but unknown."""
        return self.cost.usd


@dataclass
class RunView:
    """A run and all its cells, in grid order."""

    id: str
    created_at: dt.datetime
    prompt: str
    params: dict[str, Any]
    cells: list[Cell] = field(default_factory=list)
    spend: list[Spend] = field(default_factory=list)

    @property
    def done(self) -> int:
        """How many cells have their final result."""
        return sum(c.finished for c in self.cells)

    @property
    def complete(self) -> bool:
        """Whether every cell is finished."""
        return self.done == len(self.cells)

    @property
    def failures(self) -> int:
        """How many cells ended without an image."""
        return sum(c.failed for c in self.cells)

    @property
    def status(self) -> RunStatus:
        """Running, complete, or complete with failures."""
        return RunStatus.of(self.complete, self.failures)

    @property
    def cost_so_far(self) -> float:
        """Known cost of the finished images (unknown costs are counted separately)."""
        return sum(c.cost_usd or 0.0 for c in self.cells if c.ok)

    @property
    def spent(self) -> float:
        """Everything the run was billed so far, failed cells included (known amounts)."""
        return sum(s.usd or 0.0 for s in self.spend if s.cost.kind != "simulated")

    @property
    def simulated(self) -> float:
        """The sandbox's pretend spend: shown apart, never added to real money."""
        return sum(s.usd or 0.0 for s in self.spend if s.cost.kind == "simulated")

    def spent_text(self, exact: bool = False) -> str:
        """What the run cost, in the words every view uses: real money billed (failed cells
        included) with the sandbox's pretend amounts apart, never added to it. Totals are to
        the cent; `exact` gives every figure in full (for a tooltip, a report's title)."""
        usd = money.exact if exact else money.cents
        if self.simulated and not self.spent:
            return f"simulated {usd(self.simulated)} (sandbox: nothing billed)"
        images = sum(c.ok and not c.simulated for c in self.cells)  # the sandbox's are apart
        text = f"spent {usd(self.spent)} for {images} image{'s' * (images != 1)}"
        lost, billed_failures = self.spent_on_failures
        if billed_failures:
            text += (
                f" ({usd(lost)} of it on {billed_failures} failed cell"
                f"{'s' * (billed_failures != 1)})"
            )
        if self.simulated:
            text += f" + {usd(self.simulated)} simulated"
        return text

    def retry_plan(self) -> tuple[int, int]:
        """Failed cells a retry would (follow their open paid job, buy again after billing)."""
        billed = {s.generation_id for s in self.spend if s.outcome == "failed"}
        failed = [c for c in self.cells if c.failed]
        follow = sum(c.job_open for c in failed)
        again = sum(not c.job_open and c.id in billed for c in failed)
        return follow, again

    @property
    def spent_on_failures(self) -> tuple[float, int]:
        """What cells that ended without an image were billed, and how many such cells."""
        failed = [s for s in self.spend if s.outcome == "failed" and s.cost.kind != "simulated"]
        return sum(s.usd or 0.0 for s in failed), len({s.generation_id for s in failed})

    @property
    def unknown_costs(self) -> int:
        """Finished images whose cost is unknown."""
        return sum(c.ok and c.cost_usd is None and c.cost_kind != "self_hosted" for c in self.cells)


@dataclass(frozen=True)
class RunSummary:
    """One line of the run history."""

    id: str
    created_at: dt.datetime
    prompt: str
    models: int
    cells: int
    done: int
    failures: int
    cost_usd: float  # known amounts of real routers' images
    wall_s: float | None
    simulated_usd: float = 0.0  # the sandbox's made-up prices: never money
    archived_at: dt.datetime | None = None  # hidden from History unless asked for; kept
    labels: tuple[str, ...] = ()  # its models' names, in grid order
    previews: tuple[str, ...] = ()  # ids of its first finished images, for the gallery card

    @property
    def status(self) -> RunStatus:
        """Running, complete, or complete with failures."""
        return RunStatus.of(self.done >= self.cells, self.failures)
