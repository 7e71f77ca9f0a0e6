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

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from vibegen.board_rows import BoardRows
from vibegen.ratings import RatingMode

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
# An outcome's source is the mode of the rating it comes from, coded as `RatingMode.code`.
SOURCES = tuple(m.value for m in RatingMode)
TIER_BEST, TIER_REJECT = RatingMode.BEST.tier, RatingMode.REJECT.tier
TIER_NEUTRAL = 1  # an unmarked image: below a best pick, above a reject
_TIER_OF_CODE = np.array([-1 if m.tier is None else m.tier for m in RatingMode], np.int64)
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
    # The rating rows (positions among the kept ones) each side's judgment is a click of, -1
    # when that side took no click of its own (a pair vote, an unmarked image in a grid).
    row_a: np.ndarray
    row_b: np.ndarray


@dataclass
class _Ctx:
    """Shared integer views of the successful images and the rating rows."""

    model: np.ndarray  # ok image -> model code
    run: np.ndarray  # ok image -> run code
    n_images: int
    rater: np.ndarray  # rating row -> rater code
    image: np.ndarray  # rating row -> ok image position (-1 when not ok / unknown)
    other: np.ndarray  # rating row -> ok image position of the pair's other image, or -1
    pair_score: np.ndarray  # rating row -> score of `image` in a pair vote (NaN: not one)
    stars: np.ndarray  # rating row -> the value as a number
    blind: np.ndarray
    t: np.ndarray
    tier: np.ndarray  # rating row -> its mode's tier (best / reject rows only)


def _pair_block(ctx: _Ctx, rows: np.ndarray) -> _Block:
    """Outcomes from explicit pair votes."""
    score = ctx.pair_score[rows]
    ia = ctx.image[rows]
    ib = ctx.other[rows]
    keep = (ia >= 0) & (ib >= 0) & ~np.isnan(score)
    keep[keep] = ctx.model[ia[keep]] != ctx.model[ib[keep]]
    sel = rows[keep]
    return _Block(
        ia[keep],
        ib[keep],
        score[keep],
        np.full(len(sel), RatingMode.PAIR.code, np.int8),
        ctx.blind[sel],
        ctx.rater[sel],
        ctx.t[sel],
        np.full(len(sel), -1, np.int64),
        np.full(len(sel), -1, np.int64),
    )


def _star_block(ctx: _Ctx, rows: np.ndarray) -> tuple[_Block, np.ndarray]:
    """Outcomes from star ratings, plus the (rater, image) keys that were starred."""
    value = ctx.stars[rows]
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
        np.full(len(x), RatingMode.STARS.code, np.int8),
        ctx.blind[rows[x]] & ctx.blind[rows[y]],
        rater[x],
        np.maximum(ctx.t[rows[x]], ctx.t[rows[y]]),
        rows[x],
        rows[y],
    )
    starred = pd.unique(rater.astype(np.int64) * ctx.n_images + img)  # a hash, not a sort
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
    tier = ctx.tier[rows]
    rater = ctx.rater[rows]

    # Successful images grouped by run, to enumerate each mark's partners in its run.
    by_run = np.argsort(ctx.run, kind="stable")
    n_runs = int(ctx.run.max(initial=-1)) + 1
    run_size = np.bincount(ctx.run, minlength=n_runs)
    run_start = np.cumsum(run_size) - run_size
    slot = np.empty(ctx.n_images, np.int64)  # an image's place among its run's images
    slot[by_run] = np.arange(ctx.n_images) - run_start[ctx.run[by_run]]
    mark_run = ctx.run[img]
    # Each (rater, run) that has marks gets a table with one entry per image of the run: which
    # mark (if any) the rater gave that image, and whether they starred it. Partners are then
    # looked up by position, not searched for.
    star_rater, star_img = np.divmod(starred, ctx.n_images)
    group, _ = pd.factorize(
        np.concatenate(
            [rater.astype(np.int64) * n_runs + mark_run, star_rater * n_runs + ctx.run[star_img]]
        )
    )
    group, star_group = group[: len(img)], group[len(img) :]
    n_groups = int(group.max(initial=-1)) + 1
    group_size = np.zeros(n_groups, np.int64)
    group_size[group] = run_size[mark_run]
    group_start = np.cumsum(group_size) - group_size
    mark_at = np.full(int(group_size.sum()), -1, np.int64)
    mark_at[group_start[group] + slot[img]] = np.arange(len(img))
    starred_at = np.zeros(len(mark_at), bool)
    in_table = star_group < n_groups  # stars in a (rater, run) without marks matter not here
    starred_at[group_start[star_group[in_table]] + slot[star_img[in_table]]] = True

    owner, pos = _expand(run_start[mark_run], run_size[mark_run])
    partner = by_run[pos]
    cell = group_start[group[owner]] + (pos - run_start[mark_run[owner]])
    hit = mark_at[cell]
    partner_tier = np.where(hit >= 0, tier[np.maximum(hit, 0)], TIER_NEUTRAL)
    own_tier = tier[owner]
    # Best beats every lower tier; a reject loses to unmarked images only (best-vs-reject pairs
    # are already produced from the best side, so they are never counted twice).
    keep = np.where(own_tier == TIER_BEST, partner_tier < TIER_BEST, partner_tier == TIER_NEUTRAL)
    keep &= ctx.model[img[owner]] != ctx.model[partner]
    if len(starred):
        own_starred = starred_at[group_start[group] + slot[img]]
        keep &= ~(own_starred[owner] & starred_at[cell])
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
        np.where(own_best, RatingMode.BEST.code, RatingMode.REJECT.code).astype(np.int8),
        blind,
        rater[owner],
        t,
        np.where(own_best, mark_rows, other_rows),
        np.where(own_best, other_rows, mark_rows),
    )


def _compact(codes: np.ndarray, names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber the codes in use 0..k-1 in order of appearance (-1 stays -1), with their names."""
    # Codes index `names`, so a table per name replaces hashing every row: each code's first
    # position (assigned last to first, so the first wins), then the used ones in that order.
    n = len(names)
    first = np.full(n + 1, len(codes), np.int64)
    at = np.where(codes >= 0, codes, n)
    first[at[::-1]] = np.arange(len(codes) - 1, -1, -1)
    used = np.flatnonzero(first[:n] < len(codes))
    used = used[np.argsort(first[used], kind="stable")]
    renumber = np.full(n + 1, -1, np.int64)
    renumber[used] = np.arange(len(used))
    return renumber[at], names[used]


def pairwise_outcomes(ratings: pd.DataFrame, generations: pd.DataFrame) -> pd.DataFrame:
    """Derive pairwise outcomes (a, b, score_a, source, ...) from rating rows by the module rule."""
    if ratings is None or len(ratings) == 0 or generations is None or len(generations) == 0:
        return empty_outcomes()
    return coded_outcomes(BoardRows.from_frames(generations, ratings))


def coded_outcomes(
    rows: BoardRows, generations: np.ndarray | None = None, ratings: np.ndarray | None = None
) -> pd.DataFrame:
    """`pairwise_outcomes` on coded rows, restricted to the kept generation and rating rows.

    `generations` and `ratings` are boolean masks over `rows` (as `BoardRows.keep` gives);
    None keeps every row.
    """
    coded = outcome_codes(rows, generations, ratings)
    return empty_outcomes() if coded is None else coded.frame()


@dataclass(frozen=True)
class CodedOutcomes:
    """One slice's pairwise outcomes as integer arrays, before they become a frame.

    The leaderboard counts votes and raters on these codes; `frame()` is the outcomes table
    people and exports read. Model codes number `model_names` (the slice's competitors).
    """

    rows: BoardRows
    a: np.ndarray  # model code of the first side
    b: np.ndarray  # model code of the second side
    score_a: np.ndarray
    source: np.ndarray  # RatingMode.code
    rater: np.ndarray  # code into rater_names
    run: np.ndarray  # code into run_names (the first image's run)
    judgment: np.ndarray  # cluster id of a grid judgment, -1 for a pair vote
    row_a: np.ndarray  # rating row (index into `rows`) of the side's own click, -1 when none
    row_b: np.ndarray
    model_names: np.ndarray
    rater_names: np.ndarray
    run_names: np.ndarray
    # What only the outcomes table reads, joined when it is asked for (see `frame`): the
    # blocks each kind of rating made, and each side's image among the slice's ok images.
    blocks: tuple[_Block, ...]
    images: np.ndarray  # ok image position -> code into rows.generation_ids
    image_pos_a: np.ndarray
    image_pos_b: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    @cached_property
    def blind(self) -> np.ndarray:
        """Whether the outcome stands on blind ratings only."""
        return _joined(self.blocks, "blind")

    @cached_property
    def t(self) -> np.ndarray:
        """When the outcome was made (its latest click), int64 ns UTC."""
        return _joined(self.blocks, "t")

    @cached_property
    def image_a(self) -> np.ndarray:
        """The first side's image, a code into rows.generation_ids."""
        return self.images[self.image_pos_a]

    @cached_property
    def image_b(self) -> np.ndarray:
        """The second side's image, a code into rows.generation_ids."""
        return self.images[self.image_pos_b]

    def frame(self) -> pd.DataFrame:
        """The outcomes table (OUTCOME_COLUMNS), string columns as Categoricals."""
        # One dtype per column pair: a categorical's categories are validated once, not per
        # column. The images' categories are every generation id of the rows, checked once per
        # BoardRows.
        models = pd.CategoricalDtype(self.model_names)
        images = self.rows.generation_ids
        return pd.DataFrame(
            {
                "a": _categorical(self.a, models),
                "b": _categorical(self.b, models),
                "score_a": self.score_a,
                "source": _categorical(self.source, pd.CategoricalDtype(list(SOURCES))),
                "blind": self.blind,
                "rater": _categorical(self.rater, pd.CategoricalDtype(self.rater_names)),
                "run_id": _categorical(self.run, pd.CategoricalDtype(self.run_names)),
                "created_at": pd.DatetimeIndex(self.t.view("M8[ns]")).tz_localize("UTC"),
                "generation_a": _categorical(self.image_a, images),
                "generation_b": _categorical(self.image_b, images),
                "judgment": self.judgment,
            },
            copy=False,
        )


def _categorical(codes: np.ndarray, dtype: pd.CategoricalDtype) -> pd.Categorical:
    """A Categorical of codes made here, in range by construction (from_codes checks each)."""
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def outcome_codes(
    rows: BoardRows, generations: np.ndarray | None = None, ratings: np.ndarray | None = None
) -> CodedOutcomes | None:
    """The slice's outcomes as codes (see `coded_outcomes`), or None when there are none."""
    gen_keep = rows.status_ok & rows.first
    if generations is not None:
        gen_keep = gen_keep & generations
    ok_rows = np.flatnonzero(gen_keep)
    # Every rating kept (no rater or blind filter): use the arrays as they are, not copies.
    kept = None if ratings is None or ratings.all() else np.flatnonzero(ratings)
    sel = slice(None) if kept is None else kept
    if len(ok_rows) == 0 or len(rows.rater[sel]) == 0:
        return None
    # Codes numbered as if the kept rows were all there is, so the slice's outcomes do not
    # depend on the rows filtered out.
    model_code, model_names = _compact(rows.model[ok_rows], rows.model_names)
    run_code, run_names = _compact(rows.run[ok_rows], rows.run_names)
    rater_code, rater_names = _compact(rows.rater[sel], rows.rater_names)
    image_of_row = np.full(rows.n_generations, -1, np.int64)
    image_of_row[ok_rows] = np.arange(len(ok_rows))

    def image(positions: np.ndarray) -> np.ndarray:
        return np.where(positions >= 0, image_of_row[np.maximum(positions, 0)], -1)

    mode = rows.mode[sel]
    ctx = _Ctx(
        model=model_code,
        run=run_code,
        n_images=len(ok_rows),
        rater=rater_code,
        image=image(rows.image[sel]),
        other=image(rows.other[sel]),
        pair_score=rows.pair_score[sel],
        stars=rows.stars[sel],
        blind=rows.blind[sel],
        t=rows.rated_at[sel],
        tier=_TIER_OF_CODE[np.maximum(mode, 0)],
    )

    def rows_of(*modes: RatingMode) -> np.ndarray:
        hit = mode == modes[0].code
        for m in modes[1:]:
            hit |= mode == m.code
        return np.flatnonzero(hit)

    blocks: list[_Block] = []
    pair_rows = rows_of(RatingMode.PAIR)
    if len(pair_rows):
        blocks.append(_pair_block(ctx, pair_rows))
    star_rows = rows_of(RatingMode.STARS)
    starred = np.zeros(0, np.int64)
    if len(star_rows):
        star_block, starred = _star_block(ctx, star_rows)
        blocks.append(star_block)
    mark_rows = rows_of(*(m for m in RatingMode if m.tier is not None))
    if len(mark_rows):
        blocks.append(_tier_block(ctx, mark_rows, starred))
    if not any(len(b.a) for b in blocks):
        return None

    blocks = [b for b in blocks if len(b.a)]

    def cat(name: str) -> np.ndarray:
        return _joined(blocks, name)

    a, b = cat("a"), cat("b")
    image_code = rows.generation_code[ok_rows]
    # Outcomes derived from one rater's grid of one run come from one judgment (a best pick
    # alone gives n-1 wins), so they are not independent votes: they share a judgment id for
    # the fit's cluster-robust intervals. A pair vote is a judgment of its own (-1).
    source, rater = cat("source"), cat("rater")
    run = run_code[a]
    judgment = np.full(len(a), -1, np.int64)
    grid = np.flatnonzero(source != RatingMode.PAIR.code)
    judgment[grid] = run[grid].astype(np.int64) * max(len(rater_names), 1) + rater[grid]

    def in_rows(side: np.ndarray) -> np.ndarray:
        # The sides' clicks as rating rows of `rows`, not of the slice.
        if kept is None:
            return side
        out = side.copy()
        has = np.flatnonzero(side >= 0)
        out[has] = kept[side[has]]
        return out

    return CodedOutcomes(
        rows=rows,
        a=model_code[a],
        b=model_code[b],
        score_a=cat("score"),
        source=source,
        rater=rater,
        run=run,
        judgment=judgment,
        row_a=in_rows(cat("row_a")),
        row_b=in_rows(cat("row_b")),
        model_names=model_names,
        rater_names=rater_names,
        run_names=run_names,
        blocks=tuple(blocks),
        images=image_code,
        image_pos_a=a,
        image_pos_b=b,
    )


def _joined(blocks: Sequence[_Block], name: str) -> np.ndarray:
    """One column of the blocks, end to end (one block is used as it is: a copy of a million
    rows costs)."""
    parts = [getattr(b, name) for b in blocks]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
