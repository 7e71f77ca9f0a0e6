"""The leaderboard's input rows with every id matched once, as integer codes.

The store hands the leaderboard two frames: one row per generation and one per current rating.
Every filter, the outcome rule and the per-competitor statistics compare ids and labels, and
comparing strings per row (100k ratings, 1M votes) costs far more than the fit itself. So the
frames are turned, once, into integer arrays: each rating row knows the position of its image
(and of the other image of a pair vote) among the generation rows, and models, runs, raters,
modes and values are codes into small tables of their distinct values. A `BoardRows` is
immutable and built once per change of the data (the Leaderboard page caches it until new
ratings or results arrive); every slice the page asks for is then a few boolean masks over it.

The filter rule (which generations and ratings a slice keeps) lives here: a slice is described
by one `BoardFilter` and applied by `BoardRows.keep`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cached_property

import numpy as np
import pandas as pd

from vibegen.ratings import RatingMode

# A row's mode is coded as its `RatingMode.code` (the enum's order), as outcomes codes sources.
MODES = tuple(m.value for m in RatingMode)
PAIR_SCORES = dict(RatingMode.PAIR.value_scores)
FINISHED = ("ok", "error", "timeout", "interrupted")
IN_FLIGHT = ("pending", "running")
FAILURE_GROUPS = ("content_filter", "timeout", "router_error", "rate_limit", "other")
NAT = np.iinfo(np.int64).min  # pandas' integer NaT


def _codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing) and the distinct values, in order of appearance.

    Give the Series itself: an Arrow-backed string column is hashed by Arrow as it is, seven
    times faster than after its conversion to Python objects.
    """
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)


def _column(df: pd.DataFrame, name: str, default: object = None) -> pd.Series:
    """A column of `df`, or `default` on every row when the frame lacks it."""
    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index, dtype=object)


def _ns(values: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch (NAT for missing times); naive times are taken as UTC."""
    return pd.to_datetime(values, utc=True).dt.as_unit("ns").array.asi8.copy()


def as_utc_ns(value: datetime | str | pd.Timestamp) -> int:
    """A time as UTC nanoseconds (naive values are taken as UTC)."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _rating_arrays(r: pd.DataFrame) -> dict[str, np.ndarray]:
    """The rating rows' columns that need no id matched: mode, value, blind, time, counts."""
    mode_code, mode_names = _codes(_column(r, "mode"))
    mode_index = np.array(
        [MODES.index(m) if m in MODES else -1 for m in mode_names] + [-1], dtype=np.int64
    )
    # Values are a handful of distinct strings: read the distinct ones, not every row.
    value_code, value_names = _codes(_column(r, "value"))
    pair_of_value = np.array(
        [PAIR_SCORES.get(v, np.nan) if isinstance(v, str) else np.nan for v in value_names]
        + [np.nan],
        dtype=float,
    )
    number_of_value = np.append(
        pd.to_numeric(pd.Series(value_names, dtype=object), errors="coerce").to_numpy(dtype=float),
        np.nan,
    )
    return {
        "has_other": _column(r, "other_generation_id").notna().to_numpy(),
        "mode": mode_index[mode_code],
        "pair_score": pair_of_value[value_code],
        "stars": number_of_value[value_code],
        "blind": _flags(r, "blind", False),
        "rated_at": _ns(_column(r, "created_at")) if len(r) else np.zeros(0, np.int64),
        "counts": _flags(r, "counts", True),
    }


def _flags(df: pd.DataFrame, name: str, default: bool) -> np.ndarray:
    """A yes/no column as booleans, `default` where missing (or on every row without it)."""
    if name not in df.columns:
        # Not a column of a million Python objects to fill and convert: 70 ms at 1M rows.
        return np.full(len(df), default, bool)
    column = df[name]
    if column.dtype == bool:
        return column.to_numpy()
    return column.fillna(default).to_numpy(dtype=bool)


@dataclass(frozen=True)
class BoardFilter:
    """One slice of the leaderboard: which images and which votes count (hashable, immutable).

    The time window [since, until) selects images by their generation time; `rater` (one name
    or several) and `blind_only` select votes; sandbox images and the votes of raters not yet
    accepted (held, dropped, excluded) are left out unless asked for.
    """

    prompt_set_id: str | None = None
    since: datetime | str | None = None
    until: datetime | str | None = None
    rater: str | tuple[str, ...] | None = None
    blind_only: bool = False
    include_sandbox: bool = False
    include_held: bool = False

    def __post_init__(self) -> None:
        # A list of raters becomes a tuple, so equal filters hash alike (the page caches by it).
        if self.rater is not None and not isinstance(self.rater, str):
            object.__setattr__(self, "rater", tuple(self.rater))

    def as_dict(self) -> dict[str, object]:
        """The filter's fields by name (for exports and reports)."""
        return asdict(self)


NO_FILTER = BoardFilter()  # the default slice: every non-sandbox image, every counted vote


@dataclass(frozen=True, eq=False)
class BoardRows:
    """Generation and rating rows as integer arrays (see the module docstring)."""

    generations: pd.DataFrame  # as given
    ratings: pd.DataFrame  # as given
    # One entry per generation row.
    model: np.ndarray  # code into model_names
    model_names: np.ndarray
    run: np.ndarray  # code into run_names
    run_names: np.ndarray
    prompt_set: np.ndarray  # code into prompt_set_names, -1 when none
    prompt_set_names: np.ndarray
    status_ok: np.ndarray  # bool
    finished: np.ndarray  # bool: ok or failed
    in_flight: np.ndarray  # bool: pending or running
    failure_group: np.ndarray  # index into FAILURE_GROUPS (meaningful on failed rows)
    cost_kind: np.ndarray  # code into cost_kind_names ("unknown" when missing)
    cost_kind_names: np.ndarray
    cost_usd: np.ndarray  # float, NaN when unknown
    wall_s: np.ndarray  # float, NaN when unknown
    by_model_cost: np.ndarray  # row positions ordered by (model, cost_usd)
    by_model_wall: np.ndarray  # row positions ordered by (model, wall_s)
    sandbox: np.ndarray  # bool
    made_at: np.ndarray  # int64 ns UTC, NAT when unknown
    first: np.ndarray  # bool: first row with its generation_id (ids are unique in a store)
    # One entry per rating row.
    image: np.ndarray  # position of generation_id among the generation rows, -1 when unknown
    other: np.ndarray  # position of other_generation_id, -1 when none or unknown
    has_other: np.ndarray  # bool: other_generation_id is given
    rater: np.ndarray  # code into rater_names
    rater_names: np.ndarray
    mode: np.ndarray  # index into MODES, -1 for another mode
    pair_score: np.ndarray  # score of the first image for a pair vote's value, NaN otherwise
    stars: np.ndarray  # the value as a number (stars), NaN when not a number
    blind: np.ndarray  # bool
    rated_at: np.ndarray  # int64 ns UTC
    counts: np.ndarray  # bool: the rater's votes count (not held, dropped or excluded)

    @classmethod
    def from_frames(
        cls, generations: pd.DataFrame | None, ratings: pd.DataFrame | None
    ) -> BoardRows:
        """Match ids and code every column once (frames as `Store.generations_frame` gives)."""
        g = generations if generations is not None else pd.DataFrame()
        r = ratings if ratings is not None else pd.DataFrame()
        g_ids = _column(g, "generation_id")
        # One hash pass over every id (generations, rated images, other images of pairs).
        n_g, n_r = len(g), len(r)
        all_ids = pd.concat(
            [
                g_ids.reset_index(drop=True),
                _column(r, "generation_id").reset_index(drop=True),
                _column(r, "other_generation_id").reset_index(drop=True),
            ],
            ignore_index=True,
        )
        id_names: np.ndarray | list[object]
        id_code, id_names = _codes(all_ids) if len(all_ids) else (np.zeros(0, np.int64), [])
        g_code = id_code[:n_g]
        # Position of each id's first generation row; -1 for ids no generation row has.
        row_of = np.full(len(id_names), -1, np.int64)
        named_rows = np.flatnonzero(g_code >= 0)[::-1]  # assigned last to first: first wins
        row_of[g_code[named_rows]] = named_rows
        first = np.zeros(n_g, bool)
        first[row_of[row_of >= 0]] = True

        def position(codes: np.ndarray) -> np.ndarray:
            return (
                np.where(codes >= 0, row_of[np.maximum(codes, 0)], -1)
                if len(codes)
                else np.zeros(0, np.int64)
            )

        status = _column(g, "status")
        status_code, status_names = _codes(status)
        named = {s: k for k, s in enumerate(status_names)}

        def status_in(names: Sequence[str]) -> np.ndarray:
            return np.isin(status_code, [named[s] for s in names if s in named])

        status_ok = status_in(["ok"])
        # A failed attempt's group: its error kind when it names one, a timeout status without
        # a kind is still a timeout, anything else is "other".
        kind_code, kind_names = _codes(_column(g, "error_kind"))
        group_of_kind = np.array(
            [
                FAILURE_GROUPS.index(k) if k in FAILURE_GROUPS[:-1] else len(FAILURE_GROUPS) - 1
                for k in kind_names
            ]
            + [-1],
            dtype=np.int64,
        )
        failure_group = group_of_kind[kind_code]  # -1 (missing kind) picks the sentinel
        failure_group = np.where(
            failure_group >= 0,
            failure_group,
            np.where(
                status_in(["timeout"]), FAILURE_GROUPS.index("timeout"), len(FAILURE_GROUPS) - 1
            ),
        )
        cost_kind = _column(g, "cost_kind")
        cost_kind_code, cost_kind_names = _codes(cost_kind.where(cost_kind.notna(), "unknown"))
        prompt_set = _column(g, "prompt_set_id").astype(object)
        ps_code, ps_names = _codes(prompt_set.where(prompt_set.notna(), None).to_numpy())
        model_code, model_names = _codes(_column(g, "model_key"))
        run_code, run_names = _codes(_column(g, "run_id"))
        sandbox = _column(g, "sandbox", False)
        cost_usd = pd.to_numeric(_column(g, "cost_usd"), errors="coerce").to_numpy(dtype=float)
        wall_s = pd.to_numeric(_column(g, "wall_s"), errors="coerce").to_numpy(dtype=float)
        made_at = _ns(_column(g, "created_at")) if n_g else np.zeros(0, np.int64)

        rater_code, rater_names = _codes(_column(r, "rater"))
        return cls(
            generations=g,
            ratings=r,
            model=model_code,
            model_names=model_names,
            run=run_code,
            run_names=run_names,
            prompt_set=ps_code,
            prompt_set_names=ps_names,
            status_ok=status_ok,
            finished=status_in(FINISHED),
            in_flight=status_in(IN_FLIGHT),
            failure_group=failure_group,
            cost_kind=cost_kind_code,
            cost_kind_names=cost_kind_names,
            cost_usd=cost_usd,
            wall_s=wall_s,
            # Sorted once here, so each slice's medians and quantiles need no sort of their own.
            by_model_cost=np.lexsort((cost_usd, model_code)),
            by_model_wall=np.lexsort((wall_s, model_code)),
            sandbox=sandbox.fillna(False).astype(bool).to_numpy(),
            made_at=made_at,
            first=first,
            image=position(id_code[n_g : n_g + n_r]),
            other=position(id_code[n_g + n_r :]),
            rater=rater_code,
            rater_names=rater_names,
            **_rating_arrays(r),
        )

    def extend(self, kept: np.ndarray, added: pd.DataFrame) -> BoardRows:
        """These rows with the rating rows `kept` (a mask) followed by `added` (new ratings;
        without a `counts` column they count, until `with_counts` says otherwise).

        The generation rows stay as they are, so only the added rows' ids are matched (against
        the generation ids this object already holds): a new rating costs a few lookups, not
        a new `from_frames`. The boards built from the result are those of `from_frames` on
        the same two frames.
        """
        added = added.reset_index(drop=True)
        # An added row's images: the first generation row with its id, as from_frames finds.
        first_rows = np.flatnonzero(self.first)
        ids = self.generation_ids.categories

        def position(values: pd.Series) -> np.ndarray:
            code = ids.get_indexer(values.astype(object)) if len(ids) else np.full(len(values), -1)
            return np.where(code >= 0, first_rows[np.maximum(code, 0)], -1).astype(np.int64)

        names = pd.Index(self.rater_names, dtype=object)
        new_raters = _column(added, "rater").astype(object)
        fresh = pd.unique(new_raters[~new_raters.isin(names) & new_raters.notna()].to_numpy())
        rater_names = np.concatenate([self.rater_names, np.asarray(fresh, dtype=object)])
        rater_code = pd.Index(rater_names, dtype=object).get_indexer(new_raters).astype(np.int64)
        columns = list(self.ratings.columns)
        tail = added.reindex(columns=columns)
        for col in columns:
            # In the kept rows' dtypes: a column whose dtypes differ is concatenated value by
            # value (30 ms at 80,000 ratings, on every new rating).
            dtype = self.ratings[col].dtype
            if tail[col].dtype != dtype:
                try:
                    tail[col] = tail[col].astype(dtype)
                except (TypeError, ValueError):
                    pass  # then concat finds a dtype for both
        head = self.ratings if kept.all() else self.ratings[kept]
        ratings = pd.concat([head, tail], ignore_index=True)
        new = _rating_arrays(added)
        arrays = {
            key: np.concatenate([getattr(self, key)[kept], value]) for key, value in new.items()
        }
        rows = dataclasses.replace(
            self,
            ratings=ratings,
            image=np.concatenate([self.image[kept], position(_column(added, "generation_id"))]),
            other=np.concatenate(
                [self.other[kept], position(_column(added, "other_generation_id"))]
            ),
            rater=np.concatenate([self.rater[kept], rater_code]),
            rater_names=rater_names,
            **arrays,
        )
        # The generation rows did not change: nor did what was derived from them alone.
        return self._carried(rows, "generation_ids", "generation_code")

    def with_counts(self, counts: np.ndarray) -> BoardRows:
        """These rows with a new verdict on whose ratings count (one flag per rating row)."""
        ratings = self.ratings.copy()
        ratings["counts"] = counts
        rows = dataclasses.replace(self, ratings=ratings, counts=np.asarray(counts, bool))
        return self._carried(rows, "generation_ids", "generation_code", "click")

    def _carried(self, rows: BoardRows, *names: str) -> BoardRows:
        """`rows` given those of these rows' derivations `names` already made (they hold for
        both: what they derive from is the same)."""
        for name in names:
            if name in self.__dict__:
                rows.__dict__[name] = getattr(self, name)
        return rows

    @cached_property
    def generation_ids(self) -> pd.CategoricalDtype:
        """The generation ids as a categorical dtype, built (and checked unique) once."""
        ids = _column(self.generations, "generation_id").to_numpy(dtype=object)
        return pd.CategoricalDtype(pd.Index(ids[self.first], dtype=object))

    @cached_property
    def generation_code(self) -> np.ndarray:
        """Each generation row's code in `generation_ids` (-1 for a repeated id)."""
        code = np.full(self.n_generations, -1, np.int64)
        code[self.first] = np.arange(int(self.first.sum()))
        return code

    @cached_property
    def click(self) -> np.ndarray:
        """Each rating row's click, numbered 0..: a star on an image, or a best/reject mark on it.

        A click is (rater, image, family): family 0 stars, 1 best/reject, so a pick later turned
        into a reject is one click. Rows naming the same click share its number; pair votes
        and rows on unknown images get -1 (a pair vote is counted as a click of its own).
        """
        grid = (self.mode == RatingMode.STARS.code) | np.isin(
            self.mode, [m.code for m in RatingMode if m.tier is not None]
        )
        grid &= self.image >= 0
        rows = np.flatnonzero(grid)
        n_ids = max(len(self.generation_ids.categories), 1)
        family = (self.mode[rows] != RatingMode.STARS.code).astype(np.int64)
        key = (self.rater[rows] * n_ids + self.generation_code[self.image[rows]]) * 2 + family
        click = np.full(self.n_ratings, -1, np.int64)
        click[rows] = pd.factorize(key)[0]
        return click

    @property
    def n_generations(self) -> int:
        """Number of generation rows."""
        return len(self.model)

    @property
    def n_ratings(self) -> int:
        """Number of rating rows."""
        return len(self.rater)

    def keep(self, where: BoardFilter = NO_FILTER) -> tuple[np.ndarray, np.ndarray]:
        """Which generation rows and rating rows one slice keeps (boolean masks).

        The time window [since, until) selects images by their generation time: quality is a
        property of the images a router returned in that window (a model can change behind an
        alias), and cost, speed and reliability are measured on the same images. Votes on those
        images count whenever they were cast. A rating is kept only if every image it refers to
        is kept; `rater` and `blind_only` then filter the ratings themselves. Ratings the store
        marks as not counted (a rater held for the owner, dropped, or excluded from that run)
        are left out unless `include_held`.
        """
        prompt_set_id, since, until, rater = (
            where.prompt_set_id,
            where.since,
            where.until,
            where.rater,
        )
        keep = np.ones(self.n_generations, bool)
        if not where.include_sandbox:
            keep &= ~self.sandbox
        if prompt_set_id is not None:
            hit = np.flatnonzero(self.prompt_set_names == prompt_set_id)
            keep &= np.isin(self.prompt_set, hit)
        if since is not None or until is not None:
            known = self.made_at != NAT
            if since is not None:
                keep &= known & (self.made_at >= as_utc_ns(since))
            if until is not None:
                keep &= known & (self.made_at < as_utc_ns(until))
        if not self.n_generations:
            return keep, np.zeros(self.n_ratings, bool)
        rkeep = (self.image >= 0) & keep[np.maximum(self.image, 0)]
        rkeep &= ~self.has_other | ((self.other >= 0) & keep[np.maximum(self.other, 0)])
        if rater is not None:
            raters = [rater] if isinstance(rater, str) else list(rater)
            wanted = (
                pd.Index(self.rater_names).get_indexer(raters)
                if len(self.rater_names)
                else np.zeros(0, np.int64)
            )
            rkeep &= np.isin(self.rater, wanted[wanted >= 0])
        if where.blind_only:
            rkeep &= self.blind
        if not where.include_held:
            rkeep &= self.counts
        return keep, rkeep
