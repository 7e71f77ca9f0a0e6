"""Every test gets its own data directory and an environment with no router keys."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

KEY_VARS = (
    "FAL_KEY",
    "KIE_API_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "VIBEGEN_SD_URL",
    "VIBEGEN_SD_AUTH",
    "VIBEGEN_FAL_URL",
    "VIBEGEN_KIE_URL",
    "DATABASE_URL",
    "VIBEGEN_SANDBOX_SPEED",
    "VIBEGEN_SANDBOX_FAILURES",
    "VIBEGEN_SANDBOX_JITTER",
    "VIBEGEN_PUBLIC_URL",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """A fresh VIBEGEN_HOME and no keys, so no test reads or writes the user's data."""
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIBEGEN_HOME", str(tmp_path / "home"))
    yield tmp_path / "home"


OWNER_TOKEN = "owner-token-for-tests-0123456789"


@pytest.fixture
def networked(monkeypatch):
    """The server bound to every interface, with a known owner token (tests.conftest
    OWNER_TOKEN): visitors without it are reviewers."""
    from streamlit import config

    monkeypatch.setenv("VIBEGEN_OWNER_TOKEN", OWNER_TOKEN)
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


@pytest.fixture
def fast_sandbox(monkeypatch):
    """Sandbox models answer in a few milliseconds and never fail."""
    monkeypatch.setenv("VIBEGEN_SANDBOX_SPEED", "0.01")
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")


@pytest.fixture
def store():
    """A store on the test's own SQLite file."""
    from vibegen.settings import load_settings
    from vibegen.store import Store

    s = Store.open(load_settings().store_url)
    yield s
    s.engine.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run one after another on one worker: each starts a server and Chromium,
    and their timings assume they do not race each other for the machine."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.xdist_group("browser"))


def _postgres_url() -> str:
    url = os.environ.get("VIBEGEN_TEST_DATABASE_URL", "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI must run the store tests on PostgreSQL: VIBEGEN_TEST_DATABASE_URL "
                "is not set (.ci/run starts the server)"
            )
        pytest.skip("no PostgreSQL server: set VIBEGEN_TEST_DATABASE_URL to run these")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return _worker_database(url, worker) if worker else url


def _stop_queue_workers() -> None:
    """Stop the queue workers earlier tests' runners left running in this process: on the
    emptied database they would take this test's cells (team mode's workers share a queue)."""
    from vibegen.worker import stop_all

    stop_all()


def _worker_database(url: str, worker: str) -> str:
    # Each xdist worker empties its database before every test (any_store): two workers on
    # one database would drop each other's tables. Each gets its own, made on first use.
    import sqlalchemy as sa

    base = sa.make_url(url)
    name = f"{base.database}_{worker}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(n)s", {"n": name}
            ).first()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request):
    """A fresh store on each engine the team may run: the SQLite file and PostgreSQL."""
    import sqlalchemy as sa

    from vibegen.settings import load_settings
    from vibegen.store import Store

    if request.param == "sqlite":
        s = Store.open(load_settings().store_url)
    else:
        url = _postgres_url()
        _stop_queue_workers()
        engine = sa.create_engine(url)
        # Every test starts from an empty database. A store an earlier test left open (a
        # page's process-wide store, a runner thread's heartbeat) may still hold a lock on
        # it, and DROP SCHEMA then deadlocks with it: end those sessions first, and retry.
        for attempt in range(3):
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                    conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
                break
            except sa.exc.OperationalError:
                if attempt == 2:
                    raise
        engine.dispose()
        s = Store.open(url)
    yield s
    s.engine.dispose()


def pytest_report_header(config):
    """Say which optional services the run can use."""
    return [f"postgres: {os.environ.get('VIBEGEN_TEST_DATABASE_URL') or 'not configured'}"]


@pytest.fixture
def pg_url() -> str:
    """An empty PostgreSQL database (skipped without one, as the other PostgreSQL tests)."""
    url = _postgres_url()
    _stop_queue_workers()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    return url
