"""Raters and review links: who may rate a run, under which identity, and whose votes count.

A *review link* is a random token, not a run id: holding it lets a browser rate that one run
and nothing else (a *brief link* likewise lets it rate the runs of one brief). A team link is
shared with everyone; an invite link belongs to one named teammate. A blind link is a link of
its own, so removing a flag from a URL cannot unblind it.

A *rater* is an identity held by a browser (a random secret in a cookie; the store keeps only
its hash). Typing a name never selects an existing rater: the same name typed in another
browser is another rater, shown as "Dana (2)", and so is a name that merely looks like one
already taken ("Dаna" with a Cyrillic а). Whose votes count is decided by events the owner
can reverse: a rater who joined through a team link is *held* until the owner accepts them,
and any rater can be excluded from one run and restored.

This module holds the vocabulary and the rules; the store keeps the rows (`vibegen.store`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Iterable
from typing import TypeGuard

from anyascii import anyascii

# Link kinds.
TEAM = "team"  # one link for the whole team: each browser says its name once
INVITE = "invite"  # one link per named teammate: the link is that teammate's identity

# Where a rater came from; it decides whether their votes count before the owner says so.
OWNER = "owner"  # the owner rating through any link (always counts)
INVITED = "invited"  # a named invite (counts)
JOINED = "joined"  # typed a name on a team link (held until accepted)
LEGACY = "legacy"  # a name stored before identities existed (counts)

# Rater events, in one log: later events win over earlier ones of the same pair.
ACCEPT, DROP = "accept", "drop"  # for all runs: count a held rater, or stop counting one
EXCLUDE, RESTORE = "exclude", "restore"  # for one run
REVEAL = "reveal"  # the rater asked to see the models of a blind run
SAW_NAMED = "saw_named"  # the rater opened a view of the run that names the models
ACTIONS = (ACCEPT, DROP, EXCLUDE, RESTORE, REVEAL, SAW_NAMED)

TOKEN_BYTES = 24  # 192 bits: a link cannot be guessed


def new_token() -> str:
    """A fresh random token for a link or a browser's identity."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the store keeps of a secret: its SHA-256, so a copied database opens no browser."""
    return hashlib.sha256(token.encode()).hexdigest()


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def is_token(value: object) -> TypeGuard[str]:
    """Whether a value from a URL or cookie has the shape of a token (checked before lookups)."""
    return isinstance(value, str) and bool(_TOKEN.match(value))


def image_ref(link_token: str, generation_id: str) -> str:
    """An opaque name for an image as seen through a link: it cannot be turned into its id."""
    mac = hmac.new(link_token.encode(), generation_id.encode(), hashlib.sha256)
    return mac.hexdigest()[:20]


# ------------------------------------------------------------------- names
# Characters that read as letters in most fonts; anyascii leaves digits and signs alone.
_READS_AS = str.maketrans(
    {"0": "o", "1": "l", "|": "l", "!": "l", "$": "s", "@": "a", "5": "s", "3": "e"}
)


def name_key(name: str) -> str:
    """A name as it reads: two names with one key look alike to a person.

    Compatibility forms are folded (NFKC: fullwidth, ligatures), letters of every script are
    spelled in Latin (anyascii: Cyrillic "а" reads as "a"), case, spacing, punctuation and
    invisible characters are dropped, and digits that read as letters count as those letters.
    """
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = anyascii(text).casefold().translate(_READS_AS)
    # "i" and "l" are told apart by fonts only; "rn" reads as "m".
    text = text.replace("i", "l").replace("rn", "m")
    return re.sub(r"[^a-z0-9]", "", text)


def display_name(name: str, taken: Iterable[tuple[str, str]]) -> str:
    """The name a new rater is shown under: `name`, or "name (n)" when it looks like one taken.

    `taken` holds (display, key) of the raters that exist. Every rater whose key matches counts,
    so "Dana", then "dana", then "Dаna" become "Dana", "dana (2)" and "Dаna (3)".
    """
    taken = list(taken)
    key = name_key(name)
    same = sum(1 for _, k in taken if k == key)
    shown = {d for d, _ in taken}
    n = same + 1
    candidate = name if same == 0 else f"{name} ({n})"
    while candidate in shown:  # a teammate may really be called "Dana (2)"
        n += 1
        candidate = f"{name} ({n})"
    return candidate


# ------------------------------------------------------------------- types
@dataclasses.dataclass(frozen=True)
class ReviewLink:
    """A link that lets its holder rate one run."""

    token: str
    run_id: str
    kind: str  # TEAM or INVITE
    blind: bool
    rater_id: str | None  # the invited teammate, for INVITE links
    created_at: dt.datetime
    closed_at: dt.datetime | None = None

    @property
    def open(self) -> bool:
        """Whether the link still lets its holder rate."""
        return self.closed_at is None


@dataclasses.dataclass(frozen=True)
class BriefLink:
    """A team link that lets its holder rate every run of one brief (prompt set)."""

    token: str
    prompt_set_id: str
    blind: bool
    created_at: dt.datetime
    closed_at: dt.datetime | None = None
    kind: str = TEAM  # a brief link is always a team link: each browser says its name

    @property
    def open(self) -> bool:
        """Whether the link still lets its holder rate."""
        return self.closed_at is None

    def for_run(self, run_id: str) -> ReviewLink:
        """The link as seen at one of the brief's runs: same token, blind flag and state, so
        every run-link rule (identity, blind image references, one vote per slot) applies."""
        return ReviewLink(
            self.token, run_id, self.kind, self.blind, None, self.created_at, self.closed_at
        )


@dataclasses.dataclass(frozen=True)
class Rater:
    """One rater identity."""

    id: str
    name: str  # as typed
    display: str  # unique among raters: "Dana (2)"
    origin: str  # OWNER, INVITED, JOINED or LEGACY
    created_at: dt.datetime
    looks_like: str | None = None  # the display name of an earlier rater this one resembles


@dataclasses.dataclass(frozen=True)
class Standing:
    """Whether a rater's votes count: for all runs (held, dropped) and for one run (excluded)."""

    held: bool = False
    dropped: bool = False
    excluded: bool = False

    @property
    def counts(self) -> bool:
        """Whether the default leaderboard counts this rater's votes."""
        return not (self.held or self.dropped or self.excluded)

    @property
    def word(self) -> str:
        """The standing in one word, for the owner's list."""
        if self.dropped:
            return "dropped"
        if self.held:
            return "held"
        if self.excluded:
            return "excluded"
        return "counted"


def standing(origin: str, events: Iterable[tuple[str | None, str]], run_id: str | None) -> Standing:
    """A rater's standing from their origin and their events in order: (run id or None, action).

    A JOINED rater is held until accepted; DROP and ACCEPT apply to all runs, EXCLUDE and
    RESTORE to their run. A later event overrides an earlier one, so every step is reversible.
    """
    held = origin == JOINED
    dropped = excluded = False
    for ev_run, action in events:
        if action == ACCEPT:
            held = dropped = False
        elif action == DROP:
            dropped = True
        elif action in (EXCLUDE, RESTORE) and run_id is not None and ev_run == run_id:
            excluded = action == EXCLUDE
    return Standing(held=held, dropped=dropped, excluded=excluded)


def sees_names(events: Iterable[tuple[str | None, str]], run_id: str) -> bool:
    """Whether a rater has seen the models of a run (revealed, or opened a named view)."""
    return any(r == run_id and a in (REVEAL, SAW_NAMED) for r, a in events)


# ---------------------------------------------------------------- throttle
class RatingThrottle:
    """Ratings per identity in a sliding window: a person clicks a few times a second at most.

    `allow(rater_id)` records a click and says whether it may be saved. Generous for a person
    rating fast (a burst of `burst` clicks, `per_minute` over any minute), tight for a script.
    """

    def __init__(self, per_minute: int = 90, burst: int = 12, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, rater_id: str) -> bool:
        """Whether this click may be saved now (it is counted only if it may)."""
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(rater_id, deque())
            while seen and now - seen[0] > 60.0:
                seen.popleft()
            recent = sum(1 for t in seen if now - t <= 2.0)
            if len(seen) >= self.per_minute or recent >= self.burst:
                return False
            seen.append(now)
            return True

    def wait_s(self, rater_id: str) -> float:
        """Roughly how long until this rater may click again."""
        now = self._clock()
        with self._lock:
            seen = self._seen.get(rater_id)
            if not seen:
                return 0.0
            if len(seen) >= self.per_minute:
                return max(0.0, 60.0 - (now - seen[0]))
            return 2.0
