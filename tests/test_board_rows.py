"""Coded board rows: yes/no columns read as booleans, whatever form the frame gives them in."""

from __future__ import annotations

import pandas as pd

from vibegen.board_rows import BoardRows

GENERATIONS = pd.DataFrame(
    {"generation_id": ["g1", "g2"], "run_id": ["r", "r"], "model_key": ["a", "b"]}
)


def _ratings(**columns: list) -> pd.DataFrame:
    base = {"generation_id": ["g1", "g2", "g1"], "rater": ["x", "y", "z"], "mode": ["stars"] * 3}
    return pd.DataFrame(base | columns)


def test_missing_flags_take_their_defaults() -> None:
    rows = BoardRows.from_frames(GENERATIONS, _ratings())
    assert rows.counts.tolist() == [True, True, True]
    assert rows.blind.tolist() == [False, False, False]


def test_flags_with_gaps_take_the_default_where_missing() -> None:
    rows = BoardRows.from_frames(
        GENERATIONS,
        _ratings(counts=[True, None, False], blind=pd.array([True, None, False], dtype="boolean")),
    )
    assert rows.counts.tolist() == [True, True, False]
    assert rows.blind.tolist() == [True, False, False]
    assert rows.counts.dtype == bool and rows.blind.dtype == bool
