"""The leaderboard's feed: what it keeps and extends is what a fresh read of the store gives.

Each step changes the store the way the app does (a new rating, a changed or withdrawn one, a
held rater joining, the owner accepting them, a cell finishing, a new run) and compares the
feed's rows with `board_rows(store.generations_frame(), store.ratings_frame())`: the same
boards for every slice, and the board moves when it should.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from vibegen import raters as R
from vibegen.board_feed import BoardFeed
from vibegen.board_rows import BoardRows
from vibegen.costs import Cost
from vibegen.leaderboard import BoardFilter, board_rows, build_leaderboard
from vibegen.ratings import make_rating
from vibegen.records import CellSpec
from vibegen.store import Store

MODELS = [("sandbox:prism", "Prism"), ("sandbox:halo", "Halo"), ("sandbox:tide", "Tide")]
SLICES = [
    BoardFilter(include_sandbox=True),
    BoardFilter(include_sandbox=True, include_held=True),
    BoardFilter(include_sandbox=True, blind_only=True),
    BoardFilter(include_sandbox=True, rater="Ana"),
]


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 90, 200)).save(out, format="PNG")
    return out.getvalue()


def _run(store: Store, finish: bool = True) -> tuple[str, dict[str, list[str]]]:
    """A run with two images of each model; finished unless asked otherwise."""
    specs = [
        CellSpec(key, "sandbox", label, i, "a fox", {}, {}, Cost(0.01, "simulated"))
        for key, label in MODELS
        for i in range(2)
    ]
    run_id = store.create_run("a fox", {}, specs)
    cells: dict[str, list[str]] = {}
    for cell in store.run_view(run_id).cells:
        if finish:
            store.save_success(cell.id, _png(), cost=cell.cost, wall_s=1.0)
        cells.setdefault(cell.label, []).append(cell.id)
    return run_id, cells


def _boards(rows: BoardRows) -> list[tuple[pd.DataFrame, int]]:
    return [
        (lb.table, lb.n_votes)
        for lb in (build_leaderboard(rows, where=w, min_votes=2) for w in SLICES)
    ]


def _same_as_fresh(feed: BoardFeed, store: Store) -> list[tuple[pd.DataFrame, int]]:
    """The feed's boards, checked against those of a fresh read; returns them."""
    rows, version = feed.current(store)
    assert version == store.board_version()
    fresh = board_rows(store.generations_frame(), store.ratings_frame())
    got, want = _boards(rows), _boards(fresh)
    for (table, votes), (fresh_table, fresh_votes) in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(table, fresh_table)
        assert votes == fresh_votes
    # The kept ratings are the current ones, in id order, with the same counts flags.
    columns = ["id", "run_id", "rater", "slot", "value", "blind", "counts"]
    kept = rows.ratings[columns].astype(str).reset_index(drop=True)
    assert kept.equals(store.ratings_frame()[columns].astype(str))
    return got


def _votes(boards: list[tuple[pd.DataFrame, int]], slice_: int = 0) -> int:
    return boards[slice_][1]


def test_the_feed_extends_with_new_ratings_and_matches_a_fresh_read(any_store):
    store = any_store
    feed = BoardFeed()
    run_id, cells = _run(store)
    assert _votes(_same_as_fresh(feed, store)) == 0
    assert feed.full_reads == 1

    # New ratings: stars, a best pick, a pair vote; the feed reads only these events.
    for image, stars in zip(cells["Prism"] + cells["Tide"], (5, 4, 2, 1), strict=True):
        store.rate(run_id, "Ana", make_rating("stars", image, stars), blind=True)
    first = _same_as_fresh(feed, store)
    assert _votes(first) == 4
    store.rate(run_id, "Bo", make_rating("best", cells["Halo"][0], 1), blind=False)
    store.rate(
        run_id, "Bo", make_rating("pair", cells["Halo"][1], "a", cells["Tide"][0]), blind=True
    )
    second = _same_as_fresh(feed, store)
    assert _votes(second) > _votes(first)  # the new ratings moved the board
    assert _votes(second, 2) < _votes(second)  # Bo's best pick was not blind

    # A changed mind replaces the rating in its slot; an undo withdraws it.
    store.rate(run_id, "Ana", make_rating("stars", cells["Tide"][1], 5), blind=True)
    changed = _same_as_fresh(feed, store)
    assert not changed[0][0].equals(second[0][0])
    store.rate(run_id, "Bo", make_rating("best", cells["Halo"][0], None), blind=False)
    withdrawn = _same_as_fresh(feed, store)
    assert _votes(withdrawn) < _votes(changed)
    assert feed.full_reads == 1  # every step so far was read as events, not from scratch


def test_held_raters_and_the_owners_verdict_reach_the_feed(any_store):
    store = any_store
    feed = BoardFeed()
    run_id, cells = _run(store)
    store.rate(run_id, "Ana", make_rating("best", cells["Prism"][0], 1), blind=True)
    before = _same_as_fresh(feed, store)
    # Someone joins through the team link and votes: held, so the default view stays.
    team = store.team
    team.team_link(run_id, blind=True)
    bot, _ = team.join("Rater 1", R.JOINED)
    store.rate(
        run_id, bot.display, make_rating("best", cells["Tide"][0], 1), blind=True, rater_id=bot.id
    )
    held = _same_as_fresh(feed, store)
    assert _votes(held) == _votes(before)
    assert _votes(held, 1) > _votes(held)  # counting held raters shows their vote
    # The owner accepts them: a rater event, no new rating; the default view now counts them.
    team.record(bot.id, R.ACCEPT)
    accepted = _same_as_fresh(feed, store)
    assert _votes(accepted) == _votes(held, 1)
    team.record(bot.id, R.DROP)
    assert _votes(_same_as_fresh(feed, store)) == _votes(before)
    assert feed.full_reads == 1


def test_results_and_new_runs_reach_the_feed(any_store):
    store = any_store
    feed = BoardFeed()
    run_id, cells = _run(store, finish=False)
    store.rate(run_id, "Ana", make_rating("best", cells["Prism"][0], 1), blind=True)
    assert _votes(_same_as_fresh(feed, store)) == 0  # no successful image yet: no outcome
    # Results arrive: the generation rows change and the pick now beats the other images.
    for image in cells["Prism"] + cells["Halo"]:
        store.save_success(image, _png(), cost=Cost(0.01, "simulated"), wall_s=2.0)
    assert _votes(_same_as_fresh(feed, store)) == 1
    store.save_failure(cells["Tide"][0], kind="router_error", message="boom", wall_s=1.0)
    failed = _same_as_fresh(feed, store)
    tide = failed[0][0].set_index("label").loc["Tide"]
    assert tide["failures"] == 1
    # A new run, rated: read again, and its votes join.
    other, other_cells = _run(store)
    store.rate(other, "Bo", make_rating("best", other_cells["Halo"][0], 1), blind=True)
    assert _votes(_same_as_fresh(feed, store)) == 2


def test_extended_rows_build_the_boards_of_fresh_rows():
    """BoardRows.extend on many random changes gives the boards from_frames gives."""
    rng = np.random.default_rng(5)
    n_gen = 60
    generations = pd.DataFrame(
        {
            "generation_id": [f"g{k}" for k in range(n_gen)],
            "run_id": [f"r{k // 6}" for k in range(n_gen)],
            "model_key": [f"sandbox:m{k % 5}" for k in range(n_gen)],
            "router": "sandbox",
            "label": [f"m{k % 5}" for k in range(n_gen)],
            "status": rng.choice(["ok", "ok", "ok", "error"], n_gen),
            "error_kind": None,
            "cost_usd": 0.01,
            "cost_kind": "simulated",
            "wall_s": rng.gamma(2.0, 1.0, n_gen),
            "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
            "prompt_set_id": None,
            "sandbox": True,
        }
    )

    def ratings(n: int, start: int) -> pd.DataFrame:
        image = rng.integers(0, n_gen, n)
        other = (image // 6) * 6 + rng.integers(0, 6, n)
        mode = rng.choice(["pair", "stars", "best", "reject"], n)
        value = np.where(
            mode == "pair",
            rng.choice(["a", "b", "tie"], n),
            np.where(mode == "stars", rng.integers(1, 6, n).astype(str), "1"),
        )
        return pd.DataFrame(
            {
                "run_id": [f"r{k // 6}" for k in image],
                "rater": rng.choice(["Ana", "Bo", "Cy", f"New{start}"], n),
                "mode": mode,
                "generation_id": [f"g{k}" for k in image],
                "other_generation_id": [
                    f"g{k}" if m == "pair" else None for k, m in zip(other, mode, strict=True)
                ],
                "value": value,
                "blind": rng.random(n) < 0.7,
                "created_at": pd.Timestamp("2026-01-02", tz="UTC")
                + pd.to_timedelta(np.arange(start, start + n), unit="s"),
                "counts": rng.random(n) < 0.9,
            }
        )

    current = ratings(150, 0)
    rows = board_rows(generations, current)
    for step in range(1, 6):
        kept = rng.random(len(current)) < 0.85
        added = ratings(20, 1000 * step)
        current = pd.concat([current[kept], added], ignore_index=True)
        rows = rows.extend(kept, added)
        fresh = board_rows(generations, current)
        slices = [
            BoardFilter(include_sandbox=True),
            BoardFilter(include_sandbox=True, rater="Bo"),
            BoardFilter(include_sandbox=True, blind_only=True, include_held=True),
        ]
        for where in slices:
            got = build_leaderboard(rows, where=where, min_votes=3)
            want = build_leaderboard(fresh, where=where, min_votes=3)
            pd.testing.assert_frame_equal(got.table, want.table)
            pd.testing.assert_frame_equal(got.outcomes, want.outcomes)
            assert got.n_votes == want.n_votes


@pytest.mark.parametrize("flip", [True, False])
def test_with_counts_is_a_new_verdict_on_the_same_rows(flip):
    generations = pd.DataFrame(
        {
            "generation_id": ["g0", "g1"],
            "run_id": "r0",
            "model_key": ["sandbox:a", "sandbox:b"],
            "router": "sandbox",
            "label": ["a", "b"],
            "status": "ok",
            "error_kind": None,
            "cost_usd": 0.01,
            "cost_kind": "simulated",
            "wall_s": 1.0,
            "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
            "prompt_set_id": None,
            "sandbox": True,
        }
    )
    ratings = pd.DataFrame(
        {
            "run_id": ["r0"],
            "rater": ["Ana"],
            "mode": ["pair"],
            "generation_id": ["g0"],
            "other_generation_id": ["g1"],
            "value": ["a"],
            "blind": [True],
            "created_at": [pd.Timestamp("2026-01-02", tz="UTC")],
            "counts": [True],
        }
    )
    rows = board_rows(generations, ratings).with_counts(np.array([not flip]))
    board = build_leaderboard(rows, include_sandbox=True)
    assert board.n_votes == (0 if flip else 1)
