"""The store's leaderboard rows, kept current by reading only what changed since the last look.

Reading every current rating (100k at 10,000 runs) takes a second and more; a new rating is one
row. So a `BoardFeed` keeps the rows it built (`BoardRows`, ids matched once) with the id of
the newest rating event it has seen. When the store's board version moves, it reads what the
version says moved:

* new rating events only (`Store.ratings_since`): each replaces the rating in its slot
  (run, rater, slot) or, without a value, withdraws it, and the rows are extended with the
  added ones (`BoardRows.extend`), ids matched for those rows alone;
* a rater accepted, held or dropped: the counts flags of every row, one query;
* generation rows (a cell started or finished, a new run): the generation frame again, and
  the ids of all rows matched again (a changed status can change every slice).

Anything unexpected (the newest rating id went back: another database behind the same URL)
reads everything again. The result is always the rows `board_rows(store.generations_frame(),
store.ratings_frame())` would give; tests hold it to that.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vibegen.board_rows import BoardRows
from vibegen.leaderboard import board_rows

if TYPE_CHECKING:
    from vibegen.store import Store

SLOT = ["run_id", "rater_id", "slot"]  # one current rating per slot


class BoardFeed:
    """Leaderboard rows of one database, updated from the changes since the last read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the feed is shared by every session of the process
        self._version: Hashable | None = None
        self._rows: BoardRows | None = None
        self._last_id = -1  # newest rating event the rows include
        self.full_reads = 0  # how often everything was read (what the feed exists to avoid)

    def current(self, store: Store) -> tuple[BoardRows, Hashable]:
        """The store's rows now and the board version they are of (reads only what moved)."""
        version = store.board_version()
        with self._lock:
            if self._rows is None or version != self._version:
                self._rows = self._update(store, version)
                self._version = version
            return self._rows, version

    def _update(self, store: Store, version: Hashable) -> BoardRows:
        """Rows for `version`, from the kept rows where the change allows it."""
        old, rows = self._version, self._rows
        gens, ratings = version if isinstance(version, tuple) else (None, None)
        if rows is None or not isinstance(old, tuple) or _newest_id(ratings) < self._last_id:
            return self._reload(store)
        old_gens, old_ratings = old
        # The newest run's time tells two databases behind one URL apart.
        if ratings[2] != old_ratings[2]:
            return self._reload(store)
        events = store.ratings_since(self._last_id)
        if len(events):
            rows = self._apply(store, rows, events)
        elif ratings[3] != old_ratings[3]:  # whose votes count changed, nothing else
            rows = rows.with_counts(store.counts_of(rows.ratings))
        if gens != old_gens:
            rows = board_rows(store.generations_frame(), rows.ratings)
        return rows

    def _reload(self, store: Store) -> BoardRows:
        """Everything read and matched again."""
        self.full_reads += 1
        ratings = store.ratings_frame()
        self._last_id = int(ratings["id"].max()) if len(ratings) else -1
        generations = store.generations_frame()
        # A rating saved between the two reads is read next time (its id is above _last_id).
        return board_rows(generations, ratings)

    def _apply(self, store: Store, rows: BoardRows, events: pd.DataFrame) -> BoardRows:
        """`rows` with the rating events applied in order (a later one in a slot wins)."""
        self._last_id = int(events["id"].max())
        latest = events.drop_duplicates(SLOT, keep="last")  # still in id order
        current = rows.ratings
        # Only rows of the runs the events touch can share a slot with them.
        maybe = np.flatnonzero(current["run_id"].isin(latest["run_id"].unique()).to_numpy())
        kept = np.ones(len(current), bool)
        if len(maybe):
            here = pd.MultiIndex.from_frame(current.iloc[maybe][SLOT].astype(object))
            slots = pd.MultiIndex.from_frame(latest[SLOT].astype(object))
            kept[maybe[here.isin(slots)]] = False
        rows = rows.extend(kept, latest[latest["value"].notna()])
        # Whose ratings count is read once, for every row, the added ones included: a rater's
        # standing can change with the same click that rates (a first rating joins them).
        return rows.with_counts(store.counts_of(rows.ratings))


def _newest_id(ratings: object) -> int:
    """The newest rating id in the ratings part of a board version (-1 for none)."""
    try:
        return int(ratings[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return -1
