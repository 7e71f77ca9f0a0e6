"""The sandbox banner: shown wherever sandbox results appear, so they read as simulated."""

from __future__ import annotations

import streamlit as st

from vibegen.catalog import Catalog
from vibegen.routers.sandbox_router import banner


def sandbox_banner(catalog: Catalog) -> None:
    """What the sandbox is, and the settings that enable this catalog's real routers."""
    needs = [
        spec.needs()
        for spec in catalog.routers.values()
        if not spec.simulated and spec.needs() != "nothing"
    ]
    st.info(banner(needs), icon=":material/science:")
