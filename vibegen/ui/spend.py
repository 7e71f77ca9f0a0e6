"""Spend page widgets: money tables and the budget caps editor."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from vibegen import spend
from vibegen.catalog import Catalog
from vibegen.store import Store

_SAVED = "spend_caps_saved"


def money_table(table: pd.DataFrame, *, label: str, with_router: bool = True) -> None:
    """A spend table: real USD, its split by cost kind, unknown amounts and billed failures."""
    cols = ["label", *(["router"] if with_router else []), "usd", *spend.KINDS, "unknown",
            "events", "failed_usd", "failed_events"]
    money = {"format": "$%.4f"}
    st.dataframe(table[cols], hide_index=True, width="stretch", column_config={
        "label": label,
        "usd": st.column_config.NumberColumn("real USD", help="known amounts only", **money),
        "reported": st.column_config.NumberColumn("reported", help="the router said what it "
                                                  "billed", **money),
        "computed": st.column_config.NumberColumn("computed", help="usage × published rates",
                                                  **money),
        "estimated": st.column_config.NumberColumn("estimated", help="catalog price × "
                                                   "parameters", **money),
        "unknown": st.column_config.NumberColumn("amount unknown", help="billed events whose "
                                                 "amount is unknown (not counted as $0)"),
        "events": st.column_config.NumberColumn("billed events"),
        "failed_usd": st.column_config.NumberColumn("of which failures", help="billed "
                                                    "requests that gave no image", **money),
        "failed_events": st.column_config.NumberColumn("failed events"),
    })


def budget_editor(store: Store, env: Mapping[str, str], catalog: Catalog,
                  spent: Mapping[tuple[str, str], float]) -> None:
    """The caps: one text input each with its source and what is left; Save writes them all."""
    st.subheader("Budgets")
    st.caption("Empty means no cap. A cap saved here wins over the environment variable named "
               "under it. Router caps count real money billed this UTC day or month; the "
               "per-run cap is checked against a run's estimate before it starts.")
    if message := st.session_state.pop(_SAVED, None):
        st.success(message)
    fields = spend.cap_fields(env, store.settings(), catalog)
    slots: dict[str, DeltaGenerator] = {}

    def one(f: spend.CapField) -> None:
        st.text_input(f"{f.label} (USD)", value=f.text, key=f"cap_{f.key}",
                      placeholder="no cap")
        slots[f.key] = st.empty()
        st.caption(f"{f.describe_source()} · {spend.left_of_cap(f, spent)}")

    run_cap, *router_caps = fields
    one(run_cap)
    for k in range(0, len(router_caps), 2):
        for col, f in zip(st.columns(2), router_caps[k:k + 2], strict=False):
            with col:
                one(f)

    if not st.button("Save caps", key="save_caps", type="primary"):
        return
    typed = {f.key: st.session_state.get(f"cap_{f.key}", f.text) for f in fields}
    changes, errors = spend.plan_cap_changes(fields, typed)
    if errors:
        for key, message in errors.items():
            slots[key].error(message)
        st.error("Nothing was saved: correct the amounts marked above.")
        return
    for key, value in changes.items():
        store.set_setting(key, value)
    now = {f.key: f for f in spend.cap_fields(env, store.settings(), catalog)}
    still = [now[k] for k, v in changes.items() if v is None and now[k].source == "environment"]
    message = f"Saved {len(changes)} cap(s)." if changes else "No cap changed."
    if still:
        message += " Still capped by the environment: " + ", ".join(
            f"{f.label} ({f.env_var})" for f in still) + "; unset it there to remove the cap."
    st.session_state[_SAVED] = message
    st.rerun()
