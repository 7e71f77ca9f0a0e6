"""Outcomes the store refused (disk full, database locked), kept until it can take them.

Contract:
- A cell's outcome (its image, or its failure) is written the moment it is known. When the
  store refuses, the worker tries again with backoff for `SavePolicy.retry_s`; after that the
  outcome goes to the keeper, a background thread, and the worker is free: the run completes
  instead of waiting on the disk.
- The keeper holds a paid image's bytes in memory for `hold_s` (and at most `max_bytes` in
  all) and saves the image the first time the store can take it: an image already paid for is
  kept rather than bought again. Until then the cell is stored as failed (kind
  `store_unavailable`, "could not be saved: disk full") as soon as that small write gets
  through, so it never shows "generating…" for ever and Retry is offered.
- Once the bytes are let go (hold over, memory cap), the failure says what Retry does: fetch
  the result of the same paid job again where the router keeps it, or make a new image.
- The small failure write is tried until `give_up_s`; past that the cell is left to the
  restart rule (a runner that stops marks its open cells interrupted).
- One lock per outcome: the keeper and a Retry worker never write the same outcome twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vibegen.errors import StoreError

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store

log = logging.getLogger("vibegen.unsaved")

REASON = "{reason}"  # in a failure message: replaced by why the store refused the write


@dataclass(frozen=True)
class SavePolicy:
    """How long a refused write is tried again, and how much is held meanwhile."""

    retry_s: float = 10.0  # the worker's own tries, before the run goes on without it
    hold_s: float = 900.0  # a paid image's bytes are kept this long for a late save
    give_up_s: float = 6 * 3600.0  # the small failure write is tried this long
    max_bytes: int = 512 * 2**20  # image bytes held in all, across cells
    tick_s: float = 1.0  # the keeper's pause between passes


@dataclass(eq=False)
class Outcome:
    """One cell's result the store has not taken yet."""

    cell_id: str
    run_id: str
    failure: dict[str, Any]  # Store.save_failure arguments; the message may hold REASON
    image: dict[str, Any] | None = None  # Store.save_success arguments while the bytes are held
    lost: dict[str, Any] | None = None  # the failure to write instead once the bytes are gone
    job: dict[str, Any] | None = None  # a job handle the store has not taken yet
    reason: str = "the database refused the write"
    recorded: bool = False  # the failure row is in the store (the image may still follow)
    done: bool = False  # nothing left to write
    hold_until: float | None = None  # set when the keeper takes it over
    give_up_at: float | None = None
    epoch: int | None = None  # team mode: the claim it is written for (Store.take_cell)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def size(self) -> int:
        """Image bytes held for this cell."""
        return len(self.image["image"]) if self.image else 0

    def message(self) -> str:
        """The failure message as the cell shows it (with why the store refused)."""
        return str(self.failure["message"]).replace(REASON, self.reason)


class Keeper:
    """Writes refused outcomes as soon as the store takes writes again, within bounds."""

    def __init__(self, store: Store, policy: SavePolicy | None = None) -> None:
        self.store = store
        self.policy = policy or SavePolicy()
        self._lock = threading.Lock()
        self._held: dict[str, Outcome] = {}
        self._fences: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ for workers
    def fence(self, cell_id: str, epoch: int | None) -> None:
        """Write this cell's outcomes only while claim `epoch` holds it (None: no longer)."""
        with self._lock:
            if epoch is None:
                self._fences.pop(cell_id, None)
            else:
                self._fences[cell_id] = epoch

    def write(self, outcome: Outcome) -> None:
        """Write `outcome` now, trying again for `retry_s`; then keep it (never raises)."""
        if outcome.epoch is None:
            with self._lock:
                outcome.epoch = self._fences.get(outcome.cell_id)
        with outcome.lock:
            if self._try_until(outcome, time.monotonic() + self.policy.retry_s):
                return
        self.keep(outcome)

    def flush(self, cell_id: str) -> bool | None:
        """For a Retry of a cell held here: write what is held; None when nothing is held.

        True: the cell has its result (its image) now. False: still refused; the keeper goes on
        with it. Either way the worker must not call the router: the image is in hand.
        """
        with self._lock:
            outcome = self._held.get(cell_id)
        if outcome is None:
            return None
        with outcome.lock:
            if outcome.done:
                return True
            if outcome.image is None:  # only a failure was held, and Retry reset it: go on
                outcome.done = True
                self._forget(outcome)
                return None
            outcome.recorded = False  # Retry put the cell back to pending: say it again
            if self._try_until(outcome, time.monotonic() + self.policy.retry_s):
                self._forget(outcome)
                return True
        return False

    def keep(self, outcome: Outcome) -> None:
        """Hand `outcome` to the background keeper (its bounds start now)."""
        now = time.monotonic()
        with self._lock:
            before = self._held.get(outcome.cell_id)
            if (
                before is not None
                and before is not outcome
                and not before.done
                and before.image is not None
            ):
                # A Retry of a held image could not even start: the held image stays the
                # answer, and its failure is said again (Retry put the cell back to pending).
                before.recorded = False
                return
            if outcome.hold_until is None:
                outcome.hold_until = now + self.policy.hold_s
            if outcome.give_up_at is None:
                outcome.give_up_at = now + self.policy.give_up_s
            held = sum(o.size for o in self._held.values() if o is not outcome)
            self._held[outcome.cell_id] = outcome
            if held + outcome.size > self.policy.max_bytes:
                log.warning(
                    "memory cap for unsaved images reached: cell %s keeps no bytes", outcome.cell_id
                )
                outcome.hold_until = now
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="vibegen-unsaved", daemon=True
                )
                self._thread.start()

    def unsaved(self, run_id: str) -> dict[str, str]:
        """Cells of `run_id` whose outcome the store has not taken yet: id → message."""
        with self._lock:
            return {
                o.cell_id: o.message()
                for o in self._held.values()
                if o.run_id == run_id and not o.recorded and not o.done
            }

    def held(self) -> int:
        """How many outcomes wait for the store."""
        with self._lock:
            return sum(not o.done for o in self._held.values())

    # ------------------------------------------------------------- internals
    def _try_until(self, outcome: Outcome, until: float) -> bool:
        """Try the full write with backoff until `until`, then the small one; True when done."""
        pause = 0.05
        while True:
            if self._attempt(outcome, small=False):
                return True
            if time.monotonic() + pause > until:
                return self._attempt(outcome, small=True)
            time.sleep(pause)
            pause = min(2.0, pause * 2)

    def _attempt(self, outcome: Outcome, small: bool) -> bool:
        """One try (caller holds the outcome's lock); True when nothing is left to write.

        The image first: it is paid for. `small`: if it is refused, store the failure instead
        (a row update fits where an image does not), keeping the bytes for a later try.
        """
        if outcome.done:
            return True
        if (
            outcome.image is not None
            and outcome.hold_until is not None
            and time.monotonic() >= outcome.hold_until
        ):
            self._let_go(outcome)
        store = self.store
        try:
            if outcome.job is not None:  # the handle first: a Retry must follow this job
                store.save_job(outcome.cell_id, outcome.job, epoch=outcome.epoch)
                outcome.job = None
            if outcome.image is not None:
                store.save_success(outcome.cell_id, **outcome.image, epoch=outcome.epoch)
                outcome.done = True
                return True
            if not outcome.recorded:
                self._record(outcome)
            outcome.done = True
            return True
        except StoreError as exc:
            outcome.reason = exc.reason
        if not small or outcome.recorded:
            return False
        try:
            self._record(outcome)
        except StoreError as exc:
            outcome.reason = exc.reason
        return False

    def _record(self, outcome: Outcome) -> None:
        self.store.save_failure(
            outcome.cell_id,
            **{**outcome.failure, "message": outcome.message()},
            epoch=outcome.epoch,
        )
        outcome.recorded = True

    def _let_go(self, outcome: Outcome) -> None:
        # Memory is bounded: the bytes go, the failure says what Retry does without them.
        log.warning("unsaved image of cell %s let go after the hold", outcome.cell_id)
        outcome.image = None
        if outcome.lost is not None:
            outcome.failure = outcome.lost
            outcome.recorded = False  # the stored message promised a late save: correct it

    def _forget(self, outcome: Outcome) -> None:
        with self._lock:
            if self._held.get(outcome.cell_id) is outcome:
                del self._held[outcome.cell_id]

    def _run(self) -> None:
        while True:
            time.sleep(self.policy.tick_s)
            with self._lock:
                pending = list(self._held.values())
                if not pending:
                    self._thread = None
                    return
            for outcome in pending:
                if not outcome.lock.acquire(blocking=False):
                    continue  # a Retry worker is writing it
                try:
                    finished = self._attempt(outcome, small=True)
                    if not finished and time.monotonic() >= (outcome.give_up_at or 0.0):
                        log.error(
                            "gave up saving the outcome of cell %s: %s",
                            outcome.cell_id,
                            outcome.reason,
                        )
                        outcome.done = finished = True
                    if finished:
                        self._forget(outcome)
                    elif not outcome.recorded:
                        break  # not even a small write gets through: wait for the next pass
                finally:
                    outcome.lock.release()
