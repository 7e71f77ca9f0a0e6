"""Leaderboard: quality with honest intervals, cost, speed, reliability, N-image projection."""

import datetime as dt

import pandas as pd
import streamlit as st

from vibegen.board_spec import verdict
from vibegen.leaderboard import BoardFilter, projection
from vibegen.markup import escape_markdown
from vibegen.runner import concurrency_in_force
from vibegen.subscriptions import SUBSCRIPTIONS, per_image_cost
from vibegen.ui.access import require_owner
from vibegen.ui.board import (
    board_table,
    cached_chart_spec,
    cached_leaderboard,
    current_rows,
)
from vibegen.ui.exports import leaderboard_downloads
from vibegen.ui.runtime import frame
from vibegen.ui.sandbox import sandbox_banner

ctx = frame("Leaderboard")
require_owner(ctx)  # served to a network, this page is the owner's
st.title("Leaderboard")

# Read, matched and fitted once per change of the data, not on every click (vibegen.ui.board).
rows, version = current_rows(ctx.store)
generations, ratings = rows.generations, rows.ratings

with st.sidebar:
    st.subheader("Filters")
    briefs = {p["id"]: p["name"] for p in ctx.store.prompt_sets()}
    brief = st.selectbox(
        "Brief (prompt set)",
        [None, *briefs],
        key="lb_brief",
        format_func=lambda k: "all runs" if k is None else briefs[k],
    )
    raters = sorted(ratings["rater"].unique()) if len(ratings) else []
    rater = st.selectbox(
        "Rater",
        [None, *raters],
        key="lb_rater",
        format_func=lambda r: "everyone" if r is None else r,
    )
    today = dt.date.today()
    span = st.date_input(
        "Images made between", (today - dt.timedelta(days=365), today), key="lb_dates"
    )
    blind_only = st.toggle("Blind ratings only", key="lb_blind")
    held = ctx.store.team.held()
    include_held = st.toggle(
        "Count raters not yet accepted",
        key="lb_held",
        help="People who joined through a team link count once you accept them on their "
        "run's page. This shows what the board would say with their votes.",
    )
    include_sandbox = st.toggle(
        "Include sandbox models",
        key="lb_sandbox",
        value=bool(len(generations)) and generations["sandbox"].all(),
    )
    min_votes = st.number_input("Preliminary below (votes)", 1, 1000, 20, key="lb_min_votes")

since = until = None
if isinstance(span, tuple) and len(span) == 2:
    since = dt.datetime.combine(span[0], dt.time.min, dt.UTC)
    until = dt.datetime.combine(span[1], dt.time.max, dt.UTC)
where = BoardFilter(
    prompt_set_id=brief,
    since=since,
    until=until,
    rater=rater,
    blind_only=blind_only,
    include_sandbox=include_sandbox,
    include_held=include_held,
)
lb = cached_leaderboard(ctx.store, rows, version, where, min_votes=int(min_votes))

if lb.table.empty:
    st.info(
        "Nothing to rank yet: generate images, then rate them on a run's Review page."
        + (
            ""
            if include_sandbox
            else " Sandbox models are hidden; switch them on in the sidebar to see them."
        )
    )
    st.stop()

if held and not include_held:
    st.caption(
        f"Not counted: {len(held)} rater{'s' if len(held) != 1 else ''} who joined "
        "through a team link and wait for you to accept or drop them (on the run's "
        'page, under "Share this run for review").'
    )
if lb.table["sandbox"].any():  # simulated results are said to be simulated, first
    sandbox_banner(ctx.catalog)
# The verdict first, in words: best value, who is tied with the best, votes still needed.
st.success("  \n".join(escape_markdown(line) for line in verdict(lb)))
st.caption(
    "Each row is a model on one router. The quality score comes from the votes; models "
    "whose likely ranges overlap are tied. Hover a column name for what it means."
)
if lb.disconnection:
    st.warning(lb.disconnection)
for note in lb.notes:
    st.caption(note)

board_table(ctx.store, version, lb)  # columns, names, formats and help: vibegen.board_spec

leaderboard_downloads(ctx.store, lb)

st.subheader("Quality against cost")
st.vega_lite_chart(cached_chart_spec(ctx.store, version, lb), width="stretch")

st.subheader("What N images would cost and take")
n = st.number_input("Images per competitor", 1, 100_000, 100, key="lb_n")
# What each account runs at once, as the runs themselves assume (VIBEGEN_FAL_CONCURRENCY=40
# and the like, else the declared figure).
concurrency = {
    name: concurrency_in_force(name, info.concurrency, ctx.env)
    for name, info in ctx.catalog.routers.items()
}
proj = projection(lb, int(n), concurrency)
st.dataframe(
    proj[
        [
            "label",
            "router",
            "success_rate",
            "attempts",
            "concurrency",
            "expected_cost_usd",
            "expected_wall_s",
            "note",
        ]
    ],
    hide_index=True,
    width="stretch",
    column_config={
        "expected_cost_usd": st.column_config.NumberColumn("expected $", format="$%.2f"),
        "expected_wall_s": st.column_config.NumberColumn("expected time (s)", format="%.0f"),
        "success_rate": st.column_config.NumberColumn(format="percent"),
    },
)

volume = st.number_input("Images per month (for subscriptions)", 1, 1_000_000, 100, key="lb_volume")
st.dataframe(
    pd.DataFrame(
        [
            {
                "plan": s.name,
                "$/month": s.monthly_usd,
                "$/image at this volume": per_image_cost(s, volume),
                "limits": s.limits,
                "source": s.source,
                "seen": s.seen,
            }
            for s in SUBSCRIPTIONS
        ]
    ),
    hide_index=True,
    width="stretch",
    column_config={"$/image at this volume": st.column_config.NumberColumn(format="$%.4f")},
)
st.caption(
    "Subscription prices come from the project's seed document; an infinite price "
    "means the plan's allowance does not cover that volume."
)
