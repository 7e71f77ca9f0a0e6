"""Altair charts for the leaderboard (pure: returns chart objects, renders nothing)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from vibegen.leaderboard import Leaderboard

CHART_COLUMNS = [
    "model_key",
    "label",
    "router",
    "score",
    "lo",
    "hi",
    "rank",
    "votes",
    "preliminary",
    "cost_per_image",
    "wall_p50_s",
    "wall_p90_s",
    "success_rate",
    "pareto",
]


def chart_data(leaderboard: Leaderboard) -> pd.DataFrame:
    """Rows the quality/cost chart can place: competitors with votes and a known cost."""
    t = leaderboard.table
    rows = t[(t["votes"] > 0) & t["cost_per_image"].notna()][CHART_COLUMNS].copy()
    rows["rank"] = rows["rank"].astype(float)
    rows["pareto"] = rows["pareto"].astype(bool)
    rows["preliminary"] = rows["preliminary"].astype(bool)
    return rows.sort_values("cost_per_image").reset_index(drop=True)


def pareto_chart(leaderboard: Leaderboard) -> alt.LayerChart | alt.Chart:
    """Quality (with 95% interval bars) against cost per image; p50 latency as bubble size."""
    data = chart_data(leaderboard)
    if data.empty:
        msg = "No competitor has both votes and a known cost yet."
        return alt.Chart(pd.DataFrame({"message": [msg]})).mark_text(size=14).encode(text="message")
    costs = data["cost_per_image"]
    # Log x only when it helps (costs spanning 10x or more) and is possible (all > 0).
    use_log = bool((costs > 0).all() and costs.max() / costs.min() >= 10)
    x_scale = alt.Scale(type="log") if use_log else alt.Scale(zero=False)
    x = alt.X("cost_per_image:Q", title="Median cost per image (USD)", scale=x_scale)
    y_scale = alt.Scale(zero=False)
    tooltip = [
        alt.Tooltip("label:N", title="Competitor"),
        alt.Tooltip("router:N"),
        alt.Tooltip("score:Q", format=".0f"),
        alt.Tooltip("lo:Q", title="95% low", format=".0f"),
        alt.Tooltip("hi:Q", title="95% high", format=".0f"),
        alt.Tooltip("rank:Q"),
        alt.Tooltip("votes:Q"),
        alt.Tooltip("preliminary:N"),
        alt.Tooltip("cost_per_image:Q", title="Cost / image", format="$.4f"),
        alt.Tooltip("wall_p50_s:Q", title="p50 wall (s)", format=".1f"),
        alt.Tooltip("wall_p90_s:Q", title="p90 wall (s)", format=".1f"),
        alt.Tooltip("success_rate:Q", title="Success rate", format=".0%"),
    ]
    base = alt.Chart(data)
    bars = base.mark_rule(strokeWidth=2, opacity=0.6).encode(
        x=x,
        y=alt.Y("lo:Q", title="Quality score (Elo-like, 95% interval)", scale=y_scale),
        y2="hi:Q",
        color=alt.Color("router:N", title="Router"),
        tooltip=tooltip,
    )
    points = base.mark_circle(stroke="black", strokeWidth=0.5).encode(
        x=x,
        y=alt.Y("score:Q", scale=y_scale),
        color=alt.Color("router:N", title="Router"),
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
