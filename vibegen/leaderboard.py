"""The leaderboard: a pure function of generation and rating rows (no Streamlit, no I/O).

Quality comes from a Bradley–Terry fit on pairwise outcomes (see `outcomes` and
`bradley_terry`); cost, speed and reliability come from the generation rows of the same
filtered slice. Competitors are model_keys (router + model).

Decision aids:
* Pareto front: competitors not beaten on both quality (higher score) and cost (lower median
  cost per image) by another. Only competitors with votes and a known cost take part;
  competitors whose cost is unknown are listed in `pareto_excluded` and never treated as free.
* Callout: the cheapest competitor (known cost) that shares rank 1 with the best, i.e. whose
  interval is not entirely below another competitor's interval.
* Projection: expected cost and wall time for N images; failed attempts are assumed not billed
  (fal states it does not charge for server errors) so cost = N x median cost per image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from vibegen.board_rows import FAILURE_GROUPS, NO_FILTER, BoardFilter, BoardRows
from vibegen.bradley_terry import (
    DEFAULT_MIN_VOTES,
    BTResult,
    CodedVotes,
    VotesNeeded,
    fit_bradley_terry,
    votes_needed,
)
from vibegen.money import amount
from vibegen.outcomes import CodedOutcomes, empty_outcomes, outcome_codes
from vibegen.ratings import RatingMode

GENERATION_COLUMNS = (
    "generation_id",
    "run_id",
    "model_key",
    "router",
    "label",
    "status",
    "error_kind",
    "cost_usd",
    "cost_kind",
    "wall_s",
    "created_at",
    "prompt_set_id",
    "sandbox",
)
RATING_COLUMNS = (
    "run_id",
    "rater",
    "mode",
    "generation_id",
    "other_generation_id",
    "value",
    "blind",
    "created_at",
)
COST_KINDS = ("reported", "computed", "estimated", "simulated", "self_hosted", "unknown")


@dataclass(frozen=True)
class Callout:
    """The cheapest competitor statistically tied with the best one."""

    model_key: str
    label: str
    cost_per_image: float
    best_model_key: str
    best_label: str
    best_cost_per_image: float  # NaN when the best one's cost is unknown
    n_tied: int  # competitors sharing rank 1 (including the best)
    text: str


@dataclass(frozen=True)
class Leaderboard:
    """Everything the leaderboard page shows, computed from one filtered slice of rows."""

    table: pd.DataFrame  # one row per competitor, best first (columns: see TABLE_COLUMNS)
    coded: CodedOutcomes | None  # the pairwise outcomes the fit used, as codes (None: none)
    fit: BTResult
    pareto: tuple[str, ...]  # model_keys on the front, by increasing cost
    pareto_excluded: tuple[str, ...]  # rated competitors left off the front: cost unknown
    callout: Callout | None
    disconnection: str | None
    votes_needed: VotesNeeded | None  # for the top two by score
    notes: tuple[str, ...]
    where: BoardFilter = NO_FILTER  # the slice this board was built from
    n_votes: int = 0  # judgments (clicks) behind the outcomes, each counted once

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        """The pairwise outcomes the fit used, as a table (OUTCOME_COLUMNS)."""
        # Made when asked for (an export, a report), not on every filter change: the page
        # shows counts, and a table of 300,000 outcomes costs more than the fit's intervals.
        return empty_outcomes() if self.coded is None else self.coded.frame()

    @property
    def filters(self) -> dict[str, Any]:
        """The slice's filter fields by name (as exports and reports show them)."""
        return self.where.as_dict()


TABLE_COLUMNS = [
    "model_key",
    "label",
    "router",
    "score",
    "lo",
    "hi",
    "rank",
    "votes",  # judgments (clicks) behind the score: one best pick counts once
    "outcomes",  # the pairwise outcomes derived from those judgments (what the fit uses)
    "raters",  # distinct raters behind the votes
    "preliminary",
    "estimate_flag",
    "flag_reason",
    "cost_per_image",  # median USD over successful images with a known cost
    "cost_known_images",
    "cost_kinds",  # dict kind -> count over successful images
    "wall_p50_s",
    "wall_p90_s",
    "images_ok",
    "finished",
    "in_flight",
    "success_rate",
    "failures",
    *[f"fail_{g}" for g in FAILURE_GROUPS],
    "pareto",
    "sandbox",  # a simulated competitor (the offline sandbox router): never a real result
]


PROJECTION_COLUMNS = [
    "model_key",
    "label",
    "router",
    "success_rate",
    "attempts",
    "concurrency",
    "cost_per_image",
    "expected_cost_usd",
    "wall_p50_s",
    "expected_wall_s",
    "expected_wall_p90_s",
    "note",
]


def filter_rows(
    generations: pd.DataFrame,
    ratings: pd.DataFrame,
    where: BoardFilter | None = None,
    **fields: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Filter generations and ratings to one slice; ratings follow their images.

    The rule is `BoardRows.keep`: images are selected by their generation time, prompt set and
    sandbox flag; a rating is kept only if every image it refers to is kept, then `rater` and
    `blind_only` filter the ratings themselves, and raters whose votes do not count
    (held, dropped, excluded) are left out unless `include_held`. The slice is `where`, or
    the `BoardFilter` its field values make.
    """
    g = _with_columns(generations, GENERATION_COLUMNS)
    r = _with_columns(ratings, RATING_COLUMNS)
    keep, rkeep = BoardRows.from_frames(g, r).keep(slice_of(where, fields))
    return g[keep], r[rkeep]


def slice_of(where: BoardFilter | None, fields: Mapping[str, Any]) -> BoardFilter:
    """`where`, or a `BoardFilter` of these field values (a misspelt field is a TypeError)."""
    if where is not None and fields:
        raise TypeError("give a BoardFilter or its fields, not both")
    return where if where is not None else BoardFilter(**fields)


def board_rows(generations: pd.DataFrame | None, ratings: pd.DataFrame | None) -> BoardRows:
    """The rows a leaderboard is built from, ids matched once (build it once per data change)."""
    return BoardRows.from_frames(
        _with_columns(generations, GENERATION_COLUMNS), _with_columns(ratings, RATING_COLUMNS)
    )


def _with_columns(df: pd.DataFrame | None, columns: Sequence[str]) -> pd.DataFrame:
    """`df`, or an empty frame with `columns` when the store hands over no rows at all."""
    if df is not None and len(df) and set(columns) <= set(df.columns):
        return df
    if df is not None and len(df):
        missing = sorted(set(columns) - set(df.columns))
        raise ValueError(f"missing columns: {', '.join(missing)}")
    base = df if df is not None else pd.DataFrame()
    return base.reindex(columns=list(dict.fromkeys([*base.columns, *columns])))


def competitor_stats(generations: pd.DataFrame) -> pd.DataFrame:
    """Cost, speed and reliability per model_key from generation rows."""
    return coded_stats(BoardRows.from_frames(generations, None))


def _group_quantile(key: np.ndarray, values: np.ndarray, k: int, q: float) -> np.ndarray:
    """Per-group quantile with linear interpolation (pandas' default), NaN for empty groups.

    `values` must be sorted within each group and `key` (groups 0..k-1) must be sorted.
    """
    size = np.bincount(key, minlength=k)
    start = np.cumsum(size) - size
    out = np.full(k, np.nan)
    has = np.flatnonzero(size)
    pos = q * (size[has] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, size[has] - 1)
    a, b = values[start[has] + lo], values[start[has] + hi]
    out[has] = a + (b - a) * (pos - lo)
    return out


def _group_median(key: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Per-group median (mean of the two middle values for an even count), NaN when empty.

    Same ordering requirement as `_group_quantile`.
    """
    size = np.bincount(key, minlength=k)
    start = np.cumsum(size) - size
    out = np.full(k, np.nan)
    has = np.flatnonzero(size)
    lo = start[has] + (size[has] - 1) // 2
    hi = start[has] + size[has] // 2
    out[has] = np.where(lo == hi, values[lo], (values[lo] + values[hi]) / 2)
    return out


def coded_stats(rows: BoardRows, generations: np.ndarray | None = None) -> pd.DataFrame:
    """`competitor_stats` over coded rows, restricted to the kept generation rows (a mask)."""
    g = rows.generations
    sel = np.flatnonzero(generations) if generations is not None else np.arange(rows.n_generations)
    # Competitors in model_key order, numbered 0..k-1.
    sel = sel[rows.model[sel] >= 0]
    codes = np.flatnonzero(np.bincount(rows.model[sel], minlength=len(rows.model_names)))
    names = rows.model_names[codes]
    order = np.argsort(names.astype(str), kind="stable")
    codes, names = codes[order], names[order]
    k = len(names)
    rank = np.full(len(rows.model_names), -1, np.int64)
    rank[codes] = np.arange(k)
    key = rank[rows.model[sel]]
    # The columns are gathered first and made a frame once: a column set on a frame costs
    # half a millisecond of pandas bookkeeping, and there are twenty of them.
    out: dict[str, Any] = {}
    # The first row of each competitor gives its label and router.
    first = np.full(k, -1, np.int64)
    first[key[::-1]] = sel[::-1]
    out["label"] = g["label"].iloc[first].to_numpy(dtype=object)
    out["router"] = g["router"].iloc[first].to_numpy(dtype=object)
    out["sandbox"] = np.bincount(key[rows.sandbox[sel]], minlength=k) > 0

    ok = rows.status_ok[sel]
    kept = np.zeros(rows.n_generations, bool)
    kept[sel] = True
    usable = kept & rows.status_ok  # successful images of this slice

    def ordered(order: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The rows' (model, value) order restricted to this slice's usable rows with a value;
        # competitor numbers follow model_key order, and so does the ordering within them.
        pick = order[usable[order] & ~np.isnan(values[order])]
        group = rank[rows.model[pick]]
        by_group = np.argsort(group, kind="stable")
        return group[by_group], values[pick][by_group]

    cost_key, costs = ordered(rows.by_model_cost, rows.cost_usd)
    out["cost_per_image"] = _group_median(cost_key, costs, k)
    out["cost_known_images"] = np.bincount(cost_key, minlength=k)
    n_kinds = len(rows.cost_kind_names)
    kind_counts = np.bincount(
        key[ok] * n_kinds + rows.cost_kind[sel][ok], minlength=k * n_kinds
    ).reshape(k, n_kinds)
    by_name = np.argsort(rows.cost_kind_names.astype(str), kind="stable")
    out["cost_kinds"] = [
        {str(rows.cost_kind_names[c]): int(counts[c]) for c in by_name if counts[c]}
        for counts in kind_counts
    ]
    wall_key, walls = ordered(rows.by_model_wall, rows.wall_s)
    out["wall_p50_s"] = _group_quantile(wall_key, walls, k, 0.5)
    out["wall_p90_s"] = _group_quantile(wall_key, walls, k, 0.9)
    finished = rows.finished[sel]
    out["images_ok"] = np.bincount(key[ok], minlength=k)
    out["finished"] = np.bincount(key[finished], minlength=k)
    out["in_flight"] = np.bincount(key[rows.in_flight[sel]], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["success_rate"] = np.where(
            out["finished"] > 0, out["images_ok"] / out["finished"], np.nan
        )
    failed = finished & ~ok
    out["failures"] = np.bincount(key[failed], minlength=k)
    n_groups = len(FAILURE_GROUPS)
    breakdown = np.bincount(
        key[failed] * n_groups + rows.failure_group[sel][failed], minlength=k * n_groups
    ).reshape(k, n_groups)
    for column, grp in enumerate(FAILURE_GROUPS):
        out[f"fail_{grp}"] = breakdown[:, column].astype(int)
    for col in ("cost_known_images", "images_ok", "finished", "in_flight", "failures"):
        out[col] = np.asarray(out[col]).astype(int)
    for col in ("cost_per_image", "wall_p50_s", "wall_p90_s", "success_rate"):
        out[col] = np.asarray(out[col]).astype(float)
    return pd.DataFrame(out, index=pd.Index(names, name="model_key", dtype=object))


def pareto_front(table: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Model_keys on the quality/cost front (by cost) and rated ones excluded for unknown cost."""
    rated = table[table["votes"] > 0]
    known = rated[rated["cost_per_image"].notna()]
    excluded = tuple(rated.loc[rated["cost_per_image"].isna(), "model_key"])
    ordered = known.sort_values(["cost_per_image", "score"], ascending=[True, False])
    front: list[str] = []
    best = -math.inf
    for key, score in zip(ordered["model_key"], ordered["score"], strict=True):
        if score > best:  # cheaper ones seen so far all score lower: not dominated
            front.append(key)
            best = score
    return tuple(front), excluded


def tied_cheapest(table: pd.DataFrame) -> Callout | None:
    """The cheapest competitor (known cost) sharing rank 1 with the best by score."""
    # Rows as plain dicts: a few hundred competitors at most, and each pandas selection on
    # them cost a millisecond, ten of them per filter change.
    rows = table[["model_key", "label", "votes", "rank", "score", "cost_per_image", "preliminary"]]
    competitors = rows.to_dict("records")
    rated = [c for c in competitors if c["votes"] > 0]
    if not rated:
        return None
    best = min(rated, key=lambda c: (-c["score"], c["model_key"]))
    tied = [c for c in rated if c["rank"] == 1]
    priced = [c for c in tied if pd.notna(c["cost_per_image"])]
    if not priced:
        return None
    pick = min(priced, key=lambda c: (c["cost_per_image"], -c["score"]))  # first of equals
    best_cost = float(best["cost_per_image"]) if pd.notna(best["cost_per_image"]) else math.nan
    if pick["model_key"] == best["model_key"]:
        text = (
            f"{pick['label']} scores highest and is also the cheapest of the {len(tied)} "
            f"competitor(s) sharing rank 1 ({amount(pick['cost_per_image'])} per image)."
        )
    else:
        versus = (
            f" versus {amount(best_cost)} for {best['label']}"
            if not math.isnan(best_cost)
            else f"; the cost of {best['label']} is unknown"
        )
        text = (
            f"{pick['label']} is statistically tied with the best ({best['label']}: they share "
            f"rank 1) and costs {amount(pick['cost_per_image'])} per image{versus}."
        )
    if bool(pick["preliminary"]):
        text += " Preliminary: few votes so far."
    return Callout(
        model_key=str(pick["model_key"]),
        label=str(pick["label"]),
        cost_per_image=float(pick["cost_per_image"]),
        best_model_key=str(best["model_key"]),
        best_label=str(best["label"]),
        best_cost_per_image=best_cost,
        n_tied=len(tied),
        text=text,
    )


def build_leaderboard(
    generations: pd.DataFrame | BoardRows,
    ratings: pd.DataFrame | None = None,
    where: BoardFilter | None = None,
    *,
    min_votes: int = DEFAULT_MIN_VOTES,
    level: float = 0.95,
    **fields: Any,
) -> Leaderboard:
    """Build the leaderboard for one filtered slice of generation and rating rows.

    `generations` may be a `BoardRows` (see `board_rows`): then `ratings` is not given, and
    the ids it matched once serve every slice, which is what a page asking for many slices of
    the same rows wants. The slice is `where` (a `BoardFilter`), or the one its field values
    (`rater=...`, `include_sandbox=...`) make.
    """
    where = slice_of(where, fields)
    if isinstance(generations, BoardRows):
        if ratings is not None:
            raise ValueError("give BoardRows alone: they hold the ratings too")
        rows = generations
    else:
        rows = board_rows(generations, ratings)
    keep, rkeep = rows.keep(where)
    coded = outcome_codes(rows, keep, rkeep)
    stats = coded_stats(rows, keep)
    fit = fit_bradley_terry(
        _votes(coded, list(stats.index)) if coded is not None else empty_outcomes(),
        list(stats.index),
        min_votes=min_votes,
        level=level,
        cluster_column="judgment",
    )
    table = fit.table().set_index("model_key").join(stats, how="left").reset_index()
    # The fit counts pairwise outcomes; people count clicks (a best pick in a grid of 8 is one
    # vote, not 7), so "votes" and the preliminary flag are judgments.
    table["outcomes"] = table["votes"].astype(int)
    per_model, n_votes = judgment_votes(rows, coded)
    table["votes"] = table["model_key"].map(per_model).fillna(0)
    table["votes"] = table["votes"].astype(int)
    table["preliminary"] = (table["votes"] > 0) & (table["votes"] < min_votes)
    table["raters"] = table["model_key"].map(distinct_raters(coded)).fillna(0).astype(int)
    table = _order(table)
    front, excluded = pareto_front(table)
    table["pareto"] = table["model_key"].isin(front)
    table = table[TABLE_COLUMNS]

    # Notes name competitors as people read them, "FLUX.2 pro (fal)", not by catalog key.
    names = {
        key: f"{label} ({router})"
        for key, label, router in zip(
            table["model_key"], table["label"], table["router"], strict=True
        )
    }
    notes: list[str] = []
    if excluded:
        notes.append(
            "Not on the Pareto front because their cost is unknown: "
            + ", ".join(names[k] for k in excluded)
            + "."
        )
    if fit.prior_applied:
        notes.append(
            "Some scores could not be estimated from the votes alone (a competitor won or lost "
            "every vote, or groups were never compared); all scores include a weak prior of one "
            "win and one loss against an average opponent."
        )
    unrated = table.loc[table["votes"] == 0, "model_key"].tolist()
    if unrated:
        notes.append(
            "No votes yet (no score or rank): " + ", ".join(names[k] for k in unrated) + "."
        )

    rated = table[table["votes"] > 0]
    need = None
    if len(rated) >= 2:
        first, second = rated["model_key"].iloc[_by_score(rated)[:2]]
        need = votes_needed(fit, first, second, level=level)
    return Leaderboard(
        table=table,
        coded=coded,
        fit=fit,
        pareto=front,
        pareto_excluded=excluded,
        callout=tied_cheapest(table),
        disconnection=fit.disconnection,
        votes_needed=need,
        notes=tuple(notes),
        where=where,
        n_votes=n_votes,
    )


def _votes(coded: CodedOutcomes, competitors: list[str]) -> CodedVotes:
    """The slice's outcomes for the fit, sides numbered as `competitors` (then any other model
    the outcomes name, sorted), as the fit numbers an outcomes frame's."""
    names = coded.model_names.astype(str)
    at = pd.Index(competitors).get_indexer(names)
    used = np.bincount(np.concatenate([coded.a, coded.b]), minlength=len(names)) > 0
    extra = sorted(str(n) for n in names[(at < 0) & used])
    missing = np.flatnonzero(at < 0)
    if len(missing):
        pos = pd.Index(extra, dtype=object).get_indexer(names[missing])  # -1: in no outcome
        at[missing] = np.where(pos >= 0, pos + len(competitors), -1)
    a, b = at[coded.a], at[coded.b]
    keep = (a >= 0) & (b >= 0)  # a name left out (never in an outcome) numbers no outcome
    return CodedVotes(
        a[keep], b[keep], coded.score_a[keep], coded.judgment[keep], (*competitors, *extra)
    )


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct integers (a sort is several times faster than np.unique's hashing)."""
    ordered = np.sort(values)
    return (
        ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered
    )


# Most cells of a (competitor x click) or (competitor x rater) table of flags held at once
# (32 MB); a larger table is replaced by sorting the pairs.
FLAG_TABLE_CELLS = 2**25


def _distinct_per_group(group: np.ndarray, item: np.ndarray, k: int, n_items: int) -> np.ndarray:
    """For groups 0..k-1: how many distinct items (0..n_items-1) occur with each group."""
    if k * n_items <= FLAG_TABLE_CELLS:
        # Marking a flag per (group, item) is one pass; no sort, no hash.
        seen = np.zeros(k * n_items, bool)
        seen[group * n_items + item] = True
        return seen.reshape(k, n_items).sum(axis=1)
    return np.bincount(_distinct(group * n_items + item) // n_items, minlength=k)


def judgment_votes(rows: BoardRows, coded: CodedOutcomes | None) -> tuple[pd.Series, int]:
    """How many judgments (clicks) stand behind each competitor's outcomes, and in all.

    A pair vote is one click. A star rating is one click on its image. In a best/reject grid
    the clicks are the picks and rejects; an unmarked image took no click of its own, so an
    outcome between a pick and an unmarked image stands on the pick alone. A click counts once
    for every competitor its outcomes involve, however many outcomes it yields.
    """
    if coded is None or not len(coded):
        return pd.Series(dtype=int), 0
    names = coded.model_names
    k = len(names)
    pair = coded.source == RatingMode.PAIR.code
    a, b = coded.a.astype(np.int64), coded.b.astype(np.int64)
    # A pair vote is one outcome of its own: one click for each side, nothing to deduplicate.
    counts = np.bincount(a[pair], minlength=k) + np.bincount(b[pair], minlength=k)
    total = int(pair.sum())
    grid = ~pair
    if grid.any():
        # Each grid outcome's sides carry the rating rows of their clicks (-1: the side took
        # no click of its own); `BoardRows.click` numbers the clicks once per data change.
        click_a = rows.click[coded.row_a[grid]]
        click_b = rows.click[coded.row_b[grid]]
        has_a, has_b = coded.row_a[grid] >= 0, coded.row_b[grid] >= 0
        click_a, click_b = click_a[has_a], click_b[has_b]
        n_clicks = int(rows.click.max(initial=-1)) + 1
        ga, gb = a[grid], b[grid]
        model = np.concatenate([ga[has_a], ga[has_b], gb[has_a], gb[has_b]])
        side = np.concatenate([click_a, click_b, click_a, click_b])
        counts += _distinct_per_group(model, side, k, n_clicks)
        used = np.zeros(n_clicks, bool)
        used[click_a] = True
        used[click_b] = True
        total += int(used.sum())
    return pd.Series(counts, index=pd.Index(names.astype(str), name="model_key")), total


def distinct_raters(coded: CodedOutcomes | None) -> pd.Series:
    """How many different raters stand behind each competitor's outcomes."""
    if coded is None or not len(coded):
        return pd.Series(dtype=int)
    k, n_raters = len(coded.model_names), len(coded.rater_names)
    # A missing rater (code -1) is one more distinct rater, as a missing value is to pandas.
    rater = np.where(coded.rater >= 0, coded.rater, n_raters).astype(np.int64)
    model = np.concatenate([coded.a, coded.b]).astype(np.int64)
    per_model = _distinct_per_group(model, np.concatenate([rater, rater]), k, n_raters + 1)
    involved = np.bincount(model, minlength=k) > 0
    index = pd.Index(coded.model_names[involved].astype(str), name="model_key")
    return pd.Series(per_model[involved], index=index)


def _by_score(table: pd.DataFrame) -> list[int]:
    """Row positions of `table`, best score first, ties by model key (a sort of a few hundred
    values in Python: pandas' sort_values costs more to set up than to sort them)."""
    keys = table["model_key"].tolist()
    scores = table["score"].tolist()
    return sorted(range(len(keys)), key=lambda k: (-scores[k], keys[k]))


def _order(table: pd.DataFrame) -> pd.DataFrame:
    """Rated competitors by score (best first), then unrated ones by name."""
    votes = table["votes"].tolist()
    keys = table["model_key"].tolist()
    rated = [k for k in _by_score(table) if votes[k] > 0]
    unrated = sorted((k for k in range(len(keys)) if votes[k] <= 0), key=keys.__getitem__)
    return table.iloc[rated + unrated].reset_index(drop=True)


def projection(
    leaderboard: Leaderboard,
    n_images: int = 100,
    concurrency: Mapping[str, int] | None = None,
    *,
    default_concurrency: int = 1,
) -> pd.DataFrame:
    """Expected cost and wall time to get `n_images` successful images from each competitor.

    attempts = ceil(n_images / success_rate); cost = n_images x median cost per image (failed
    attempts assumed not billed); wall = ceil(attempts / concurrency[router]) x p50 wall time
    (and the same with p90 as a pessimistic bound). Routers missing from `concurrency` use
    `default_concurrency`. Unknown inputs give NaN, never 0.
    """
    if n_images < 0:
        raise ValueError("n_images must be >= 0")
    conc = dict(concurrency or {})
    t = leaderboard.table
    # Column at a time (the page asks again on every click): one value per competitor.
    c = np.array(
        [max(1, int(conc.get(r, default_concurrency))) for r in t["router"]], dtype=np.int64
    )
    sr = t["success_rate"].to_numpy(float)
    unknown, none_ok = np.isnan(sr), sr <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        attempts = np.where(
            unknown, math.nan, np.where(none_ok, math.inf, np.ceil(n_images / sr - 1e-9))
        )
        batches = np.where(np.isfinite(attempts), np.ceil(attempts / c), attempts)
    cost = n_images * t["cost_per_image"].to_numpy(float)
    note = np.select(
        [unknown, none_ok, np.isnan(cost)],
        ["no finished attempts yet", "no successful image yet", "cost unknown"],
        "",
    )
    return pd.DataFrame(
        {
            "model_key": t["model_key"].to_numpy(),
            "label": t["label"].to_numpy(),
            "router": t["router"].to_numpy(),
            "success_rate": sr,
            "attempts": attempts,
            "concurrency": c,
            "cost_per_image": t["cost_per_image"].to_numpy(float),
            "expected_cost_usd": cost,
            "wall_p50_s": t["wall_p50_s"].to_numpy(float),
            "expected_wall_s": batches * t["wall_p50_s"].to_numpy(float),
            "expected_wall_p90_s": batches * t["wall_p90_s"].to_numpy(float),
            "note": note,
        },
        columns=PROJECTION_COLUMNS,
    )
