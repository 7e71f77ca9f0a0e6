"""The store: schema as a contract, one transaction per save, unguessable ids."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from tests.fakes.http_fake import png_bad_pixels
from vibegen import images
from vibegen.costs import Cost
from vibegen.errors import RunNotFoundError, StoreError
from vibegen.migrations import MIGRATIONS
from vibegen.records import CellSpec, RunFilter, RunStatus, check_run_id
from vibegen.routers.sandbox_router import render
from vibegen.store import Store

SCHEMA = {
    "runs": {"id", "created_at", "prompt", "params_json", "n_cells", "runner_id", "prompt_set_id"},
    "generations": {
        "id",
        "run_id",
        "position",
        "model_key",
        "router",
        "label",
        "image_index",
        "prompt",
        "params_json",
        "notes_json",
        "status",
        "error_kind",
        "error_message",
        "seed",
        "wall_s",
        "queue_s",
        "inference_s",
        "cost_usd",
        "cost_kind",
        "cost_basis",
        "cost_source",
        "cost_seen",
        "width",
        "height",
        "request_id",
        "attempts",
        "runner_id",
        "started_at",
        "finished_at",
    },
    "images": {"generation_id", "mime", "sha256", "data", "thumb"},
    "ratings": {
        "id",
        "run_id",
        "rater",
        "slot",
        "mode",
        "generation_id",
        "other_generation_id",
        "value",
        "blind",
        "created_at",
    },
    "runners": {"id", "started_at", "heartbeat_at", "host", "pid"},
    "prompt_sets": {"id", "name", "prompts_json", "created_at"},
}


def _cells(n=2):
    return [
        CellSpec(
            f"sandbox:m{i}",
            "sandbox",
            f"M{i}",
            0,
            "p",
            {"width": 64},
            {},
            Cost(0.01, "simulated"),
            64,
            64,
        )
        for i in range(n)
    ]


def test_schema_contract(any_store):
    store = any_store
    insp = sa.inspect(store.engine)
    for table, columns in SCHEMA.items():
        assert {c["name"] for c in insp.get_columns(table)} >= columns, table
    with store.engine.connect() as conn:
        applied = conn.execute(sa.text("SELECT name FROM vibegen_migrations ORDER BY applied_at"))
        assert [r[0] for r in applied] == [name for name, _ in MIGRATIONS]


def test_sqlite_uses_wal(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_reopening_does_not_migrate_twice(any_store):
    store = any_store
    again = Store.open(store.engine.url.render_as_string(hide_password=False))
    with again.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM vibegen_migrations")).scalar()
    assert n == len(MIGRATIONS)


def test_run_ids_are_128_random_bits(any_store):
    store = any_store
    ids = {store.create_run("p", {}, _cells(1)) for _ in range(50)}
    assert len(ids) == 50
    assert all(check_run_id(i) and len(i) == 32 for i in ids)


def test_run_version_moves_with_each_cell_write_and_only_its_own_run(any_store):
    store = any_store
    run_id = store.create_run("p", {}, _cells(2))
    other = store.create_run("p", {}, _cells(1))
    ids = [c.id for c in store.run_view(run_id).cells]
    seen = [store.run_version(run_id)]
    store.claim_cells(ids, "runner-a")
    seen.append(store.run_version(run_id))
    before_other = store.run_version(other)
    store.save_success(
        ids[0], render("rings", "p", 1, 64, 64), cost=Cost(0.01, "simulated"), wall_s=1.0
    )
    seen.append(store.run_version(run_id))
    store.save_failure(ids[1], kind="content_filter", message="boom", wall_s=1.0)
    seen.append(store.run_version(run_id))
    assert len(set(seen)) == len(seen)  # every write moved it
    assert store.run_version(run_id) == seen[-1]  # and nothing else does
    assert store.run_version(other) == before_other
    assert store.run_version("no-such-run") == ()


def test_success_saves_image_and_thumbnail_together(any_store):
    store = any_store
    run_id = store.create_run("p", {}, _cells(1))
    cell = store.run_view(run_id).cells[0]
    png = render("rings", "p", 1, 1024, 1024)
    store.save_success(
        cell.id,
        png,
        cost=Cost(0.02, "reported", "units", "src", "2026-01-01"),
        wall_s=1.5,
        seed="17454220438242315174",
    )
    got = store.run_view(run_id).cells[0]
    assert got.status == "ok" and got.seed == "17454220438242315174"
    assert (got.width, got.height) == (1024, 1024)
    assert got.cost == Cost(0.02, "reported", "units", "src", "2026-01-01")
    assert store.image(cell.id) == png
    thumb = store.image(cell.id, thumb=True)
    assert thumb[:2] == b"\xff\xd8"  # a JPEG preview at the grid's size, not the original
    assert images.inspect(thumb).width == images.THUMB_SIDE


def test_an_image_saved_without_its_preview_gets_it_on_the_first_read(any_store):
    # The runner saves a router's image checked, not decoded (images.checked): the first
    # page that shows it makes the preview, once, and it is kept.
    store = any_store
    run_id = store.create_run("p", {}, _cells(2))
    a, b = store.run_view(run_id).cells
    for cell in (a, b):
        png = render("rings", "p", 1, 1024, 1024)
        store.save_success(
            cell.id, png, cost=Cost(0.01, "simulated"), wall_s=1.0, prepared=images.checked(png)
        )
    assert store.run_view(run_id).cells[0].width == 1024  # the size, read from the header
    thumbs = store.thumbnails([a.id])
    assert images.inspect(thumbs[a.id]).width == images.THUMB_SIDE
    assert images.inspect(store.image(b.id, thumb=True)).width == images.THUMB_SIDE
    assert store.make_previews([a.id, b.id]) == {}  # both kept: nothing left to make
    assert store.thumbnails([a.id, b.id]).keys() == {a.id, b.id}


def test_an_image_whose_pixels_do_not_decode_ends_as_bad_image_when_previewed(any_store):
    store = any_store
    run_id = store.create_run("p", {}, _cells(1))
    cell = store.run_view(run_id).cells[0]
    broken = png_bad_pixels()  # passes images.checked: only decoding shows it is broken
    store.save_success(
        cell.id,
        broken,
        cost=Cost(0.01, "simulated"),
        wall_s=1.0,
        prepared=images.checked(broken),
    )
    assert store.thumbnails([cell.id]) == {}
    got = store.run_view(run_id).cells[0]
    assert got.status == "error" and got.error_kind == "bad_image"
    assert "not a readable image" in got.error_message
    assert store.image(cell.id) is None


def test_images_saved_together_each_succeed_or_fail_on_their_own(any_store):
    # Saves that arrive together share one transaction (group commit); one the store
    # refuses (here: a cell that does not exist) fails alone, in its own thread.
    store = any_store
    run_id = store.create_run("p", {}, _cells(16))
    cells = store.run_view(run_id).cells
    png = render("dots", "p", 1, 64, 64)
    ids = [c.id for c in cells] + ["f" * 32]
    start = threading.Barrier(len(ids))
    errors: dict[str, Exception] = {}

    def save(generation_id: str) -> None:
        start.wait()
        try:
            store.save_success(
                generation_id,
                png,
                cost=Cost(0.01, "reported"),
                wall_s=1.0,
                request_id=f"req-{generation_id[:4]}",
                prepared=images.checked(png),
            )
        except StoreError as exc:
            errors[generation_id] = exc

    threads = [threading.Thread(target=save, args=(g,)) for g in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert list(errors) == ["f" * 32]
    view = store.run_view(run_id)
    assert all(c.status == "ok" and c.width == 64 for c in view.cells)
    assert len(store.images_bulk(c.id for c in cells)) == 16
    assert store.spent(run_id=run_id) == pytest.approx(0.16)  # each booked once


def test_failed_save_leaves_nothing_half_written(any_store):
    store = any_store
    run_id = store.create_run("p", {}, _cells(1))
    cell = store.run_view(run_id).cells[0]
    # A fault at the storage boundary after the image row is written, inside the same
    # transaction: the database refuses the generation update.
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE UPDATE ON generations WHEN NEW.status = 'ok' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                "IF NEW.status = 'ok' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; "
                "END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE UPDATE ON generations "
                "FOR EACH ROW EXECUTE FUNCTION boom()"
            )
    with pytest.raises(StoreError, match="disk full"):
        store.save_success(
            cell.id, render("dots", "p", 1, 128, 128), cost=Cost(0.01, "simulated"), wall_s=1.0
        )
    assert store.image(cell.id) is None
    assert store.run_view(run_id).cells[0].status == "pending"


def test_failure_is_stored_with_kind(any_store):
    store = any_store
    run_id = store.create_run("p", {}, _cells(2))
    a, b = store.run_view(run_id).cells
    store.save_failure(a.id, kind="content_filter", message="fal: content filtered", wall_s=2.0)
    store.save_failure(b.id, kind="timeout", message="fal: timed out", wall_s=30.0, timeout=True)
    view = store.run_view(run_id)
    assert [(c.status, c.error_kind) for c in view.cells] == [
        ("error", "content_filter"),
        ("timeout", "timeout"),
    ]
    assert view.complete and view.failures == 2


def test_bad_run_ids_are_explained(any_store):
    store = any_store
    with pytest.raises(RunNotFoundError, match="malformed"):
        store.run_view("../../etc/passwd")
    with pytest.raises(RunNotFoundError, match="no run"):
        store.run_view("0" * 32)


def test_history_search_newest_first(any_store):
    store = any_store
    first = store.create_run("a red fox", {}, _cells(1))
    second = store.create_run("a blue fox", {}, _cells(2))
    store.create_run("lighthouse", {}, _cells(1))
    assert [r.id for r in store.list_runs("FOX")] == [second, first]
    assert store.list_runs("fox")[0].models == 2
    assert store.list_runs("100%") == []  # LIKE wildcards are literal


def test_orphans_of_a_dead_runner_are_interrupted(any_store):
    store = any_store
    run_id = store.create_run("p", {}, _cells(2), runner_id="dead")
    with store.engine.begin() as conn:
        conn.execute(
            store.t["runners"]
            .insert()
            .values(
                id="dead",
                started_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                heartbeat_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            )
        )
    store.heartbeat("alive")
    assert store.interrupt_orphans(15, alive=["alive"]) == 2
    view = store.run_view(run_id)
    assert {c.status for c in view.cells} == {"interrupted"}
    assert "interrupted" in view.cells[0].error_message
    assert len(store.reset_failed(run_id)) == 2
    assert {c.status for c in store.run_view(run_id).cells} == {"pending"}


def test_invalid_database_url_is_a_clear_error():
    with pytest.raises(StoreError, match="DATABASE_URL"):
        Store.open("notadb://whatever")


def test_read_only_database_is_a_clear_error(store, isolated_env):
    run_id = store.create_run("keep me", {}, _cells(1))
    path = isolated_env / "vibegen.db"
    ro = Store.open(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(StoreError, match="cannot write"):
        ro.create_run("p", {}, _cells(1))
    assert store.run_view(run_id).prompt == "keep me"


def test_upgrade_from_the_first_schema_keeps_ratings(isolated_env):
    from vibegen.migrations import m001_initial
    from vibegen.ratings import make_rating

    url = f"sqlite:///{isolated_env}/old.db"
    isolated_env.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a database frozen at m001, with a run and a rating
        m001_initial(conn)
        conn.exec_driver_sql(
            "CREATE TABLE vibegen_migrations (name VARCHAR(100) PRIMARY KEY, "
            "applied_at DATETIME NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO vibegen_migrations VALUES ('m001_initial', '2026-01-01 00:00:00')"
        )
    engine.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO runs (id, created_at, prompt, params_json, n_cells) "
            "VALUES ('" + "a" * 32 + "', '2026-01-01 00:00:00', 'old', '{}', 0)"
        )
        r = make_rating("best", "g1", 1)
        conn.exec_driver_sql(
            "INSERT INTO ratings (run_id, rater, slot, mode, generation_id, value, blind, "
            f"created_at) VALUES ('{'a' * 32}', 'Ana', '{r.slot}', 'best', 'g1', '1', 1, "
            "'2026-01-01 00:00:00')"
        )
    engine.dispose()
    store = Store.open(url)
    assert [r["rater"] for r in store.current_ratings("a" * 32)] == ["Ana"]
    assert store.run_view("a" * 32).prompt == "old"
    store.save_prompt_set("brief", ["one", "two"])
    assert store.prompt_sets()[0]["prompts"] == ["one", "two"]


def test_add_cells_appends_after_the_last_position_and_counts_them(any_store):
    store = any_store
    run_id = store.create_run("p", {}, _cells(2))
    before = [c.id for c in store.run_view(run_id).cells]
    (new,) = store.add_cells(run_id, _cells(1))
    view = store.run_view(run_id)
    assert [c.id for c in view.cells] == [*before, new]
    assert [c.position for c in view.cells] == [0, 1, 2]
    assert view.cells[-1].status == "pending"
    [summary] = [r for r in store.list_runs() if r.id == run_id]
    assert summary.cells == 3


def test_claim_cells_takes_only_waiting_cells_once_in_one_write(any_store):
    store = any_store
    run_id = store.create_run("p", {}, _cells(3))
    a, b, c = (cell.id for cell in store.pending_cells(run_id))
    assert store.mark_running(a, "other")  # already taken by another runner
    assert store.claim_cells([a, b, c], "me") == {b, c}
    assert store.claim_cells([a, b, c], "again") == set()  # nothing waits any more
    assert store.claim_cells([], "me") == set()
    assert store.pending_cells(run_id) == []


def test_history_filters_by_model_router_date_and_status_in_sql(any_store):
    store = any_store
    done_id = store.create_run("a red fox", {}, _cells(2))
    for cell in store.pending_cells(done_id):
        store.save_failure(cell.id, kind="router_error", message="boom", wall_s=1.0)
    waiting = store.create_run("a blue whale", {}, _cells(3)[2:])  # only sandbox:m2, pending
    by = {r.id for r in store.list_runs(RunFilter(models=("sandbox:m2",)))}
    assert by == {waiting}
    assert {r.id for r in store.list_runs(RunFilter(routers=("sandbox",)))} == {done_id, waiting}
    assert store.list_runs(RunFilter(routers=("fal",))) == []
    failed = RunFilter(statuses=(RunStatus.COMPLETE_WITH_FAILURES,))
    assert [r.id for r in store.list_runs(failed)] == [done_id]
    assert store.count_runs(failed) == 1
    running = RunFilter(statuses=(RunStatus.RUNNING,), search="WHALE")
    assert [r.id for r in store.list_runs(running)] == [waiting]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert store.count_runs(RunFilter(since=later)) == 0
    assert store.count_runs(RunFilter(before=later)) == 2
    fox = store.list_runs("fox")[0]  # a plain search still works
    assert fox.labels == ("M0", "M1") and fox.previews == ()


def test_an_archived_run_leaves_history_and_keeps_its_ratings(any_store):
    store = any_store
    kept, archived = (store.create_run(p, {}, _cells(1)) for p in ("kept", "archived"))
    store.archive_run(archived)
    assert [r.id for r in store.list_runs()] == [kept]
    assert store.count_runs() == 1
    shown = {r.id: r.archived_at for r in store.list_runs(RunFilter(archived=True))}
    assert shown[kept] is None and shown[archived] is not None
    assert store.run_view(archived).prompt == "archived"  # its link still opens
    store.archive_run(archived, archived=False)
    assert store.count_runs() == 2
    with pytest.raises(RunNotFoundError):
        store.archive_run("0" * 32)
