"""How the leaderboard is shown: one spec of columns and the one frame every view renders.

`COLUMNS` says, once, which columns a person sees, in which order, under which name, in
which format and with which help text. `board_frame` turns a `Leaderboard` into one row per
competitor with exactly those columns (the TruLens way: prepare the frame once, then render
it). The Leaderboard page shows that frame as it is, the HTML report prints each cell with
`Column.text`, and the quality-vs-cost charts take their tooltips from the same columns.
The CSV and JSON exports carry the raw table (`Leaderboard.table`, machine-readable names);
each column here lists the table fields it is made from, so the exported data always holds
what the views show.

Pure: no Streamlit, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from vibegen.board_rows import FAILURE_GROUPS
from vibegen.costs import KIND_LABEL
from vibegen.leaderboard import Leaderboard

DASH = "—"


@dataclass(frozen=True)
class Kind:
    """How one kind of value is formatted: in Python (report), printf (page), d3 (chart)."""

    printf: str | None  # Streamlit's column format; None for text and flags
    d3: str | None  # Vega-Lite's tooltip format
    missing: str = DASH  # what the report prints for an unknown value


KINDS = {
    "text": Kind(None, None, ""),  # text and flags are prepared as shown
    "count": Kind("%d", "d"),
    "score": Kind("%.0f", ".0f", "no votes"),  # a competitor with no votes has no score
    "money": Kind("$%.4f", "$.4f", "unknown"),  # an unknown cost is said, never $0
    "percent": Kind("percent", ".0%"),
    "flag": Kind(None, None, ""),
}


@dataclass(frozen=True)
class Column:
    """One leaderboard column as people see it."""

    key: str  # its name in the prepared frame
    title: str  # the display name; "{level}" becomes the interval level, e.g. "95%"
    kind: str  # a key of KINDS
    help: str = ""
    fields: tuple[str, ...] = ()  # the Leaderboard.table columns it is made from
    badge: str = ""  # the report shows a true flag as a badge of this CSS class
    # False: a detail the report and exports carry but the page leaves out, so the page's
    # table fits a laptop screen (1440 px) without scrolling sideways.
    page: bool = True

    def heading(self, level: float) -> str:
        """The display name at this interval level."""
        return self.title.format(level=f"{level:.0%}")

    def text(self, value: Any) -> str:
        """The value as the report and chart tooltips print it."""
        kind = KINDS[self.kind]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return kind.missing
        if self.kind == "flag":
            return self.title if value else ""
        if self.kind == "percent":
            return f"{float(value):.0%}"
        if kind.printf is not None:
            return kind.printf % value
        return str(value)


# The page's names came first and people (and the browser tests) read the table by them.
COLUMNS: tuple[Column, ...] = (
    Column(
        "rank",
        "rank",
        "text",
        "1 + the number of competitors whose interval lies entirely "
        "above this one's, so statistically tied competitors share a rank.",
        ("rank",),
    ),
    Column("label", "label", "text", "The competitor: a model on one router.", ("label",)),
    Column("router", "router", "text", fields=("router",)),
    Column(
        "model_key",
        "model",
        "text",
        "The catalog key: router and model id.",
        ("model_key",),
        page=False,
    ),
    Column(
        "score",
        "quality",
        "score",
        "Bradley–Terry fit on pairwise outcomes, on an "
        "Elo-like scale (mean 1000 over rated competitors).",
        ("score",),
    ),
    Column(
        "interval",
        "Score ({level} interval)",
        "text",
        "The quality score's interval: competitors whose intervals overlap share a rank.",
        ("lo", "hi"),
    ),
    Column("votes", "votes", "count", "Pairwise outcomes behind the score.", ("votes",)),
    Column(
        "raters", "raters", "count", "How many different people the votes come from.", ("raters",)
    ),
    Column(
        "preliminary",
        "preliminary",
        "flag",
        "Too few votes for a settled score.",
        ("preliminary",),
        badge="prelim",
    ),
    Column("flag_reason", "estimate note", "text", fields=("estimate_flag", "flag_reason")),
    Column(
        "cost_per_image",
        "Cost / image",
        "money",
        "Median over successful images with a known cost; an unknown cost is never taken as $0.",
        ("cost_per_image",),
    ),
    Column(
        "cost_kinds",
        "cost kinds",
        "text",
        "Where the cost figures come from, with how many images each.",
        ("cost_kinds", "cost_known_images"),
    ),
    Column(
        "wall",
        "wall p50 / p90",
        "text",
        "Median and 90th-percentile time per image.",
        ("wall_p50_s", "wall_p90_s"),
    ),
    Column(
        "success_rate",
        "success",
        "percent",
        "Successful images of the finished attempts.",
        ("success_rate",),
    ),
    Column(
        "images",
        "images ok",
        "text",
        "Successful of finished attempts.",
        ("images_ok", "finished", "in_flight"),
        page=False,
    ),
    Column(
        "failures",
        "failures",
        "text",
        "Failed attempts, by kind.",
        ("failures", *[f"fail_{g}" for g in FAILURE_GROUPS]),
        page=False,
    ),
    Column(
        "pareto",
        "Pareto front",
        "flag",
        "Nobody is both better and cheaper.",
        ("pareto",),
        badge="pareto",
    ),
)
BY_KEY = {c.key: c for c in COLUMNS}
PAGE_COLUMNS = tuple(c for c in COLUMNS if c.page)
# What a chart point's tooltip lists, in order.
TOOLTIP = (
    "label",
    "router",
    "score",
    "interval",
    "rank",
    "votes",
    "preliminary",
    "cost_per_image",
    "wall",
    "success_rate",
    "pareto",
)


def x_axis(log: bool = False) -> str:
    """The quality-vs-cost charts' x axis title."""
    return "Median cost per image (USD" + (", log scale)" if log else ")")


def y_axis(level: float) -> str:
    """The quality-vs-cost charts' y axis title."""
    return f"Quality score (Elo-like, {level:.0%} interval)"


def _seconds(x: Any) -> str:
    return DASH if x is None or pd.isna(x) else f"{float(x):.1f} s"


def _number(x: Any) -> str:
    return DASH if x is None or pd.isna(x) or not math.isfinite(float(x)) else f"{float(x):.0f}"


def _kinds(kinds: Any) -> str:
    if not isinstance(kinds, dict):
        return ""
    return ", ".join(f"{KIND_LABEL.get(k, k)} {v}" for k, v in kinds.items() if v)


def _failures(row: Any) -> str:
    total = int(row.failures) if pd.notna(row.failures) else 0
    parts = [
        f"{g.replace('_', ' ')} {int(getattr(row, f'fail_{g}'))}"
        for g in FAILURE_GROUPS
        if pd.notna(getattr(row, f"fail_{g}")) and int(getattr(row, f"fail_{g}"))
    ]
    return f"{total}: {', '.join(parts)}" if parts else str(total)


def board_frame(lb: Leaderboard) -> pd.DataFrame:
    """One row per competitor (best first) with exactly the `COLUMNS`, ready to show."""
    rows = []
    for r in lb.table.itertuples(index=False):
        rated = pd.notna(r.votes) and int(r.votes) > 0
        rows.append(
            {
                # A competitor with no votes has no score, interval or rank: not the prior's 1000.
                "rank": _number(r.rank) if rated else DASH,
                "label": r.label,
                "router": r.router,
                "model_key": r.model_key,
                "score": float(r.score) if rated else math.nan,
                "interval": f"{_number(r.lo)} – {_number(r.hi)}" if rated else DASH,
                "votes": int(r.votes) if pd.notna(r.votes) else 0,
                "raters": int(r.raters) if pd.notna(r.raters) else 0,
                "preliminary": bool(rated and r.preliminary),
                "flag_reason": r.flag_reason if isinstance(r.flag_reason, str) else "",
                "cost_per_image": float(r.cost_per_image),
                "cost_kinds": _kinds(r.cost_kinds),
                "wall": f"{_seconds(r.wall_p50_s)} / {_seconds(r.wall_p90_s)}",
                "success_rate": float(r.success_rate),
                "images": f"{int(r.images_ok or 0)} of {int(r.finished or 0)}"
                + (f" ({int(r.in_flight)} in flight)" if r.in_flight else ""),
                "failures": _failures(r),
                "pareto": bool(r.pareto),
            }
        )
    return pd.DataFrame(rows, columns=[c.key for c in COLUMNS])


def tooltip_lines(row: pd.Series | dict, level: float, keys: Sequence[str] = TOOLTIP) -> list[str]:
    """'Title: value' lines for one prepared row (flags only when true)."""
    lines = []
    for key in keys:
        col = BY_KEY[key]
        if col.kind == "flag":
            if row[key]:
                lines.append(col.heading(level))
            continue
        lines.append(f"{col.heading(level)}: {col.text(row[key])}")
    return lines
