"""The `vibegen` command line: maintenance tasks that need no browser.

Contract:
- `vibegen backup PATH` writes a consistent copy of the SQLite store to PATH, also while a
  run is writing to it; for a PostgreSQL store it refuses and names `pg_dump`.
- Every failure is one clear line on stderr and exit status 1; never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from vibegen.errors import ConfigError, StoreError
from vibegen.settings import load_settings
from vibegen.store import Store


@click.group()
def main() -> None:
    """VibeGen maintenance commands (the app itself: streamlit run app.py)."""


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--database-url",
    "db_url",
    envvar="DATABASE_URL",
    default=None,
    metavar="URL",
    help="The store to back up (default: DATABASE_URL, else the SQLite file in "
    "VIBEGEN_HOME or ~/.vibegen).",
)
def backup(path: Path, db_url: str | None) -> None:
    """Copy the SQLite store to PATH consistently, also during a run."""
    try:
        settings = load_settings()  # the command line's entry point: read once, here
    except ConfigError as exc:
        _fail(str(exc))
    url = (db_url or "").strip() or settings.store_url
    if not url.startswith("sqlite"):
        # Refused before connecting: opening a team server's store would migrate it.
        _fail(
            "vibegen backup copies the embedded SQLite file; this store is a database "
            "server: back PostgreSQL up with pg_dump, e.g. "
            'pg_dump --format=custom --file=vibegen.dump "$DATABASE_URL"'
        )
    source = Path(url.split("///", 1)[-1])
    if not source.is_file():
        # Opening it would create an empty database, and back that up.
        _fail(
            f"there is no VibeGen database at {source} (set VIBEGEN_HOME or "
            f"DATABASE_URL to the store you mean)"
        )
    try:
        store = Store.open(url)
    except StoreError as exc:
        _fail(str(exc))
    try:
        target = store.backup(path)
        runs = store.count_runs()
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.engine.dispose()
    click.echo(f"Backed up {runs:,} run{'s' if runs != 1 else ''} to {target}")


def _fail(message: str) -> None:
    click.echo(f"vibegen: {message}", err=True)
    raise SystemExit(1)


if __name__ == "__main__":
    main()
