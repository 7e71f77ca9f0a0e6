"""Spend page widgets: money tables and the budget caps editor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from vibegen import spend
from vibegen.catalog import Catalog

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store

_SAVED = "spend_caps_saved"


def money_table(
    table: pd.DataFrame, *, label: str, routers: Mapping[str, str] | None = None
) -> None:
    """A spend table: real USD, how it is known (kind mix, unknown amounts), billed failures.

    `routers` maps router names to labels, for a table whose rows each belong to one router.
    """
    cols = [
        "label",
        *(["router"] if routers else []),
        "usd",
        "how we know",
        "events",
        "billed failures",
    ]
    unknown = list(table["unknown"])
    table = table[cols].copy()
    if routers:
        table["router"] = [routers.get(r, r) for r in table["router"]]
    # Text, not a number column: a row billed only at unknown amounts must not read $0.
    table["usd"] = [
        spend.money(u) if n > k else "unknown"
        for u, n, k in zip(table["usd"], table["events"], unknown, strict=True)
    ]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "label": label,
            "usd": st.column_config.TextColumn(
                "real USD", help="known amounts only; unknown amounts are counted, not added"
            ),
            "how we know": st.column_config.TextColumn(
                "how we know",
                help="reported: the router said what it billed · computed: usage × "
                "published rates · estimated: catalog price × parameters · unknown: billed, "
                "amount not known",
            ),
            "events": st.column_config.NumberColumn("billed events"),
            "billed failures": st.column_config.TextColumn(
                "billed failures",
                help="requests billed without giving an image (included in the real USD)",
            ),
        },
    )


def budget_editor(
    store: Store, env: Mapping[str, str], catalog: Catalog, spent: Mapping[tuple[str, str], float]
) -> None:
    """The caps: one text input each with its source and what is left; Save writes them all."""
    st.subheader("Budgets")
    st.caption(
        "Empty means no cap. A cap saved here wins over the environment variable named "
        "under it. Router caps count real money billed this UTC day or month; the "
        "per-run cap is checked against a run's estimate before it starts."
    )
    if message := st.session_state.pop(_SAVED, None):
        st.success(message)
    fields = spend.cap_fields(env, store.settings(), catalog)
    slots: dict[str, DeltaGenerator] = {}

    def one(f: spend.CapField) -> None:
        st.text_input(f"{f.label} (USD)", value=f.text, key=f"cap_{f.key}", placeholder="no cap")
        slots[f.key] = st.empty()
        st.caption(" · ".join(filter(None, (f.describe_source(), spend.left_of_cap(f, spent)))))

    run_cap, *router_caps = fields
    one(run_cap)
    for k in range(0, len(router_caps), 2):
        for col, f in zip(st.columns(2), router_caps[k : k + 2], strict=False):
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
        message += (
            " Still capped by the environment: "
            + ", ".join(f"{f.label} ({f.env_var})" for f in still)
            + "; unset it there to remove the cap."
        )
    st.session_state[_SAVED] = message
    st.rerun()
