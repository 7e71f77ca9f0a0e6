"""The store: the single source of truth for runs, generations, images and ratings.

Contract:
- One SQL database, SQLite (WAL) in the data directory by default, or PostgreSQL when
  `DATABASE_URL` says so; the same SQLAlchemy Core code runs on both.
- Migrations run on open (`vibegen.migrations`).
- Every save is one transaction. A generation's result row and its image are written
  together or not at all. The image's preview (the grid's thumbnail) is written with it when
  the caller made one; a runner's images are saved without, checked but not decoded
  (`images.checked`), and their previews are made afterwards (`make_previews`) or by the
  first read that asks for them, so a run's images are saved as fast as they arrive.
- Run ids are 128 random bits in hex: a run link is its own capability.
- Nothing here ever sees an API key.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from vibegen import images
from vibegen.costs import Cost
from vibegen.errors import BadImageError, InputError, LeaseHeld, RunNotFoundError, StoreError
from vibegen.migrations import migrate
from vibegen.ratings import Rating, RatingMode
from vibegen.records import (
    FAILED,
    FINISHED,
    IN_FLIGHT,
    SIMULATED_ROUTERS,
    Cell,
    CellSpec,
    RunFilter,
    RunStatus,
    RunSummary,
    RunView,
    Spend,
    Status,
    check_run_id,
    is_id,
    new_id,
    now,
    utc,
)
from vibegen.settings import Settings
from vibegen.typed import check_text, control_character

if TYPE_CHECKING:  # pandas loads with the first frame asked for, not with every page
    import numpy as np
    import pandas as pd

log = logging.getLogger("vibegen.store")

MAX_BRIEF_PROMPTS = 100
PREVIEWS_PER_RUN = 6  # a History card's thumbnails
MAX_BRIEF_NAME = 100  # the column holds 200
GENERATION_COLUMNS = [
    "generation_id",
    "run_id",
    "model_key",
    "router",
    "label",
    "status",
    "error_kind",
    "cost_usd",
    "cost_kind",
    "wall_s",
    "created_at",
    "prompt_set_id",
]


def data_dir(settings: Settings) -> Path:
    """Where VibeGen keeps its data: `VIBEGEN_HOME`, else ~/.vibegen."""
    return settings.data_dir


def database_url(settings: Settings) -> str:
    """`DATABASE_URL` if set, else the SQLite file in the data directory."""
    return settings.store_url


def _as_filter(where: RunFilter | str) -> RunFilter:
    # A bare string is a prompt search, as History's callers passed before the filters came.
    return where if isinstance(where, RunFilter) else RunFilter(search=where)


def _normalise(url: str) -> str:
    # Heroku-style and bare postgresql URLs: use the psycopg 3 driver we depend on.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _redact_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


# A late worker's time to save the handle of a paid call it had on the wire (take_cell).
SUBMIT_GRACE_S = 30.0


class Store:
    """Runs, generations, images and ratings in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        # Group commit of saved images (`_save_together`): the waiting ones, and who writes.
        self._batch: list[_Success] = []
        self._batch_lock = threading.Lock()
        self._combine_lock = threading.Lock()
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    # Several app processes may open the store at once: migrate one at a time.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(72316)"))
                migrate(conn)
            md = sa.MetaData()
            md.reflect(
                engine,
                only=[
                    "runs",
                    "generations",
                    "images",
                    "ratings",
                    "runners",
                    "prompt_sets",
                    "spend",
                    "settings",
                    "model_listings",
                    "user_models",
                    "vibegen_migrations",
                    "raters",
                    "review_links",
                    "brief_links",
                    "rater_events",
                ],
            )
        except (OperationalError, SQLAlchemyError) as exc:
            raise StoreError(
                f"cannot open the database {_redact_url(str(engine.url))}: {_first_line(exc)}"
            ) from exc
        self.t = md.tables
        from vibegen.team import Team  # the team's rows build on this class

        self.team = Team(self)

    @classmethod
    def open(cls, url: str, *, busy_timeout_s: float = 30.0) -> Store:
        """Open (and migrate) the store at `url` (an entry point's `Settings.store_url`)."""
        url = _normalise(url)
        try:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[-1]
                # A URI filename ("file:…?mode=ro&uri=true") names an existing file: making
                # its "parent" would leave a directory called "file:" wherever we run.
                if path and path != ":memory:" and not path.startswith("file:"):
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(
                    url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s}
                )
                sa.event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
            else:
                engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except ImportError as exc:
            raise StoreError(
                f"DATABASE_URL needs a database driver that is not installed "
                f"({exc.name}); for PostgreSQL run: pip install -e '.[postgres]'"
            ) from exc
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise StoreError(
                f"DATABASE_URL is not a database URL we can use "
                f"({_redact_url(url)}): {_first_line(exc)}"
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot create the data directory for {url}: {exc}") from exc
        return cls(engine)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        prompt: str,
        params: dict[str, Any],
        cells: Sequence[CellSpec],
        runner_id: str | None = None,
        prompt_set_id: str | None = None,
    ) -> str:
        """Store a new run and its pending cells in one transaction; return its id."""
        run_id = new_id()
        created = now()
        with self._write() as conn:
            conn.execute(
                self.t["runs"]
                .insert()
                .values(
                    id=run_id,
                    created_at=created,
                    prompt=prompt,
                    params_json=json.dumps(params),
                    n_cells=len(cells),
                    runner_id=runner_id,
                    prompt_set_id=prompt_set_id,
                )
            )
            self._insert_cells(conn, run_id, cells, 0, runner_id)
        return run_id

    def add_cells(
        self, run_id: str, cells: Sequence[CellSpec], runner_id: str | None = None
    ) -> list[str]:
        """Append pending cells to a run (a re-rolled image); return their ids."""
        runs, gens = self.t["runs"], self.t["generations"]
        with self._write() as conn:
            last = conn.execute(
                sa.select(sa.func.max(gens.c.position)).where(gens.c.run_id == run_id)
            ).scalar()
            ids = self._insert_cells(
                conn, run_id, cells, 0 if last is None else last + 1, runner_id
            )
            conn.execute(
                runs.update().where(runs.c.id == run_id).values(n_cells=runs.c.n_cells + len(cells))
            )
        return ids

    def _insert_cells(
        self,
        conn: sa.Connection,
        run_id: str,
        cells: Sequence[CellSpec],
        start: int,
        runner_id: str | None,
    ) -> list[str]:
        # One insert for a run's cells, numbered from grid position `start`.
        ids = [new_id() for _ in cells]
        if cells:
            conn.execute(
                self.t["generations"].insert(),
                [
                    dict(
                        id=ids[i],
                        run_id=run_id,
                        position=start + i,
                        model_key=c.model_key,
                        router=c.router,
                        label=c.label,
                        image_index=c.image_index,
                        prompt=c.prompt,
                        params_json=json.dumps(c.params),
                        notes_json=json.dumps(c.notes),
                        status=Status.PENDING,
                        cost_usd=c.cost.usd,
                        cost_kind=c.cost.kind,
                        cost_basis=c.cost.basis,
                        cost_source=c.cost.source,
                        cost_seen=c.cost.seen,
                        width=c.width,
                        height=c.height,
                        attempts=0,
                        runner_id=runner_id,
                    )
                    for i, c in enumerate(cells)
                ],
            )
        return ids

    def run_view(self, run_id: str) -> RunView:
        """The run with all its cells; RunNotFoundError for a malformed or unknown id."""
        check_run_id(run_id)
        runs, gens = self.t["runs"], self.t["generations"]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None:
                raise RunNotFoundError(f"no run with id {run_id} in this VibeGen")
            rows = (
                conn.execute(
                    sa.select(gens).where(gens.c.run_id == run_id).order_by(gens.c.position)
                )
                .mappings()
                .all()
            )
            spend = (
                conn.execute(
                    sa.select(self.t["spend"])
                    .where(self.t["spend"].c.run_id == run_id)
                    .order_by(self.t["spend"].c.id)
                )
                .mappings()
                .all()
            )
        return RunView(
            row["id"],
            utc(row["created_at"]),
            row["prompt"],
            json.loads(row["params_json"]),
            [_cell(r) for r in rows],
            [_spend(r) for r in spend],
        )

    def list_runs(
        self, where: RunFilter | str = "", limit: int = 200, offset: int = 0
    ) -> list[RunSummary]:
        """Runs newest first, `limit` from `offset`, those `where` selects (a RunFilter, or
        a prompt search), each with its models' names and its first finished images' ids."""
        runs, gens = self.t["runs"], self.t["generations"]
        q = (
            self._runs_query(_as_filter(where))
            .order_by(runs.c.created_at.desc(), runs.c.id.desc())
            .limit(max(0, int(limit)))
            .offset(max(0, int(offset)))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            # The page's cells in one more query, however many runs and images it holds.
            cells = conn.execute(
                sa.select(gens.c.run_id, gens.c.id, gens.c.label, gens.c.status)
                .where(gens.c.run_id.in_([r.id for r in rows]))
                .order_by(gens.c.run_id, gens.c.position, gens.c.image_index)
            ).all()
        labels: dict[str, list[str]] = {}
        previews: dict[str, list[str]] = {}
        for c in cells:
            named = labels.setdefault(c.run_id, [])
            if c.label not in named:
                named.append(c.label)
            if c.status == Status.OK:
                previews.setdefault(c.run_id, []).append(c.id)
        return [
            RunSummary(
                r.id,
                utc(r.created_at),
                r.prompt,
                int(r.models),
                int(r.n_cells),
                int(r.done or 0),
                int(r.failures or 0),
                float(r.cost or 0.0),
                r.wall,
                float(r.simulated or 0.0),
                archived_at=utc(r.archived_at),
                labels=tuple(labels.get(r.id, ())),
                previews=tuple(previews.get(r.id, ())[:PREVIEWS_PER_RUN]),
            )
            for r in rows
        ]

    def count_runs(self, where: RunFilter | str = "") -> int:
        """How many runs list_runs can page through for `where` (all of them, not a page)."""
        q = sa.select(sa.func.count()).select_from(self._runs_query(_as_filter(where)).subquery())
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def _runs_query(self, where: RunFilter) -> sa.Select:
        # One grouped query per page, its filters in SQL: the page's cost does not grow with
        # the history (issue 16) and count_runs counts exactly what list_runs pages through.
        runs, gens = self.t["runs"], self.t["generations"]
        finished = sa.func.sum(sa.case((gens.c.status.in_(FINISHED), 1), else_=0))
        failed = sa.func.sum(sa.case((gens.c.status.in_(FAILED), 1), else_=0))
        ok = gens.c.status == Status.OK
        sandbox = gens.c.router.in_(SIMULATED_ROUTERS)
        cost = sa.func.sum(sa.case((ok & ~sandbox, gens.c.cost_usd), else_=0.0))
        simulated = sa.func.sum(sa.case((ok & sandbox, gens.c.cost_usd), else_=0.0))
        conditions = [self._prompt_matches(where.search)]
        if not where.archived:
            conditions.append(runs.c.archived_at.is_(None))
        if where.models:
            used = sa.select(gens.c.run_id).where(gens.c.model_key.in_(where.models))
            conditions.append(runs.c.id.in_(used))
        if where.routers:
            used = sa.select(gens.c.run_id).where(gens.c.router.in_(where.routers))
            conditions.append(runs.c.id.in_(used))
        if where.since is not None:
            conditions.append(runs.c.created_at >= where.since)
        if where.before is not None:
            conditions.append(runs.c.created_at < where.before)
        # A run's status is a fact of its cells' counts: filtered after grouping.
        done = sa.func.coalesce(finished, 0)
        fails = sa.func.coalesce(failed, 0)
        states = {
            RunStatus.RUNNING: done < runs.c.n_cells,
            RunStatus.COMPLETE: (done >= runs.c.n_cells) & (fails == 0),
            RunStatus.COMPLETE_WITH_FAILURES: (done >= runs.c.n_cells) & (fails > 0),
        }
        # Outer join: a run with no cells is still a run, and count_runs counts it.
        # The id breaks ties in created_at so pages never repeat or skip a run.
        q = (
            sa.select(
                runs.c.id,
                runs.c.created_at,
                runs.c.prompt,
                runs.c.n_cells,
                runs.c.archived_at,
                sa.func.count(sa.distinct(gens.c.model_key)).label("models"),
                finished.label("done"),
                failed.label("failures"),
                cost.label("cost"),
                simulated.label("simulated"),
                sa.func.max(gens.c.wall_s).label("wall"),
            )
            .select_from(runs.outerjoin(gens, gens.c.run_id == runs.c.id))
            .where(*conditions)
            .group_by(
                runs.c.id, runs.c.created_at, runs.c.prompt, runs.c.n_cells, runs.c.archived_at
            )
        )
        if where.statuses:
            q = q.having(sa.or_(*(states[RunStatus(s)] for s in where.statuses)))
        return q

    def archive_run(self, run_id: str, *, archived: bool = True) -> None:
        """Hide a run from History (or show it again): its images and ratings are all kept."""
        runs = self.t["runs"]
        with self._write() as conn:
            done = conn.execute(
                runs.update()
                .where(runs.c.id == check_run_id(run_id))
                .values(archived_at=now() if archived else None)
            )
            if done.rowcount != 1:
                raise RunNotFoundError("that run does not exist (any more)")

    def _prompt_matches(self, search: str) -> sa.ColumnElement[bool]:
        # Case-insensitive "contains", with LIKE's wildcards taken literally.
        needle = (search or "").strip().lower()
        if not needle:
            return sa.true()
        if control_character(needle):  # no prompt holds one, and PostgreSQL cannot take NUL
            return sa.false()
        needle = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return sa.func.lower(self.t["runs"].c.prompt).like(f"%{needle}%", escape="\\")

    def backup(self, path: str | os.PathLike[str]) -> Path:
        """Write a consistent copy of the SQLite store to `path`, also while runs write."""
        if self.dialect != "sqlite":
            raise StoreError(
                f"vibegen backup copies the embedded SQLite file; this store is "
                f"{self.dialect}: back it up with pg_dump, e.g. "
                f'pg_dump --format=custom --file=vibegen.dump "$DATABASE_URL"'
            )
        import sqlite3  # the stdlib driver under SQLAlchemy's SQLite engine

        target = Path(path).expanduser().resolve()
        if target.exists():
            raise StoreError(f"{target} already exists: choose a new file name")
        if not target.parent.is_dir():
            raise StoreError(f"{target.parent} is not a directory")
        # Written next to the target, then renamed: a failed backup never leaves a file that
        # looks complete.
        partial = target.with_name(target.name + ".partial")
        raw = self.engine.raw_connection()
        try:
            dst = sqlite3.connect(partial)
            try:
                # The online backup API copies a snapshot of the pages (including what is only
                # in the WAL so far); writers in WAL mode keep writing meanwhile.
                driver = raw.driver_connection
                assert driver is not None  # a checked-out connection holds its sqlite3 one
                driver.backup(dst)
            finally:
                dst.close()
            os.replace(partial, target)
        except (sqlite3.Error, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"the backup to {target} failed: {exc}") from exc
        finally:
            raw.close()
        return target

    def close(self) -> None:
        """Fold the WAL into the database file (SQLite) and close every pooled connection."""
        # After this, vibegen.db alone holds every saved row: a plain file copy is a backup.
        if self.dialect == "sqlite":
            try:
                with self._lock, self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except SQLAlchemyError:
                pass  # another process is reading: its own clean stop checkpoints later
        self.engine.dispose()

    # ------------------------------------------------------------ generations
    def mark_running(self, generation_id: str, runner_id: str) -> bool:
        """Claim a pending cell for a worker; False when it no longer waits (taken or done)."""
        gens = self.t["generations"]
        # Only from pending: a cell saved meanwhile (e.g. an image kept through a full disk and
        # written once there was room) or taken by another runner is never bought again.
        with self._write() as conn:
            return (
                conn.execute(
                    gens.update()
                    .where(gens.c.id == generation_id, gens.c.status == Status.PENDING)
                    .values(status=Status.RUNNING, started_at=now(), runner_id=runner_id)
                ).rowcount
                == 1
            )

    def claim_cells(self, generation_ids: Sequence[str], runner_id: str) -> set[str]:
        """Claim many pending cells for a worker in one write; return the ids it took."""
        if not generation_ids:
            return set()
        gens = self.t["generations"]
        ids = list(generation_ids)
        # One transaction for the whole run, before any request leaves: a cell per write
        # would queue every request behind the store's write lock (issue 16: fan-out).
        with self._write() as conn:
            # RETURNING names exactly the rows this statement moved (SQLite 3.35+,
            # PostgreSQL): a cell another submit took meanwhile is not counted twice.
            taken = conn.execute(
                gens.update()
                .where(gens.c.id.in_(ids), gens.c.status == Status.PENDING)
                .values(status=Status.RUNNING, started_at=now(), runner_id=runner_id)
                .returning(gens.c.id)
            )
            return {row.id for row in taken}

    def take_cell(self, generation_id: str, runner_id: str, lease_s: float) -> Cell | None:
        """Claim a cell a queue worker took, with a lease of `lease_s`; None when it is
        finished (or gone). LeaseHeld when another worker's lease on it is still live.

        From pending, or from running/interrupted once the holder's lease has expired (the
        database clock decides): every claim raises `lease_epoch`, so the old holder's fence
        and writes no longer match. A holder that passed the fence before a paid call but
        saved no handle may have that call on the wire: its cell is taken only SUBMIT_GRACE_S
        after its lease ran out (time for a late worker to save the handle it got).
        """
        gens = self.t["generations"]
        with self._write() as conn:
            row = conn.execute(
                sa.select(
                    gens.c.status,
                    gens.c.lease_until,
                    gens.c.submit_epoch,
                    gens.c.job_json,
                    sa.func.now().label("db_now"),
                )
                .where(gens.c.id == generation_id)
                .with_for_update()
            ).first()
            live = (Status.PENDING, Status.RUNNING, Status.INTERRUPTED)
            if row is None or row.status not in live:
                return None
            if row.status != Status.PENDING and row.lease_until is not None:
                free_at = row.lease_until
                if row.submit_epoch is not None and not row.job_json:
                    free_at += dt.timedelta(seconds=SUBMIT_GRACE_S)
                if free_at > row.db_now:
                    raise LeaseHeld(generation_id, (free_at - row.db_now).total_seconds())
            fresh = gens.c.status == Status.PENDING
            conn.execute(
                gens.update()
                .where(gens.c.id == generation_id)
                .values(
                    status=Status.RUNNING,
                    runner_id=runner_id,
                    error_kind=None,
                    error_message=None,
                    finished_at=None,
                    # A fresh cell starts now; a resumed one keeps when it first started.
                    started_at=sa.case((fresh, now()), else_=gens.c.started_at),
                    lease_epoch=gens.c.lease_epoch + 1,
                    lease_until=sa.func.now() + dt.timedelta(seconds=lease_s),
                    submit_epoch=sa.case((fresh, None), else_=gens.c.submit_epoch),
                )
            )
        return self.generation(generation_id)

    def renew_leases(self, held: dict[str, int], lease_s: float) -> set[str]:
        """Extend this worker's leases (cell id → its claim's epoch); the ids still held."""
        if not held:
            return set()
        gens = self.t["generations"]
        with self._write() as conn:
            rows = conn.execute(
                gens.update()
                .where(
                    sa.tuple_(gens.c.id, gens.c.lease_epoch).in_(list(held.items())),
                    gens.c.status == Status.RUNNING,
                )
                .values(lease_until=sa.func.now() + dt.timedelta(seconds=lease_s))
                .returning(gens.c.id)
            ).all()
        return {r.id for r in rows}

    def mark_submitting(self, generation_id: str, epoch: int, lease_s: float) -> bool:
        """The fence before a paid call: in one statement, check that claim `epoch` still
        holds a live lease on the cell, mark that it submits, and extend the lease."""
        gens = self.t["generations"]
        with self._write() as conn:
            done = conn.execute(
                gens.update()
                .where(
                    gens.c.id == generation_id,
                    gens.c.lease_epoch == epoch,
                    gens.c.status == Status.RUNNING,
                    gens.c.lease_until > sa.func.now(),
                )
                .values(
                    submit_epoch=epoch,
                    lease_until=sa.func.now() + dt.timedelta(seconds=lease_s),
                )
            ).rowcount
        return done == 1

    def clear_submit(self, generation_id: str, epoch: int) -> None:
        """Claim `epoch`'s paid call was answered without a job (a 429, a refusal): nothing
        is on the wire for this cell any more."""
        gens = self.t["generations"]
        with self._write() as conn:
            conn.execute(
                gens.update()
                .where(
                    gens.c.id == generation_id,
                    gens.c.lease_epoch == epoch,
                    gens.c.job_json.is_(None),
                )
                .values(submit_epoch=None)
            )

    def release_lease(self, generation_id: str, epoch: int) -> None:
        """End claim `epoch`'s lease now (a worker handing the cell back to the queue)."""
        gens = self.t["generations"]
        with self._write() as conn:
            conn.execute(
                gens.update()
                .where(gens.c.id == generation_id, gens.c.lease_epoch == epoch)
                .values(lease_until=sa.func.now() - dt.timedelta(seconds=1))
            )

    def _fenced(self, generation_id: str, epoch: int | None) -> Any:
        """The WHERE of a claim's write: its cell, and (team mode) only while it is the claim."""
        gens = self.t["generations"]
        where = gens.c.id == generation_id
        return where if epoch is None else sa.and_(where, gens.c.lease_epoch == epoch)

    def save_job(self, generation_id: str, job: dict[str, Any], epoch: int | None = None) -> None:
        """Record the router's handle for a cell's paid job, the moment the router accepts it.

        `epoch` (team mode): the claim that submitted; its handle is kept even when that claim
        has lost the cell since (the job is paid: whoever follows the cell follows that job).
        """
        gens = self.t["generations"]
        request_id = job.get("request_id") or job.get("task_id")
        where = gens.c.id == generation_id
        if epoch is not None:
            where = sa.and_(
                where,
                sa.or_(
                    gens.c.lease_epoch == epoch,
                    sa.and_(gens.c.submit_epoch == epoch, gens.c.job_json.is_(None)),
                ),
            )
        with self._write() as conn:
            conn.execute(
                gens.update()
                .where(where)
                .values(
                    job_json=json.dumps(job),
                    job_open=True,
                    request_id=str(request_id)[:200] if request_id else None,
                )
            )

    def save_success(
        self,
        generation_id: str,
        image: bytes,
        *,
        cost: Cost,
        wall_s: float,
        seed: str | None = None,
        queue_s: float | None = None,
        inference_s: float | None = None,
        request_id: str | None = None,
        attempts: int = 1,
        prepared: images.Prepared | None = None,
        epoch: int | None = None,
    ) -> None:
        """Save an image, the row describing it and what it cost together, or none of them.

        `epoch` (team mode): only while that claim holds the cell; a worker that lost it
        saves and books nothing (the cell's holder saves the same job's image once)."""
        # Checked (and thumbnailed, unless it is images.NO_PREVIEW) before the transaction
        # starts: keep the write lock short.
        prepared = prepared or images.prepare(image)
        info = prepared.info
        values: dict[str, Any] = dict(
            status=Status.OK,
            error_kind=None,
            error_message=None,
            seed=seed,
            wall_s=wall_s,
            queue_s=queue_s,
            inference_s=inference_s,
            cost_usd=cost.usd,
            cost_kind=cost.kind,
            cost_basis=cost.basis,
            cost_source=cost.source,
            cost_seen=cost.seen,
            width=info.width,
            height=info.height,
            attempts=attempts,
            job_open=False,
            request_id=request_id[:200] if request_id else None,
        )
        image_row = dict(
            generation_id=generation_id,
            mime=info.mime,
            data=image,
            thumb=prepared.thumb,
            sha256=hashlib.sha256(image).hexdigest(),
        )
        item = _Success(generation_id, image_row, values, cost)
        if epoch is not None:
            self._save_fenced(item, epoch)
        else:
            self._save_together(item)

    def _save_fenced(self, item: _Success, epoch: int) -> None:
        # Team mode: the fence decides cell by cell whether this claim may write, so each
        # image is its own transaction (a worker's cells arrive a few at a time anyway).
        gens, imgs = self.t["generations"], self.t["images"]
        values = dict(item.values, finished_at=now())
        if not values["request_id"]:
            del values["request_id"]  # keep the id its job had
        with self._write() as conn:
            fenced = self._fenced(item.generation_id, epoch)
            if not conn.execute(gens.update().where(fenced).values(**values)).rowcount:
                return  # another worker's claim now: it saves this job's image
            conn.execute(imgs.delete().where(imgs.c.generation_id == item.generation_id))
            conn.execute(imgs.insert().values(**item.image_row))
            self._book(conn, item.generation_id, "image", item.cost)

    def _save_together(self, item: _Success) -> None:
        # Group commit: images that arrive together are saved in one transaction by
        # whichever of their threads takes the write first, the others finding theirs done.
        # A transaction per image queued a wide run's saves one behind another (each about
        # a millisecond of statements and a commit); a batch the store refuses is tried
        # image by image, so each save succeeds or fails on its own, as before.
        with self._batch_lock:
            self._batch.append(item)
        with self._combine_lock:
            if not item.done.is_set():
                with self._batch_lock:
                    batch, self._batch = self._batch, []
                try:
                    self._write_batch(batch)
                finally:
                    for one in batch:
                        one.done.set()
        if item.error is not None:
            raise item.error

    def _write_batch(self, batch: list[_Success]) -> None:
        # Each item ends with its error, or none when it is in the store.
        try:
            with self._write() as conn:
                self._write_successes(conn, batch)
            return
        except Exception as exc:  # noqa: BLE001 - each item's own try below says what it was
            if len(batch) == 1:
                batch[0].error = exc
                return
        for one in batch:
            try:
                with self._write() as conn:
                    self._write_successes(conn, [one])
            except Exception as exc:  # noqa: BLE001 - raised again in the thread it belongs to
                one.error = exc

    def _write_successes(self, conn: Connection, batch: list[_Success]) -> None:
        """Write saved images, their rows and what they cost (inside the caller's
        transaction), a few statements for the whole batch."""
        gens, imgs = self.t["generations"], self.t["images"]
        ids = [one.generation_id for one in batch]
        stamp = now()
        conn.execute(imgs.delete().where(imgs.c.generation_id.in_(ids)))
        conn.execute(imgs.insert(), [one.image_row for one in batch])
        keys = list(batch[0].values)
        update = (
            gens.update()
            .where(gens.c.id == sa.bindparam("b_id"))
            .values(
                {k: sa.bindparam(f"b_{k}") for k in keys if k != "request_id"}
                | {
                    # A router's request id, when it gave one; else the one its job had.
                    "request_id": sa.func.coalesce(sa.bindparam("b_request_id"), gens.c.request_id),
                    "finished_at": stamp,
                }
            )
        )
        conn.execute(
            update,
            [
                {"b_id": one.generation_id} | {f"b_{k}": one.values[k] for k in keys}
                for one in batch
            ],
        )
        self._book_all(conn, [(one.generation_id, "image", one.cost) for one in batch], stamp)

    def save_failure(
        self,
        generation_id: str,
        *,
        kind: str,
        message: str,
        wall_s: float | None,
        attempts: int = 1,
        timeout: bool = False,
        cost: Cost | None = None,
        job_open: bool = False,
        epoch: int | None = None,
    ) -> None:
        """Save a failed cell with its error kind and message, and what it was billed, if any.

        `cost` is given only when the router billed (or may have billed) the failed request;
        `job_open` says its job may still run, so a retry follows it rather than buying again.
        `epoch` (team mode): only while that claim holds the cell.
        """
        gens = self.t["generations"]
        values: dict[str, Any] = dict(
            status=Status.TIMEOUT if timeout else Status.ERROR,
            error_kind=kind,
            error_message=message,
            wall_s=wall_s,
            attempts=attempts,
            finished_at=now(),
            job_open=job_open,
        )
        if cost is not None:
            values.update(
                cost_usd=cost.usd,
                cost_kind=cost.kind,
                cost_basis=cost.basis,
                cost_source=cost.source,
                cost_seen=cost.seen,
            )
        with self._write() as conn:
            fenced = self._fenced(generation_id, epoch)
            done = conn.execute(gens.update().where(fenced).values(**values)).rowcount
            if cost is not None and done:
                self._book(conn, generation_id, "failed", cost)

    def _book(self, conn: Connection, generation_id: str, outcome: str, cost: Cost) -> None:
        """Add one billed event to the spend ledger (inside the caller's transaction)."""
        self._book_all(conn, [(generation_id, outcome, cost)], now())

    def _book_all(
        self, conn: Connection, events: list[tuple[str, str, Cost]], at: dt.datetime
    ) -> None:
        """Add billed events (generation id, outcome, cost) to the spend ledger in two
        statements, inside the caller's transaction."""
        # Nothing is billed per image on one's own hardware.
        events = [e for e in events if e[2].kind != "self_hosted"]
        if not events:
            return
        gens, spend = self.t["generations"], self.t["spend"]
        cells = {
            row.id: row
            for row in conn.execute(
                sa.select(gens.c.id, gens.c.run_id, gens.c.router, gens.c.model_key).where(
                    gens.c.id.in_([gen for gen, _, _ in events])
                )
            )
        }
        rows = [
            dict(
                generation_id=gen,
                run_id=cells[gen].run_id,
                router=cells[gen].router,
                model_key=cells[gen].model_key,
                outcome=outcome,
                usd=cost.usd,
                kind=cost.kind,
                basis=cost.basis,
                source=cost.source,
                seen=cost.seen,
                at=at,
            )
            for gen, outcome, cost in events
            if gen in cells
        ]
        if rows:
            conn.execute(spend.insert(), rows)

    def spend_frame(self) -> pd.DataFrame:
        """Every billed event, one row each (for the Spend page and budgets)."""
        import pandas as pd

        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(self.t["spend"]).order_by(self.t["spend"].c.id), conn)

    def spent(
        self,
        *,
        router: str | None = None,
        since: dt.datetime | None = None,
        run_id: str | None = None,
    ) -> float:
        """Real money billed (known amounts; simulated excluded), optionally narrowed."""
        spend = self.t["spend"]
        q = sa.select(sa.func.coalesce(sa.func.sum(spend.c.usd), 0.0)).where(
            spend.c.kind != "simulated"
        )
        if router is not None:
            q = q.where(spend.c.router == router)
        if since is not None:
            q = q.where(spend.c.at >= since)
        if run_id is not None:
            q = q.where(spend.c.run_id == run_id)
        with self.engine.connect() as conn:
            return float(conn.execute(q).scalar() or 0.0)

    def settings(self) -> dict[str, str]:
        """Every stored team setting."""
        table = self.t["settings"]
        with self.engine.connect() as conn:
            return {r.key: r.value for r in conn.execute(sa.select(table))}

    def set_setting(self, key: str, value: str | None) -> None:
        """Store a team setting (None removes it)."""
        table = self.t["settings"]
        with self._write() as conn:
            conn.execute(table.delete().where(table.c.key == key))
            if value is not None:
                conn.execute(table.insert().values(key=key, value=value, updated_at=now()))

    # -------------------------------------------------------- model listings
    def save_listing(self, source: str, payload: Any | None, error: str | None = None) -> None:
        """Record one try at a router listing: the answer (None keeps the last) or the error."""
        table = self.t["model_listings"]
        at = now()
        values: dict[str, Any] = {"attempted_at": at, "error": error}
        if payload is not None:
            values.update(fetched_at=at, payload_json=json.dumps(payload), error=None)
        with self._write() as conn:
            done = conn.execute(table.update().where(table.c.source == source).values(**values))
            if not done.rowcount:
                conn.execute(table.insert().values(source=source, **values))

    def listings(self) -> dict[str, dict[str, Any]]:
        """Every cached listing: {source: {fetched_at, attempted_at, payload, error}}."""
        table = self.t["model_listings"]
        with self.engine.connect() as conn:
            return {
                r.source: {
                    "fetched_at": utc(r.fetched_at),
                    "attempted_at": utc(r.attempted_at),
                    "payload": json.loads(r.payload_json) if r.payload_json else None,
                    "error": r.error,
                }
                for r in conn.execute(sa.select(table))
            }

    def save_user_model(self, key: str, entry: dict[str, Any]) -> None:
        """Keep a model a user added by its endpoint id (a catalog entry as JSON)."""
        table = self.t["user_models"]
        with self._write() as conn:
            conn.execute(table.delete().where(table.c.key == key))
            conn.execute(
                table.insert().values(
                    key=key, entry_json=json.dumps(entry, default=str), added_at=now()
                )
            )

    def user_models(self) -> list[dict[str, Any]]:
        """The models users added, oldest first, as catalog entries."""
        table = self.t["user_models"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table).order_by(table.c.added_at, table.c.key))
            return [json.loads(r.entry_json) for r in rows]

    def remove_user_model(self, key: str) -> None:
        """Forget a model a user added (its past results stay)."""
        table = self.t["user_models"]
        with self._write() as conn:
            conn.execute(table.delete().where(table.c.key == key))

    def claim_resumable(self, runner_id: str) -> list[str]:
        """Take over interrupted cells whose paid job may still run; return their run ids.

        They go back to pending under this runner, keeping their job handle, so the runner
        follows the job instead of buying the image again. One runner wins each cell.
        """
        gens = self.t["generations"]
        runs: set[str] = set()
        with self._write() as conn:
            rows = conn.execute(
                sa.select(gens.c.id, gens.c.run_id).where(
                    gens.c.status == Status.INTERRUPTED, gens.c.job_open.is_(True)
                )
            ).all()
            for gen_id, run_id in rows:
                claimed = conn.execute(
                    gens.update()
                    .where(gens.c.id == gen_id, gens.c.status == Status.INTERRUPTED)
                    .values(
                        status=Status.PENDING,
                        error_kind=None,
                        error_message=None,
                        finished_at=None,
                        runner_id=runner_id,
                    )
                ).rowcount
                if claimed:
                    runs.add(run_id)
        return sorted(runs)

    def reset_failed(self, run_id: str) -> list[str]:
        """Put a run's failed, timed-out and interrupted cells back to pending; return their ids."""
        gens = self.t["generations"]
        with self._write() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    sa.select(gens.c.id).where(gens.c.run_id == run_id, gens.c.status.in_(FAILED))
                )
            ]
            if ids:
                conn.execute(
                    gens.update()
                    .where(gens.c.id.in_(ids))
                    .values(
                        status=Status.PENDING,
                        error_kind=None,
                        error_message=None,
                        finished_at=None,
                        started_at=None,
                    )
                )
        return ids

    def image(self, generation_id: str, thumb: bool = False) -> bytes | None:
        """A cell's image bytes (or its thumbnail), None if it has none."""
        if not is_id(generation_id):  # from a link: PostgreSQL refuses some text outright
            return None
        imgs = self.t["images"]
        col = imgs.c.thumb if thumb else imgs.c.data
        with self.engine.connect() as conn:
            data = conn.execute(
                sa.select(col).where(imgs.c.generation_id == generation_id)
            ).scalar()
        if thumb and data == images.NO_PREVIEW:
            return self.make_previews([generation_id]).get(generation_id)
        return data

    def thumbnails(self, generation_ids: Iterable[str]) -> dict[str, bytes]:
        """The thumbnails of many images in one query (ids without an image are left out)."""
        return self._image_bytes(generation_ids, thumb=True)

    def _image_bytes(self, generation_ids: Iterable[str], *, thumb: bool) -> dict[str, bytes]:
        # One query for many images' thumbnails or originals, keyed by generation id.
        ids = sorted({str(g) for g in generation_ids})
        if not ids:
            return {}
        imgs = self.t["images"]
        col = imgs.c.thumb if thumb else imgs.c.data
        with self.engine.connect() as conn:
            found = {
                gen: bytes(data)
                for gen, data in conn.execute(
                    sa.select(imgs.c.generation_id, col).where(imgs.c.generation_id.in_(ids))
                )
            }
        if thumb:
            lacking = [g for g, data in found.items() if data == images.NO_PREVIEW]
            if lacking:
                made = self.make_previews(lacking)
                for g in lacking:
                    found.pop(g)
                found.update(made)
        return found

    def make_previews(self, generation_ids: Iterable[str]) -> dict[str, bytes]:
        """Make the previews these saved images lack, decoding each once, and save them in one
        write; return them. An image that does not decode ends its cell as bad_image."""
        ids = sorted({str(g) for g in generation_ids})
        if not ids:
            return {}
        imgs, gens = self.t["images"], self.t["generations"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(imgs.c.generation_id, imgs.c.data, gens.c.router, gens.c.model_key)
                .join(gens, gens.c.id == imgs.c.generation_id)
                .where(imgs.c.generation_id.in_(ids), imgs.c.thumb == images.NO_PREVIEW)
            ).all()
        made: dict[str, bytes] = {}
        broken: dict[str, str] = {}
        for gen, data, router, model in rows:  # decoded outside the write: keep the lock short
            try:
                made[gen] = images.preview(bytes(data), router=router, model=model)
            except BadImageError as exc:
                broken[gen] = f"{exc} (it arrived whole, but its pixels do not decode)"
        if not (made or broken):
            return made
        try:
            self._save_previews(made, broken)
        except StoreError as exc:  # the page still shows them; the next read tries again
            log.warning("previews made but not saved: %s", exc)
        return made

    def _save_previews(self, made: dict[str, bytes], broken: dict[str, str]) -> None:
        """Write made previews, and end the cells whose image does not decode, in one write."""
        imgs, gens = self.t["images"], self.t["generations"]
        with self._write() as conn:
            for gen, thumb in made.items():
                conn.execute(
                    imgs.update()
                    .where(imgs.c.generation_id == gen, imgs.c.thumb == images.NO_PREVIEW)
                    .values(thumb=thumb)
                )
            for gen, message in broken.items():
                # Nothing can show it: the cell says so, and Retry makes a new one.
                conn.execute(imgs.delete().where(imgs.c.generation_id == gen))
                conn.execute(
                    gens.update()
                    .where(gens.c.id == gen)
                    .values(status=Status.ERROR, error_kind="bad_image", error_message=message)
                )

    def generation(self, generation_id: str) -> Cell | None:
        """One cell by its id, or None (also for a malformed id, as a link may carry)."""
        if not is_id(generation_id):
            return None
        gens = self.t["generations"]
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(gens).where(gens.c.id == str(generation_id)))
                .mappings()
                .first()
            )
        return _cell(row) if row else None

    def pending_cells(self, run_id: str) -> list[Cell]:
        """Cells of a run that still wait for a worker."""
        return [c for c in self.run_view(run_id).cells if c.status == Status.PENDING]

    # ------------------------------------------------------------ prompt sets
    def save_prompt_set(self, name: str, prompts: Sequence[str]) -> str:
        """Store a named set of prompts (a brief); return its id."""
        name = check_text(" ".join((name or "").split()), "the brief's name")
        prompts = [p.strip() for p in prompts if p and p.strip()]
        if not name:
            raise InputError("the brief needs a name")
        if len(name) > MAX_BRIEF_NAME:  # PostgreSQL holds it to the column's width
            raise InputError(
                f"the brief's name is {len(name):,} characters; {MAX_BRIEF_NAME} at most"
            )
        if not prompts:
            raise InputError("the brief has no prompts: write one prompt per line")
        if len(prompts) > MAX_BRIEF_PROMPTS:  # each one is a run on every picked model
            raise InputError(
                f"the brief has {len(prompts):,} prompts; {MAX_BRIEF_PROMPTS} at "
                "most: split it into several briefs"
            )
        for n, prompt in enumerate(prompts, 1):
            check_text(prompt, f"prompt {n} of the brief")
        set_id = new_id()
        with self._write() as conn:
            conn.execute(
                self.t["prompt_sets"]
                .insert()
                .values(id=set_id, name=name, prompts_json=json.dumps(prompts), created_at=now())
            )
        return set_id

    def prompt_sets(self) -> list[dict]:
        """Every saved brief, newest first: id, name, prompts, created_at."""
        ps = self.t["prompt_sets"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(ps).order_by(ps.c.created_at.desc())).mappings().all()
        return [
            {
                "id": r["id"],
                "name": r["name"],
                "prompts": json.loads(r["prompts_json"]),
                "created_at": utc(r["created_at"]),
            }
            for r in rows
        ]

    def prompt_set(self, set_id: object) -> dict | None:
        """One brief by id (id, name, prompts, created_at), or None."""
        if not is_id(set_id):
            return None
        ps = self.t["prompt_sets"]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ps).where(ps.c.id == set_id)).mappings().first()
        if row is None:
            return None
        return {
            "id": row["id"],
            "name": row["name"],
            "prompts": json.loads(row["prompts_json"]),
            "created_at": utc(row["created_at"]),
        }

    def runs_of_prompt_set(self, set_id: str) -> list[str]:
        """Ids of the runs made from a brief, oldest first."""
        runs = self.t["runs"]
        with self.engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    sa.select(runs.c.id)
                    .where(runs.c.prompt_set_id == set_id)
                    .order_by(runs.c.created_at)
                )
            ]

    # ---------------------------------------------------------------- ratings
    def rate(
        self, run_id: str, rater: str, rating: Rating, *, blind: bool, rater_id: str | None = None
    ) -> None:
        """Append a rating event (a newer one in the same slot replaces it; None withdraws).

        `rater` is the name shown; `rater_id` the identity it belongs to. Without one (a
        script or an old caller) the rating goes to the rater stored under that bare name.
        """
        check_run_id(run_id)
        mode = RatingMode.parse(rating.mode)  # a Rating made by hand is checked here too
        with self._write() as conn:
            rid = rater_id or self.team.legacy(conn, rater)
            conn.execute(
                self.t["ratings"]
                .insert()
                .values(
                    run_id=run_id,
                    rater=rater,
                    rater_id=rid,
                    slot=rating.slot,
                    mode=mode,
                    generation_id=rating.generation_id,
                    other_generation_id=rating.other_generation_id,
                    value=rating.value,
                    blind=blind,
                    created_at=now(),
                )
            )

    def current_ratings(
        self, run_id: str | None = None, rater: str | None = None, rater_id: str | None = None
    ) -> list[dict]:
        """The latest rating per (run, rater, slot), withdrawn ones left out."""
        r = self.t["ratings"]
        latest = sa.select(sa.func.max(r.c.id).label("id")).group_by(
            r.c.run_id, r.c.rater_id, r.c.slot
        )
        if run_id is not None:
            latest = latest.where(r.c.run_id == run_id)
        if rater is not None:
            latest = latest.where(r.c.rater == rater)
        if rater_id is not None:
            latest = latest.where(r.c.rater_id == rater_id)
        q = (
            sa.select(r)
            .where(r.c.id.in_(latest.scalar_subquery()), r.c.value.is_not(None))
            .order_by(r.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            {**row, "created_at": utc(row["created_at"]), "blind": bool(row["blind"])}
            for row in rows
        ]

    def rating_events(self) -> int:
        """How many rating events are stored (every click, including changes and undos)."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(self.t["ratings"])
            ).scalar_one()

    def review_progress(self, run_id: str) -> dict[str, int]:
        """For each rater of a run, how many images they have rated in any way."""
        rated: dict[str, set[str]] = {}
        for row in self.current_ratings(run_id):
            ids = {row["generation_id"], row["other_generation_id"]} - {None}
            rated.setdefault(row["rater"], set()).update(ids)
        return {rater: len(ids) for rater, ids in sorted(rated.items())}

    # ------------------------------------------------------------ leaderboard
    def generations_frame(self) -> pd.DataFrame:
        """Every generation as a row for the leaderboard (no image bytes)."""
        import pandas as pd

        g, runs = self.t["generations"], self.t["runs"]
        q = sa.select(
            g.c.id.label("generation_id"),
            g.c.run_id,
            g.c.model_key,
            g.c.router,
            g.c.label,
            g.c.status,
            g.c.error_kind,
            g.c.cost_usd,
            g.c.cost_kind,
            g.c.wall_s,
            _raw_time(runs.c.created_at),
            runs.c.prompt_set_id,
        ).join(runs, runs.c.id == g.c.run_id)
        with self.engine.connect() as conn:
            df = _frame(conn.execute(q).all(), GENERATION_COLUMNS)
        df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
        df["cost_usd"] = pd.to_numeric(df["cost_usd"], errors="coerce")
        df["wall_s"] = pd.to_numeric(df["wall_s"], errors="coerce")
        df["sandbox"] = df["router"].isin(SIMULATED_ROUTERS)
        df["prompt_set_id"] = (
            df["prompt_set_id"].astype(object).where(df["prompt_set_id"].notna(), None)
        )
        return df

    def ratings_frame(self) -> pd.DataFrame:
        """Current ratings as rows for the leaderboard (the rows `current_ratings` gives).

        `counts` says whether the default view counts a rating: not when its rater is held
        (joined through a team link, not yet accepted), dropped, or excluded from that run.
        `id` and `slot` let a reader that keeps the frame apply later events to it
        (`ratings_since`).
        """
        r = self.t["ratings"]
        latest = sa.select(sa.func.max(r.c.id)).group_by(r.c.run_id, r.c.rater_id, r.c.slot)
        df = self._rating_rows(r.c.id.in_(latest.scalar_subquery()) & r.c.value.is_not(None))
        df["counts"] = self.counts_of(df)
        return df

    def ratings_since(self, after_id: int) -> pd.DataFrame:
        """Every rating event with an id above `after_id`, oldest first, withdrawals included.

        The columns of `ratings_frame` without `counts`; a withdrawal has no value. Applied in
        order to the current ratings of `after_id` (a later event in a slot replaces the
        rating there, one without a value removes it), they give the current ratings now.
        """
        return self._rating_rows(self.t["ratings"].c.id > after_id)

    def _rating_rows(self, where: sa.ColumnElement[bool]) -> pd.DataFrame:
        """Rating rows matching `where`, ordered by id, times parsed at once as UTC."""
        import pandas as pd

        r = self.t["ratings"]
        columns = [
            "id",
            "run_id",
            "rater",
            "rater_id",
            "slot",
            "mode",
            "generation_id",
            "other_generation_id",
            "value",
            "blind",
            "created_at",
        ]
        q = (
            sa.select(*(r.c[c] for c in columns[:-1]), _raw_time(r.c.created_at))
            .where(where)
            .order_by(r.c.id)
        )
        with self.engine.connect() as conn:
            df = _frame(conn.execute(q).all(), columns)
        # Naive times (SQLite) are UTC, as `current_ratings` reads them.
        df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
        df["blind"] = df["blind"].astype(bool)
        df["id"] = df["id"].astype("int64")
        return df

    def counts_of(self, ratings: pd.DataFrame) -> np.ndarray:
        """Whether the default view counts each rating row (by its rater id and run id)."""
        import numpy as np
        import pandas as pd

        n = len(ratings)
        if not n:
            return np.ones(0, bool)
        # Only the few (rater, run) pairs that do not count need finding; every other counts.
        left_out = [key for key, counts in self.team.counted().items() if not counts]
        if not left_out:
            return np.ones(n, bool)

        keys = pd.MultiIndex.from_arrays(
            [ratings["rater_id"].astype(object), ratings["run_id"].astype(object)]
        )
        return pd.MultiIndex.from_tuples(left_out).get_indexer(keys) < 0

    def board_version(self) -> tuple:
        """A value that changes whenever the leaderboard's rows may have changed.

        Every write that touches a leaderboard column either adds a row, changes a cell's
        status (the counts per status move) or stamps started_at / finished_at with the
        current time, and ratings only ever grow: so the counts per status, the latest
        stamps and the ratings' count and latest id together say when to rebuild; whose
        votes count changes only by appending a rater event, so their latest id joins in.
        Two queries, whatever the size of the history.
        """
        gq, rq = self._board_version_queries
        with self.engine.connect() as conn:
            gens = tuple(tuple(str(v) for v in row) for row in conn.execute(gq).all())
            ratings = tuple(str(v) for v in conn.execute(rq).one())
        return gens, ratings

    @functools.cached_property
    def _board_version_queries(self) -> tuple[sa.Select, sa.Select]:
        # Built once, as run_version's: every Leaderboard rerun asks.
        g, r, runs = self.t["generations"], self.t["ratings"], self.t["runs"]
        ev = self.t["rater_events"]
        gq = (
            sa.select(
                g.c.status,
                sa.func.count(),
                sa.func.max(g.c.started_at),
                sa.func.max(g.c.finished_at),
            )
            .group_by(g.c.status)
            .order_by(g.c.status)
        )
        # The latest run's time too: two databases behind one URL (a test database dropped
        # and filled again) then never share a version.
        rq = sa.select(
            sa.func.count(),
            sa.func.max(r.c.id),
            sa.select(sa.func.max(runs.c.created_at)).scalar_subquery(),
            sa.select(sa.func.max(ev.c.id)).scalar_subquery(),
        )
        return gq, rq

    def run_version(self, run_id: str) -> tuple:
        """A value that changes whenever a run's cells may have changed: one small query.

        Every write to a cell moves its status (the counts per status), adds a cell (a
        reroll) or stamps started_at / finished_at, and what a cell cost is booked in the
        same write: so the live grid's poll redraws only when this moves.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(self._version_query, {"run_id": run_id}).all()
        return tuple(tuple(str(v) for v in row) for row in rows)

    @functools.cached_property
    def _version_query(self) -> sa.Select:
        # Built once: the live grid asks five times a second per tab, and building the
        # statement (not running it) was most of the call's time.
        g = self.t["generations"]
        return (
            sa.select(
                g.c.status,
                sa.func.count(),
                sa.func.max(g.c.started_at),
                sa.func.max(g.c.finished_at),
            )
            .where(g.c.run_id == sa.bindparam("run_id"))
            .group_by(g.c.status)
            .order_by(g.c.status)
        )

    # ---------------------------------------------------------------- runners
    def heartbeat(self, runner_id: str, host: str | None = None, pid: int | None = None) -> None:
        """Record that this runner process is alive."""
        runners = self.t["runners"]
        stamp = now()
        with self._write() as conn:
            updated = conn.execute(
                runners.update().where(runners.c.id == runner_id).values(heartbeat_at=stamp)
            ).rowcount
            if not updated:
                conn.execute(
                    runners.insert().values(
                        id=runner_id, started_at=stamp, heartbeat_at=stamp, host=host, pid=pid
                    )
                )

    def runners(self) -> list[dict]:
        """Every runner that ever registered: id, host, pid, heartbeat_at."""
        r = self.t["runners"]
        with self.engine.connect() as conn:
            return [
                dict(row)
                for row in conn.execute(
                    sa.select(r.c.id, r.c.host, r.c.pid, r.c.heartbeat_at)
                ).mappings()
            ]

    def interrupt_orphans(
        self, stale_after_s: float, alive: Iterable[str] = (), dead: Iterable[str] = ()
    ) -> int:
        """Mark pending/running cells of dead runners as interrupted; return how many.

        A runner is dead when its heartbeat is older than `stale_after_s`, or when the caller
        knows it is (`dead`: e.g. its process is gone from this host).
        """
        runners, gens = self.t["runners"], self.t["generations"]
        cutoff = now() - dt.timedelta(seconds=stale_after_s)
        live = sa.select(runners.c.id).where(runners.c.heartbeat_at >= cutoff)
        if list(dead):
            live = live.where(runners.c.id.not_in(list(dead)))
        keep = list(alive)
        cond = sa.and_(
            gens.c.status.in_(IN_FLIGHT),
            sa.or_(gens.c.runner_id.is_(None), gens.c.runner_id.not_in(live)),
        )
        if keep:
            cond = sa.and_(cond, sa.or_(gens.c.runner_id.is_(None), gens.c.runner_id.not_in(keep)))
        with self._write() as conn:
            return conn.execute(
                gens.update()
                .where(cond)
                .values(
                    status=Status.INTERRUPTED,
                    error_kind="interrupted",
                    error_message="interrupted: the server stopped before this image arrived",
                    finished_at=now(),
                )
            ).rowcount

    def integrity_ok(self) -> bool:
        """SQLite's integrity check (always True on other engines)."""
        if self.dialect != "sqlite":
            return True
        with self.engine.connect() as conn:
            return conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"

    # ---------------------------------------------------------------- helpers
    def _write(self):
        # SQLite allows one writer. Writers in this process queue on a mutex (fast hand-over);
        # writers in other processes wait on the busy timeout. BEGIN IMMEDIATE takes the write
        # lock up front so a transaction never fails half-way on lock upgrade.
        return _Tx(self.engine, self._lock if self.dialect == "sqlite" else None)

    def runs_bulk(self, run_ids: Sequence[str] | None = None) -> list[RunView]:
        """Many runs with all their cells and spend, newest first, in three queries.

        Every run when `run_ids` is None, else those of the ids that exist (unknown ones are
        left out). Exports use it: one `run_view` per run would make a query per run.
        """
        runs, gens, spend = self.t["runs"], self.t["generations"], self.t["spend"]
        ids = None if run_ids is None else sorted({str(r) for r in run_ids if is_id(r)})
        if ids == []:
            return []
        run_q = sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.id.desc())
        gen_q = sa.select(gens).order_by(gens.c.run_id, gens.c.position)
        spend_q = sa.select(spend).order_by(spend.c.id)
        if ids is not None:
            run_q = run_q.where(runs.c.id.in_(ids))
            gen_q = gen_q.where(gens.c.run_id.in_(ids))
            spend_q = spend_q.where(spend.c.run_id.in_(ids))
        with self.engine.connect() as conn:
            run_rows = conn.execute(run_q).mappings().all()
            gen_rows = conn.execute(gen_q).mappings().all()
            spend_rows = conn.execute(spend_q).mappings().all()
        views = {
            r["id"]: RunView(
                r["id"], utc(r["created_at"]), r["prompt"], json.loads(r["params_json"])
            )
            for r in run_rows
        }
        for r in gen_rows:
            if r["run_id"] in views:
                views[r["run_id"]].cells.append(_cell(r))
        for r in spend_rows:
            if r["run_id"] in views:
                views[r["run_id"]].spend.append(_spend(r))
        return list(views.values())

    def images_bulk(self, generation_ids: Iterable[str]) -> dict[str, bytes]:
        """The original bytes of many images in one query (ids without an image left out)."""
        return self._image_bytes((g for g in generation_ids if is_id(g)), thumb=False)


@dataclass
class _Success:
    """One saved image waiting for its group commit (Store._save_together)."""

    generation_id: str
    image_row: dict[str, Any]
    values: dict[str, Any]  # the generation row's new values
    cost: Cost
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None  # why it was not saved, raised in its own thread


class _Tx:
    """A write transaction (BEGIN IMMEDIATE on SQLite) that turns DB errors into StoreError."""

    def __init__(self, engine: Engine, lock: threading.Lock | None) -> None:
        self.engine = engine
        self.lock = lock
        self.conn: Connection | None = None
        self._ctx: AbstractContextManager[Connection] | None = None

    def __enter__(self) -> Connection:
        if self.lock:
            self.lock.acquire()
        try:
            self._ctx = ctx = self.engine.begin()
            self.conn = conn = ctx.__enter__()
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        except SQLAlchemyError as exc:
            # BEGIN IMMEDIATE refused (locked, read-only): close the transaction begun above,
            # or its connection stays checked out of the pool until the collector finds it.
            if self._ctx is not None and self.conn is not None:
                try:
                    self._ctx.__exit__(type(exc), exc, exc.__traceback__)
                except SQLAlchemyError:
                    pass  # the refusal below is the error worth reporting
            if self.lock:
                self.lock.release()
            raise _write_error(exc) from exc
        return conn

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        assert self._ctx is not None  # __exit__ runs only after __enter__ succeeded
        try:
            self._ctx.__exit__(exc_type, exc, tb)
        except SQLAlchemyError as err:
            raise _write_error(err) from err
        finally:
            if self.lock:
                self.lock.release()
        if isinstance(exc, SQLAlchemyError):
            raise _write_error(exc) from exc
        return False


def _write_error(exc: SQLAlchemyError) -> StoreError:
    return StoreError(
        f"cannot write to the database: {_first_line(exc)}", reason=write_problem(exc)
    )


def write_problem(exc: BaseException) -> str:
    """A refused write in a few words: 'disk full', 'database locked', 'database read-only'."""
    # SQLite says it in its message (SQLITE_FULL, SQLITE_BUSY, SQLITE_READONLY); PostgreSQL by
    # SQLSTATE: class 53 insufficient resources (53100 disk_full), 55P03 lock_not_available,
    # 40P01 deadlock, 25006 read_only_sql_transaction, class 08 / 57P connection lost.
    orig = getattr(exc, "orig", None) or exc
    code = str(getattr(orig, "sqlstate", None) or "")
    text = str(orig).lower()
    if code.startswith("53") or "disk is full" in text or "no space left" in text:
        return "disk full"
    if code in ("55P03", "40P01") or "locked" in text or "deadlock" in text:
        return "database locked"
    if code == "25006" or "readonly" in text or "read-only" in text:
        return "database read-only"
    if (
        code.startswith(("08", "57P"))
        or getattr(exc, "connection_invalidated", False)
        or "connection" in text
    ):
        return "database unreachable"
    return "the database refused the write"


def _sqlite_pragmas(busy_timeout_s: float):
    def on_connect(dbapi_conn, _record) -> None:
        # The driver would BEGIN (deferred) for us; we BEGIN IMMEDIATE ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        try:
            cur.execute("PRAGMA journal_mode=WAL")
        except Exception:  # noqa: BLE001 - a read-only or locked file keeps its journal mode
            pass
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


def _raw_time(column: sa.ColumnElement) -> sa.ColumnElement:
    """A time column as the driver gives it (SQLite: ISO text), parsed later by pandas at once.

    SQLAlchemy's own DateTime parsing runs per row in Python: half the cost of reading 100k
    ratings. The frames parse the whole column with `pd.to_datetime(..., utc=True)` instead
    (naive SQLite times are UTC, as `_utc` reads them).
    """
    return sa.type_coerce(column, sa.String).label(column.name)


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Result rows as a frame, built column by column (from row objects it is 3x slower)."""
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=list(columns))
    return pd.DataFrame(dict(zip(columns, zip(*rows, strict=True), strict=True)))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _spend(r: Any) -> Spend:
    return Spend(
        r["generation_id"],
        r["run_id"],
        r["router"],
        r["model_key"],
        r["outcome"],
        Cost(r["usd"], r["kind"], r["basis"] or "", r["source"] or "", r["seen"] or ""),
        utc(r["at"]),
    )


def _cell(r: Any) -> Cell:
    return Cell(
        id=r["id"],
        run_id=r["run_id"],
        position=r["position"],
        model_key=r["model_key"],
        router=r["router"],
        label=r["label"],
        image_index=r["image_index"],
        prompt=r["prompt"],
        params=json.loads(r["params_json"]),
        notes=json.loads(r["notes_json"]),
        status=Status(r["status"]),
        error_kind=r["error_kind"],
        error_message=r["error_message"],
        seed=r["seed"],
        wall_s=r["wall_s"],
        queue_s=r["queue_s"],
        inference_s=r["inference_s"],
        cost_usd=r["cost_usd"],
        cost_kind=r["cost_kind"],
        cost_basis=r["cost_basis"],
        cost_source=r["cost_source"],
        cost_seen=r["cost_seen"],
        width=r["width"],
        height=r["height"],
        attempts=r["attempts"],
        started_at=utc(r["started_at"]),
        finished_at=utc(r["finished_at"]),
        job=json.loads(r["job_json"]) if r["job_json"] else None,
        job_open=bool(r["job_open"]),
        lease_epoch=int(r.get("lease_epoch") or 0),
        submit_unsaved=r.get("submit_epoch") is not None and not r["job_json"],
    )
