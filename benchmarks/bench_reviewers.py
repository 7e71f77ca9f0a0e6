"""Load: N concurrent reviewers rating one run through the store; prints ratings/s and lost.

Each reviewer is a thread with its own name that rates every image of a 16-image run with
stars, picks a best, rejects one and votes on pairs, as fast as it can, R rounds. Afterwards
the stored events are counted: lost = sent − stored, which must be 0.

Run: python benchmarks/bench_reviewers.py [--db URL] [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time

from vibegen.costs import Cost
from vibegen.ratings import make_rating
from vibegen.records import CellSpec
from vibegen.routers.sandbox_router import render
from vibegen.store import Store


def make_run(store: Store) -> tuple[str, list[str]]:
    """A finished 16-image run to review."""
    cells = [
        CellSpec(
            f"sandbox:m{i % 8}",
            "sandbox",
            f"M{i % 8}",
            i // 8,
            "bench",
            {},
            {},
            Cost(0.01, "simulated"),
            256,
            256,
        )
        for i in range(16)
    ]
    run_id = store.create_run("bench", {}, cells)
    ids = [c.id for c in store.run_view(run_id).cells]
    for i, gen in enumerate(ids):
        store.save_success(
            gen, render("dots", "bench", i, 256, 256), cost=Cost(0.01, "simulated"), wall_s=1.0
        )
    return run_id, ids


def reviewer(
    store: Store,
    run_id: str,
    ids: list[str],
    name: str,
    rounds: int,
    sent: list[int],
    errors: list[BaseException],
) -> None:
    """Rate the run `rounds` times over; count what was sent."""
    rng = random.Random(name)
    n = 0
    try:
        for _ in range(rounds):
            for gen in ids:
                store.rate(run_id, name, make_rating("stars", gen, rng.randint(1, 5)), blind=True)
                n += 1
            store.rate(run_id, name, make_rating("best", rng.choice(ids), 1), blind=True)
            store.rate(run_id, name, make_rating("reject", rng.choice(ids), 1), blind=True)
            a, b = rng.sample(ids, 2)
            store.rate(
                run_id, name, make_rating("pair", a, rng.choice(["a", "b", "tie"]), b), blind=True
            )
            n += 3
    except BaseException as exc:  # noqa: BLE001 - reported by the caller
        errors.append(exc)
    sent.append(n)


def main() -> int:
    """Print ratings/s and lost ratings for 10 and 50 concurrent reviewers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print("reviewers  ratings_sent  stored  lost  seconds  ratings/s")
    failed = False
    for n in (10, 50):
        url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        store = Store.open(url)
        run_id, ids = make_run(store)
        before = store.rating_events()
        sent: list[int] = []
        errors: list[BaseException] = []
        threads = [
            threading.Thread(
                target=reviewer, args=(store, run_id, ids, f"r{k}", args.rounds, sent, errors)
            )
            for k in range(n)
        ]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        secs = time.perf_counter() - t
        stored = store.rating_events() - before
        lost = sum(sent) - stored
        failed |= lost != 0 or bool(errors)
        print(
            f"{n:9d}  {sum(sent):12d}  {stored:6d}  {lost:4d}  {secs:7.2f}  "
            f"{sum(sent) / secs:9.0f}" + (f"  errors: {errors[:1]}" if errors else "")
        )
        store.engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
