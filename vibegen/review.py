"""Review logic: who sees what in which order, and which pair to vote on next."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import Counter
from collections.abc import Sequence

from vibegen.ratings import RatingMode
from vibegen.records import Cell


def _rng(*parts: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def reviewable(cells: Sequence[Cell]) -> list[Cell]:
    """The cells that have an image to rate."""
    return [c for c in cells if c.ok]


def review_order(cells: Sequence[Cell], run_id: str, rater: str, blind: bool) -> list[Cell]:
    """Grid order for a rater: as generated, or shuffled (stable for that rater) when blind."""
    if not blind:
        return reviewable(cells)
    return [c for c in blind_slots(cells, run_id, rater) if c.ok]


def blind_slots(cells: Sequence[Cell], run_id: str, rater: str) -> list[Cell]:
    """A blind rater's grid: every cell that has or may still get an image, in fixed places.

    The order is drawn once over all of a run's cells, so a cell's place does not depend on
    when it finishes: a rater watching a run fill cannot tell the fast models from the slow.
    Failed cells are left out (they have nothing to rate).
    """
    order = sorted(cells, key=lambda c: c.id)  # the draw must not depend on the store's order
    _rng("order", run_id, rater).shuffle(order)
    return [c for c in order if c.ok or c.in_flight]


def next_pair(
    cells: Sequence[Cell], run_id: str, rater: str, ratings: Sequence[dict], blind: bool = False
) -> tuple[Cell, Cell] | None:
    """The next pair this rater has not voted on, chosen so models meet each other evenly.

    Among image pairs this rater has not yet voted on, take one whose pair has the fewest votes
    so far in this run (from every rater); ties are broken by a draw that is stable for the
    rater. Sides are shuffled too, so "left" carries no information. None when the rater has
    voted on every pair.

    Named, pairs are of different models and balanced by model pair. Blind, pairs of two images
    of one model are drawn as well and balancing is by image pair: otherwise the pairs never
    shown, and the ones shown most, would tell a rater which images share a model.
    """
    pool = reviewable(cells)
    pair = RatingMode.PAIR
    voted_by_me = {
        r["slot"] for r in ratings if r["mode"] == pair and r.get("rater_id", r["rater"]) == rater
    }
    by_id = {c.id: c for c in pool}

    def key(a: Cell, b: Cell) -> frozenset:
        return frozenset((a.id, b.id)) if blind else frozenset((a.model_key, b.model_key))

    votes: Counter = Counter()
    for r in ratings:
        if r["mode"] == pair and r["generation_id"] in by_id and r["other_generation_id"] in by_id:
            votes[key(by_id[r["generation_id"]], by_id[r["other_generation_id"]])] += 1
    candidates = []
    for a, b in itertools.combinations(pool, 2):
        if a.model_key == b.model_key and not blind:
            continue
        lo, hi = sorted((a.id, b.id))
        if pair.slot(lo, hi) in voted_by_me:
            continue
        candidates.append((votes[key(a, b)], a, b))
    if not candidates:
        return None
    fewest = min(c[0] for c in candidates)
    rng = _rng("pair", run_id, rater, str(len(voted_by_me)))
    _, a, b = rng.choice([c for c in candidates if c[0] == fewest])
    return (a, b) if rng.random() < 0.5 else (b, a)


def pairs_total(cells: Sequence[Cell], blind: bool = False) -> int:
    """How many image pairs a run offers for pairwise votes (blind: same-model pairs too)."""
    pool = reviewable(cells)
    return sum(blind or a.model_key != b.model_key for a, b in itertools.combinations(pool, 2))
