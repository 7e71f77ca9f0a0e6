"""Turn rating rows (pair votes and grid ratings) into pairwise outcomes between competitors.

The rule (quoted in the README):

* Only successful images take part: a rating on an image whose generation is not ``ok`` (or is
  unknown / filtered out) is ignored, and so is a pair vote with such an image on either side.
* A competitor is a model_key (router + model). An outcome between two images of the *same*
  competitor is dropped: it says nothing about the ranking.
* **Pair votes** (mode ``pair``): ``a`` = the generation_id image won, ``b`` = the
  other_generation_id image won, ``tie`` and ``both_bad`` = half a win each (0.5).
* **Grid ratings** are judged within one run and one rater, and we assume the rater saw every
  successful image of that run (the grid shows them all; views are not logged).
  - **Best / reject**: in a (run, rater) where the rater picked at least one best or rejected at
    least one image, each image is in one of three tiers: best (picked) > unmarked > rejected.
    Every pair of images of different competitors in different tiers gives one outcome, won by
    the higher tier. So a best pick beats every other successful image of a different
    competitor, and a rejected image loses to every non-rejected one; best-vs-rejected counts
    once, not twice; two best picks (or two rejects) are not compared with each other. If the
    same image is both picked and rejected by the rater, the later rating wins.
  - **Stars** (1-5): within one (run, rater), every pair of starred images of different
    competitors: more stars wins, equal stars is a tie (0.5).
  - When a rater both starred two images and gave them best/reject marks in the same run, the
    stars decide that pair (they are the finer judgement); the pair is never counted twice.
* Pair votes are explicit head-to-head judgements and are always kept, even when the same rater
  also rated the same images in a grid.
* Each outcome carries the rater, ``blind`` (true only if every rating it derives from was
  blind; an unmarked image in a best/reject grid has no rating and does not count),
  ``created_at`` (the latest of those ratings) and ``run_id`` (the run of the first image).

One grid click yields several outcomes (a best pick in a grid of 8 gives 7), which are not
independent. So every outcome derived from one rater's grid of one run carries the same
``judgment`` id, and the fit treats them as one cluster (cluster-robust intervals): copying a
judgment does not make the leaderboard surer. A pair vote is a judgment of its own (-1).

Implementation: everything is mapped to integer codes first and handled with numpy, so 100k
rating rows take tens of milliseconds. The string columns of the result (a, b, source, rater,
run_id, generation_a, generation_b) are pandas Categoricals for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

OUTCOME_COLUMNS = [
    "a",
    "b",
    "score_a",
    "source",
    "blind",
    "rater",
    "run_id",
    "created_at",
    "generation_a",
    "generation_b",
    "judgment",
]
SOURCES = ("pair", "stars", "best", "reject")
PAIR_SCORES = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}
TIER_BEST, TIER_NEUTRAL, TIER_REJECT = 2, 1, 0
NAT = np.iinfo(np.int64).min  # pandas' integer NaT; below every real time, so max() skips it


def empty_outcomes() -> pd.DataFrame:
    """An outcomes frame with no rows and the right columns and dtypes."""
    return pd.DataFrame(
        {
            "a": pd.Series(dtype=object),
            "b": pd.Series(dtype=object),
            "score_a": pd.Series(dtype=float),
            "source": pd.Series(dtype=object),
            "blind": pd.Series(dtype=bool),
            "rater": pd.Series(dtype=object),
            "run_id": pd.Series(dtype=object),
            "created_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "generation_a": pd.Series(dtype=object),
            "generation_b": pd.Series(dtype=object),
            "judgment": pd.Series(dtype=np.int64),
        }
    )


def within_group_pairs(group: np.ndarray, unordered: bool) -> tuple[np.ndarray, np.ndarray]:
    """All (x, y) index pairs, x != y, of elements sharing a group id; `group` must be sorted."""
    n = len(group)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Run-length encode the sorted group ids, then enumerate each group's k x k block.
    change = np.flatnonzero(np.diff(group)) + 1
    starts = np.concatenate([[0], change])
    sizes = np.diff(np.concatenate([starts, [n]]))
    member_of = np.repeat(np.arange(len(starts)), sizes)
    rep = sizes[member_of]
    left = np.repeat(np.arange(n), rep)
    offsets = np.arange(int(rep.sum())) - np.repeat(np.cumsum(rep) - rep, rep)
    right = np.repeat(starts[member_of], rep) + offsets
    keep = left < right if unordered else left != right
    return left[keep], right[keep]


def _expand(starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, the range starts[i] .. starts[i]+sizes[i]-1; returns (owner i, position)."""
    owner = np.repeat(np.arange(len(sizes)), sizes)
    offsets = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return owner, np.repeat(starts, sizes) + offsets


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position of each key in `sorted_keys`, or -1 when absent."""
    if len(sorted_keys) == 0:
        return np.full(len(keys), -1)
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == keys, pos, -1)


@dataclass
class _Block:
    """Outcomes as integer codes (indices into the shared dictionaries)."""

    a: np.ndarray  # image position in the ok-images table
    b: np.ndarray
    score: np.ndarray
    source: np.ndarray  # index into SOURCES
    blind: np.ndarray
    rater: np.ndarray  # rater code
    t: np.ndarray  # int64 ns UTC


@dataclass
class _Ctx:
    """Shared integer views of the successful images and the rating rows."""

    model: np.ndarray  # ok image -> model code
    run: np.ndarray  # ok image -> run code
    n_images: int
    rater: np.ndarray  # rating row -> rater code
    image: np.ndarray  # rating row -> ok image position (-1 when not ok / unknown)
    blind: np.ndarray
    t: np.ndarray
    is_best: np.ndarray  # rating row -> mode is "best"


def _pair_block(ctx: _Ctx, ratings: pd.DataFrame, rows: np.ndarray, ok_ids: pd.Index) -> _Block:
    """Outcomes from explicit pair votes."""
    score = ratings["value"].iloc[rows].map(PAIR_SCORES).to_numpy(dtype=float)
    ia = ctx.image[rows]
    ib = ok_ids.get_indexer(ratings["other_generation_id"].iloc[rows])
    keep = (ia >= 0) & (ib >= 0) & ~np.isnan(score)
    keep[keep] = ctx.model[ia[keep]] != ctx.model[ib[keep]]
    sel = rows[keep]
    return _Block(
        ia[keep],
        ib[keep],
        score[keep],
        np.zeros(len(sel), np.int8),
        ctx.blind[sel],
        ctx.rater[sel],
        ctx.t[sel],
    )


def _star_block(ctx: _Ctx, ratings: pd.DataFrame, rows: np.ndarray) -> tuple[_Block, np.ndarray]:
    """Outcomes from star ratings, plus the sorted (rater, image) keys that were starred."""
    value = pd.to_numeric(ratings["value"].iloc[rows], errors="coerce").to_numpy(dtype=float)
    img = ctx.image[rows]
    keep = (img >= 0) & (value >= 1) & (value <= 5)
    rows, img, value = rows[keep], img[keep], value[keep]
    rater = ctx.rater[rows]
    group = ctx.run[img].astype(np.int64) * (int(ctx.rater.max(initial=0)) + 1) + rater
    order = np.argsort(group, kind="stable")
    rows, img, value = rows[order], img[order], value[order]
    group, rater = group[order], rater[order]
    x, y = within_group_pairs(group, unordered=True)
    diff = ctx.model[img[x]] != ctx.model[img[y]]
    x, y = x[diff], y[diff]
    score = np.where(value[x] > value[y], 1.0, np.where(value[x] < value[y], 0.0, 0.5))
    block = _Block(
        img[x],
        img[y],
        score,
        np.ones(len(x), np.int8),
        ctx.blind[rows[x]] & ctx.blind[rows[y]],
        rater[x],
        np.maximum(ctx.t[rows[x]], ctx.t[rows[y]]),
    )
    starred = np.unique(rater.astype(np.int64) * ctx.n_images + img)
    return block, starred


def _tier_block(ctx: _Ctx, rows: np.ndarray, starred: np.ndarray) -> _Block:
    """Outcomes from best picks and rejects via best > unmarked > rejected tiers."""
    img = ctx.image[rows]
    rows, img = rows[img >= 0], img[img >= 0]
    key = ctx.rater[rows].astype(np.int64) * ctx.n_images + img
    # A rater who both picked and rejected one image changed their mind: keep the latest.
    order = np.lexsort((ctx.t[rows], key))
    key, rows, img = key[order], rows[order], img[order]
    last = np.append(key[1:] != key[:-1], True)
    key, rows, img = key[last], rows[last], img[last]
    tier = np.where(ctx.is_best[rows], TIER_BEST, TIER_REJECT)
    rater = ctx.rater[rows]

    # Successful images grouped by run, to enumerate each mark's partners in its run.
    by_run = np.argsort(ctx.run, kind="stable")
    run_size = np.bincount(ctx.run, minlength=int(ctx.run.max(initial=-1)) + 1)
    run_start = np.cumsum(run_size) - run_size
    mark_run = ctx.run[img]
    owner, pos = _expand(run_start[mark_run], run_size[mark_run])
    partner = by_run[pos]
    partner_key = rater[owner].astype(np.int64) * ctx.n_images + partner
    hit = _lookup(key, partner_key)
    partner_tier = np.where(hit >= 0, tier[np.maximum(hit, 0)], TIER_NEUTRAL)
    own_tier = tier[owner]
    # Best beats every lower tier; a reject loses to unmarked images only (best-vs-reject pairs
    # are already produced from the best side, so they are never counted twice).
    keep = np.where(own_tier == TIER_BEST, partner_tier < TIER_BEST, partner_tier == TIER_NEUTRAL)
    keep &= ctx.model[img[owner]] != ctx.model[partner]
    if len(starred):
        keep &= ~((_lookup(starred, key[owner]) >= 0) & (_lookup(starred, partner_key) >= 0))
    owner, partner, hit = owner[keep], partner[keep], hit[keep]
    own_best = own_tier[keep] == TIER_BEST
    mark_rows = rows[owner]
    other_rows = np.where(hit >= 0, rows[np.maximum(hit, 0)], -1)
    blind = ctx.blind[mark_rows] & np.where(other_rows >= 0, ctx.blind[other_rows], True)
    t = np.maximum(ctx.t[mark_rows], np.where(other_rows >= 0, ctx.t[other_rows], NAT))
    winner = np.where(own_best, img[owner], partner)
    loser = np.where(own_best, partner, img[owner])
    return _Block(
        winner,
        loser,
        np.ones(len(winner)),
        np.where(own_best, 2, 3).astype(np.int8),
        blind,
        rater[owner],
        t,
    )


def pairwise_outcomes(ratings: pd.DataFrame, generations: pd.DataFrame) -> pd.DataFrame:
    """Derive pairwise outcomes (a, b, score_a, source, ...) from rating rows by the module rule."""
    if ratings is None or len(ratings) == 0 or generations is None or len(generations) == 0:
        return empty_outcomes()
    ok = generations.loc[
        generations["status"].eq("ok").to_numpy(), ["generation_id", "run_id", "model_key"]
    ].drop_duplicates("generation_id")
    if ok.empty:
        return empty_outcomes()
    ok_ids = pd.Index(ok["generation_id"])
    model_code, model_names = pd.factorize(ok["model_key"])
    run_code, run_names = pd.factorize(ok["run_id"])
    rater_code, rater_names = pd.factorize(ratings["rater"])
    times = pd.to_datetime(ratings["created_at"], utc=True).dt.as_unit("ns")
    # Compare the few distinct modes, not 100k strings.
    mode_code, mode_names = pd.factorize(ratings["mode"])
    mode_names = list(mode_names)

    def rows_of(*modes: str) -> np.ndarray:
        codes = [mode_names.index(m) for m in modes if m in mode_names]
        return np.flatnonzero(np.isin(mode_code, codes))

    is_best = np.zeros(len(ratings), bool)
    is_best[rows_of("best")] = True
    ctx = _Ctx(
        model=model_code,
        run=run_code,
        n_images=len(ok),
        rater=rater_code,
        image=ok_ids.get_indexer(ratings["generation_id"]),
        blind=ratings["blind"].fillna(False).to_numpy(dtype=bool),
        t=times.array.asi8,
        is_best=is_best,
    )
    blocks: list[_Block] = []
    pair_rows = rows_of("pair")
    if len(pair_rows):
        blocks.append(_pair_block(ctx, ratings, pair_rows, ok_ids))
    star_rows = rows_of("stars")
    starred = np.zeros(0, np.int64)
    if len(star_rows):
        star_block, starred = _star_block(ctx, ratings, star_rows)
        blocks.append(star_block)
    mark_rows = rows_of("best", "reject")
    if len(mark_rows):
        blocks.append(_tier_block(ctx, mark_rows, starred))
    if not any(len(b.a) for b in blocks):
        return empty_outcomes()

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in blocks])

    a, b = cat("a"), cat("b")
    gen_names = ok_ids
    # Outcomes derived from one rater's grid of one run come from one judgment (a best pick
    # alone gives n-1 wins), so they are not independent votes: they share a judgment id for
    # the fit's cluster-robust intervals. A pair vote is a judgment of its own (-1).
    source, rater = cat("source"), cat("rater")
    judgment = np.where(source == SOURCES.index("pair"), -1,
                        run_code[a].astype(np.int64) * max(len(rater_names), 1) + rater)
    return pd.DataFrame(
        {
            "a": pd.Categorical.from_codes(model_code[a], categories=model_names),
            "b": pd.Categorical.from_codes(model_code[b], categories=model_names),
            "score_a": cat("score"),
            "source": pd.Categorical.from_codes(source, categories=list(SOURCES)),
            "blind": cat("blind"),
            "rater": pd.Categorical.from_codes(rater, categories=rater_names),
            "run_id": pd.Categorical.from_codes(run_code[a], categories=run_names),
            "created_at": pd.DatetimeIndex(cat("t").view("M8[ns]")).tz_localize("UTC"),
            "generation_a": pd.Categorical.from_codes(a, categories=gen_names),
            "generation_b": pd.Categorical.from_codes(b, categories=gen_names),
            "judgment": judgment,
        }
    )
