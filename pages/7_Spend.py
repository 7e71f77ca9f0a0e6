"""Spend: what the routers billed (by router, model, UTC day or month) and the budget caps."""

import streamlit as st

from vibegen import spend
from vibegen.ui.access import require_owner
from vibegen.ui.runtime import frame
from vibegen.ui.spend import budget_editor, money_table

ctx = frame("Spend")
require_owner(ctx)  # served to a network, this page is the owner's
st.title("Spend")
st.caption(
    "Real money the routers billed, failed requests included, with how each amount is "
    "known: reported by the router, computed from usage, or estimated from the catalog. "
    "A billed amount we do not know is counted as unknown, never as $0. Days and months "
    "are UTC. The sandbox's simulated prices are kept apart at the bottom."
)

ledger = ctx.store.spend_frame()
totals = spend.totals(ledger)
cols = st.columns(3)
for col, row in zip(cols, (totals.day, totals.month, totals.all_time), strict=True):
    col.metric(
        f"Real spend {row.label}",
        spend.money(row.usd),
        border=True,
        help=f"{row.events} billed events; how we know: {row.mix_text()}",
    )
    if row.unknown:
        col.caption(f"plus **{row.unknown}** billed event(s) whose amount is unknown")

real = spend.rows_frame(spend.by_router(ledger, ctx.catalog))
if real.empty:
    st.info(
        "Nothing has been billed yet. Runs on a router with a key appear here as soon as "
        "the router bills them."
        + (
            " Sandbox runs are listed below as simulated."
            if totals.all_time.simulated_events
            else ""
        )
    )
else:
    st.subheader("By router")
    money_table(real, label="router")
    st.subheader("By model")
    routers = {name: info.label for name, info in ctx.catalog.routers.items()}
    money_table(
        spend.rows_frame(spend.by_model(ledger, ctx.catalog)), label="model", routers=routers
    )

    by_month = st.toggle("By month", key="spend_by_month")
    scope = "month" if by_month else "day"
    st.subheader(f"By UTC {scope}")
    periods = spend.by_period(ledger, scope)
    st.altair_chart(spend.period_chart(periods, scope), width="stretch")
    money_table(spend.rows_frame(periods), label=scope)

    st.subheader("Billed failures")
    failed = spend.failures(ledger, ctx.catalog)
    if failed.empty:
        st.caption("No failed request was billed.")
    else:
        unknown = int(failed["usd"].isna().sum())
        st.caption(
            f"{len(failed)} request(s) were billed without giving an image: "
            f"{spend.money(float(failed['usd'].sum()))} known"
            + (f", {unknown} of unknown amount" if unknown else "")
            + "."
        )
        failed["run"] = "./?run=" + failed["run"].astype(str)
        failed["router"] = [routers.get(r, r) for r in failed["router"]]
        columns = {
            "at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm"),
            "run": st.column_config.LinkColumn("run", display_text="open run"),
        }
        st.dataframe(
            failed.drop(columns=["usd"]), hide_index=True, width="stretch", column_config=columns
        )

simulated = spend.rows_frame(spend.by_model(ledger, ctx.catalog), simulated=True)
if not simulated.empty:
    st.subheader("Sandbox: simulated — nothing was billed")
    pretend = spend.money(totals.all_time.simulated_usd)
    st.caption(
        f"The sandbox's pretend prices, {pretend} in all; never added to the real totals above."
    )
    st.dataframe(
        simulated.drop(columns=["key", "router"]),
        hide_index=True,
        width="stretch",
        column_config={
            "label": "model",
            "simulated_usd": st.column_config.NumberColumn("simulated USD", format="$%.4f"),
            "events": "events",
        },
    )

budget_editor(ctx.store, ctx.env, ctx.catalog, spend.spent_by_router(ledger))
