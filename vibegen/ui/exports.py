"""Download buttons for a run and for the leaderboard.

Each button gets a callable, so a file is built only when someone clicks it (on Streamlit's
download thread, never during the page's script run), and `on_click="ignore"` so a click does
not rerun the page. Key values from the environment and Streamlit secrets are collected here,
on the script thread, and handed to the builders to redact from every file.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import streamlit as st

from vibegen.keys import env_secrets
from vibegen.records import check_run_id
from vibegen.settings import load_settings

if TYPE_CHECKING:
    from vibegen.leaderboard import Leaderboard
    from vibegen.store import Store

EXPORTS, REPORT = "vibegen.exports", "vibegen.report"  # imported when a file is built
CSV, JSON, ZIP, HTML = "text/csv", "application/json", "application/zip", "text/html"


@dataclass(frozen=True)
class Download:
    """One downloadable file: its button label, how to build it, its name and type."""

    label: str
    build: Callable[[], bytes | str]
    file_name: str
    mime: str
    help: str = ""
    group: str = ""


def _st_secrets() -> dict:
    # With no secrets.toml at all, even reading st.secrets raises: no file is a normal state.
    try:
        return dict(st.secrets)
    except Exception:  # noqa: BLE001 - StreamlitSecretNotFoundError and parse errors alike
        return {}


def current_secrets() -> list[str]:
    """The key values set in the environment or in Streamlit secrets (to redact from files)."""
    return env_secrets(load_settings(_st_secrets()).environ)


def _later(module: str, name: str, *args: Any, **kwargs: Any) -> Callable[[], bytes | str]:
    """A builder that imports its module when the file is asked for.

    The exporters and the report bring pandas, the leaderboard (SciPy) and the chart stack:
    a page that only offers the buttons must not pay for loading them (the Generate page
    shows its first screen that much sooner).
    """

    def build() -> bytes | str:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return build


# The store's tables as files: (table, label, help for a run's file, help for all runs').
_EVERYTHING = "Every run in this VibeGen, not only the leaderboard's filtered slice."
_TABLE_FILES = (
    (
        "images",
        "Images",
        "One row per image: status, error, seed, times, cost and its provenance, size.",
        _EVERYTHING + " One row per image, never the image bytes.",
    ),
    ("ratings", "Ratings", "Current ratings of this run (changes and undos applied).", _EVERYTHING),
)
_FORMATS = (("csv", "CSV", CSV), ("json", "JSON", JSON))


def _table_files(
    store: Store,
    file_name: str,
    group: str,
    secrets: Sequence[str],
    run_id: str | None = None,
    tables: Sequence[tuple] = _TABLE_FILES,
) -> list[Download]:
    """A CSV and a JSON download of each table (of one run, or of every run).

    `file_name` has {table} and {fmt} fields, e.g. "vibegen-{table}-2026-01-15.{fmt}".
    """
    files = []
    for table, label, run_help, all_help in tables:
        for fmt, fmt_label, mime in _FORMATS:
            # A run's JSON files need no help of their own: the CSV's says what is in them.
            help_ = all_help if run_id is None else (run_help if fmt == "csv" else "")
            files.append(
                Download(
                    f"{label} ({fmt_label})",
                    _later(EXPORTS, "export", table, fmt, store, run_id, secrets=secrets),
                    file_name.format(table=table, fmt=fmt),
                    mime,
                    help_,
                    group,
                )
            )
    return files


def run_files(store: Store, run_id: str, secrets: Sequence[str]) -> list[Download]:
    """The files a run offers: images ZIP (named and blind), HTML report, images and ratings."""
    check_run_id(run_id)
    # The short id names files; the full id is a capability and file names travel.
    name = f"vibegen-run-{run_id[:8]}"
    kw = {"secrets": secrets}
    return [
        Download(
            "Images + manifest (ZIP)",
            _later(EXPORTS, "run_zip", store, run_id, **kw),
            f"{name}.zip",
            ZIP,
            "Original image files with a manifest (CSV and JSON) of "
            "model, router, time and cost for each.",
            "Images",
        ),
        Download(
            "Blind images (ZIP)",
            _later(EXPORTS, "run_zip", store, run_id, blind=True, **kw),
            f"{name}-blind.zip",
            ZIP,
            "Neutral names in shuffled order, metadata stripped, "
            "no model, price or time in the manifest: for reviewing outside VibeGen.",
            "Images",
        ),
        Download(
            "HTML report",
            _later(REPORT, "run_report_html", store, run_id, **kw),
            f"{name}.html",
            HTML,
            "One file with every image, cost, time and rating; opens offline, without VibeGen.",
            "Report",
        ),
        *_table_files(store, name + "-{table}.{fmt}", "Data", secrets, run_id),
    ]


def leaderboard_files(
    store: Store, leaderboard: Leaderboard, secrets: Sequence[str]
) -> list[Download]:
    """The files the leaderboard offers: the leaderboard itself and every run's data."""
    day = dt.datetime.now(dt.UTC).date().isoformat()
    kw = {"secrets": secrets}
    runs = (("runs", "Runs", "", _EVERYTHING),)
    return [
        Download(
            "Leaderboard (CSV)",
            _later(EXPORTS, "leaderboard_csv", leaderboard, **kw),
            f"vibegen-leaderboard-{day}.csv",
            CSV,
            "The table as shown, with the current filters.",
            "Leaderboard",
        ),
        Download(
            "Leaderboard (JSON)",
            _later(EXPORTS, "leaderboard_json", leaderboard, **kw),
            f"vibegen-leaderboard-{day}.json",
            JSON,
            "The table plus the callout, Pareto front, notes and filters.",
            "Leaderboard",
        ),
        Download(
            "HTML report",
            _later(REPORT, "leaderboard_report_html", leaderboard, **kw),
            f"vibegen-leaderboard-{day}.html",
            HTML,
            "Table, callout and quality-vs-cost chart in one file that opens offline.",
            "Leaderboard",
        ),
        *_table_files(
            store,
            f"vibegen-{{table}}-{day}.{{fmt}}",
            "All data",
            secrets,
            tables=(*runs, *_TABLE_FILES),
        ),
    ]


def _buttons(files: Sequence[Download], key_prefix: str) -> None:
    groups = list(dict.fromkeys(f.group for f in files))
    for column, group in zip(st.columns(len(groups)), groups, strict=True):
        with column:
            st.caption(group)
            for f in (f for f in files if f.group == group):
                st.download_button(
                    f.label,
                    data=f.build,
                    file_name=f.file_name,
                    mime=f.mime,
                    key=f"{key_prefix}:{f.file_name}",
                    help=f.help or None,
                    on_click="ignore",
                    width="stretch",
                )


def run_downloads(store: Store, run_id: str) -> None:
    """An expander of download buttons for one run (files built only when clicked)."""
    files = run_files(store, run_id, current_secrets())
    with st.expander("⬇️ Download this run", expanded=False):
        _buttons(files, key_prefix=f"dl:run:{run_id}")


def leaderboard_downloads(store: Store, leaderboard: Leaderboard) -> None:
    """An expander of download buttons for the leaderboard and all data (built on click)."""
    files = leaderboard_files(store, leaderboard, current_secrets())
    with st.expander("⬇️ Download the leaderboard and data", expanded=False):
        _buttons(files, key_prefix="dl:leaderboard")
