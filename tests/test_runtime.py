"""One runner per process, whatever Streamlit's cache does (issue 12, item 7)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from vibegen.settings import load_settings
from vibegen.store import Store, database_url
from vibegen.ui import runtime

ROOT = Path(__file__).resolve().parent.parent


def _heartbeats() -> int:
    # Counted by name: other tests' threads may end during the loop (a total count once fell
    # from 120 to 118 in .ci/run), but only a second runner starts a heartbeat.
    return sum(t.name == "vibegen-heartbeat" for t in threading.enumerate())


def _db_files(url: str) -> int:
    # Descriptors open on this database's files; others may close under garbage collection.
    name = url.rsplit("/", 1)[-1]
    links = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
    return sum(Path(link).name.startswith(name) for link in links)


def test_clearing_caches_50_times_keeps_one_runner_and_constant_resources():
    url = database_url(load_settings())
    first = runtime._runner(url)
    first.store.list_runs()  # the pool holds its connection from here on
    threads, files = _heartbeats(), _db_files(url)
    assert threads >= 1 and files >= 1  # what the loop must not add to is really counted
    seen = set()
    for _ in range(50):
        st.cache_resource.clear()
        again = runtime._runner(url)
        again.store.list_runs()
        seen.add(id(again))
    assert _heartbeats() == threads  # each extra runner would add a heartbeat
    # ... and a store with its own connection to the file. Fewer is fine: a store another
    # test left may be collected meanwhile (166 -> 161 in .ci/run).
    assert _db_files(url) <= files
    assert seen == {id(first)}
    assert runtime._runner(url).store is first.store
    assert len(first.store.runners()) == 1  # no second runner registered in the database


def test_clear_caches_between_page_runs_keeps_the_runner(fast_sandbox):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    runner = runtime._runner(database_url(load_settings()))
    threads = _heartbeats()
    for _ in range(5):
        st.cache_resource.clear()
        at.run()
        assert not at.exception, at.exception
    assert runtime._runner(database_url(load_settings())) is runner
    assert _heartbeats() == threads
    assert len(runner.store.runners()) == 1


def _copy_db_only(home: Path, name: str) -> Path:
    # What a user does by hand: copy vibegen.db and nothing beside it (no -wal, no -shm).
    target = home.parent / name / "vibegen.db"
    target.parent.mkdir()
    shutil.copyfile(home / "vibegen.db", target)
    return target


def _runs_in(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT prompt FROM runs ORDER BY created_at")]
        except sqlite3.OperationalError:  # no table: the schema itself was still in the WAL
            return []


def test_after_close_the_db_file_alone_holds_the_runs(isolated_env):
    store = Store.open(load_settings().store_url)
    for i in range(3):
        store.create_run(f"prompt {i}", {}, [])
    # While the store is open the rows live in the WAL: a bare copy of the file misses them.
    assert _runs_in(_copy_db_only(isolated_env, "open")) == []
    store.close()
    assert (
        not (isolated_env / "vibegen.db-wal").exists()
        or (isolated_env / "vibegen.db-wal").stat().st_size == 0
    )
    copy = _copy_db_only(isolated_env, "closed")
    assert _runs_in(copy) == ["prompt 0", "prompt 1", "prompt 2"]
    reopened = Store.open(f"sqlite:///{copy}")
    assert [r.prompt for r in reopened.list_runs()] == ["prompt 2", "prompt 1", "prompt 0"]
    reopened.engine.dispose()


def test_a_normal_stop_of_the_process_checkpoints_the_wal(isolated_env):
    # The process-wide store and runner as the app makes them, then an ordinary exit with
    # nothing closed by hand: atexit must leave the data in vibegen.db.
    script = (
        "import os\n"
        "from vibegen import process\n"
        "from vibegen.settings import load_settings\n"
        "from vibegen.store import database_url\n"
        "url = database_url(load_settings())\n"
        "runner = process.runner(url, lambda: {})\n"
        "for i in range(3):\n"
        "    runner.store.create_run(f'prompt {i}', {}, [])\n"
        "assert os.path.getsize(url.split('///')[1] + '-wal') > 0\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert _runs_in(_copy_db_only(isolated_env, "copy")) == ["prompt 0", "prompt 1", "prompt 2"]
