"""History: every run, newest first, searchable by prompt, 50 to a page."""

import pandas as pd
import streamlit as st

from vibegen.share import review_url, run_url
from vibegen.typed import control_character
from vibegen.ui.access import require_owner
from vibegen.ui.runtime import frame, zone_name
from vibegen.ui.sandbox import sandbox_banner
from vibegen.ui.share import base_url

PER_PAGE = 50


def _first_page() -> None:
    # A new search starts at its first page, not at the page number of the last one.
    st.session_state["page"] = 1


def _turn(by: int) -> None:
    st.session_state["page"] = st.session_state.get("page", 1) + by


ctx = frame("History")
require_owner(ctx)  # served to a network, this page is the owner's
st.title("History")
search = st.text_input(
    "Search prompts", key="search", placeholder="lighthouse", on_change=_first_page
)
if found := control_character(search):  # a paste from a terminal: say why nothing matches
    st.warning(
        f"The search contains a control character ({found}); no prompt holds one, so "
        "nothing can match. Delete it and search again."
    )
total = ctx.store.count_runs(search)
if not total:
    st.info("No runs match." if search else "No runs yet: start one on the Generate page.")
else:
    pages = -(-total // PER_PAGE)
    # Runs may have been deleted, or the search narrowed: keep the page number in range.
    st.session_state["page"] = min(max(1, int(st.session_state.get("page", 1))), pages)
    page = st.session_state["page"]
    runs = ctx.store.list_runs(search, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    base = base_url()
    if any(r.simulated_usd for r in runs):  # sandbox results on this page: say what they are
        sandbox_banner(ctx.catalog)
    table = pd.DataFrame(
        [
            {
                "open": run_url(base, r.id),
                "when": r.created_at,
                "prompt": r.prompt,
                "models": r.models,
                "images": r.cells,
                "status": r.status,
                # A sandbox run's images, times and prices are made up: said on its line.
                "simulated": (
                    ("simulated" if not r.cost_usd else "partly simulated")
                    if r.simulated_usd
                    else ""
                ),
                "failures": r.failures,
                "cost (USD)": r.cost_usd,
                "simulated (USD)": r.simulated_usd or None,
                "slowest (s)": r.wall_s,
                "review": review_url(base, r.id),
            }
            for r in runs
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "open": st.column_config.LinkColumn("run", display_text="open"),
            "review": st.column_config.LinkColumn("review", display_text="review"),
            # In the viewer's own time zone: a designer reads "14:05", not a UTC offset sum.
            "when": st.column_config.DatetimeColumn(
                "when", format="YYYY-MM-DD HH:mm", timezone=zone_name()
            ),
            "cost (USD)": st.column_config.NumberColumn(
                format="$%.2f",
                help="What real routers billed or will bill (known amounts), to the cent; "
                "the Spend page and the exports have the exact figures",
            ),
            "simulated (USD)": st.column_config.NumberColumn(
                format="$%.2f", help="Sandbox images: made-up prices, nothing is billed"
            ),
            "slowest (s)": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    first = (page - 1) * PER_PAGE + 1
    shown = f" · showing {first:,}–{first + len(runs) - 1:,}" if pages > 1 else ""
    st.caption(
        f"{total:,} run{'s' if total != 1 else ''}{shown}. Costs count known amounts "
        f"only; unknown costs are never $0. Sandbox amounts are simulated and kept "
        f"apart: nothing is billed for them. Times are in {zone_name()}."
    )
    if pages > 1:
        back, number, forward = st.columns([1, 2, 1], vertical_alignment="bottom")
        back.button(
            "← Newer", key="newer", on_click=_turn, args=(-1,), disabled=page <= 1, width="stretch"
        )
        number.number_input(
            f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="page"
        )
        forward.button(
            "Older →",
            key="older",
            on_click=_turn,
            args=(1,),
            disabled=page >= pages,
            width="stretch",
        )
