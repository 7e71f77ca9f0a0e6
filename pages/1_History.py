"""History: every run, newest first, searchable by prompt."""

import pandas as pd
import streamlit as st

from vibegen.ui.access import require_owner
from vibegen.ui.runtime import frame

ctx = frame("History")
require_owner(ctx)  # served to a network, this page is the owner's
st.title("History")
search = st.text_input("Search prompts", key="search", placeholder="lighthouse")
runs = ctx.store.list_runs(search)
if not runs:
    st.info("No runs match." if search else "No runs yet: start one on the Generate page.")
else:
    table = pd.DataFrame([{
        "open": f"./?run={r.id}",
        "when": r.created_at,
        "prompt": r.prompt,
        "models": r.models,
        "images": r.cells,
        "status": r.status,
        "failures": r.failures,
        "cost (USD)": r.cost_usd,
        "slowest (s)": r.wall_s,
        "review": f"./Review?run={r.id}",
    } for r in runs])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "open": st.column_config.LinkColumn("run", display_text="open"),
        "review": st.column_config.LinkColumn("review", display_text="review"),
        "when": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm"),
        "cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
        "slowest (s)": st.column_config.NumberColumn(format="%.1f"),
    })
    st.caption(f"{len(runs)} runs. Costs count known amounts only; unknown costs are never $0.")
