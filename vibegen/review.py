"""Review logic: who sees what in which order, and which pair to vote on next."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import Counter
from collections.abc import Sequence

from vibegen.store import Cell


def _rng(*parts: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def reviewable(cells: Sequence[Cell]) -> list[Cell]:
    """The cells that have an image to rate."""
    return [c for c in cells if c.status == "ok"]


def review_order(cells: Sequence[Cell], run_id: str, rater: str, blind: bool) -> list[Cell]:
    """Grid order for a rater: as generated, or shuffled (stable for that rater) when blind."""
    order = reviewable(cells)
    if blind:
        _rng("order", run_id, rater).shuffle(order)
    return order


def next_pair(cells: Sequence[Cell], run_id: str, rater: str,
              ratings: Sequence[dict]) -> tuple[Cell, Cell] | None:
    """The next pair this rater has not voted on, chosen so models meet each other evenly.

    Among image pairs of different models that this rater has not yet voted on, take one whose
    *model* pair has the fewest votes so far in this run (from every rater); ties are broken
    by a draw that is stable for the rater. Sides are shuffled too, so "left" carries no
    information. None when the rater has voted on every pair.
    """
    pool = reviewable(cells)
    voted_by_me = {r["slot"] for r in ratings if r["mode"] == "pair" and r["rater"] == rater}
    by_id = {c.id: c for c in pool}
    model_votes: Counter = Counter()
    for r in ratings:
        if r["mode"] == "pair" and r["generation_id"] in by_id \
                and r["other_generation_id"] in by_id:
            a, b = by_id[r["generation_id"]], by_id[r["other_generation_id"]]
            model_votes[frozenset((a.model_key, b.model_key))] += 1
    candidates = []
    for a, b in itertools.combinations(pool, 2):
        if a.model_key == b.model_key:
            continue
        lo, hi = sorted((a.id, b.id))
        if f"pair:{lo}:{hi}" in voted_by_me:
            continue
        candidates.append((model_votes[frozenset((a.model_key, b.model_key))], a, b))
    if not candidates:
        return None
    fewest = min(c[0] for c in candidates)
    rng = _rng("pair", run_id, rater, str(len(voted_by_me)))
    _, a, b = rng.choice([c for c in candidates if c[0] == fewest])
    return (a, b) if rng.random() < 0.5 else (b, a)


def pairs_total(cells: Sequence[Cell]) -> int:
    """How many image pairs of different models a run offers for pairwise votes."""
    pool = reviewable(cells)
    return sum(a.model_key != b.model_key for a, b in itertools.combinations(pool, 2))
