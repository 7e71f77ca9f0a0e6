"""The `vibegen` command line: runs, exports and backups for scripts and pipelines.

Contract:
- `vibegen run PROMPT -m MODEL [-m MODEL …]` (or `--brief FILE`, one prompt a line) validates
  exactly as the Generate page does (`plan_run`, the budget, the same sentences), starts the
  run on the Runner, shows its progress, then prints the run's links and one line per cell:
  model, router, status, seconds and cost with its provenance word. `--json` prints one JSON
  document and nothing else on stdout. Exit status: 0 every cell has its image, 2 some cell
  failed (or was still unfinished at `--timeout`), 1 bad input.
- `vibegen export RUN_ID --format zip|csv|json|html` writes the run's file as the app's
  download buttons build it (keys redacted), refusing to overwrite.
- `vibegen backup PATH` writes a consistent copy of the SQLite store to PATH, also while a
  run is writing to it; for a PostgreSQL store it refuses and names `pg_dump`.
- `vibegen worker` runs queued cells of a PostgreSQL (team) store in this process until
  SIGTERM or Ctrl-C (`vibegen.worker`); a database it cannot reach is retried and said in
  its log. A SQLite store has no queue: it refuses and says why.
- Every failure is one clear line on stderr ("vibegen: …"); never a traceback.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import click

from vibegen import money
from vibegen.allocator import keep_freed_memory
from vibegen.catalog import Catalog
from vibegen.errors import (
    ConfigError,
    InputError,
    RunNotFoundError,
    StoreError,
    UnknownModelError,
)
from vibegen.keys import env_secrets
from vibegen.model_search import close_matches, named
from vibegen.params import CommonParams, parse_seed
from vibegen.process import offered_catalog
from vibegen.records import Cell, RunView
from vibegen.runner import Runner, plan_run
from vibegen.settings import Settings, load_settings
from vibegen.share import review_url, run_url, server_base
from vibegen.store import Store
from vibegen.words import sentence

FAILED_EXIT = 2  # some cell ended without its image: a pipeline should notice
POLL_S = 0.2  # how often the command line looks at the store while cells finish
EXPORT_FORMATS = ("zip", "csv", "json", "html")


class _Group(click.Group):
    """Click's group, with a usage mistake said in one line and exit status 1 (click's own 2
    is `vibegen run`'s "a cell failed")."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; a usage error is one line on stderr and exit status 1."""
        try:
            # Not standalone: click would print a usage error in three lines and exit 2.
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("vibegen: stopped", err=True)
            raise SystemExit(130) from None
        except click.ClickException as exc:
            ctx = exc.ctx if isinstance(exc, click.UsageError) else None
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                click.echo(ctx.get_help())  # bare `vibegen`: its help, not an error
                raise SystemExit(0) from None
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            _fail(f"{exc.format_message()}{hint}")


_DB_OPTION = click.option(
    "--database-url",
    "db_url",
    envvar="DATABASE_URL",
    default=None,
    metavar="URL",
    help="The store (default: DATABASE_URL, else the SQLite file in VIBEGEN_HOME or ~/.vibegen).",
)


@click.group(cls=_Group)
def main() -> None:
    """VibeGen from the command line (the app itself: streamlit run app.py)."""


# ------------------------------------------------------------------------ run
@main.command(
    epilog="Exit status: 0 every cell has its image, 2 some cell failed (or was unfinished "
    "at --timeout), 1 bad input."
)
@click.argument("prompt", required=False, default="")
@click.option(
    "-m",
    "--model",
    "models",
    multiple=True,
    metavar="MODEL",
    help="A model as the catalog names it (sandbox:prism, fal:flux-schnell; fal/flux-schnell "
    "and the model's name work too). Repeat for more models.",
)
@click.option("--images", default=1, show_default=True, help="Images per model (1 to 4).")
@click.option(
    "--brief",
    "brief",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A text file of prompts, one a line: each prompt runs on every model (saved as a "
    "brief named after the file, as on the Briefs page).",
)
@click.option("--aspect", default="1:1", show_default=True, help="Aspect ratio, e.g. 16:9.")
@click.option("--resolution", default="1K", show_default=True, help="1K, 2K or 4K.")
@click.option("--quality", default="medium", show_default=True, help="low, medium or high.")
@click.option("--seed", default="", metavar="N", help="A fixed seed (default: random).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document, nothing else.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="S",
    help="Stop waiting after S seconds; unfinished cells count as failed (default: wait "
    "until every cell ends, each within its model's deadline).",
)
@_DB_OPTION
def run(
    prompt: str,
    models: tuple[str, ...],
    images: int,
    brief: Path | None,
    aspect: str,
    resolution: str,
    quality: str,
    seed: str,
    as_json: bool,
    timeout: float | None,
    db_url: str | None,
) -> None:
    """Run PROMPT on every MODEL, show progress, then each cell's time, cost and status."""
    settings = _settings()
    try:
        base = server_base(public_url=settings.public_url)
    except ConfigError as exc:
        _fail(f"VIBEGEN_PUBLIC_URL: {exc}")
    if brief is not None and prompt.strip():
        _fail("Give a prompt or --brief FILE, not both.")
    prompts = _brief_prompts(brief) if brief is not None else [prompt]
    try:
        common = CommonParams(
            aspect=aspect,
            resolution=resolution,
            quality=quality,
            seed=parse_seed(seed),
            images_per_model=images,
        )
    except InputError as exc:
        _fail(sentence(str(exc)))
    store = _open(db_url, settings)
    try:
        catalog = offered_catalog(store, settings.environ)
        keys = [_model_key(name, catalog) for name in models]
        for text in prompts:  # every prompt checked before anything is saved or started
            plan_run(text, keys, common, catalog, settings.environ)
    except (InputError, UnknownModelError) as exc:
        _close_and_fail(store, sentence(str(exc)))
    except StoreError as exc:
        _close_and_fail(store, str(exc))
    try:
        runner = Runner(store, catalog, env=settings.environ)  # its heartbeat writes at once
    except StoreError as exc:
        _close_and_fail(store, str(exc))
    if runner.queue is not None and runner.worker is None:
        click.echo(
            "vibegen: VIBEGEN_EMBEDDED_WORKER is off: the cells wait on the team's queue "
            "for a `vibegen worker`",
            err=True,
        )
    set_id: str | None = None
    try:
        if brief is not None:
            set_id = _brief_id(store, brief.stem, prompts)
            run_ids = runner.start_prompt_set(set_id, keys, common)
        else:
            run_ids = [runner.start_run(prompt, keys, common)]
    except (InputError, UnknownModelError) as exc:  # the budget says no
        runner.close()
        _close_and_fail(store, sentence(str(exc)))
    except StoreError as exc:
        runner.close()
        _close_and_fail(store, str(exc))
    stopped = ""
    try:
        if not _follow(store, runner, run_ids, as_json, timeout):
            stopped = f"after {timeout:g} s"
    except KeyboardInterrupt:  # Ctrl-C: stop waiting, say where every cell is
        click.echo("", err=True)
        stopped = "(interrupted)"
    views = [store.run_view(r) for r in run_ids]
    if as_json:
        click.echo(json.dumps(_document(views, base, set_id), indent=2))
    else:
        _print_runs(views, base)
    failed = any(not c.ok for v in views for c in v.cells)
    if stopped:
        left = sum(not c.finished for v in views for c in v.cells)
        click.echo(
            f"vibegen: stopped waiting {stopped} with {left} cell"
            f"{'s' * (left != 1)} unfinished: VibeGen marks them interrupted and follows any "
            "paid job; retry them from the run's page",
            err=True,
        )
        # The workers still hold those cells, and Python would wait for them at exit (up to
        # each model's deadline): leave now, as a crash would, and let the next runner mark
        # them interrupted and resume their paid jobs (vibegen.runner's contract).
        runner.close()
        store.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(FAILED_EXIT if stopped.startswith("after") else 130)
    runner.close()
    store.close()
    if failed:
        raise SystemExit(FAILED_EXIT)


def _brief_prompts(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        _fail(f"{path} is not UTF-8 text: save the brief as plain text, one prompt a line")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    # The lines a brief keeps (Store.save_prompt_set takes them the same way).
    prompts = [p.strip() for p in text.splitlines() if p.strip()]
    if not prompts:
        _fail(sentence("the brief has no prompts: write one prompt per line"))
    return prompts


def _brief_id(store: Store, name: str, prompts: list[str]) -> str:
    """The saved brief with this name and these prompts, or a new one (as the Briefs page)."""
    for saved in store.prompt_sets():
        if saved["name"] == " ".join(name.split()) and saved["prompts"] == prompts:
            return saved["id"]
    return store.save_prompt_set(name, prompts)


def _model_key(text: str, catalog: Catalog) -> str:
    model = named(text, catalog.models)
    if model is not None:
        return model.key
    message = str(UnknownModelError(text.strip()))  # the Generate page's words
    near = close_matches(text, catalog.models, catalog)
    if near:
        message += f". Did you mean {', '.join(near)}?"
    raise InputError(message)


def _follow(
    store: Store, runner: Runner, run_ids: Sequence[str], as_json: bool, timeout: float | None
) -> bool:
    """Show cells as they finish until all have (True) or `timeout` passes (False)."""
    total = sum(len(store.run_view(r).cells) for r in run_ids)
    seen: set[str] = set()
    out = sys.stderr if as_json else sys.stdout  # --json keeps stdout for the document
    ticking = threading.Event()
    waited = 0.0

    def finished_now() -> list[Cell]:
        new = []
        for run_id in run_ids:
            for cell in store.run_view(run_id).cells:
                if cell.finished and cell.id not in seen:
                    seen.add(cell.id)
                    new.append(cell)
        return new

    def idle() -> bool:
        return all(runner.wait(r, 0) for r in run_ids)

    def loop(show: Callable[[list[Cell]], None]) -> bool:
        nonlocal waited
        while True:
            done = idle()  # read before the store: a cell saved after it is seen next turn
            show(finished_now())
            if done or len(seen) >= total:
                return True
            if timeout is not None and waited >= timeout:
                return False
            ticking.wait(POLL_S)
            waited += POLL_S

    if _is_tty(out) and not as_json:
        with click.progressbar(
            length=total, label="Generating", show_pos=True, file=out, width=30
        ) as bar:
            return loop(lambda cells: bar.update(len(cells)))
    # A brief's runs share models: each line then says which prompt its cell belongs to.
    prompts = {r: store.run_view(r).prompt for r in run_ids} if len(run_ids) > 1 else {}
    return loop(lambda cells: _lines(cells, len(seen) - len(cells), total, out, prompts))


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _lines(
    cells: list[Cell], before: int, total: int, out: IO[str], prompts: dict[str, str]
) -> None:
    for n, cell in enumerate(cells, before + 1):
        text = prompts.get(cell.run_id)
        about = f"{_short(text)} · " if text else ""
        click.echo(
            f"[{n}/{total}] {about}{_name(cell)}: {cell.status} · {_seconds(cell.wall_s)} s"
            f" · {_cost(cell)}",
            file=out,
        )


# ------------------------------------------------------------- run: the output
def _short(prompt: str, width: int = 40) -> str:
    return repr(prompt if len(prompt) <= width else prompt[: width - 1] + "…")


def _name(cell: Cell) -> str:
    return f"{cell.model_key} #{cell.image_index + 1}"


def _seconds(wall_s: float | None) -> str:
    return "—" if wall_s is None else f"{wall_s:.1f}"


def _cost(cell: Cell) -> str:
    """'$0.0030 simulated', '$0.0075 reported', 'unknown', 'self-hosted'."""
    if cell.cost_kind == "self_hosted":
        return "self-hosted"
    if cell.cost_usd is None or cell.cost_kind == "unknown":
        return "unknown"
    return f"{money.amount(cell.cost_usd)} {cell.cost_kind}"


def _table(rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest entry: a handful of cells need no table library."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _print_runs(views: list[RunView], base: str) -> None:
    for view in views:
        click.echo("")
        if len(views) > 1:
            click.echo(f"Prompt: {view.prompt}")
        click.echo(f"Run:    {run_url(base, view.id)}")
        click.echo(f"Review: {review_url(base, view.id)}")
        rows = [["MODEL", "ROUTER", "STATUS", "SECONDS", "COST"]]
        rows += [
            [_name(c), c.router, str(c.status), _seconds(c.wall_s), _cost(c)] for c in view.cells
        ]
        for line in _table(rows):
            click.echo(f"  {line}")
        for cell in view.cells:
            if cell.error_message:
                click.echo(f"  {_name(cell)} failed: {cell.error_message}")
        ok = sum(c.ok for c in view.cells)
        click.echo(f"{ok} of {len(view.cells)} images · {view.spent_text()}")


def _document(views: list[RunView], base: str, brief_id: str | None) -> dict[str, Any]:
    runs = [
        {
            "run_id": v.id,
            "link": run_url(base, v.id),
            "review_link": review_url(base, v.id),
            "prompt": v.prompt,
            "status": str(v.status),
            "cells": [
                {
                    "id": c.id,
                    "model": c.model_key,
                    "label": c.label,
                    "router": c.router,
                    "image": c.image_index + 1,
                    "status": str(c.status),
                    "wall_s": c.wall_s,
                    "cost_usd": c.cost_usd,
                    "cost_kind": c.cost_kind,
                    "error": c.error_message,
                    "error_kind": c.error_kind,
                }
                for c in v.cells
            ],
        }
        for v in views
    ]
    return {"brief_id": brief_id, "runs": runs} if brief_id else runs[0]


# --------------------------------------------------------------------- export
@main.command()
@click.argument("run_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default="zip",
    show_default=True,
    help="zip: images + manifest; csv / json: one row per image; html: the offline report.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: vibegen-run-<id>.<format> here). Never overwritten.",
)
@_DB_OPTION
def export(run_id: str, fmt: str, output: Path | None, db_url: str | None) -> None:
    """Write a run's images ZIP, images table (CSV, JSON) or HTML report to a file."""
    settings = _settings()
    run_id = _run_id(run_id)
    target = output or Path(f"vibegen-run-{run_id[:8]}.{fmt}")
    if target.exists():
        _fail(f"{target} already exists: choose another --output")
    url = (db_url or "").strip() or settings.store_url
    _existing_sqlite(url)
    store = _open(url, settings)
    secrets = env_secrets(settings.environ)
    try:
        store.run_view(run_id)  # an unknown run is said before any file is made
        data = _export_bytes(store, run_id, fmt, secrets)
    except RunNotFoundError as exc:
        _close_and_fail(store, sentence(str(exc)))
    except StoreError as exc:
        _close_and_fail(store, str(exc))
    store.close()
    try:
        with target.open("xb") as fh:  # "x": a file made meanwhile is not overwritten
            fh.write(data)
    except FileExistsError:
        _fail(f"{target} already exists: choose another --output")
    except OSError as exc:
        _fail(f"cannot write {target}: {exc.strerror or exc}")
    click.echo(f"Wrote {target} ({len(data):,} bytes)")


def _export_bytes(store: Store, run_id: str, fmt: str, secrets: list[str]) -> bytes:
    """The file the run's download button of that format builds (vibegen.ui.exports)."""
    from vibegen import exports, report  # pandas and the report stack: only when exporting

    if fmt == "zip":
        return exports.run_zip(store, run_id, secrets=secrets)
    if fmt == "html":
        return report.run_report_html(store, run_id, secrets=secrets).encode("utf-8")
    return exports.export("images", fmt, store, run_id, secrets=secrets)


def _run_id(text: str) -> str:
    """A run id, also taken from a run or review link (…/?run=<id>)."""
    text = text.strip()
    if "run=" in text:
        found = parse_qs(urlsplit(text).query).get("run")
        text = found[0] if found else text
    return text.lower()


# --------------------------------------------------------------------- backup
@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_DB_OPTION
def backup(path: Path, db_url: str | None) -> None:
    """Copy the SQLite store to PATH consistently, also during a run."""
    settings = _settings()
    url = (db_url or "").strip() or settings.store_url
    if not url.startswith("sqlite"):
        # Refused before connecting: opening a team server's store would migrate it.
        _fail(
            "vibegen backup copies the embedded SQLite file; this store is a database "
            "server: back PostgreSQL up with pg_dump, e.g. "
            'pg_dump --format=custom --file=vibegen.dump "$DATABASE_URL"'
        )
    _existing_sqlite(url)
    store = _open(url, settings)
    try:
        target = store.backup(path)
        runs = store.count_runs()
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.engine.dispose()
    click.echo(f"Backed up {runs:,} run{'s' if runs != 1 else ''} to {target}")


# --------------------------------------------------------------------- worker
@main.command(
    epilog="Settings: VIBEGEN_WORKER_SLOTS (cells at once, default 64), "
    "VIBEGEN_WORKER_HEARTBEAT_S (silence after which another worker takes a cell over, "
    "default 10), VIBEGEN_WORKER_GRACE_S (time SIGTERM gives held cells to finish before "
    "they are handed back, default 30), VIBEGEN_<ROUTER>_IN_FLIGHT (a router's cells at "
    "once, all workers together)."
)
@_DB_OPTION
def worker(db_url: str | None) -> None:
    """Run the team's queued cells (PostgreSQL store) until SIGTERM or Ctrl-C."""
    settings = _settings()
    url = (db_url or "").strip() or settings.store_url
    if not url.startswith("postgres"):
        _fail(
            "vibegen worker runs the team's job queue, which lives in a PostgreSQL store: set "
            "DATABASE_URL=postgresql+psycopg://USER:PASSWORD@HOST/DB. The SQLite store runs "
            "its cells inside the app (streamlit run app.py) or `vibegen run`"
        )
    from vibegen.worker import RETRY_MAX_S, Worker

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s vibegen worker: %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    log = logging.getLogger("vibegen.worker")
    stopping = threading.Event()
    running: list[Worker] = []

    def stop(signum: int, _frame: object) -> None:
        log.info("%s received", signal.Signals(signum).name)
        stopping.set()
        for held in running:
            held.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    keep_freed_memory()  # a worker holds 1-2 MB answers by the hundred (vibegen.allocator)
    pause = 1.0
    while True:  # the database may not be up yet (a compose start, a restart): wait for it
        try:
            store = Store.open(url)
            catalog = offered_catalog(store, settings.environ)
            runner = Runner(store, catalog, env=settings.environ, embedded_worker=False)
            break
        except StoreError as exc:
            log.warning("cannot reach the database (%s); retrying in %.0f s", exc, pause)
            if stopping.wait(pause):
                raise SystemExit(0) from None
            pause = min(RETRY_MAX_S, pause * 2)
    work = Worker(runner)
    running.append(work)
    # What start-up made (modules, catalog, SQLAlchemy tables: ~110k objects) lives as long
    # as the process: out of the collector's sight, a full collection no longer stops every
    # thread for 60-100 ms, the time a queued cell would wait to start.
    gc.freeze()
    if stopping.is_set():
        work.stop()
    started = time.monotonic()
    work.run()
    log.info(
        "stopped after %.0f s; %d cell(s) handed back to the queue",
        time.monotonic() - started,
        work.handed_back,
    )
    if work.handed_back:
        # Their threads still follow jobs another worker now owns: leave without them.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    runner.close()
    store.close()


# -------------------------------------------------------------------- helpers
def _settings() -> Settings:
    try:
        return load_settings()  # the command line's entry point: read once, here
    except ConfigError as exc:
        _fail(str(exc))


def _existing_sqlite(url: str) -> None:
    """Refuse a SQLite store whose file is missing: opening it would create an empty one."""
    if not url.startswith("sqlite"):
        return
    source = Path(url.split("///", 1)[-1])
    if not source.is_file():
        _fail(
            f"there is no VibeGen database at {source} (set VIBEGEN_HOME or "
            f"DATABASE_URL to the store you mean)"
        )


def _open(db_url: str | None, settings: Settings) -> Store:
    try:
        return Store.open((db_url or "").strip() or settings.store_url)
    except StoreError as exc:
        _fail(str(exc))


def _close_and_fail(store: Store, message: str) -> NoReturn:
    store.close()
    _fail(message)


def _fail(message: str) -> NoReturn:
    click.echo(f"vibegen: {message}", err=True)
    raise SystemExit(1)


if __name__ == "__main__":
    main()
