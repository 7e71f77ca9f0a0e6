"""The rule that turns rating rows into pairwise outcomes (vibegen.outcomes)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from vibegen.outcomes import OUTCOME_COLUMNS, pairwise_outcomes, within_group_pairs

T0 = pd.Timestamp("2026-02-01 12:00", tz="UTC")


def gens(*rows: tuple) -> pd.DataFrame:
    """Generation rows from (generation_id, run_id, model_key[, status])."""
    out = []
    for row in rows:
        gid, run, model, *rest = row
        status = rest[0] if rest else "ok"
        out.append(
            {
                "generation_id": gid,
                "run_id": run,
                "model_key": model,
                "router": model.split(":")[0],
                "label": model,
                "status": status,
                "error_kind": None if status == "ok" else "router_error",
                "cost_usd": 0.01,
                "cost_kind": "reported",
                "wall_s": 3.0,
                "created_at": T0,
                "prompt_set_id": None,
                "sandbox": False,
            }
        )
    return pd.DataFrame(out)


def rating(
    run: str,
    rater: str,
    mode: str,
    gid: str,
    value: str = "1",
    other: str | None = None,
    blind: bool = True,
    minutes: int = 0,
) -> dict:
    """One rating row."""
    return {
        "run_id": run,
        "rater": rater,
        "mode": mode,
        "generation_id": gid,
        "other_generation_id": other,
        "value": value,
        "blind": blind,
        "created_at": T0 + pd.Timedelta(minutes=minutes),
    }


def outcomes(ratings: list[dict], generations: pd.DataFrame) -> pd.DataFrame:
    return pairwise_outcomes(pd.DataFrame(ratings), generations)


def as_set(df: pd.DataFrame) -> set[tuple[str, str, float, str]]:
    """(a, b, score_a, source) with a/b oriented so that score_a >= 0.5."""
    out = set()
    for a, b, s, src in zip(df["a"], df["b"], df["score_a"], df["source"], strict=True):
        if s < 0.5:
            a, b, s = b, a, 1.0 - s
        elif s == 0.5 and str(a) > str(b):
            a, b = b, a
        out.add((str(a), str(b), float(s), str(src)))
    return out


GRID = gens(
    ("g1", "r1", "fal:a"),
    ("g2", "r1", "kie:b"),
    ("g3", "r1", "openai:c"),
    ("g4", "r1", "fal:a"),  # a second image of the same competitor
    ("g5", "r1", "sd:d", "error"),  # failed: never part of an outcome
    ("g6", "r2", "sd:d"),  # other run
)


def test_columns_and_empty_inputs() -> None:
    empty = pairwise_outcomes(pd.DataFrame(columns=["run_id", "mode"]), GRID)
    assert list(empty.columns) == OUTCOME_COLUMNS
    assert empty.empty
    none_ok = gens(("x1", "r", "fal:a", "error"), ("x2", "r", "kie:b", "timeout"))
    assert outcomes([rating("r", "u", "best", "x1")], none_ok).empty
    out = outcomes([rating("r1", "u", "best", "g1")], GRID)
    assert list(out.columns) == OUTCOME_COLUMNS
    assert str(out["created_at"].dtype) == "datetime64[ns, UTC]"


def test_pair_votes_values_and_orientation() -> None:
    rows = [
        rating("r1", "u1", "pair", "g1", "a", other="g2"),
        rating("r1", "u2", "pair", "g1", "b", other="g2"),
        rating("r1", "u3", "pair", "g2", "tie", other="g3"),
        rating("r1", "u4", "pair", "g2", "both_bad", other="g3"),
        rating("r1", "u5", "pair", "g1", "a", other="g4"),  # same competitor: dropped
        rating("r1", "u6", "pair", "g1", "a", other="g5"),  # failed image: dropped
        rating("r1", "u7", "pair", "g1", "maybe", other="g2"),  # unknown value: dropped
        rating("r1", "u8", "pair", "g1", "a", other="nope"),  # unknown image: dropped
    ]
    out = outcomes(rows, GRID)
    assert len(out) == 4
    assert set(out["source"]) == {"pair"}
    by_rater = {
        r: (a, b, s)
        for r, a, b, s in zip(out["rater"], out["a"], out["b"], out["score_a"], strict=True)
    }
    assert by_rater["u1"] == ("fal:a", "kie:b", 1.0)  # "a" = generation_id won
    assert by_rater["u2"] == ("fal:a", "kie:b", 0.0)
    assert by_rater["u3"] == ("kie:b", "openai:c", 0.5)
    assert by_rater["u4"] == ("kie:b", "openai:c", 0.5)  # both bad counts as a tie
    assert list(out["generation_a"].astype(str)[:1]) == ["g1"]


def test_best_pick_beats_every_other_successful_image_of_another_competitor() -> None:
    out = outcomes([rating("r1", "u", "best", "g2")], GRID)
    # g2 (kie:b) beats g1, g4 (fal:a) and g3 (openai:c); not g5 (failed) nor g6 (other run).
    assert sorted(out["generation_b"].astype(str)) == ["g1", "g3", "g4"]
    assert (out["a"] == "kie:b").all() and (out["score_a"] == 1.0).all()
    assert set(out["source"]) == {"best"}


def test_best_pick_skips_same_competitor() -> None:
    out = outcomes([rating("r1", "u", "best", "g1")], GRID)
    assert sorted(out["generation_b"].astype(str)) == ["g2", "g3"]  # not g4, also fal:a


def test_reject_loses_to_non_rejected_images_only() -> None:
    rows = [rating("r1", "u", "reject", "g3"), rating("r1", "u", "reject", "g2")]
    out = outcomes(rows, GRID)
    # Two rejects are not compared; each loses to g1 and g4 (fal:a).
    assert as_set(out) == {("fal:a", "openai:c", 1.0, "reject"), ("fal:a", "kie:b", 1.0, "reject")}
    assert len(out) == 4
    assert set(
        zip(out["generation_a"].astype(str), out["generation_b"].astype(str), strict=True)
    ) == {
        ("g1", "g3"),
        ("g4", "g3"),
        ("g1", "g2"),
        ("g4", "g2"),
    }


def test_best_and_reject_together_count_each_pair_once() -> None:
    rows = [rating("r1", "u", "best", "g2"), rating("r1", "u", "reject", "g3", minutes=1)]
    out = outcomes(rows, GRID)
    pairs = list(zip(out["generation_a"].astype(str), out["generation_b"].astype(str), strict=True))
    assert len(pairs) == len(set(pairs))
    assert sorted(pairs) == [("g1", "g3"), ("g2", "g1"), ("g2", "g3"), ("g2", "g4"), ("g4", "g3")]
    src = dict(zip(pairs, out["source"].astype(str), strict=True))
    assert src[("g2", "g3")] == "best" and src[("g1", "g3")] == "reject"


def test_latest_of_best_and_reject_on_one_image_wins() -> None:
    rows = [rating("r1", "u", "best", "g3"), rating("r1", "u", "reject", "g3", minutes=5)]
    out = outcomes(rows, GRID)
    assert set(out["source"]) == {"reject"} and set(out["b"]) == {"openai:c"}
    rows = [rating("r1", "u", "reject", "g3"), rating("r1", "u", "best", "g3", minutes=5)]
    assert set(outcomes(rows, GRID)["a"]) == {"openai:c"}


def test_grid_ratings_are_per_rater() -> None:
    rows = [rating("r1", "u1", "best", "g2"), rating("r1", "u2", "best", "g3")]
    out = outcomes(rows, GRID)
    assert set(out.loc[out["rater"] == "u1", "a"]) == {"kie:b"}
    assert set(out.loc[out["rater"] == "u2", "a"]) == {"openai:c"}
    assert len(out) == 6  # each best pick: 3 other images of other competitors


def test_one_raters_grid_is_one_judgment_and_a_pair_vote_its_own() -> None:
    rows = [
        rating("r1", "u1", "best", "g2"),
        rating("r1", "u1", "stars", "g1", "4"),
        rating("r1", "u1", "stars", "g3", "2"),
        rating("r1", "u2", "best", "g3"),
        rating("r1", "u1", "pair", "g1", "a", other="g2"),
        rating("r1", "u1", "pair", "g3", "b", other="g2"),
    ]
    out = outcomes(rows, GRID)
    grid = out[out["source"] != "pair"]
    by_rater = grid.groupby("rater", observed=True)["judgment"].unique()
    assert len(by_rater["u1"]) == 1 and len(by_rater["u2"]) == 1  # all of a grid: one id
    assert by_rater["u1"][0] != by_rater["u2"][0] and (grid["judgment"] >= 0).all()
    assert set(grid["source"][grid["rater"] == "u1"]) == {"best", "stars"}
    assert (out.loc[out["source"] == "pair", "judgment"] == -1).sum() == 2


def test_stars_pairs_more_stars_win_equal_stars_tie() -> None:
    rows = [
        rating("r1", "u", "stars", "g1", "5"),
        rating("r1", "u", "stars", "g2", "3"),
        rating("r1", "u", "stars", "g3", "3"),
        rating("r1", "u", "stars", "g4", "1"),  # same competitor as g1: never paired with it
        rating("r2", "u", "stars", "g6", "5"),  # other run: not paired
        rating("r1", "v", "stars", "g3", "5"),  # other rater alone: no pair
        rating("r1", "u", "stars", "g5", "5"),  # failed image: ignored
    ]
    out = outcomes(rows, GRID)
    assert set(out["source"]) == {"stars"}
    got = {
        (ga, gb, s)
        for ga, gb, s in zip(
            out["generation_a"].astype(str),
            out["generation_b"].astype(str),
            out["score_a"],
            strict=True,
        )
    }
    norm = {(a, b, s) if a < b else (b, a, 1 - s) for a, b, s in got}
    assert norm == {
        ("g1", "g2", 1.0),
        ("g1", "g3", 1.0),
        ("g2", "g3", 0.5),
        ("g2", "g4", 1.0),
        ("g3", "g4", 1.0),
    }


def test_stars_decide_pairs_also_marked_best_or_reject() -> None:
    rows = [
        rating("r1", "u", "stars", "g2", "2"),
        rating("r1", "u", "stars", "g3", "4"),
        rating("r1", "u", "best", "g2"),
    ]
    out = outcomes(rows, GRID)
    pair = out[
        out["generation_a"].astype(str).isin(["g2", "g3"])
        & out["generation_b"].astype(str).isin(["g2", "g3"])
    ]
    assert len(pair) == 1 and pair["source"].iloc[0] == "stars"
    assert as_set(pair) == {("openai:c", "kie:b", 1.0, "stars")}
    # The best pick still beats the unstarred images g1 and g4.
    assert len(out[out["source"] == "best"]) == 2


def test_blind_and_created_at_follow_the_ratings() -> None:
    rows = [
        rating("r1", "u", "best", "g2", blind=True, minutes=1),
        rating("r1", "u", "reject", "g3", blind=False, minutes=9),
    ]
    out = outcomes(rows, GRID)
    key = list(zip(out["generation_a"].astype(str), out["generation_b"].astype(str), strict=True))
    info = dict(zip(key, zip(out["blind"], out["created_at"], strict=True), strict=True))
    assert info[("g2", "g1")] == (True, T0 + pd.Timedelta(minutes=1))  # unmarked partner
    assert info[("g2", "g3")] == (False, T0 + pd.Timedelta(minutes=9))  # both clicks count
    assert info[("g1", "g3")] == (False, T0 + pd.Timedelta(minutes=9))


def test_run_id_and_rater_columns() -> None:
    out = outcomes([rating("r1", "u", "best", "g3")], GRID)
    assert set(out["run_id"]) == {"r1"} and set(out["rater"]) == {"u"}


@pytest.mark.parametrize("unordered", [True, False])
def test_within_group_pairs_matches_brute_force(unordered: bool) -> None:
    group = np.sort(np.random.default_rng(3).integers(0, 6, 40))
    x, y = within_group_pairs(group, unordered)
    got = set(zip(x.tolist(), y.tolist(), strict=True))
    combos = (
        itertools.combinations(range(40), 2) if unordered else itertools.permutations(range(40), 2)
    )
    want = {(i, j) for i, j in combos if group[i] == group[j]}
    assert got == want and len(got) == len(x)
