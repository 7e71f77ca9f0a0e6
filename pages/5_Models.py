"""Models: the catalog, its prices with their sources, and which routers are set up."""

import datetime as dt

import pandas as pd
import streamlit as st

from vibegen.routers import router_status
from vibegen.ui.access import require_owner
from vibegen.ui.runtime import frame

ctx = frame("Models")
require_owner(ctx)  # served to a network, this page is the owner's
st.title("Models and routers")
rows = []
for name, info in ctx.catalog.routers.items():
    status = router_status(name, ctx.catalog, ctx.env)
    rows.append({"router": info.label, "status": "ready" if status.enabled else status.reason,
                 "needs": info.key_env or info.url_env or "nothing",
                 "cost comes from": info.cost_reporting, "get it at": info.key_url})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

show_all = st.toggle("Include shut-down models", key="show_all")
models = ctx.catalog.models if show_all else ctx.catalog.offered(dt.date.today())
st.dataframe(pd.DataFrame([{
    "model": m.label, "router": m.router, "endpoint": m.endpoint,
    "price unit": m.price.unit, "price (USD)": m.price.usd, "credits": m.price.credits,
    "price source": m.price.source, "price seen": m.price.seen, "confidence": m.price.confidence,
    "status": m.status, "shutdown": m.shutdown, "offered": m.offered(dt.date.today()),
    "seed": "yes" if m.seed_supported else "n/a",
} for m in models]), hide_index=True, width="stretch")
