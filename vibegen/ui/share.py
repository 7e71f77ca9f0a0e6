"""Links to a run that a designer can send to the team."""

from __future__ import annotations

import streamlit as st

from vibegen.share import review_path


def _base_url() -> str:
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest) there is no URL
        url = ""
    return url.split("?", 1)[0].rsplit("/", 1)[0] if url else ""


def share_links(run_id: str) -> None:
    """The run's review links, each in a box with a copy button."""
    base = _base_url()
    with st.expander("🔗 Share this run for review", expanded=False):
        st.caption("Teammates open the link, say who they are once, and rate. "
                   "Blind review hides model names, prices and times and shuffles the order.")
        st.code(base + review_path(run_id), language=None)
        st.code(base + review_path(run_id, blind=True), language=None)
