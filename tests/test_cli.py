"""`vibegen backup PATH`: a consistent copy of the SQLite store, also during a run."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from vibegen.cli import main
from vibegen.errors import StoreError
from vibegen.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()


def test_backup_copies_every_run_into_one_file(store, tmp_path):
    for i in range(5):
        store.create_run(f"prompt {i}", {}, [])
    target = tmp_path / "copy.db"
    result = CliRunner().invoke(main, ["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert f"Backed up 5 runs to {target}" in result.output
    assert _count(target) == 5
    # One self-contained file: nothing left in a WAL beside it, no partial file.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy")) == ["copy.db"]
    copy = Store.open(f"sqlite:///{target}")
    assert [r.prompt for r in copy.list_runs()][0] == "prompt 4"
    copy.engine.dispose()


def test_backup_while_another_thread_writes(store, tmp_path):
    stop = threading.Event()
    written = []

    def write() -> None:
        while not stop.is_set():
            store.create_run(f"prompt {len(written)}", {}, [])
            written.append(1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        counts = []
        for i in range(5):
            while len(written) < 20 * (i + 1):  # the writer is busy before each backup
                threading.Event().wait(0.005)
            before = len(written)
            store.backup(tmp_path / f"b{i}.db")
            counts.append((before, _count(tmp_path / f"b{i}.db"), len(written)))
    finally:
        stop.set()
        writer.join(30)
    for before, copied, after in counts:
        assert before <= copied <= after + 1  # a snapshot taken during the writes
    assert len(written) > counts[0][0]  # the writer kept writing across the backups
    assert counts[-1][1] > counts[0][1]


def test_backup_refuses_to_overwrite(store, tmp_path):
    target = tmp_path / "there.db"
    target.write_bytes(b"keep me")
    result = CliRunner().invoke(main, ["backup", str(target)])
    assert result.exit_code == 1
    assert "already exists" in result.output and "Traceback" not in result.output
    assert target.read_bytes() == b"keep me"


def test_backup_without_a_database_says_so_and_creates_nothing(isolated_env, tmp_path):
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "copy.db")])
    assert result.exit_code == 1
    assert "there is no VibeGen database at" in result.output
    assert not (isolated_env / "vibegen.db").exists()
    assert not (tmp_path / "copy.db").exists()


def test_backup_of_postgresql_points_to_pg_dump(tmp_path):
    # Refused before connecting: this server does not exist, and no error says so.
    url = "postgresql://someone:secret@127.0.0.1:9/vibegen"
    result = CliRunner().invoke(
        main, ["backup", str(tmp_path / "copy.db")], env={"DATABASE_URL": url}
    )
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "secret" not in result.output
    assert not (tmp_path / "copy.db").exists()


def test_store_backup_on_postgresql_points_to_pg_dump(any_store, tmp_path):
    if any_store.dialect == "sqlite":
        assert any_store.backup(tmp_path / "copy.db").is_file()
        return
    with pytest.raises(StoreError, match="pg_dump"):
        any_store.backup(tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()


def test_the_command_runs_as_a_program(store, tmp_path):
    store.create_run("one prompt", {}, [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "vibegen.cli", "backup", str(tmp_path / "copy.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Backed up 1 run to" in done.stdout
    assert _count(tmp_path / "copy.db") == 1
    again = subprocess.run(
        [sys.executable, "-m", "vibegen.cli", "backup", str(tmp_path / "copy.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1
    assert again.stderr.startswith("vibegen: ") and "Traceback" not in again.stderr
