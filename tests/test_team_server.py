"""Team-server mode: the whole app on PostgreSQL via DATABASE_URL, two processes sharing it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from tests.conftest import _postgres_url, _stop_queue_workers
from vibegen.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pg_url(monkeypatch, fast_sandbox):
    url = _postgres_url()
    _stop_queue_workers()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_generate_and_review_on_postgresql(pg_url, isolated_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.text_area(key="prompt").input("a team server run")
    at.button(key="generate").click().run()
    run_id = at.query_params["run"]
    end = time.monotonic() + 20
    while time.monotonic() < end and "generating" in at.get("progress")[0].proto.text:
        time.sleep(0.2)
        at.run()
    assert len(at.image) == 4 and not at.exception

    store = Store.open(pg_url)
    review = AppTest.from_file(str(ROOT / "pages" / "2_Review.py"), default_timeout=30)
    review.query_params["link"] = store.team.team_link(run_id, blind=False).token
    review.run()
    review.text_input(key="rater_input").input("Ana")
    review.button[0].click().run()
    review.button(key="vote:tie").click().run()

    assert store.dialect == "postgresql"
    assert store.run_view(run_id).complete
    assert [r["value"] for r in store.current_ratings(run_id)] == ["tie"]
    assert not (isolated_env / "vibegen.db").exists()  # nothing went to the SQLite file


def test_two_processes_share_one_database(pg_url):
    code = (
        "import sys; from vibegen.store import Store; from vibegen.runner import Runner; "
        "from vibegen.params import CommonParams; from vibegen.settings import load_settings; "
        "env = load_settings(); s = Store.open(env.store_url); "
        "r = Runner(s, env=env.environ, heartbeat=False); "
        "i = r.start_run('from ' + sys.argv[1], ['sandbox:prism'], CommonParams()); "
        "r.wait(i, 20); print(i)"
    )
    env = dict(os.environ, DATABASE_URL=pg_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, name], env=env, text=True, stdout=subprocess.PIPE
        )
        for name in ("one", "two")
    ]
    ids = [p.communicate(timeout=60)[0].strip().splitlines()[-1] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    store = Store.open(pg_url)
    assert sorted(store.run_view(i).prompt for i in ids) == ["from one", "from two"]
    assert all(store.run_view(i).complete for i in ids)
