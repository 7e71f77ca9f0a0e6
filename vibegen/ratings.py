"""Rating vocabulary: modes, values, slots and rater names — validated before anything is saved.

Each mode is one `RatingMode` member: its label, its stored values and its slot.

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
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from vibegen.errors import InputError

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


class RatingMode(StrEnum):
    """A way of rating: its name shown, its stored values and how it turns into outcomes.

    The one definition of a mode (the module docstring lists the slots). The member order is
    each mode's `code` in the leaderboard's integer rows and the order of the outcomes'
    `source` categories. How each becomes outcomes (`vibegen.outcomes`):

    - pair: head to head; `value_scores` is the share of the win of `generation_id`'s image;
    - stars: graded within one rater's grid of one run, more stars wins;
    - best, reject: tiers within one rater's grid of one run, best > unmarked > rejected.
    """

    label: str  # the mode as a rater sees it
    choices: MappingProxyType[str, str]  # stored value -> how it is shown
    rule: str  # what a valid value is, said when one is refused
    tier: int | None  # best / reject: the image's tier in its grid (unmarked sits between)
    value_scores: MappingProxyType[str, float]  # stored value -> what it scores the image

    def __new__(
        cls,
        value: str,
        label: str,
        choices: dict[str, str],
        rule: str,
        tier: int | None,
        value_scores: dict[str, float],
    ) -> RatingMode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.choices = MappingProxyType(choices)
        member.rule = rule
        member.tier = tier
        member.value_scores = MappingProxyType(value_scores)
        return member

    PAIR = (
        "pair",
        "Pairwise",
        {"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both bad"},
        "a pairwise vote is one of a, b, tie, both_bad",
        None,
        {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5},
    )
    STARS = (
        "stars",
        "Stars",
        {str(n): "★" * n for n in range(1, 6)},
        "stars are a whole number from 1 to 5",
        None,
        {str(n): float(n) for n in range(1, 6)},
    )
    BEST = ("best", "Best pick", {"1": "Best pick"}, "a best rating has the value 1", 2, {"1": 1.0})
    REJECT = (
        "reject",
        "Reject",
        {"1": "Rejected"},
        "a reject rating has the value 1",
        0,
        {"1": 1.0},
    )

    @classmethod
    def parse(cls, mode: Any) -> RatingMode:
        """The mode named `mode`; InputError for any other word."""
        try:
            # mypy takes the member-building __new__ for the call signature; this is a lookup.
            return cls(mode)  # type: ignore[call-arg]
        except ValueError:
            raise InputError(f"unknown rating mode {mode!r}") from None

    @property
    def code(self) -> int:
        """The mode's number in integer-coded rows (its place in the member order)."""
        return _CODES[self]

    @property
    def grid(self) -> bool:
        """Whether it is judged within one rater's grid of one run (not head to head)."""
        return self is not RatingMode.PAIR

    def check(self, value: str | int | None) -> str | None:
        """The value as stored (None withdraws); InputError when the mode does not take it."""
        if value is None:
            return None
        text = str(value)
        if text not in self.choices:
            raise InputError(self.rule)
        return text

    def slot(self, generation_id: str | None = None, other_generation_id: str | None = None) -> str:
        """What a rating rates: a later one in the same slot replaces it.

        One best pick per rater and run (no image in its slot); one reject or stars per image;
        one vote per pair, whose ids are given in sorted order.
        """
        if self is RatingMode.BEST:
            return "best"
        if generation_id is None or (self is RatingMode.PAIR and other_generation_id is None):
            raise ValueError(f"a {self.value} slot names its image(s)")
        if self is RatingMode.PAIR:
            return f"pair:{generation_id}:{other_generation_id}"
        return f"{self.value}:{generation_id}"


# The modes a rater gives on one run's grid (the Review page's first tab); PAIR has its own.
GRID_MODES = (RatingMode.BEST, RatingMode.REJECT, RatingMode.STARS)


_CODES = {mode: i for i, mode in enumerate(RatingMode)}


@dataclass(frozen=True)
class Rating:
    """One rating event, normalised and ready to store."""

    mode: RatingMode
    slot: str
    generation_id: str
    other_generation_id: str | None
    value: str | None


def make_rating(
    mode: str, generation_id: str, value: str | int | None, other_generation_id: str | None = None
) -> Rating:
    """Validate a rating and give it its slot; `value=None` withdraws it."""
    kind = RatingMode.parse(mode)
    if kind is not RatingMode.PAIR:
        val = kind.check(value)
        return Rating(kind, kind.slot(generation_id), generation_id, None, val)
    if not other_generation_id or other_generation_id == generation_id:
        raise InputError("a pairwise vote needs two different images")
    val = kind.check(value)
    a, b = generation_id, other_generation_id
    if b < a:  # store in sorted order so both sides of the same pair share one slot
        a, b = b, a
        val = {"a": "b", "b": "a"}.get(val, val) if val else val
    return Rating(kind, kind.slot(a, b), a, b, val)
