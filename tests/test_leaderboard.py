"""The leaderboard table, filters, Pareto front, callout, projection, chart and subscriptions."""

from __future__ import annotations

import math
from datetime import date

import jsonschema
import numpy as np
import pandas as pd
import pytest
from altair.vegalite.v6.schema.core import load_schema as vegalite_schema

from vibegen.board_spec import board_frame, verdict
from vibegen.bradley_terry import fit_bradley_terry
from vibegen.charts import pareto_spec
from vibegen.leaderboard import (
    TABLE_COLUMNS,
    build_leaderboard,
    filter_rows,
    projection,
    tied_cheapest,
)
from vibegen.subscriptions import (
    SUBSCRIPTIONS,
    breakeven_volume,
    covers,
    get_subscription,
    per_image_cost,
)

T0 = pd.Timestamp("2026-03-01 09:00", tz="UTC")
A, B, C, D = "fal:flux-a", "kie:model-b", "openai:model-c", "sd:model-d"
COST = {A: 0.05, B: 0.01, C: 0.004, D: math.nan}
WALL = {A: 4.0, B: 10.0, C: 20.0, D: 8.0}


def gen_row(gid: str, run: str, model: str, **kw: object) -> dict:
    """One generation row with defaults for the competitor."""
    row = {
        "generation_id": gid,
        "run_id": run,
        "model_key": model,
        "router": model.split(":")[0],
        "label": model.split(":")[1].upper(),
        "status": "ok",
        "error_kind": None,
        "cost_usd": COST[model],
        "cost_kind": "unknown" if math.isnan(COST[model]) else "reported",
        "wall_s": WALL[model],
        "created_at": T0,
        "prompt_set_id": "ps1",
        "sandbox": False,
    }
    row.update(kw)
    return row


def rate(gid: str, other: str | None, value: str, rater: str, **kw: object) -> dict:
    """One pair-vote rating row (or grid rating when `other` is None and mode is given)."""
    row = {
        "run_id": "r1",
        "rater": rater,
        "mode": "pair" if other else "best",
        "generation_id": gid,
        "other_generation_id": other,
        "value": value,
        "blind": True,
        "created_at": T0 + pd.Timedelta(hours=1),
    }
    row.update(kw)
    return row


def scenario() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A and B close at the top, C clearly worse, D middling with unknown cost."""
    gens = [
        gen_row("ga", "r1", A),
        gen_row("gb", "r1", B),
        gen_row("gc", "r1", C),
        gen_row("gd", "r1", D),
    ]
    # Reliability and cost details for B: 3 more successes (one without a cost), failures.
    gens += [
        gen_row("gb2", "r2", B, cost_usd=0.02, cost_kind="estimated", wall_s=12.0),
        gen_row("gb3", "r2", B, cost_usd=math.nan, cost_kind="unknown", wall_s=14.0),
        gen_row("gb4", "r2", B, cost_usd=0.01, wall_s=30.0),
        gen_row("gb5", "r2", B, status="error", error_kind="content_filter", cost_usd=math.nan),
        gen_row("gb6", "r2", B, status="error", error_kind="rate_limit", cost_usd=math.nan),
        gen_row("gb7", "r2", B, status="timeout", error_kind=None, cost_usd=math.nan),
        gen_row("gb8", "r2", B, status="error", error_kind="bad_image", cost_usd=math.nan),
        gen_row("gb9", "r2", B, status="interrupted", error_kind="interrupted", cost_usd=math.nan),
        gen_row("gb10", "r2", B, status="pending", cost_usd=math.nan, wall_s=math.nan),
        gen_row("gb11", "r2", B, status="running", cost_usd=math.nan, wall_s=math.nan),
        gen_row("gc2", "r2", C, status="error", error_kind="router_error", cost_usd=math.nan),
    ]
    votes = []
    k = 0

    def add(x: str, y: str, wins_x: int, wins_y: int) -> None:
        nonlocal k
        for v in ["a"] * wins_x + ["b"] * wins_y:
            votes.append(rate(x, y, v, f"rater{k % 7}", created_at=T0 + pd.Timedelta(minutes=k)))
            k += 1

    add("ga", "gb", 31, 29)
    add("ga", "gc", 50, 10)
    add("gb", "gc", 48, 12)
    add("gd", "gc", 30, 20)
    add("gd", "ga", 20, 30)
    return pd.DataFrame(gens), pd.DataFrame(votes)


@pytest.fixture(scope="module")
def board():
    gens, ratings = scenario()
    return build_leaderboard(gens, ratings)


def by_key(board) -> pd.DataFrame:
    return board.table.set_index("model_key")


def test_table_columns_and_order(board) -> None:
    t = board.table
    assert list(t.columns) == TABLE_COLUMNS
    assert t["model_key"].tolist()[:2] == [A, B] or t["model_key"].tolist()[:2] == [B, A]
    assert t["score"].is_monotonic_decreasing
    assert t.loc[t["model_key"] == A, "label"].item() == "FLUX-A"
    assert t.loc[t["model_key"] == A, "router"].item() == "fal"
    assert t["score"].mean() == pytest.approx(1000.0)


def test_ranks_ties_and_votes(board) -> None:
    t = by_key(board)
    assert t.loc[A, "rank"] == 1 and t.loc[B, "rank"] == 1  # statistically tied
    assert t.loc[C, "rank"] > 1
    assert t.loc[A, "votes"] == 60 + 60 + 50 and t.loc[C, "votes"] == 60 + 60 + 50
    assert not t["preliminary"].any() and not t["estimate_flag"].any()


def test_cost_median_ignores_unknown_and_kind_mix(board) -> None:
    t = by_key(board)
    # B's successful images cost 0.01, 0.02, unknown, 0.01 -> median of known = 0.01.
    assert t.loc[B, "cost_per_image"] == pytest.approx(0.01)
    assert t.loc[B, "cost_known_images"] == 3
    assert t.loc[B, "cost_kinds"] == {"reported": 2, "estimated": 1, "unknown": 1}
    assert math.isnan(t.loc[D, "cost_per_image"])  # unknown stays unknown, never 0
    assert t.loc[D, "cost_kinds"] == {"unknown": 1}


def test_wall_percentiles_use_successful_images(board) -> None:
    t = by_key(board)
    walls = np.array([10.0, 12.0, 14.0, 30.0])
    assert t.loc[B, "wall_p50_s"] == pytest.approx(np.quantile(walls, 0.5))
    assert t.loc[B, "wall_p90_s"] == pytest.approx(np.quantile(walls, 0.9))


def test_success_rate_and_failure_breakdown(board) -> None:
    t = by_key(board)
    # B: 4 ok, 5 failed (content filter, rate limit, timeout, bad image, interrupted),
    # 2 still in flight (excluded from the rate).
    assert t.loc[B, "finished"] == 9 and t.loc[B, "in_flight"] == 2
    assert t.loc[B, "success_rate"] == pytest.approx(4 / 9)
    assert t.loc[B, "failures"] == 5
    assert t.loc[
        B,
        [
            "fail_content_filter",
            "fail_timeout",
            "fail_router_error",
            "fail_rate_limit",
            "fail_other",
        ],
    ].tolist() == [1, 1, 0, 1, 2]
    assert t.loc[C, "fail_router_error"] == 1 and t.loc[C, "success_rate"] == pytest.approx(0.5)
    assert t.loc[A, "success_rate"] == 1.0 and t.loc[A, "failures"] == 0


def test_pareto_front_excludes_unknown_cost(board) -> None:
    # C is cheapest, B is cheaper and (nearly) as good as A; A scores highest.
    scores = by_key(board)["score"]
    expected = [C, B] + ([A] if scores[A] > scores[B] else [])
    assert list(board.pareto) == expected
    assert board.pareto_excluded == (D,)
    assert "Not on the Pareto front because their cost is unknown: MODEL-D (sd)." in board.notes
    assert not by_key(board).loc[D, "pareto"]


def test_callout_names_cheapest_tied_with_best(board) -> None:
    c = board.callout
    assert c is not None and c.model_key == B and c.cost_per_image == pytest.approx(0.01)
    assert c.best_model_key in (A, B) and c.n_tied == 2
    assert "MODEL-B" in c.text


def test_callout_picks_the_better_of_equally_cheap_ties_and_says_an_unknown_cost() -> None:
    table = pd.DataFrame(
        {
            "model_key": ["top", "cheap-a", "cheap-b", "unrated"],
            "label": ["Top", "Cheap A", "Cheap B", "Unrated"],
            "votes": [40, 30, 30, 0],
            "rank": [1.0, 1.0, 1.0, math.nan],
            "score": [1100.0, 1050.0, 1060.0, math.nan],
            "cost_per_image": [math.nan, 0.02, 0.02, 0.001],
            "preliminary": [False, False, True, False],
        }
    )
    c = tied_cheapest(table)
    # Cheap A and B cost the same: the higher score wins; the unrated one is never picked.
    assert c is not None and c.model_key == "cheap-b" and c.best_model_key == "top"
    assert c.n_tied == 3 and math.isnan(c.best_cost_per_image)
    assert c.text == (
        "Cheap B is statistically tied with the best (Top: they share rank 1) and costs "
        "$0.0200 per image; the cost of Top is unknown. Preliminary: few votes so far."
    )
    assert tied_cheapest(table.assign(votes=0)) is None
    assert tied_cheapest(table.assign(cost_per_image=math.nan)) is None


def test_votes_needed_for_top_two(board) -> None:
    v = board.votes_needed
    assert v is not None and {v.a, v.b} == {A, B}
    assert not v.separated and v.votes > 100


def test_the_verdict_says_best_value_ties_and_votes_in_words(board) -> None:
    need = board.votes_needed
    assert verdict(board) == [
        "Best value: MODEL-B — tied for 1st with the top scorer, FLUX-A, and cheaper "
        "($0.0100 per image).",
        "Tied for 1st: FLUX-A and MODEL-B.",
        f"Roughly {math.ceil(need.votes)} more votes between FLUX-A and MODEL-B would likely "
        "tell the top two apart, if the current difference holds.",
    ]
    places = dict(zip(board.table["model_key"], board_frame(board)["rank"], strict=True))
    assert places[A] == places[B] == "tied for 1st" and places[C] != "tied for 1st"


def test_projection_cost_and_wall_time(board) -> None:
    proj = projection(board, n_images=100, concurrency={"kie": 4}).set_index("model_key")
    # B: success 4/9 -> ceil(225) attempts; cost 100 x 0.01; ceil(225/4)=57 batches x p50 13 s.
    assert proj.loc[B, "attempts"] == 225
    assert proj.loc[B, "expected_cost_usd"] == pytest.approx(1.0)
    assert proj.loc[B, "concurrency"] == 4
    assert proj.loc[B, "expected_wall_s"] == pytest.approx(57 * 13.0)
    # A: always succeeds, default concurrency 1 -> 100 sequential images of 4 s.
    assert proj.loc[A, "attempts"] == 100 and proj.loc[A, "expected_wall_s"] == pytest.approx(400)
    assert proj.loc[A, "expected_cost_usd"] == pytest.approx(5.0)
    assert math.isnan(proj.loc[D, "expected_cost_usd"]) and proj.loc[D, "note"] == "cost unknown"
    assert proj.loc[C, "attempts"] == 200  # success rate 1/2


def test_projection_without_successes() -> None:
    gens = pd.DataFrame(
        [
            gen_row("x", "r", C, status="error", error_kind="auth"),
            gen_row("y", "r", A, status="pending"),
        ]
    )
    ratings = pd.DataFrame(columns=list(rate("x", None, "1", "u")))
    proj = projection(build_leaderboard(gens, ratings), 10).set_index("model_key")
    assert proj.loc[C, "attempts"] == math.inf and proj.loc[C, "note"] == "no successful image yet"
    assert math.isnan(proj.loc[A, "attempts"]) and proj.loc[A, "note"] == "no finished attempts yet"


def test_unrated_competitor_and_preliminary() -> None:
    gens, ratings = scenario()
    gens = pd.concat(
        [
            gens,
            pd.DataFrame([gen_row("gz", "r1", C, model_key="fal:new", label="NEW", router="fal")]),
        ]
    )
    board = build_leaderboard(gens, ratings.iloc[:70], min_votes=40)
    t = by_key(board)
    assert t.loc["fal:new", "votes"] == 0 and pd.isna(t.loc["fal:new", "rank"])
    assert t.loc["fal:new", "flag_reason"] == "no votes"
    assert board.table["model_key"].tolist()[-2:] == ["fal:new", D]  # unrated ones go last
    # After the first 70 votes: A 70, B 60, C 10 -> only C is below 40.
    assert t.loc[C, "preliminary"] and not t.loc[A, "preliminary"] and not t.loc[B, "preliminary"]
    assert "No votes yet (no score or rank): NEW (fal), MODEL-D (sd)." in board.notes


def test_small_sample_flags_reach_the_table() -> None:
    gens, _ = scenario()
    ratings = pd.DataFrame([rate("ga", "gb", "a", "u1"), rate("ga", "gc", "a", "u2")])
    board = build_leaderboard(gens, ratings)
    t = by_key(board)
    assert t.loc[A, "estimate_flag"] and t.loc[A, "flag_reason"] == "won all 2 votes"
    assert np.isfinite(board.table[["score", "lo", "hi"]].to_numpy(float)).all()
    assert any("prior" in n for n in board.notes)


def test_disconnection_reaches_the_leaderboard() -> None:
    gens, _ = scenario()
    ratings = pd.DataFrame(
        [rate("ga", "gb", v, f"u{k}") for k, v in enumerate("abab")]
        + [rate("gc", "gd", v, f"v{k}") for k, v in enumerate("aab")]
    )
    board = build_leaderboard(gens, ratings)
    assert board.disconnection is not None
    assert f"{{{A}, {B}}}" in board.disconnection and f"{{{C}, {D}}}" in board.disconnection


def test_filters() -> None:
    gens, ratings = scenario()
    gens.loc[gens["generation_id"] == "gd", "sandbox"] = True
    gens.loc[gens["generation_id"] == "gc", "prompt_set_id"] = "other"
    ratings.loc[ratings.index[:10], "blind"] = False
    g, r = filter_rows(gens, ratings)
    assert "gd" not in set(g["generation_id"])  # sandbox excluded by default
    assert not (r["generation_id"].eq("gd") | r["other_generation_id"].eq("gd")).any()
    g, r = filter_rows(gens, ratings, include_sandbox=True)
    assert "gd" in set(g["generation_id"]) and len(r) == len(ratings)
    g, r = filter_rows(gens, ratings, prompt_set_id="ps1", include_sandbox=True)
    assert "gc" not in set(g["generation_id"]) and not r["other_generation_id"].eq("gc").any()
    g, r = filter_rows(gens, ratings, rater=["rater1", "rater2"], include_sandbox=True)
    assert set(r["rater"]) == {"rater1", "rater2"}
    g, r = filter_rows(gens, ratings, rater="rater3", include_sandbox=True)
    assert set(r["rater"]) == {"rater3"}
    g, r = filter_rows(gens, ratings, blind_only=True, include_sandbox=True)
    assert len(r) == len(ratings) - 10 and r["blind"].all()
    # The time window selects images by generation time; their votes follow them.
    gens.loc[gens["generation_id"] == "gc", "created_at"] = T0 + pd.Timedelta(days=2)
    since, until = T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=1)
    g, r = filter_rows(gens, ratings, since=since, until=until, include_sandbox=True)
    assert "gc" not in set(g["generation_id"]) and len(g) == len(gens) - 1
    assert not r["other_generation_id"].eq("gc").any()
    assert len(r) == len(ratings) - 60 - 60 - 50  # every vote involving gc is gone
    g, r = filter_rows(gens, ratings, until=T0, include_sandbox=True)  # until is exclusive
    assert g.empty and r.empty
    g, _ = filter_rows(gens, ratings, since=T0 + pd.Timedelta(days=2), include_sandbox=True)
    assert g["generation_id"].tolist() == ["gc"]  # since is inclusive (and naive = UTC below)
    g, _ = filter_rows(gens, ratings, since="2026-03-03 09:00", include_sandbox=True)
    assert g["generation_id"].tolist() == ["gc"]
    board = build_leaderboard(gens, ratings, blind_only=True, include_sandbox=True)
    assert len(board.outcomes) == len(ratings) - 10
    assert board.filters["blind_only"] is True


def test_build_is_pure() -> None:
    gens, ratings = scenario()
    g0, r0 = gens.copy(), ratings.copy()
    first = build_leaderboard(gens, ratings)
    second = build_leaderboard(gens, ratings)
    pd.testing.assert_frame_equal(gens, g0)
    pd.testing.assert_frame_equal(ratings, r0)
    pd.testing.assert_frame_equal(first.table, second.table)


def test_empty_inputs() -> None:
    gens, ratings = scenario()
    board = build_leaderboard(gens.iloc[:0], ratings.iloc[:0])
    assert board.table.empty and board.callout is None and board.votes_needed is None
    assert board.pareto == () and _valid(pareto_spec(board))["mark"]["type"] == "text"


def test_no_rows_at_all() -> None:
    board = build_leaderboard(pd.DataFrame(), pd.DataFrame())
    assert board.table.empty and list(board.table.columns) == TABLE_COLUMNS
    proj = projection(board, 100)
    assert proj.empty and "expected_cost_usd" in proj.columns
    with pytest.raises(ValueError, match="missing columns"):
        build_leaderboard(pd.DataFrame({"generation_id": ["g"]}), pd.DataFrame())


def test_grid_ratings_feed_the_leaderboard() -> None:
    gens, _ = scenario()
    ratings = pd.DataFrame(
        [rate("ga", None, "1", f"u{k}", mode="best") for k in range(15)]
        + [rate("gc", None, "1", f"u{k}", mode="reject") for k in range(15)]
    )
    board = build_leaderboard(gens, ratings)
    assert set(board.outcomes["source"]) == {"best", "reject"}
    t = by_key(board)
    assert t.loc[A, "score"] > t.loc[B, "score"] > t.loc[C, "score"]
    # Votes are clicks: each rater's best pick and reject are two votes for every model of the
    # grid, although the pick alone yields three comparisons for A.
    assert t.loc[A, "outcomes"] == 15 * 3 and t.loc[B, "outcomes"] == 15 * 2
    assert t[["votes"]].to_dict()["votes"] == {A: 30, B: 30, C: 30, D: 30}
    assert board.n_votes == 30 and len(board.outcomes) == 15 * 5


def test_a_best_pick_is_one_vote_not_one_per_comparison() -> None:
    gens, _ = scenario()
    ratings = pd.DataFrame([rate("ga", None, "1", f"u{k}", mode="best") for k in range(25)])
    board = build_leaderboard(gens, ratings, min_votes=20)
    t = by_key(board)
    assert t.loc[A, "outcomes"] == 75 and t.loc[A, "votes"] == 25  # 3 comparisons per click
    assert t.loc[B, "votes"] == 25 and board.n_votes == 25
    assert not t["preliminary"].any()  # 25 clicks clear the threshold of 20


def test_stars_count_one_vote_per_starred_image() -> None:
    gens, _ = scenario()
    stars = {"ga": "5", "gb": "3", "gc": "3"}
    ratings = pd.DataFrame([rate(g, None, v, "ann", mode="stars") for g, v in stars.items()])
    t = by_key(build_leaderboard(gens, ratings))
    # A's two comparisons stand on three star clicks (its own, B's and C's).
    assert (t.loc[A, "outcomes"], t.loc[A, "votes"]) == (2, 3)
    assert t.loc[D, "votes"] == 0 and pd.isna(t.loc[D, "rank"])


def _valid(spec: dict) -> dict:
    """The spec, once the Vega-Lite schema (as Altair ships it) has accepted it."""
    jsonschema.validate(spec, vegalite_schema())
    return spec


def test_the_board_fits_its_codes_as_it_would_fit_its_outcomes_table(board) -> None:
    """The board hands the fit integer codes; the same outcomes as a table fit the same."""
    models = list(board.fit.models)
    again = fit_bradley_terry(
        board.outcomes, models[:2], min_votes=board.fit.min_votes, cluster_column="judgment"
    )
    assert again.models == board.fit.models  # the rest of the names sorted, as the board's
    np.testing.assert_allclose(again.score, board.fit.score, rtol=0, atol=1e-9)
    np.testing.assert_allclose(again.cov, board.fit.cov, rtol=0, atol=1e-12)
    assert list(again.rank) == pytest.approx(list(board.fit.rank), nan_ok=True)


def test_pareto_chart_spec(board) -> None:
    spec = _valid(pareto_spec(board))
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rule", "line", "circle", "text"]
    rows = spec["data"]["values"]
    assert {r["model_key"] for r in rows} == {A, B, C}  # D: no known cost
    assert {r["model_key"] for r in rows if r["pareto"]} == set(board.pareto)
    bars, front, points, _ = spec["layer"]
    assert bars["encoding"]["y"]["field"] == "lo" and bars["encoding"]["y2"]["field"] == "hi"
    assert points["encoding"]["size"]["field"] == "wall_p50_s"
    assert points["encoding"]["x"]["scale"]["type"] == "log"  # 0.004 .. 0.05 spans > 10x
    assert points["encoding"]["x"]["title"].endswith("log scale)")  # the axis says so
    assert {t["field"] for t in points["encoding"]["tooltip"]} >= {"score", "cost_per_image"}
    assert front["transform"] == [{"filter": "datum.pareto"}]
    assert D in spec["title"]["subtitle"][0]


def test_subscriptions_catalogue() -> None:
    keys = [s.key for s in SUBSCRIPTIONS]
    assert keys == ["chatgpt-plus", "midjourney-basic", "midjourney-standard", "midjourney-pro"]
    assert [s.monthly_usd for s in SUBSCRIPTIONS] == [20.0, 10.0, 30.0, 60.0]
    for s in SUBSCRIPTIONS:
        assert s.seen == date(2026, 1, 15) and "seed" in s.source
    assert get_subscription("midjourney-basic").included_images == 200
    assert get_subscription("midjourney-pro").unlimited
    with pytest.raises(KeyError):
        get_subscription("nope")


def test_subscription_per_image_cost() -> None:
    basic = get_subscription("midjourney-basic")
    plus = get_subscription("chatgpt-plus")
    assert per_image_cost(basic, 100) == pytest.approx(0.10)
    assert per_image_cost(basic, 200) == pytest.approx(0.05)
    assert per_image_cost(basic, 201) == math.inf and not covers(basic, 201)
    assert per_image_cost(plus, 1000) == pytest.approx(0.02)
    assert per_image_cost(get_subscription("midjourney-standard"), 3000) == pytest.approx(0.01)
    assert per_image_cost(plus, 0) == math.inf
    with pytest.raises(ValueError):
        per_image_cost(plus, -1)
    assert breakeven_volume(plus, 0.04) == pytest.approx(500)
    assert breakeven_volume(basic, 0.04) == math.inf  # would need 250 images: over the cap
    assert breakeven_volume(basic, 0.10) == pytest.approx(100)
