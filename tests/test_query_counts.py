"""Every page issues a number of queries that does not grow with the run's size.

The queries are counted with a SQLAlchemy event listener on the engine the pages use (the
process's store for the test's database): observed, not patched. A page's first run is
counted, so nothing a cache already holds hides a query; the Leaderboard page is counted on
its first run and on a rerun (where its cached rows leave one version check).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from streamlit.testing.v1 import AppTest

from vibegen import process
from vibegen.costs import Cost
from vibegen.ratings import make_rating
from vibegen.records import CellSpec
from vibegen.settings import load_settings
from vibegen.store import database_url

ROOT = Path(__file__).resolve().parent.parent
MODELS = [
    ("sandbox:prism", "Prism"),
    ("sandbox:halo", "Halo"),
    ("sandbox:mosaic", "Mosaic"),
    ("sandbox:tide", "Tide"),
]


def _png(k: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (k % 256, 80, 160)).save(out, "PNG")
    return out.getvalue()


def _run(n_images: int, brief: bool = False) -> tuple[str, str]:
    """A finished, rated sandbox run of `n_images` images in the pages' own store (made as the
    one run of a brief, `brief`)."""
    store = process.store(database_url(load_settings()))
    set_id = store.save_prompt_set("Posters", ["a fox"]) if brief else None
    specs = [
        CellSpec(key, "sandbox", label, k // len(MODELS), "a fox", {}, {}, Cost(0.0, "simulated"))
        for k, (key, label) in ((k, MODELS[k % len(MODELS)]) for k in range(n_images))
    ]
    run_id = store.create_run("a fox", {}, specs, prompt_set_id=set_id)
    cells = store.run_view(run_id).cells
    for k, cell in enumerate(cells):
        store.save_success(cell.id, _png(k), cost=Cost(0.0, "simulated"), wall_s=1.0 + k % 5)
    for rater in ("Ana", "Bo"):
        for k, cell in enumerate(cells):
            store.rate(run_id, rater, make_rating("stars", cell.id, 1 + k % 5), blind=True)
        store.rate(run_id, rater, make_rating("best", cells[0].id, 1), blind=True)
    store.rate(run_id, "Ana", make_rating("pair", cells[0].id, "a", cells[1].id), blind=True)
    return run_id, cells[0].id


class Counter:
    """Statements the script thread sends to one engine (runner threads are not counted)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.statements, self._on = engine, [], False
        self.main = threading.main_thread()
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        # The runner's own threads (heartbeat, workers) write on their own schedule.
        name = threading.current_thread().name
        if self._on and not name.startswith(("vibegen", "ThreadPoolExecutor")):
            self.statements.append(statement)

    def count(self, at: AppTest) -> int:
        self.statements, self._on = [], True
        try:
            at.run()
        finally:
            self._on = False
        assert not at.exception, at.exception
        return len(self.statements)

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


def _page(path: str, rater_id: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.session_state["rater_id"] = rater_id  # Ana's browser: the Review page shows her grid
    return at


PAGES = [
    ("app.py", {"run": "RUN"}),
    ("pages/1_History.py", {}),
    ("pages/3_Briefs.py", {}),
    ("pages/4_Leaderboard.py", {}),
    ("pages/5_Models.py", {}),
    ("pages/6_Image.py", {"gen": "GEN"}),
    ("pages/7_Spend.py", {}),
    ("pages/2_Review.py", {"run": "RUN"}),
    ("pages/2_Review.py", {"link": "BLIND"}),
    ("pages/2_Review.py", {"link": "BRIEF"}),  # a blind brief link at its run
]


def _queries(path: str, query: dict[str, str], n_images: int) -> tuple[int, int]:
    """Queries of the page's first run and of a rerun, on a run of `n_images` images."""
    brief = "BRIEF" in query.values()
    run_id, gen_id = _run(n_images, brief=brief)
    store = process.store(database_url(load_settings()))
    links = {"RUN": run_id, "GEN": gen_id, "BLIND": store.team.team_link(run_id, blind=True).token}
    if brief:
        (set_id,) = (p["id"] for p in store.prompt_sets())
        links["BRIEF"] = store.team.brief_link(set_id, blind=True).token
    values = {k: links.get(v, v) for k, v in query.items()}
    ana = store.current_ratings(run_id, rater="Ana")[0]["rater_id"]
    counter = Counter(store.engine)
    try:
        at = _page(path, ana, **values)
        return counter.count(at), counter.count(at)
    finally:
        counter.close()


@pytest.mark.parametrize(("path", "query"), PAGES)
def test_queries_do_not_grow_with_the_run(path, query, isolated_env, monkeypatch, tmp_path):
    """The same number of queries at 8 and at 256 images, on the first run and a rerun."""
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    small = _queries(path, query, 8)
    # A second database for the bigger run: a fresh process store, nothing cached for it.
    monkeypatch.setenv("VIBEGEN_HOME", str(tmp_path / "big"))
    big = _queries(path, query, 256)
    assert big == small, f"{path}: {small} queries at 8 images, {big} at 256"
    assert small[0] > 0  # the listener does see the page's queries


@pytest.mark.parametrize("view", ["Gallery", "Table"])
def test_history_queries_do_not_grow_with_the_runs(view, isolated_env, monkeypatch, tmp_path):
    """History's gallery (cards, thumbnails) and table: as many queries at 2 runs as at 30,
    past the first page."""
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    counts = []
    for n_runs in (2, 30):
        monkeypatch.setenv("VIBEGEN_HOME", str(tmp_path / f"runs-{n_runs}"))
        for _ in range(n_runs):
            _run(4)
        store = process.store(database_url(load_settings()))
        counter = Counter(store.engine)
        try:
            at = _page("pages/1_History.py", "")
            at.session_state["history_view"] = view
            counts.append(counter.count(at))
        finally:
            counter.close()
    assert counts[0] == counts[1], f"History ({view}): {counts[0]} at 2 runs, {counts[1]} at 30"


def _export_queries(n_runs: int, n_images: int) -> dict[str, int]:
    """Queries each export issues over `n_runs` rated runs of `n_images` images each."""
    from vibegen import exports, report

    runs = [_run(n_images)[0] for _ in range(n_runs)]
    store = process.store(database_url(load_settings()))
    counter = Counter(store.engine)
    builds = {
        f"{table}.{fmt}{' (one run)' if one else ''}": (
            lambda t=table, f=fmt, one=one: exports.export(
                t, f, store, runs[0] if one else None, secrets=[]
            )
        )
        for table in exports.TABLES
        for fmt in exports.FORMATS
        for one in (False, True)
    }
    builds |= {
        "run.zip": lambda: exports.run_zip(store, runs[0], secrets=[]),
        "blind.zip": lambda: exports.run_zip(store, runs[0], blind=True, secrets=[]),
        "run.html": lambda: report.run_report_html(store, runs[0], secrets=[]),
    }
    counts = {}
    try:
        for name, build in builds.items():
            counter.statements, counter._on = [], True
            try:
                assert build()
            finally:
                counter._on = False
            counts[name] = len(counter.statements)
    finally:
        counter.close()
    return counts


def test_export_queries_do_not_grow_with_runs_or_images(isolated_env, monkeypatch, tmp_path):
    """Every export file takes as many queries for 6 runs of 24 images as for 2 runs of 4."""
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    small = _export_queries(2, 4)
    monkeypatch.setenv("VIBEGEN_HOME", str(tmp_path / "big"))
    big = _export_queries(6, 24)
    assert big == small
    assert all(n > 0 for n in small.values())  # the listener does see the exports' queries
