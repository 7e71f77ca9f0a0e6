"""The `vibegen` command line: `run` on the sandbox and the fal fake, `export`, `backup`."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fakes.fal_server import TEST_FAL_KEY, FalFake
from vibegen import money
from vibegen.catalog import default_catalog
from vibegen.cli import main
from vibegen.errors import InputError, StoreError, UnknownModelError
from vibegen.model_search import close_matches, named
from vibegen.params import CommonParams
from vibegen.runner import plan_run
from vibegen.share import review_url, run_url
from vibegen.store import Store
from vibegen.words import sentence

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


# ------------------------------------------------------------------ vibegen run
SANDBOX_FAST = {"VIBEGEN_SANDBOX_SPEED": "0.01", "VIBEGEN_SANDBOX_FAILURES": "off"}
LOCAL = "http://localhost:8501"


def _run(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["run", *args], env={**SANDBOX_FAST, **(env or {})})


def _one_line_error(result, exit_code: int = 1) -> str:
    """The single 'vibegen: …' line a bad input gives on stderr (nothing on stdout)."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vibegen: "), result.stderr
    return lines[0].removeprefix("vibegen: ")


def _ui_message(prompt: str, keys: list[str], env: dict[str, str] | None = None) -> str:
    """What the Generate page says for this request (plan_run's error as a sentence)."""
    with pytest.raises((InputError, UnknownModelError)) as info:
        plan_run(prompt, keys, CommonParams(), default_catalog(), env or {})
    return sentence(str(info.value))


def test_run_json_is_one_document_that_matches_the_store(store):
    result = _run(
        ["A red fox", "-m", "sandbox:prism", "-m", "sandbox/halo", "--images", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout holds the document and nothing else
    view = store.run_view(doc["run_id"])
    assert doc["link"] == run_url(LOCAL, view.id)
    assert doc["review_link"] == review_url(LOCAL, view.id)
    assert doc["prompt"] == "A red fox" and doc["status"] == "complete"
    assert len(doc["cells"]) == 4
    for got, cell in zip(doc["cells"], view.cells, strict=True):
        assert got == {
            "id": cell.id,
            "model": cell.model_key,
            "label": cell.label,
            "router": "sandbox",
            "image": cell.image_index + 1,
            "status": "ok",
            "wall_s": cell.wall_s,
            "cost_usd": cell.cost_usd,
            "cost_kind": "simulated",
            "error": None,
            "error_kind": None,
        }
    assert {c["model"] for c in doc["cells"]} == {"sandbox:prism", "sandbox:halo"}
    assert all(c["wall_s"] > 0 and c["cost_usd"] > 0 for c in doc["cells"])
    # Progress went to stderr, one line per finished cell.
    assert len([ln for ln in result.stderr.splitlines() if ln.startswith("[")]) == 4


def test_run_prints_links_and_a_line_per_cell(store):
    env = {"VIBEGEN_PUBLIC_URL": "https://vibegen.example.com/team/"}
    result = _run(["A lighthouse at dusk", "-m", "sandbox:prism", "-m", "Mosaic"], env)
    assert result.exit_code == 0, result.output
    (summary,) = store.list_runs()
    view = store.run_view(summary.id)
    out = result.stdout
    assert f"Run:    https://vibegen.example.com/team/?run={view.id}" in out
    assert f"Review: https://vibegen.example.com/team/Review?run={view.id}" in out
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("  sandbox:")]
    assert [r[0] for r in rows] == [c.model_key for c in view.cells]
    for row, cell in zip(rows, view.cells, strict=True):
        # model, #image, router, status, seconds, cost and its provenance word
        assert row == [
            cell.model_key,
            "#1",
            "sandbox",
            "ok",
            f"{cell.wall_s:.1f}",
            money.amount(cell.cost_usd),
            "simulated",
        ]
    assert f"2 of 2 images · {view.spent_text()}" in out
    assert "[2/2]" in out  # not a terminal: a line per finished cell instead of a bar


def test_a_failed_cell_gives_exit_status_2(store):
    with FalFake(queue_steps=0, progress_steps=0) as fake:
        fake.script("content_policy")  # the one fal cell's submit is refused by the checker
        env = {"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url}
        result = _run(["A fox", "-m", "fal:flux-schnell", "-m", "sandbox:prism", "--json"], env)
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    cells = {c["model"]: c for c in doc["cells"]}
    assert cells["sandbox:prism"]["status"] == "ok"
    failed = cells["fal:flux-schnell"]
    assert failed["status"] == "error" and "content filtered" in failed["error"]
    assert failed["error_kind"] == store.run_view(doc["run_id"]).cells[0].error_kind
    assert doc["status"] == "complete with failures"
    assert TEST_FAL_KEY not in result.output


def test_a_reported_cost_is_what_the_fake_billed(store):
    with FalFake(queue_steps=0, progress_steps=0, billable_units=2.5) as fake:
        env = {"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url}
        result = _run(["A fox", "-m", "fal:flux-schnell"], env)
        billed = list(fake.billed.values())
    assert result.exit_code == 0, result.output
    assert billed == [2.5]  # megapixels, at the catalog's price per megapixel
    usd = 2.5 * default_catalog().model("fal:flux-schnell").price.usd
    (summary,) = store.list_runs()
    (cell,) = store.run_view(summary.id).cells
    assert (cell.cost_kind, cell.cost_usd) == ("reported", pytest.approx(usd))
    row = next(ln for ln in result.stdout.splitlines() if ln.startswith("  fal:"))
    assert row.split()[-2:] == [money.amount(usd), "reported"]


@pytest.mark.parametrize(
    "args, env, expected",
    [
        (["", "-m", "sandbox:prism"], {}, lambda: _ui_message("", ["sandbox:prism"])),
        (["A fox"], {}, lambda: _ui_message("A fox", [])),
        (
            ["A fox", "-m", "fal:flux-schnell"],
            {},
            lambda: _ui_message("A fox", ["fal:flux-schnell"]),
        ),
        (
            ["A fox", "-m", "fal:flux"],
            {},
            lambda: "Unknown model: fal:flux. Did you mean fal:flux-schnell, fal:flux-dev,",
        ),
        (["A fox", "-m", "zzzz"], {}, lambda: _ui_message("A fox", ["zzzz"])),
        (
            ["A fox", "-m", "sandbox:prism", "--images", "9"],
            {},
            lambda: "Images per model must be 1 to 4.",
        ),
        (
            ["A fox", "-m", "sandbox:prism", "--seed", "-1"],
            {},
            lambda: "The seed must be a whole number from 0 to 2147483647",
        ),
        (
            ["A fox", "-m", "fal:flux-schnell"],
            {"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_BUDGET_RUN_USD": "0.001"},
            lambda: "This run is estimated at $0.0030, over the per-run cap of $0.0010",
        ),
        (["A fox", "-m", "sandbox:prism", "--images", "two"], {}, lambda: "Invalid value"),
    ],
    ids=[
        "empty prompt",
        "no model",
        "missing key",
        "unknown model",
        "unknown, nothing close",
        "images",
        "seed",
        "budget",
        "usage",
    ],
)
def test_bad_input_is_one_line_and_exit_1(store, args, env, expected):
    message = _one_line_error(_run(args, env))
    assert message.startswith(expected()), message
    assert store.count_runs() == 0  # nothing started


def test_missing_key_names_the_setting(store):
    message = _one_line_error(_run(["A fox", "-m", "fal:flux-schnell"]))
    assert "add FAL_KEY to enable" in message


def test_a_brief_runs_every_prompt_on_every_model(store, tmp_path):
    brief = tmp_path / "spring campaign.txt"
    brief.write_text("A red fox\n\n  A blue whale  \n", encoding="utf-8")
    args = ["--brief", str(brief), "-m", "sandbox:prism", "-m", "sandbox:tide", "--json"]
    result = _run(args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (saved,) = store.prompt_sets()
    assert (saved["name"], saved["prompts"]) == ("spring campaign", ["A red fox", "A blue whale"])
    assert doc["brief_id"] == saved["id"]
    assert [r["run_id"] for r in doc["runs"]] == store.runs_of_prompt_set(saved["id"])
    assert [r["prompt"] for r in doc["runs"]] == ["A red fox", "A blue whale"]
    assert all(len(r["cells"]) == 2 and r["status"] == "complete" for r in doc["runs"])
    assert "'A blue whale' · sandbox:tide #1: ok" in result.stderr
    again = _run(args)  # the same file again: the same brief, two more runs
    assert again.exit_code == 0, again.output
    assert len(store.prompt_sets()) == 1 and len(store.runs_of_prompt_set(saved["id"])) == 4


def test_a_bad_brief_saves_nothing(store, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    message = _one_line_error(_run(["--brief", str(empty), "-m", "sandbox:prism"]))
    assert message == "The brief has no prompts: write one prompt per line."
    good = tmp_path / "good.txt"
    good.write_text("A fox\n", encoding="utf-8")
    message = _one_line_error(_run(["--brief", str(good), "-m", "nope:nothing"]))
    assert message.startswith("Unknown model: nope:nothing")
    message = _one_line_error(_run(["A fox", "--brief", str(good), "-m", "sandbox:prism"]))
    assert message == "Give a prompt or --brief FILE, not both."
    assert store.prompt_sets() == [] and store.count_runs() == 0


# --------------------------------------------------------------- vibegen export
PROMPT = 'A <b>lighthouse</b> & "dusk"'


@pytest.fixture
def finished_run(store) -> str:
    result = _run([PROMPT, "-m", "sandbox:prism", "-m", "sandbox:halo", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_id"]


def _export(run_id: str, fmt: str, target: Path):
    return CliRunner().invoke(main, ["export", run_id, "--format", fmt, "-o", str(target)])


def test_export_each_format_is_a_valid_file(store, finished_run, tmp_path):
    view = store.run_view(finished_run)
    files = {}
    for fmt in ("zip", "csv", "json", "html"):
        target = tmp_path / f"run.{fmt}"
        result = _export(finished_run, fmt, target)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Wrote {target} (")
        files[fmt] = target.read_bytes()
    with zipfile.ZipFile(io.BytesIO(files["zip"])) as zf:
        assert zf.testzip() is None
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["run_id"] == finished_run and manifest["prompt"] == PROMPT
        images = [n for n in zf.namelist() if n.endswith(".png")]
        assert len(images) == len(view.cells) == 2
    rows = list(csv.DictReader(io.StringIO(files["csv"].decode("utf-8-sig"))))
    assert [r["generation_id"] for r in rows] == [c.id for c in view.cells]
    assert {r["prompt"] for r in rows} == {PROMPT}
    data = json.loads(files["json"])
    assert [r["generation_id"] for r in data] == [c.id for c in view.cells]
    html = files["html"].decode("utf-8")
    assert "A &lt;b&gt;lighthouse&lt;/b&gt; &amp;" in html and "<b>lighthouse" not in html


def test_export_takes_a_run_link_and_names_the_file(store, finished_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["export", run_url(LOCAL, finished_run), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"vibegen-run-{finished_run[:8]}.csv").is_file()


def test_export_of_an_unknown_run_says_so_and_writes_nothing(store, finished_run, tmp_path):
    target = tmp_path / "x.zip"
    missing = "0123456789abcdef0123456789abcdef"
    message = _one_line_error(_export(missing, "zip", target))
    assert message == f"No run with id {missing} in this VibeGen."
    message = _one_line_error(_export("not-a-run", "zip", target))
    assert "a run id is 32 hexadecimal characters" in message
    assert not target.exists()
    _one_line_error(_export(finished_run, "pdf", target))  # not a format it offers
    target.write_bytes(b"keep me")
    assert "already exists" in _one_line_error(_export(finished_run, "zip", target))
    assert target.read_bytes() == b"keep me"


def test_export_without_a_database_creates_none(isolated_env, tmp_path):
    message = _one_line_error(_export("0123456789abcdef0123456789abcdef", "zip", tmp_path / "x"))
    assert message.startswith("there is no VibeGen database at")
    assert not (isolated_env / "vibegen.db").exists()


# --------------------------------------------------------------- as a program
def _program(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vibegen.cli", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_and_export_as_a_program(store, tmp_path):
    done = _program("run", "A red fox", "-m", "sandbox/prism", "--json", env=SANDBOX_FAST)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert store.run_view(doc["run_id"]).cells[0].ok
    target = tmp_path / "run.html"
    done = _program("export", doc["run_id"], "--format", "html", "-o", str(target), env={})
    assert done.returncode == 0, done.stderr
    assert "A red fox" in target.read_text(encoding="utf-8")


def test_timeout_stops_waiting_and_counts_unfinished_cells_as_failed(store):
    # Sandbox images that take minutes: the command stops waiting, says so, and exits 2.
    slow = {"VIBEGEN_SANDBOX_SPEED": "200", "VIBEGEN_SANDBOX_FAILURES": "off"}
    done = _program("run", "A fox", "-m", "sandbox:prism", "--timeout", "0.5", "--json", env=slow)
    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    assert [c["status"] for c in doc["cells"]] == ["running"]
    assert "stopped waiting after 0.5 s with 1 cell unfinished" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_model_is_found_by_key_slash_name_or_endpoint():
    catalog = default_catalog()
    models = catalog.models
    assert named("sandbox:prism", models).key == "sandbox:prism"
    assert named("Sandbox/Prism", models).key == "sandbox:prism"
    assert named("FLUX.1 [schnell]", models).key == "fal:flux-schnell"
    assert named("fal-ai/flux/schnell", models).key == "fal:flux-schnell"
    assert named("flux", models) is None
    assert close_matches("flux/schnell", models, catalog)[0] == "fal:flux-schnell"
    assert close_matches("sandbox:prsim", models, catalog) == ["sandbox:prism"]
