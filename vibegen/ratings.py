"""Rating vocabulary: modes, values, slots and rater names — validated before anything is saved.

A rating is an append-only event. Its *slot* says what it rates, so a later rating in the same
slot replaces an earlier one (a changed mind) and a rating with no value withdraws it (undo):

- best          "best" (one best pick per rater and run; value "1")
- reject        "reject:<generation>" (value "1")
- stars         "stars:<generation>" (value "1".."5")
- pair          "pair:<lower id>:<higher id>" (value "a" | "b" | "tie" | "both_bad", where
                "a" means `generation_id` won; the pair is stored in sorted order)
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from vibegen.errors import InputError

MODES = ("best", "reject", "stars", "pair")
PAIR_VALUES = ("a", "b", "tie", "both_bad")
MAX_NAME = 60


def clean_rater(name: str) -> str:
    """A rater name trimmed and checked; InputError says what is wrong with it."""
    name = " ".join((name or "").split())
    if not name:
        raise InputError("your name is empty: type the name your team knows you by")
    if len(name) > MAX_NAME:
        raise InputError(f"your name is {len(name)} characters; {MAX_NAME} at most")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InputError("your name contains control characters")
    return name


@dataclass(frozen=True)
class Rating:
    """One rating event, normalised and ready to store."""

    mode: str
    slot: str
    generation_id: str
    other_generation_id: str | None
    value: str | None


def make_rating(mode: str, generation_id: str, value: str | int | None,
                other_generation_id: str | None = None) -> Rating:
    """Validate a rating and give it its slot; `value=None` withdraws it."""
    if mode not in MODES:
        raise InputError(f"unknown rating mode {mode!r}")
    val = None if value is None else str(value)
    if mode == "pair":
        if not other_generation_id or other_generation_id == generation_id:
            raise InputError("a pairwise vote needs two different images")
        if val is not None and val not in PAIR_VALUES:
            raise InputError(f"a pairwise vote is one of {', '.join(PAIR_VALUES)}")
        a, b = generation_id, other_generation_id
        if b < a:  # store in sorted order so both sides of the same pair share one slot
            a, b = b, a
            val = {"a": "b", "b": "a"}.get(val, val) if val else val
        return Rating(mode, f"pair:{a}:{b}", a, b, val)
    if mode == "stars" and val is not None and val not in ("1", "2", "3", "4", "5"):
        raise InputError("stars are a whole number from 1 to 5")
    if mode in ("best", "reject") and val not in (None, "1"):
        raise InputError(f"a {mode} rating has the value 1")
    slot = "best" if mode == "best" else f"{mode}:{generation_id}"
    return Rating(mode, slot, generation_id, None, val)
