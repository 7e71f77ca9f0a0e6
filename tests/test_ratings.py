"""Ratings: every click stored at once, changes and undos, concurrent raters, both engines."""

from __future__ import annotations

import threading

import pytest

from vibegen import board_rows
from vibegen.costs import Cost
from vibegen.errors import InputError, RunNotFoundError
from vibegen.outcomes import pairwise_outcomes
from vibegen.ratings import Rating, RatingMode, clean_rater, make_rating
from vibegen.records import CellSpec
from vibegen.routers.sandbox_router import render


def _run(store, models=3):
    cells = [
        CellSpec(f"sandbox:m{i}", "sandbox", f"M{i}", 0, "p", {}, {}, Cost(0.01, "simulated"))
        for i in range(models)
    ]
    run_id = store.create_run("p", {}, cells)
    return run_id, [c.id for c in store.run_view(run_id).cells]


def test_rating_is_stored_with_rater_time_mode_and_blind(any_store):
    run_id, (a, b, c) = _run(any_store)
    any_store.rate(run_id, "Ana", make_rating("stars", a, 4), blind=True)
    (row,) = any_store.current_ratings(run_id)
    assert (row["rater"], row["mode"], row["generation_id"], row["value"], row["blind"]) == (
        "Ana",
        "stars",
        a,
        "4",
        True,
    )
    assert row["created_at"].tzinfo is not None


def test_change_and_undo(any_store):
    run_id, (a, b, c) = _run(any_store)
    any_store.rate(run_id, "Ana", make_rating("best", a, 1), blind=False)
    any_store.rate(run_id, "Ana", make_rating("best", b, 1), blind=False)  # changed her mind
    any_store.rate(run_id, "Ana", make_rating("reject", c, 1), blind=False)
    any_store.rate(run_id, "Ana", make_rating("reject", c, None), blind=False)  # undo
    current = any_store.current_ratings(run_id)
    assert [(r["mode"], r["generation_id"]) for r in current] == [("best", b)]
    assert any_store.rating_events() == 4  # nothing is ever deleted


def test_pair_vote_is_one_slot_whichever_side(any_store):
    run_id, (a, b, _) = _run(any_store)
    any_store.rate(run_id, "Ana", make_rating("pair", a, "a", b), blind=True)
    any_store.rate(run_id, "Ana", make_rating("pair", b, "a", a), blind=True)  # b beat a now
    (row,) = any_store.current_ratings(run_id)
    winner = row["generation_id"] if row["value"] == "a" else row["other_generation_id"]
    assert winner == b


def test_two_raters_keep_their_own(any_store):
    run_id, (a, b, _) = _run(any_store)
    any_store.rate(run_id, "Ana", make_rating("best", a, 1), blind=False)
    any_store.rate(run_id, "Bo", make_rating("best", b, 1), blind=False)
    assert {(r["rater"], r["generation_id"]) for r in any_store.current_ratings(run_id)} == {
        ("Ana", a),
        ("Bo", b),
    }
    assert any_store.review_progress(run_id) == {"Ana": 1, "Bo": 1}


def test_50_concurrent_raters_10000_ratings_all_stored(any_store):
    run_id, gens = _run(any_store, models=4)
    errors: list[BaseException] = []

    def rater(n: int) -> None:
        try:
            for i in range(200):
                gen = gens[i % 4]
                any_store.rate(
                    run_id, f"rater{n}", make_rating("stars", gen, 1 + i % 5), blind=bool(n % 2)
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=rater, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert any_store.rating_events() == 10_000
    assert len(any_store.current_ratings(run_id)) == 50 * 4


@pytest.mark.parametrize(
    "mode, value, other, words",
    [
        ("stars", 6, None, "1 to 5"),
        ("stars", "x", None, "1 to 5"),
        ("pair", "a", None, "two"),
        ("pair", "left", "other", "one of"),
        ("vibes", 1, None, "unknown rating mode"),
        ("best", 2, None, "value 1"),
    ],
)
def test_bad_ratings_are_refused(mode, value, other, words):
    with pytest.raises(InputError, match=words):
        make_rating(mode, "g1", value, other)


@pytest.mark.parametrize(
    "name, words", [("", "empty"), ("   ", "empty"), ("x" * 61, "60"), ("a\x00b", "control")]
)
def test_bad_rater_names_are_refused(name, words):
    with pytest.raises(InputError, match=words):
        clean_rater(name)


def test_rater_name_is_trimmed_and_kept_literally():
    assert clean_rater("  <b>Ana</b>  ") == "<b>Ana</b>"


def test_rating_an_unknown_run_is_refused(any_store):
    with pytest.raises(RunNotFoundError):
        any_store.rate("nope", "Ana", make_rating("best", "g", 1), blind=False)


def _two_images(store):
    # Two successful images of two different models, in one run.
    run_id, (a, b, _) = _run(store)
    for gen in (a, b):
        store.save_success(
            gen, render("dots", "p", 1, 64, 64), cost=Cost(0.01, "simulated"), wall_s=1.0
        )
    models = {c.id: c.model_key for c in store.run_view(run_id).cells}
    return run_id, a, b, models


def _scenarios():
    # Each mode with each value it stores: the ratings to make, and (winner, loser, score).
    for value, score in RatingMode.PAIR.value_scores.items():
        yield RatingMode.PAIR, value, [("pair", "A", value, "B")], score
    for value in RatingMode.STARS.choices:
        other = "3"
        score = 1.0 if value > other else 0.0 if value < other else 0.5
        yield (
            RatingMode.STARS,
            value,
            [("stars", "A", value, None), ("stars", "B", other, None)],
            score,
        )
    yield RatingMode.BEST, "1", [("best", "A", "1", None)], 1.0
    yield RatingMode.REJECT, "1", [("reject", "A", "1", None)], 0.0


@pytest.mark.parametrize(
    "mode, value, clicks, score",
    list(_scenarios()),
    ids=[f"{m}-{v}" for m, v, _, _ in _scenarios()],
)
def test_every_rating_mode_round_trips_store_to_outcomes(any_store, mode, value, clicks, score):
    run_id, a, b, models = _two_images(any_store)
    ids = {"A": a, "B": b}
    made = [
        make_rating(kind, ids[gen], val, other and ids[other]) for kind, gen, val, other in clicks
    ]
    for rating in made:
        any_store.rate(run_id, "Ana", rating, blind=True)
    # Stored as made (a pair vote in sorted order, its value seen from the first id).
    stored = [(r["mode"], r["value"]) for r in any_store.current_ratings(run_id)]
    assert stored == [(r.mode.value, r.value) for r in made]
    assert all(RatingMode.parse(m).check(v) == v for m, v in stored)
    out = pairwise_outcomes(any_store.ratings_frame(), any_store.generations_frame())
    assert list(out["source"]) == [mode.value]
    # The score of image A's model, whichever side the outcome put it on.
    got = out["score_a"][0] if out["a"][0] == models[a] else 1.0 - out["score_a"][0]
    assert got == score


def test_board_rows_code_the_modes_as_rating_mode_does():
    assert board_rows.MODES == tuple(m.value for m in RatingMode)
    assert board_rows.PAIR_SCORES == dict(RatingMode.PAIR.value_scores)
    assert [m.code for m in RatingMode] == list(range(len(RatingMode)))


def test_the_store_refuses_a_rating_of_an_unknown_mode(any_store):
    run_id, (a, _, _) = _run(any_store)
    with pytest.raises(InputError, match="unknown rating mode"):
        any_store.rate(run_id, "Ana", Rating("vibes", f"vibes:{a}", a, None, "1"), blind=False)
    assert any_store.rating_events() == 0


def test_a_slot_names_what_it_rates():
    assert RatingMode.BEST.slot() == "best"
    assert RatingMode.STARS.slot("g1") == "stars:g1"
    assert RatingMode.PAIR.slot("a1", "b2") == "pair:a1:b2"
    with pytest.raises(ValueError):
        RatingMode.PAIR.slot("a1")
    assert make_rating("pair", "b2", "a", "a1").slot == "pair:a1:b2"
