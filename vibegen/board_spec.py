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
from vibegen.money import amount

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
    width: int | None = None  # the page's column width in px: all page columns fit 1440 px

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


# Named in words with units, as a designer reads them; the statistics go into the help text.
COLUMNS: tuple[Column, ...] = (
    Column(
        "rank",
        "place",
        "text",
        "Models whose likely ranges overlap are tied: a place is 1 + the number of models "
        "clearly better (whose whole range lies above this one's).",
        ("rank",),
        width=90,
    ),
    # The page shows the router in the model's cell ("FLUX.2 [pro] · fal") to save a column.
    Column("label", "model", "text", "The model, and the router it ran on.", ("label",), width=215),
    Column(
        "router", "router", "text", "The service the images came from.", ("router",), page=False
    ),
    Column(
        "model_key",
        "catalog key",
        "text",
        "The catalog key: router and model id.",
        ("model_key",),
        page=False,
    ),
    Column(
        "score",
        "quality score",
        "score",
        "Higher is better; the average model scores 1000 and 100 points more means winning "
        "about 64% of comparisons (a Bradley–Terry fit on the votes, on an Elo-like scale).",
        ("score",),
        width=95,
    ),
    Column(
        "interval",
        "likely range",
        "text",
        "Where the quality score likely lies (a confidence interval that treats the "
        "comparisons of one click as one judgment); models whose ranges overlap are tied.",
        ("lo", "hi"),
        width=95,
    ),
    Column(
        "votes",
        "votes",
        "count",
        "Judgments (clicks) behind the score: a pair vote, a star rating, a best pick or a "
        "reject counts once, however many comparisons it implies.",
        ("votes", "outcomes"),
        width=55,
    ),
    Column(
        "raters",
        "raters",
        "count",
        "How many different people cast the votes.",
        ("raters",),
        width=55,
    ),
    Column(
        "cost_per_image",
        "cost per image",
        "money",
        "US dollars: the median over successful images with a known cost; an unknown cost "
        "is never taken as $0.",
        ("cost_per_image",),
        width=105,
    ),
    Column(
        "wall",
        "typical time",
        "text",
        "Median seconds per image (half the images took longer).",
        ("wall_p50_s",),
        width=90,
    ),
    Column(
        "success_rate",
        "success",
        "percent",
        "Share of finished attempts that returned an image.",
        ("success_rate",),
        width=65,
    ),
    Column(
        "pareto",
        "good value",
        "flag",
        "On the Pareto front: no other model is both better and cheaper.",
        ("pareto",),
        badge="pareto",
        page=False,  # the page says it in the note column
    ),
    Column(
        "note",
        "note",
        "text",
        "Good value (on the Pareto front: no other model is both better and cheaper), few "
        "votes yet (preliminary), a score the votes alone could not settle, or simulated.",
        ("pareto", "preliminary", "estimate_flag", "flag_reason", "sandbox"),
        width=100,
    ),
    Column(
        "preliminary",
        "preliminary",
        "flag",
        "Too few votes for a settled score.",
        ("preliminary",),
        badge="prelim",
        page=False,
    ),
    Column(
        "sandbox",
        "simulated",
        "flag",
        "A sandbox model: offline, made-up images, times and prices.",
        ("sandbox",),
        badge="sandbox",
        page=False,
    ),
    Column(
        "wall_p90",
        "slow time",
        "text",
        "90th-percentile seconds per image (one in ten took longer).",
        ("wall_p90_s",),
        page=False,
    ),
    Column(
        "cost_kinds",
        "cost source",
        "text",
        "Where the cost figures come from, with how many images each.",
        ("cost_kinds", "cost_known_images"),
        page=False,
    ),
    Column(
        "images",
        "images made",
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
    "raters",
    "cost_per_image",
    "wall",
    "success_rate",
    "pareto",
    "note",
)


def x_axis(log: bool = False) -> str:
    """The quality-vs-cost charts' x axis title."""
    return "Median cost per image (USD" + (", log scale)" if log else ")")


def y_axis(level: float) -> str:
    """The quality-vs-cost charts' y axis title."""
    return f"Quality score (likely range, {level:.0%})"


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


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def place(rank: Any, shared: int) -> str:
    """A rank in words: '1st', or 'tied for 1st' when `shared` (> 1) models hold it."""
    if rank is None or pd.isna(rank):
        return DASH
    words = ordinal(int(rank))
    return f"tied for {words}" if shared > 1 else words


def _note(r: Any) -> str:
    parts = []
    if bool(r.sandbox):
        parts.append("simulated")
    if bool(r.pareto):
        parts.append("good value")
    if pd.notna(r.votes) and int(r.votes) > 0 and bool(r.preliminary):
        parts.append("few votes yet")
    if isinstance(r.flag_reason, str) and r.flag_reason and r.flag_reason != "no votes":
        parts.append(r.flag_reason)
    return "; ".join(parts)


def board_frame(lb: Leaderboard) -> pd.DataFrame:
    """One row per competitor (best first) with exactly the `COLUMNS`, ready to show."""
    t = lb.table
    rated_ranks = t.loc[t["votes"] > 0, "rank"]
    shared = rated_ranks.value_counts()
    rows = []
    for r in t.itertuples(index=False):
        rated = pd.notna(r.votes) and int(r.votes) > 0
        rows.append(
            {
                # A competitor with no votes has no score, interval or rank: not the prior's 1000.
                "rank": place(r.rank, int(shared.get(r.rank, 0))) if rated else DASH,
                "label": r.label,
                "router": r.router,
                "model_key": r.model_key,
                "score": float(r.score) if rated else math.nan,
                "interval": f"{_number(r.lo)} – {_number(r.hi)}" if rated else DASH,
                "votes": int(r.votes) if pd.notna(r.votes) else 0,
                "raters": int(r.raters) if pd.notna(r.raters) else 0,
                "cost_per_image": float(r.cost_per_image),
                "wall": _seconds(r.wall_p50_s),
                "success_rate": float(r.success_rate),
                "pareto": bool(r.pareto),
                "note": _note(r),
                "preliminary": bool(rated and r.preliminary),
                "sandbox": bool(r.sandbox),
                "wall_p90": _seconds(r.wall_p90_s),
                "cost_kinds": _kinds(r.cost_kinds),
                "images": f"{int(r.images_ok or 0)} of {int(r.finished or 0)}"
                + (f" ({int(r.in_flight)} in flight)" if r.in_flight else ""),
                "failures": _failures(r),
            }
        )
    return pd.DataFrame(rows, columns=[c.key for c in COLUMNS])


def _names(labels: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    items = list(labels)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def verdict(lb: Leaderboard) -> list[str]:
    """The board's verdict in plain sentences: best value, who is tied with the best, votes."""
    t = lb.table
    rated = t[t["votes"] > 0]
    out: list[str] = []
    if t["sandbox"].any():
        out.append(
            "Simulated: "
            + ("every model here is" if t["sandbox"].all() else "some models here are")
            + " a sandbox model, with made-up images, times and prices."
        )
    if rated.empty:
        out.append("No votes yet, so no verdict: rate images on a run's Review page.")
        return out
    name = dict(zip(t["model_key"], t["label"], strict=True))
    best = rated.iloc[0]  # the table is best first
    tied = rated[rated["rank"] == 1]
    c = lb.callout
    if c is not None:
        price = amount(c.cost_per_image)
        if c.model_key == c.best_model_key:
            reason = "the highest quality score, and the cheapest of those tied for 1st"
            out.append(f"Best value: {c.label} — {reason} ({price} per image).")
        else:
            out.append(
                f"Best value: {c.label} — tied for 1st with the top scorer, {c.best_label}, "
                f"and cheaper ({price} per image)."
            )
    else:
        out.append(f"Highest quality score: {best['label']}; no cost is known for those tied.")
    if len(tied) > 1:
        out.append(f"Tied for 1st: {_names([str(x) for x in tied['label']])}.")
    else:
        out.append(f"{best['label']} is 1st on its own: its likely range is above all others.")
    need = lb.votes_needed
    if need is not None:
        a, b = name.get(need.a, need.a), name.get(need.b, need.b)
        if need.separated:
            # Overlapping ranges can still hide a clear head-to-head difference.
            out.append(
                f"{a} is clearly ahead of {b} head to head"
                + (", although their likely ranges overlap." if len(tied) > 1 else ".")
            )
        elif not math.isfinite(need.votes):
            out.append(f"The top two, {a} and {b}, are exactly level: more votes won't split them.")
        else:
            out.append(
                f"Roughly {math.ceil(need.votes)} more votes between {a} and {b} would likely "
                "tell the top two apart, if the current difference holds."
            )
    if bool(rated["preliminary"].any()):
        out.append(f"Preliminary: some models have fewer than {lb.fit.min_votes} votes.")
    return out


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
