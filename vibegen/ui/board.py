"""The Leaderboard page's rows and boards, cached until new ratings or results arrive.

A click on the page reruns its script. Reading every generation and rating from the store,
matching their ids and fitting the board again on each click would make the page as slow as
its history is long. So the coded rows (`BoardRows`) are kept per database by a `BoardFeed`,
which checks the data version (`Store.board_version`, two cheap queries) and reads only what
moved (a new rating is one row, matched alone), and each board is kept per version and
filters: a click that changes no filter reuses the board, a filter change rebuilds it from the
kept rows, and a new rating or result changes the version and rebuilds the board.

Cached objects are shared by every session of the process: callers never mutate them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

import streamlit as st

from vibegen.board_feed import BoardFeed
from vibegen.board_rows import BoardRows
from vibegen.board_spec import KINDS, PAGE_COLUMNS, Column, board_frame
from vibegen.charts import pareto_spec
from vibegen.leaderboard import BoardFilter, Leaderboard, build_leaderboard

if TYPE_CHECKING:
    import pandas as pd

    # Streamlit names the type its column helpers return only in this internal module.
    from streamlit.elements.lib.column_types import ColumnConfig

    from vibegen.store import Store


@st.cache_resource(max_entries=4, show_spinner=False)
def _feed(url: str) -> BoardFeed:
    # One feed per database: it keeps the rows and reads only what changed since.
    return BoardFeed()


# A board holds its outcomes (a few hundred thousand rows at 100k ratings): keep a few.
@st.cache_resource(max_entries=6, show_spinner=False)
def _board(
    url: str, version: Hashable, key: str, _rows: BoardRows, _where: BoardFilter, _min_votes: int
) -> Leaderboard:
    # `key` (the filter's repr and the vote threshold) stands for the unhashed arguments.
    return build_leaderboard(_rows, where=_where, min_votes=_min_votes)


def _key(where: BoardFilter, *extra: object) -> str:
    # A frozen dataclass of plain values: its repr names it exactly, and Streamlit hashes text.
    return repr((where, *extra))


def current_rows(store: Store) -> tuple[BoardRows, Hashable]:
    """The store's leaderboard rows (ids matched once) and the data version they are of."""
    return _feed(str(store.engine.url)).current(store)


def cached_leaderboard(
    store: Store, rows: BoardRows, version: Hashable, where: BoardFilter, *, min_votes: int
) -> Leaderboard:
    """`build_leaderboard(rows, where)`, reused while the data and the slice stay the same."""
    return _board(str(store.engine.url), version, _key(where, min_votes), rows, where, min_votes)


@st.cache_resource(max_entries=6, show_spinner=False)
def _prepared(url: str, version: Hashable, key: str, _board: Leaderboard) -> pd.DataFrame:
    # A board's rows as people read them, made once for its table and its chart.
    return board_frame(_board)


@st.cache_resource(max_entries=6, show_spinner=False)
def _chart(url: str, version: Hashable, key: str, _board: Leaderboard) -> dict:
    # Written once per board, not on every click.
    return pareto_spec(_board, _prepared(url, version, key, _board))


def _of(store: Store, version: Hashable, leaderboard: Leaderboard) -> tuple[str, Hashable, str]:
    # What names a cached board: its store, its data's version, its slice and fit settings.
    fit = leaderboard.fit
    return str(store.engine.url), version, _key(leaderboard.where, fit.min_votes, fit.level)


def cached_chart_spec(store: Store, version: Hashable, leaderboard: Leaderboard) -> dict:
    """The quality-vs-cost chart of a cached board as a Vega-Lite spec, written once."""
    return _chart(*_of(store, version, leaderboard), leaderboard)


def _config(col: Column, level: float) -> ColumnConfig:
    # The spec's name, help and format, in Streamlit's column types.
    name, help_ = col.heading(level), col.help or None
    fmt = KINDS[col.kind].printf
    # A number, not a progress bar: "100%" is narrower and says the same.
    if fmt is not None:
        return st.column_config.NumberColumn(name, help=help_, format=fmt, width=col.width)
    return st.column_config.TextColumn(name, help=help_, width=col.width)


def column_config(level: float) -> dict[str, ColumnConfig]:
    """Streamlit column settings for the page's spec columns (names, help, formats)."""
    return {c.key: _config(c, level) for c in PAGE_COLUMNS}


def page_frame(leaderboard: Leaderboard, prepared: pd.DataFrame | None = None) -> pd.DataFrame:
    """The prepared frame's page columns, a flag as its word (a checkbox reads as editable).

    `prepared`: the board's `board_frame`, when it is at hand."""
    full = board_frame(leaderboard) if prepared is None else prepared
    frame = full[[c.key for c in PAGE_COLUMNS]].copy()
    frame["label"] = full["label"].astype(str) + " · " + full["router"].astype(str)
    for col in PAGE_COLUMNS:
        if col.kind == "flag":
            frame[col.key] = frame[col.key].map(col.text)
    return frame


@st.cache_resource(max_entries=6, show_spinner=False)
def _page_frame(url: str, version: Hashable, key: str, _board: Leaderboard) -> pd.DataFrame:
    # Prepared once per board (a formatted row per competitor), not on every click.
    return page_frame(_board, _prepared(url, version, key, _board))


def board_table(store: Store, version: Hashable, leaderboard: Leaderboard) -> None:
    """The leaderboard table of a cached board: the prepared frame, named and formatted by
    the spec."""
    st.dataframe(
        _page_frame(*_of(store, version, leaderboard), leaderboard),
        hide_index=True,
        width="stretch",
        column_config=column_config(leaderboard.fit.level),
    )
