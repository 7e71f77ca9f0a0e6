"""The leaderboard's quality-vs-cost chart as a Vega-Lite spec (pure: renders nothing).

The spec is written as the JSON Vega-Lite reads, not built with Altair: Altair took 50–120 ms
to build and validate this one chart (it checks every channel against the schema, and compares
the layers' data by printing it), each time new ratings arrive. The tests validate what this
module writes against the Vega-Lite schema Altair ships, so a mistake still shows there.

Tooltip names and formats come from the leaderboard's presentation spec (`board_spec`), so a
point's tooltip reads like the table row it stands for.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from vibegen.board_spec import BY_KEY, KINDS, TOOLTIP, board_frame, x_axis, y_axis
from vibegen.leaderboard import Leaderboard

# Numbers the chart places points by besides the prepared frame's (which shows them as text).
POSITION_COLUMNS = ["lo", "hi", "wall_p50_s", "wall_p90_s"]


def chart_data(leaderboard: Leaderboard, prepared: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows the quality/cost chart can place: competitors with votes and a known cost.

    Each row is the competitor's prepared board row (`prepared`: its `board_frame`, when at
    hand) plus the numbers it is placed by.
    """
    t = leaderboard.table
    rows = board_frame(leaderboard) if prepared is None else prepared.copy()
    rows[POSITION_COLUMNS] = t[POSITION_COLUMNS].to_numpy(dtype=float)
    rows = rows[(t["votes"] > 0).to_numpy() & t["cost_per_image"].notna().to_numpy()]
    return rows.sort_values("cost_per_image").reset_index(drop=True)


SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"


def tooltips(level: float) -> list[dict[str, str]]:
    """One tooltip entry per spec column in `TOOLTIP`, named and formatted as in the table."""
    out = []
    for key in TOOLTIP:
        col = BY_KEY[key]
        d3 = KINDS[col.kind].d3
        entry = {"field": key, "title": col.heading(level)}
        if d3 is not None:
            entry |= {"type": "quantitative", "format": d3}
        else:
            entry["type"] = "nominal"
        out.append(entry)
    return out


def _records(data: pd.DataFrame) -> list[dict[str, Any]]:
    # Through JSON: NaN becomes null and numpy numbers plain ones, as Vega-Lite reads them.
    return json.loads(data.to_json(orient="records", double_precision=15))


def pareto_spec(leaderboard: Leaderboard, prepared: pd.DataFrame | None = None) -> dict[str, Any]:
    """Quality (with its interval bars) against cost per image; p50 latency as bubble size.

    `prepared`: the board's `board_frame`, when it is at hand."""
    data = chart_data(leaderboard, prepared)
    if data.empty:
        msg = "No competitor has both votes and a known cost yet."
        return {
            "$schema": SCHEMA,
            "data": {"values": [{"message": msg}]},
            "mark": {"type": "text", "size": 14},
            "encoding": {"text": {"field": "message", "type": "nominal"}},
        }
    level = leaderboard.fit.level
    costs = data["cost_per_image"]
    # Log x only when it helps (costs spanning 10x or more) and is possible (all > 0).
    use_log = bool((costs > 0).all() and costs.max() / costs.min() >= 10)
    x = {
        "field": "cost_per_image",
        "type": "quantitative",
        "title": x_axis(use_log),
        "scale": {"type": "log"} if use_log else {"zero": False},
    }
    y_scale = {"zero": False}
    score = {"field": "score", "type": "quantitative", "scale": y_scale}
    router = {"field": "router", "type": "nominal", "title": BY_KEY["router"].title}
    tooltip = tooltips(level)
    bars = {
        "mark": {"type": "rule", "strokeWidth": 2, "opacity": 0.6},
        "encoding": {
            "x": x,
            "y": {"field": "lo", "type": "quantitative", "title": y_axis(level), "scale": y_scale},
            "y2": {"field": "hi"},
            "color": router,
            "tooltip": tooltip,
        },
    }
    front = {
        "transform": [{"filter": "datum.pareto"}],
        "mark": {"type": "line", "color": "black", "strokeDash": [6, 3], "point": False},
        "encoding": {
            "x": x,
            "y": score,
            "order": {"field": "cost_per_image", "type": "quantitative"},
        },
    }
    points = {
        "mark": {"type": "circle", "stroke": "black", "strokeWidth": 0.5},
        "encoding": {
            "x": x,
            "y": score,
            "color": router,
            "size": {
                "field": "wall_p50_s",
                "type": "quantitative",
                "title": "p50 wall time (s)",
                "scale": {"range": [60, 600]},
            },
            # Preliminary competitors (few votes) are drawn faded.
            "opacity": {"condition": {"test": "datum.preliminary", "value": 0.4}, "value": 0.95},
            "tooltip": tooltip,
        },
    }
    labels = {
        "mark": {"type": "text", "align": "left", "dx": 8, "dy": -6, "fontSize": 11},
        "encoding": {"x": x, "y": score, "text": {"field": "label", "type": "nominal"}},
    }
    title: dict[str, Any] = {"text": "Quality vs cost per image (dashed line: Pareto front)"}
    if leaderboard.pareto_excluded:
        title["subtitle"] = ["Not shown, cost unknown: " + ", ".join(leaderboard.pareto_excluded)]
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": "container",
        "data": {"values": _records(data)},
        "layer": [bars, front, points, labels],
    }
