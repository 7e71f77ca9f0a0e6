"""The team's rows: review links, rater identities and the owner's rater events.

The rules live in `vibegen.raters`; this module only keeps and finds the rows, in the same
database and transactions as the rest of the store (`Store.team`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from vibegen import raters as R
from vibegen.errors import InputError
from vibegen.ratings import clean_rater
from vibegen.records import new_id, utc
from vibegen.records import now as _now

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store


class Team:
    """Review links, raters and rater events of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.t = store.t

    # ------------------------------------------------------------------ links
    def create_link(self, run_id: str, *, blind: bool, invite: str | None = None) -> R.ReviewLink:
        """A new review link for a run: a team link, or an invite for one named teammate.

        An invite creates its teammate's rater at once (origin "invited"), whose secret is the
        link's token: the invite is that teammate's identity in any browser that opens it.
        InputError on an invalid name or an unknown run.
        """
        self.store.run_view(run_id)  # RunNotFoundError on an unknown run
        token = R.new_token()
        rater_id = None
        with self.store._write() as conn:
            if invite is not None:
                rater_id = self._insert_rater(conn, invite, R.INVITED, token).id
            conn.execute(
                self.t["review_links"]
                .insert()
                .values(
                    token=token,
                    run_id=run_id,
                    kind=R.INVITE if invite is not None else R.TEAM,
                    blind=blind,
                    rater_id=rater_id,
                    created_at=_now(),
                )
            )
        link = self.link(token)
        assert link is not None  # committed just above
        return link

    def team_link(self, run_id: str, *, blind: bool) -> R.ReviewLink:
        """The run's team link (named or blind), made on first use; closed, it stays closed
        until the owner reopens it (a closed link is not silently replaced by a new one)."""
        lk = self.t["review_links"]
        with self.store.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(lk)
                    .where(
                        lk.c.run_id == run_id,
                        lk.c.kind == R.TEAM,
                        lk.c.blind == blind,
                    )
                    .order_by(lk.c.created_at)
                )
                .mappings()
                .first()
            )
        return _link(row) if row else self.create_link(run_id, blind=blind)

    def brief_link(self, set_id: str, *, blind: bool) -> R.BriefLink:
        """The brief's one team link (named or blind), made on first ask and the same for
        everyone after; closed, it stays closed until the owner reopens it.

        InputError on an unknown brief.
        """
        if self.store.prompt_set(set_id) is None:
            raise InputError("that brief does not exist (any more)")
        bl = self.t["brief_links"]
        query = (
            sa.select(bl)
            .where(bl.c.prompt_set_id == set_id, bl.c.kind == R.TEAM, bl.c.blind == blind)
            .order_by(bl.c.created_at, bl.c.token)  # the oldest wins, should two be made at once
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            with self.store._write() as conn:
                # Looked for again inside the write: on SQLite writers queue, so only one makes it.
                if conn.execute(query).first() is None:
                    conn.execute(
                        bl.insert().values(
                            token=R.new_token(),
                            prompt_set_id=set_id,
                            kind=R.TEAM,
                            blind=blind,
                            created_at=_now(),
                        )
                    )
            with self.store.engine.connect() as conn:
                row = conn.execute(query).mappings().first()
        assert row is not None  # committed just above
        return _brief_link(row)

    def brief(self, token: object) -> R.BriefLink | None:
        """The brief link with this token, or None (also for anything not shaped like one)."""
        if not R.is_token(token):
            return None
        bl = self.t["brief_links"]
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(bl).where(bl.c.token == token)).mappings().first()
        return _brief_link(row) if row else None

    def link(self, token: object) -> R.ReviewLink | None:
        """The link with this token, or None (also for anything not shaped like a token)."""
        if not R.is_token(token):
            return None
        lk = self.t["review_links"]
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(lk).where(lk.c.token == token)).mappings().first()
        return _link(row) if row else None

    def links(self, run_id: str) -> list[R.ReviewLink]:
        """Every link made for a run, oldest first."""
        lk = self.t["review_links"]
        with self.store.engine.connect() as conn:
            rows = (
                conn.execute(sa.select(lk).where(lk.c.run_id == run_id).order_by(lk.c.created_at))
                .mappings()
                .all()
            )
        return [_link(r) for r in rows]

    def set_link_open(self, token: str, is_open: bool) -> None:
        """Close a link, a run's or a brief's (its holders can no longer rate), or reopen it."""
        closed_at = None if is_open else _now()
        with self.store._write() as conn:
            for table in (self.t["review_links"], self.t["brief_links"]):
                conn.execute(
                    table.update().where(table.c.token == token).values(closed_at=closed_at)
                )

    # ----------------------------------------------------------------- raters
    def join(self, name: str, origin: str) -> tuple[R.Rater, str]:
        """A new rater under a typed name; returns it and the secret its browser keeps."""
        secret = R.new_token()
        with self.store._write() as conn:
            rater = self._insert_rater(conn, name, origin, secret)
        return rater, secret

    def rater_by_secret(self, secret: object) -> R.Rater | None:
        """The rater a browser's secret (cookie or invite token) stands for, or None."""
        if not R.is_token(secret):
            return None
        rt = self.t["raters"]
        with self.store.engine.connect() as conn:
            row = (
                conn.execute(sa.select(rt).where(rt.c.secret_hash == R.token_hash(secret)))
                .mappings()
                .first()
            )
        return self._rater(row) if row else None

    def rater(self, rater_id: str) -> R.Rater | None:
        """One rater by id."""
        rt = self.t["raters"]
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(rt).where(rt.c.id == rater_id)).mappings().first()
        return self._rater(row) if row else None

    def legacy(self, conn: sa.Connection, display: str) -> str:
        """The id of the rater stored under a bare name (ratings written without an identity)."""
        rt = self.t["raters"]
        found = conn.execute(sa.select(rt.c.id).where(rt.c.display == display)).scalar()
        if found:
            return found
        return self._insert_rater(conn, display, R.LEGACY, None, exact=True).id

    def _insert_rater(
        self, conn: sa.Connection, name: str, origin: str, secret: str | None, exact: bool = False
    ) -> R.Rater:
        name = clean_rater(name)
        rt = self.t["raters"]
        taken = [
            (r.display, r.name_key)
            for r in conn.execute(
                sa.select(rt.c.display, rt.c.name_key).where(rt.c.name_key == R.name_key(name))
            )
        ]
        taken += [
            (d, "")
            for d in conn.execute(
                sa.select(rt.c.display).where(rt.c.display.like(f"{_like(name)}%", escape="\\"))
            ).scalars()
        ]
        display = name if exact else R.display_name(name, taken)
        rid = new_id()
        stamp = _now()
        conn.execute(
            rt.insert().values(
                id=rid,
                name=name,
                display=display,
                name_key=R.name_key(name),
                secret_hash=R.token_hash(secret) if secret else None,
                origin=origin,
                created_at=stamp,
            )
        )
        return R.Rater(rid, name, display, origin, stamp)

    def _rater(self, row: Any) -> R.Rater:
        return R.Rater(
            row["id"], row["name"], row["display"], row["origin"], utc(row["created_at"])
        )

    # ----------------------------------------------------------------- events
    def record(self, rater_id: str | Iterable[str], action: str, run_id: str | None = None) -> None:
        """Append a rater event (accept, drop, exclude, restore, reveal, saw_named).

        Several raters at once (the owner accepting everyone held) are one transaction.
        """
        if action not in R.ACTIONS:
            raise InputError(f"unknown rater action {action!r}")
        ids = [rater_id] if isinstance(rater_id, str) else list(rater_id)
        if not ids:
            return
        stamp = _now()
        with self.store._write() as conn:
            conn.execute(
                self.t["rater_events"].insert(),
                [{"rater_id": rid, "run_id": run_id, "action": action, "at": stamp} for rid in ids],
            )

    def events(
        self, rater_ids: Iterable[str] | None = None
    ) -> dict[str, list[tuple[str | None, str]]]:
        """Each rater's events in order: [(run id or None, action), ...]."""
        ev = self.t["rater_events"]
        q = sa.select(ev.c.rater_id, ev.c.run_id, ev.c.action).order_by(ev.c.id)
        if rater_ids is not None:
            q = q.where(ev.c.rater_id.in_(list(rater_ids)))
        out: dict[str, list[tuple[str | None, str]]] = {}
        with self.store.engine.connect() as conn:
            for rid, run, action in conn.execute(q):
                out.setdefault(rid, []).append((run, action))
        return out

    def standing(self, rater: R.Rater, run_id: str | None) -> R.Standing:
        """Whether this rater's votes count (on `run_id`, or in general)."""
        return R.standing(rater.origin, self.events([rater.id]).get(rater.id, []), run_id)

    def sees_names(self, rater_id: str, run_id: str) -> bool:
        """Whether this rater has seen the models of this run (so their ratings are not blind)."""
        return R.sees_names(self.events([rater_id]).get(rater_id, []), run_id)

    def counted(self) -> dict[tuple[str, str], bool]:
        """For every (rater id, run id) with ratings: whether the default view counts them."""
        rt, ra = self.t["raters"], self.t["ratings"]
        with self.store.engine.connect() as conn:
            pairs = conn.execute(
                sa.select(ra.c.rater_id, ra.c.run_id, rt.c.origin)
                .distinct()
                .join(rt, rt.c.id == ra.c.rater_id)
            ).all()
        events = self.events()
        return {
            (rid, run): R.standing(origin, events.get(rid, []), run).counts
            for rid, run, origin in pairs
        }

    def raters_of_run(self, run_id: str) -> list[dict]:
        """Everyone who rated a run or holds one of its invites, with standing and counts.

        Each row: rater (a Rater), standing, images (how many images they rated), ratings
        (current ratings), invited (bool). Raters that look like an earlier one say whom.
        """
        rt, ra, lk = self.t["raters"], self.t["ratings"], self.t["review_links"]
        with self.store.engine.connect() as conn:
            invited = set(
                conn.execute(
                    sa.select(lk.c.rater_id).where(
                        lk.c.run_id == run_id, lk.c.rater_id.is_not(None)
                    )
                ).scalars()
            )
            ids = (
                set(
                    conn.execute(
                        sa.select(ra.c.rater_id).where(ra.c.run_id == run_id).distinct()
                    ).scalars()
                )
                | invited
            )
            ids.discard(None)
            rows = (
                conn.execute(sa.select(rt).where(rt.c.id.in_(ids)).order_by(rt.c.created_at))
                .mappings()
                .all()
            )
            keys = {r["name_key"] for r in rows}
            earlier = conn.execute(
                sa.select(rt.c.display, rt.c.name_key, rt.c.created_at)
                .where(rt.c.name_key.in_(keys))
                .order_by(rt.c.created_at)
            ).all()
        first: dict[str, str] = {}
        for display, key, _ in earlier:
            first.setdefault(key, display)
        events = self.events(ids)
        counts: dict[str, tuple[set[str], int]] = {}
        for r in self.store.current_ratings(run_id):
            seen, n = counts.get(r["rater_id"], (set(), 0))
            seen |= {r["generation_id"], r["other_generation_id"]} - {None}
            counts[r["rater_id"]] = (seen, n + 1)
        out = []
        for row in rows:
            look = first.get(row["name_key"])
            rater = dataclasses.replace(
                self._rater(row), looks_like=look if look != row["display"] else None
            )
            seen, n = counts.get(row["id"], (set(), 0))
            out.append(
                {
                    "rater": rater,
                    "invited": row["id"] in invited,
                    "images": len(seen),
                    "ratings": n,
                    "standing": R.standing(row["origin"], events.get(row["id"], []), run_id),
                }
            )
        return out

    def held(self) -> list[R.Rater]:
        """Raters who joined through a team link and wait for the owner to accept or drop."""
        rt = self.t["raters"]
        with self.store.engine.connect() as conn:
            rows = (
                conn.execute(sa.select(rt).where(rt.c.origin == R.JOINED).order_by(rt.c.created_at))
                .mappings()
                .all()
            )
        events = self.events([r["id"] for r in rows])
        out = []
        for row in rows:
            st = R.standing(row["origin"], events.get(row["id"], []), None)
            if st.held and not st.dropped:
                out.append(self._rater(row))
        return out


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _link(row: Any) -> R.ReviewLink:
    return R.ReviewLink(
        row["token"],
        row["run_id"],
        row["kind"],
        bool(row["blind"]),
        row["rater_id"],
        utc(row["created_at"]),
        utc(row["closed_at"]),
    )


def _brief_link(row: Any) -> R.BriefLink:
    return R.BriefLink(
        row["token"],
        row["prompt_set_id"],
        bool(row["blind"]),
        utc(row["created_at"]),
        utc(row["closed_at"]),
        row["kind"],
    )
