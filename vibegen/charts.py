"""Altair charts for the leaderboard (pure: returns chart objects, renders nothing).

Tooltip names and formats come from the leaderboard's presentation spec (`board_spec`), so a
point's tooltip reads like the table row it stands for.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from vibegen.board_spec import BY_KEY, KINDS, TOOLTIP, board_frame, x_axis, y_axis
from vibegen.leaderboard import Leaderboard

# Numbers the chart places points by besides the prepared frame's (which shows them as text).
POSITION_COLUMNS = ["lo", "hi", "wall_p50_s", "wall_p90_s"]


def chart_data(leaderboard: Leaderboard) -> pd.DataFrame:
    """Rows the quality/cost chart can place: competitors with votes and a known cost.

    Each row is the competitor's prepared board row plus the numbers it is placed by.
    """
    t = leaderboard.table
    rows = board_frame(leaderboard)
    rows[POSITION_COLUMNS] = t[POSITION_COLUMNS].to_numpy(dtype=float)
    rows = rows[(t["votes"] > 0).to_numpy() & t["cost_per_image"].notna().to_numpy()]
    return rows.sort_values("cost_per_image").reset_index(drop=True)


def tooltips(level: float) -> list[alt.Tooltip]:
    """One tooltip entry per spec column in `TOOLTIP`, named and formatted as in the table."""
    out = []
    for key in TOOLTIP:
        col = BY_KEY[key]
        d3 = KINDS[col.kind].d3
        if d3 is not None:
            out.append(alt.Tooltip(f"{key}:Q", title=col.heading(level), format=d3))
        else:
            out.append(alt.Tooltip(f"{key}:N", title=col.heading(level)))
    return out


# alt.layer gives a FacetChart when its layers share facet encodings (these have none).
def pareto_chart(leaderboard: Leaderboard) -> alt.LayerChart | alt.FacetChart | alt.Chart:
    """Quality (with its interval bars) against cost per image; p50 latency as bubble size."""
    data = chart_data(leaderboard)
    if data.empty:
        msg = "No competitor has both votes and a known cost yet."
        return alt.Chart(pd.DataFrame({"message": [msg]})).mark_text(size=14).encode(text="message")
    level = leaderboard.fit.level
    costs = data["cost_per_image"]
    # Log x only when it helps (costs spanning 10x or more) and is possible (all > 0).
    use_log = bool((costs > 0).all() and costs.max() / costs.min() >= 10)
    x_scale = alt.Scale(type="log") if use_log else alt.Scale(zero=False)
    x = alt.X("cost_per_image:Q", title=x_axis(), scale=x_scale)
    y_scale = alt.Scale(zero=False)
    tooltip = tooltips(level)
    base = alt.Chart(data)
    bars = base.mark_rule(strokeWidth=2, opacity=0.6).encode(
        x=x,
        y=alt.Y("lo:Q", title=y_axis(level), scale=y_scale),
        y2="hi:Q",
        color=alt.Color("router:N", title=BY_KEY["router"].title),
        tooltip=tooltip,
    )
    points = base.mark_circle(stroke="black", strokeWidth=0.5).encode(
        x=x,
        y=alt.Y("score:Q", scale=y_scale),
        color=alt.Color("router:N", title=BY_KEY["router"].title),
        size=alt.Size("wall_p50_s:Q", title="p50 wall time (s)", scale=alt.Scale(range=[60, 600])),
        # Preliminary competitors (few votes) are drawn faded.
        opacity=alt.condition("datum.preliminary", alt.value(0.4), alt.value(0.95)),
        tooltip=tooltip,
    )
    front = (
        base.transform_filter("datum.pareto")
        .mark_line(color="black", strokeDash=[6, 3], point=False)
        .encode(x=x, y=alt.Y("score:Q", scale=y_scale), order="cost_per_image:Q")
    )
    labels = base.mark_text(align="left", dx=8, dy=-6, fontSize=11).encode(
        x=x, y=alt.Y("score:Q", scale=y_scale), text="label:N"
    )
    subtitle = []
    if leaderboard.pareto_excluded:
        subtitle.append("Not shown, cost unknown: " + ", ".join(leaderboard.pareto_excluded))
    title = alt.TitleParams(
        "Quality vs cost per image (dashed line: Pareto front)", subtitle=subtitle
    )
    return alt.layer(bars, front, points, labels).properties(title=title, width="container")
