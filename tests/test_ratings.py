"""Ratings: every click stored at once, changes and undos, concurrent raters, both engines."""

from __future__ import annotations

import threading

import pytest

from vibegen.costs import Cost
from vibegen.errors import InputError, RunNotFoundError
from vibegen.ratings import clean_rater, make_rating
from vibegen.store import CellSpec


def _run(store, models=3):
    cells = [CellSpec(f"sandbox:m{i}", "sandbox", f"M{i}", 0, "p", {}, {},
                      Cost(0.01, "simulated")) for i in range(models)]
    run_id = store.create_run("p", {}, cells)
    return run_id, [c.id for c in store.run_view(run_id).cells]


def test_rating_is_stored_with_rater_time_mode_and_blind(any_store):
    run_id, (a, b, c) = _run(any_store)
    any_store.rate(run_id, "Ana", make_rating("stars", a, 4), blind=True)
    (row,) = any_store.current_ratings(run_id)
    assert (row["rater"], row["mode"], row["generation_id"], row["value"], row["blind"]) == (
        "Ana", "stars", a, "4", True)
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
        ("Ana", a), ("Bo", b)}
    assert any_store.review_progress(run_id) == {"Ana": 1, "Bo": 1}


def test_50_concurrent_raters_10000_ratings_all_stored(any_store):
    run_id, gens = _run(any_store, models=4)
    errors: list[BaseException] = []

    def rater(n: int) -> None:
        try:
            for i in range(200):
                gen = gens[i % 4]
                any_store.rate(run_id, f"rater{n}", make_rating("stars", gen, 1 + i % 5),
                               blind=bool(n % 2))
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


@pytest.mark.parametrize("mode, value, other, words", [
    ("stars", 6, None, "1 to 5"), ("stars", "x", None, "1 to 5"), ("pair", "a", None, "two"),
    ("pair", "left", "other", "one of"), ("vibes", 1, None, "unknown rating mode"),
    ("best", 2, None, "value 1"),
])
def test_bad_ratings_are_refused(mode, value, other, words):
    with pytest.raises(InputError, match=words):
        make_rating(mode, "g1", value, other)


@pytest.mark.parametrize("name, words", [("", "empty"), ("   ", "empty"), ("x" * 61, "60"),
                                         ("a\x00b", "control")])
def test_bad_rater_names_are_refused(name, words):
    with pytest.raises(InputError, match=words):
        clean_rater(name)


def test_rater_name_is_trimmed_and_kept_literally():
    assert clean_rater("  <b>Ana</b>  ") == "<b>Ana</b>"


def test_rating_an_unknown_run_is_refused(any_store):
    with pytest.raises(RunNotFoundError):
        any_store.rate("nope", "Ana", make_rating("best", "g", 1), blind=False)
