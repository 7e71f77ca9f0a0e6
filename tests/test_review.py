"""Review logic: stable blind order per rater, pairs drawn so models meet evenly."""

from __future__ import annotations

import itertools
from collections import Counter

from vibegen.costs import Cost
from vibegen.ratings import make_rating
from vibegen.review import next_pair, pairs_total, review_order
from vibegen.store import CellSpec


def _view(store, models=4, per_model=1, failed=()):
    cells = [CellSpec(f"sandbox:m{i}", "sandbox", f"M{i}", k, "p", {}, {},
                      Cost(0.01, "simulated")) for i in range(models) for k in range(per_model)]
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
        c.id for c in view.cells]


def test_failed_cells_are_not_offered(store):
    view = _view(store, models=3, failed=("sandbox:m1",))
    assert all(c.model_key != "sandbox:m1" for c in review_order(view.cells, view.id, "A",
                                                                  True))


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
        ratings.append({"rater": "Ana", "mode": "pair", "slot": r.slot,
                        "generation_id": r.generation_id,
                        "other_generation_id": r.other_generation_id})
        # after each vote, no model pair is more than one vote ahead of another
        per_pair = Counter()
        by_id = {c.id: c.model_key for c in view.cells}
        for x in ratings:
            per_pair[frozenset((by_id[x["generation_id"]], by_id[x["other_generation_id"]]))] += 1
        all_pairs = [frozenset(p) for p in itertools.combinations({c.model_key for c in
                                                                   view.cells}, 2)]
        values = [per_pair[p] for p in all_pairs]
        assert max(values) - min(values) <= 1
    assert next_pair(view.cells, view.id, "Ana", ratings) is None
    assert len(seen) == pairs_total(view.cells) == 24
