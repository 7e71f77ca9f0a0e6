"""Review logic: stable blind order per rater, pairs drawn so models meet evenly."""

from __future__ import annotations

import itertools
from collections import Counter

from vibegen.costs import Cost
from vibegen.ratings import make_rating
from vibegen.records import CellSpec
from vibegen.review import next_pair, pairs_total, review_order


def _view(store, models=4, per_model=1, failed=()):
    cells = [
        CellSpec(f"sandbox:m{i}", "sandbox", f"M{i}", k, "p", {}, {}, Cost(0.01, "simulated"))
        for i in range(models)
        for k in range(per_model)
    ]
    run_id = store.create_run("p", {}, cells)
    view = store.run_view(run_id)
    for c in view.cells:
        if c.model_key in failed:
            store.save_failure(c.id, kind="timeout", message="t", wall_s=1, timeout=True)
        else:
            c.status = "ok"
    return store.run_view(run_id) if failed else view


def test_blind_order_is_shuffled_and_stable_per_rater(store):
    view = _view(store, models=8)
    ana = [c.id for c in review_order(view.cells, view.id, "Ana", blind=True)]
    assert ana == [c.id for c in review_order(view.cells, view.id, "Ana", blind=True)]
    bo = [c.id for c in review_order(view.cells, view.id, "Bo", blind=True)]
    assert sorted(ana) == sorted(bo) and ana != bo
    assert [c.id for c in review_order(view.cells, view.id, "Ana", blind=False)] == [
        c.id for c in view.cells
    ]


def test_failed_cells_are_not_offered(store):
    view = _view(store, models=3, failed=("sandbox:m1",))
    assert all(c.model_key != "sandbox:m1" for c in review_order(view.cells, view.id, "A", True))


def test_pairs_meet_evenly_and_never_repeat(store):
    view = _view(store, models=4, per_model=2)
    ratings: list[dict] = []
    seen = set()
    for _ in range(pairs_total(view.cells)):
        a, b = next_pair(view.cells, view.id, "Ana", ratings)
        assert a.model_key != b.model_key
        r = make_rating("pair", a.id, "tie", b.id)
        assert r.slot not in seen
        seen.add(r.slot)
        ratings.append(
            {
                "rater": "Ana",
                "mode": "pair",
                "slot": r.slot,
                "generation_id": r.generation_id,
                "other_generation_id": r.other_generation_id,
            }
        )
        # after each vote, no model pair is more than one vote ahead of another
        per_pair = Counter()
        by_id = {c.id: c.model_key for c in view.cells}
        for x in ratings:
            per_pair[frozenset((by_id[x["generation_id"]], by_id[x["other_generation_id"]]))] += 1
        all_pairs = [
            frozenset(p) for p in itertools.combinations({c.model_key for c in view.cells}, 2)
        ]
        values = [per_pair[p] for p in all_pairs]
        assert max(values) - min(values) <= 1
    assert next_pair(view.cells, view.id, "Ana", ratings) is None
    assert len(seen) == pairs_total(view.cells) == 24


def test_a_blind_cell_has_its_place_whatever_finishes_first(store):
    """The order is drawn over every cell, so finishing order cannot show in the grid."""
    import dataclasses

    from vibegen.review import blind_slots

    view = _view(store, models=6)
    full = [c.id for c in blind_slots(view.cells, view.id, "Ana")]
    for finished in itertools.islice(itertools.permutations(range(6)), 0, 720, 37):
        for k in range(7):  # after the first k of that finishing order are done
            done = {view.cells[i].id for i in finished[:k]}
            cells = [
                dataclasses.replace(c, status="ok" if c.id in done else "running")
                for c in view.cells
            ]
            slots = blind_slots(cells, view.id, "Ana")
            assert [c.id for c in slots] == full  # every place fixed from the start
            shown = [c.id for c in review_order(cells, view.id, "Ana", blind=True)]
            assert shown == [i for i in full if i in done]


def test_blind_pairs_include_two_images_of_one_model(store):
    """Named, pairs are always of two models; blind, pairs within a model are drawn too, so
    which pairs never appear gives nothing away."""
    view = _view(store, models=2, per_model=2)
    assert pairs_total(view.cells) == 4 and pairs_total(view.cells, blind=True) == 6
    ratings: list[dict] = []
    same_model = 0
    while (pair := next_pair(view.cells, view.id, "Bo", ratings, blind=True)) is not None:
        a, b = pair
        same_model += a.model_key == b.model_key
        r = make_rating("pair", a.id, "a", b.id)
        ratings.append(
            {
                "rater": "Bo",
                "rater_id": "Bo",
                "mode": "pair",
                "slot": r.slot,
                "generation_id": r.generation_id,
                "other_generation_id": r.other_generation_id,
            }
        )
    assert len(ratings) == 6 and same_model == 2
