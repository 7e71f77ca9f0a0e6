"""Named, ordered schema migrations, applied on open and recorded in `vibegen_migrations`.

NEVER edit or reorder an existing migration once it has shipped: append a new one. Each
migration carries its own frozen table definitions, so a database created long ago and one
created today reach the same schema by the same path.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = []


def migration(fn: Callable[[Connection], None]) -> Callable[[Connection], None]:
    """Register `fn` as the next migration, under its function name."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


@migration
def m001_initial(conn: Connection) -> None:
    """Runs, generations (one per grid cell), images, ratings and runner heartbeats."""
    md = sa.MetaData()
    sa.Table(
        "runs",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        _ts("created_at", nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("n_cells", sa.Integer, nullable=False),
        sa.Column("runner_id", sa.String(32)),
    )
    sa.Table(
        "generations",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("model_key", sa.String(200), nullable=False, index=True),
        sa.Column("router", sa.String(50), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("image_index", sa.Integer, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("notes_json", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("error_kind", sa.String(40)),
        sa.Column("error_message", sa.Text),
        sa.Column("seed", sa.Text),  # fal seeds are unsigned 64-bit: text, not INTEGER
        sa.Column("wall_s", sa.Float),
        sa.Column("queue_s", sa.Float),
        sa.Column("inference_s", sa.Float),
        sa.Column("cost_usd", sa.Float),
        sa.Column("cost_kind", sa.String(20), nullable=False),
        sa.Column("cost_basis", sa.Text),
        sa.Column("cost_source", sa.Text),
        sa.Column("cost_seen", sa.String(20)),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("request_id", sa.String(200)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("runner_id", sa.String(32)),
        _ts("started_at"),
        _ts("finished_at"),
    )
    sa.Table(
        "images",
        md,
        sa.Column(
            "generation_id", sa.String(32), sa.ForeignKey("generations.id"), primary_key=True
        ),
        sa.Column("mime", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("thumb", sa.LargeBinary, nullable=False),
    )
    sa.Table(
        "ratings",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("rater", sa.String(100), nullable=False),
        sa.Column("slot", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("generation_id", sa.String(32), nullable=False),
        sa.Column("other_generation_id", sa.String(32)),
        sa.Column("value", sa.String(20)),  # NULL = the rater withdrew this rating
        sa.Column("blind", sa.Boolean, nullable=False),
        _ts("created_at", nullable=False),
    )
    sa.Table(
        "runners",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        _ts("started_at", nullable=False),
        _ts("heartbeat_at", nullable=False),
    )
    md.create_all(conn)


def migrate(conn: Connection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now."""
    book = sa.Table(
        "vibegen_migrations",
        sa.MetaData(),
        sa.Column("name", sa.String(100), primary_key=True),
        _ts("applied_at", nullable=False),
    )
    book.create(conn, checkfirst=True)
    done = {row[0] for row in conn.execute(sa.select(book.c.name))}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        fn(conn)
        conn.execute(book.insert().values(name=name, applied_at=dt.datetime.now(dt.UTC)))
        applied.append(name)
    return applied


@migration
def m002_prompt_sets(conn: Connection) -> None:
    """Prompt sets ("briefs") and the link from a run to the brief it was part of."""
    md = sa.MetaData()
    sa.Table(
        "prompt_sets",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prompts_json", sa.Text, nullable=False),
        _ts("created_at", nullable=False),
    )
    md.create_all(conn)
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN prompt_set_id VARCHAR(32)"))


@migration
def m003_runner_process(conn: Connection) -> None:
    """Which host and process a runner lives in, so a restart can see at once it is dead."""
    conn.execute(sa.text("ALTER TABLE runners ADD COLUMN host VARCHAR(255)"))
    conn.execute(sa.text("ALTER TABLE runners ADD COLUMN pid INTEGER"))


@migration
def m004_paid_jobs_and_spend(conn: Connection) -> None:
    """The router job behind each cell (to resume, never rebuy) and the ledger of spend."""
    conn.execute(sa.text("ALTER TABLE generations ADD COLUMN job_json TEXT"))
    conn.execute(
        sa.text("ALTER TABLE generations ADD COLUMN job_open BOOLEAN NOT NULL DEFAULT FALSE")
    )
    md = sa.MetaData()
    sa.Table(
        "spend",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("generation_id", sa.String(32), nullable=False, index=True),
        sa.Column("run_id", sa.String(32), nullable=False, index=True),
        sa.Column("router", sa.String(50), nullable=False),
        sa.Column("model_key", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),  # "image" or "failed"
        sa.Column("usd", sa.Float),  # NULL: billed, amount unknown
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("basis", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("seen", sa.String(20)),
        _ts("at", nullable=False),
    )
    md.create_all(conn)


@migration
def m005_settings(conn: Connection) -> None:
    """Team settings kept with the data (spending caps set on the Spend page)."""
    md = sa.MetaData()
    sa.Table(
        "settings",
        md,
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        _ts("updated_at", nullable=False),
    )
    md.create_all(conn)


@migration
def m006_review_links_and_raters(conn: Connection) -> None:
    """Review links as tokens, rater identities held by browsers, and the owner's rater events.

    Ratings stored before this carry only a typed name: each distinct name becomes one rater
    of origin "legacy" (counted), so every old rating keeps its rater and still counts once.
    """
    md = sa.MetaData()
    sa.Table(
        "raters",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("display", sa.String(220), nullable=False, unique=True),
        sa.Column("name_key", sa.String(220), nullable=False, index=True),
        sa.Column("secret_hash", sa.String(64), unique=True),  # NULL: a legacy name
        sa.Column("origin", sa.String(20), nullable=False),
        _ts("created_at", nullable=False),
    )
    sa.Table(
        "review_links",
        md,
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("blind", sa.Boolean, nullable=False),
        sa.Column("rater_id", sa.String(32)),  # the invited teammate
        _ts("created_at", nullable=False),
        _ts("closed_at"),
    )
    sa.Table(
        "rater_events",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rater_id", sa.String(32), nullable=False, index=True),
        sa.Column("run_id", sa.String(32)),  # NULL: the event is about every run
        sa.Column("action", sa.String(20), nullable=False),
        _ts("at", nullable=False),
    )
    md.create_all(conn)
    conn.execute(sa.text("ALTER TABLE ratings ADD COLUMN rater_id VARCHAR(32)"))
    conn.execute(sa.text("CREATE INDEX ix_ratings_rater_id ON ratings (rater_id)"))
    # Backfill: one legacy rater per distinct typed name. The migration cannot import the app's
    # code (it must stay frozen), so the key is the plain case-folded name.
    names = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT rater FROM ratings"))]
    stamp = dt.datetime.now(dt.UTC)
    for name in names:
        rid = secrets.token_hex(16)
        conn.execute(
            sa.text(
                "INSERT INTO raters (id, name, display, name_key, secret_hash, origin, created_at) "
                "VALUES (:id, :name, :name, :key, NULL, 'legacy', :at)"
            ),
            {"id": rid, "name": name, "key": "".join(name.casefold().split()), "at": stamp},
        )
        conn.execute(
            sa.text("UPDATE ratings SET rater_id = :id WHERE rater = :name"),
            {"id": rid, "name": name},
        )


@migration
def m007_model_listings(conn: Connection) -> None:
    """What the routers list (models, prices) with when it was fetched, and models added by id.

    Self-contained (issue 15): two new tables, nothing else touched.
    """
    md = sa.MetaData()
    sa.Table(
        "model_listings",
        md,
        sa.Column("source", sa.String(50), primary_key=True),  # "fal:models", "fal:prices", ...
        _ts("fetched_at"),  # the last answer that could be read
        _ts("attempted_at", nullable=False),  # the last try, good or not (daily refresh)
        sa.Column("payload_json", sa.Text),  # the last good answer, parsed
        sa.Column("error", sa.Text),  # why the last try failed; NULL when it worked
    )
    sa.Table(
        "user_models",
        md,
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("entry_json", sa.Text, nullable=False),  # a catalog [[models]] entry
        _ts("added_at", nullable=False),
    )
    md.create_all(conn)


@migration
def m009_brief_review_links(conn: Connection) -> None:
    """One review link for a whole brief: a table of its own, beside `review_links`.

    Why not a nullable `prompt_set_id` on `review_links`: its `run_id` is NOT NULL, and SQLite
    can drop that only by rebuilding the table, and a rebuild from a frozen column list would
    lose any column a later (or concurrently written) migration adds to it. Every reader of a
    run link relies on its run too. Tokens are 192 random bits, so the two tables never share
    one, and a token names either a run link or a brief link. The runs a brief link opens are
    looked up when it is opened (`runs.prompt_set_id`), so a brief run again shows its new runs.

    Named m009 (m008 is another change's): migrations apply by name, so order of merge is free.
    """
    md = sa.MetaData()
    sa.Table(
        "brief_links",
        md,
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("prompt_set_id", sa.String(32), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),  # "team": everyone says their name
        sa.Column("blind", sa.Boolean, nullable=False),
        _ts("created_at", nullable=False),
        _ts("closed_at"),
    )
    md.create_all(conn)


@migration
def m010_run_archive(conn: Connection) -> None:
    """A run can be archived: hidden from History by default, kept with every rating.

    A nullable time, not a flag: History can say when, and NULL (never archived) needs no
    backfill. Archiving is not deleting: the leaderboard still counts the run's ratings.
    """
    # The type as the other times were made (sa.DateTime(timezone=True)): DATETIME on SQLite,
    # whose reflection would not read PostgreSQL's spelling as a time.
    kind = "DATETIME" if conn.dialect.name == "sqlite" else "TIMESTAMP WITH TIME ZONE"
    conn.execute(sa.text(f"ALTER TABLE runs ADD COLUMN archived_at {kind}"))


@migration
def m011_shared_rate_limits(conn: Connection) -> None:
    """A router's request-rate window held in the database (team mode): one row per call.

    Workers on several machines share one account's limit (Kie: 20 new tasks per 10 s), so
    the window must be counted where they all see it. Times are the database clock's epoch
    seconds, so machines with skewed clocks count the same window. `rate_pauses` holds a
    429's "everyone wait until". Unused (and empty) on the SQLite store.
    """
    md = sa.MetaData()
    sa.Table(
        "rate_marks",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("bucket", sa.String(100), nullable=False, index=True),  # "kie:submit"
        sa.Column("at", sa.Float, nullable=False),
    )
    sa.Table(
        "rate_pauses",
        md,
        sa.Column("bucket", sa.String(100), primary_key=True),
        sa.Column("until", sa.Float, nullable=False),
    )
    md.create_all(conn)


@migration
def m012_cell_leases(conn: Connection) -> None:
    """A queued cell's lease (team mode): who may buy its image, until when, fenced by epoch.

    `lease_epoch` goes up by one at every claim, so a worker that was only late (a GC pause,
    a stopped process, a network blip) finds that its claim is no longer the cell's and does
    not submit. `lease_until` is the database clock's "taken over after"; `submit_epoch`
    says which claim passed the fence right before a paid call (so a taker knows a submit
    may be on the wire). Unused on the SQLite store, whose cells never change hands.
    """
    kind = "DATETIME" if conn.dialect.name == "sqlite" else "TIMESTAMP WITH TIME ZONE"
    conn.execute(
        sa.text("ALTER TABLE generations ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0")
    )
    conn.execute(sa.text(f"ALTER TABLE generations ADD COLUMN lease_until {kind}"))
    conn.execute(sa.text("ALTER TABLE generations ADD COLUMN submit_epoch INTEGER"))


@migration
def m013_board_version_index(conn: Connection) -> None:
    """Cells' status with their time stamps in one index, which `Store.board_version` reads.

    Every Leaderboard rerun asks for the counts per status and the latest stamps: over 80,000
    cells that was a 65 ms walk of the table; from this covering index it is a third of that.
    It starts with status, so it also serves what the status index alone did.
    """
    conn.execute(sa.text("DROP INDEX ix_generations_status"))
    conn.execute(
        sa.text(
            "CREATE INDEX ix_generations_status_stamps "
            "ON generations (status, started_at, finished_at)"
        )
    )
