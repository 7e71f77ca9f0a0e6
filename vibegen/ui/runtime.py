"""Per-process resources (store, runner) and the frame every page starts with."""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from vibegen import process
from vibegen.catalog import Catalog
from vibegen.errors import StoreError
from vibegen.keys import merged_env
from vibegen.runner import Runner
from vibegen.store import Store, database_url


def _secrets() -> dict:
    # With no secrets.toml at all, even reading st.secrets raises: no file is a normal state.
    try:
        return dict(st.secrets)
    except Exception:  # noqa: BLE001 - StreamlitSecretNotFoundError and parse errors alike
        return {}


def _runner(url: str) -> Runner:
    # One runner per server process (and database): it owns the worker threads that keep
    # generating when a browser tab reruns, switches page or closes. It is held by
    # vibegen.process, not st.cache_resource: "Clear caches" would otherwise start another
    # runner (more threads, files and per-router limits no longer shared) on every use.
    return process.runner(url, lambda: merged_env(os.environ, _secrets()))


@dataclass
class Context:
    """What a page needs: the store, the runner, the catalog and the environment."""

    store: Store
    runner: Runner
    catalog: Catalog

    @property
    def env(self) -> dict[str, str]:
        """The environment the runner was configured with."""
        return self.runner.env


def frame(title: str) -> Context:
    """Set up the page and open the store; on failure show why and stop the page."""
    st.set_page_config(page_title=f"{title} · VibeGen", page_icon="🎨", layout="wide")
    url = database_url()
    try:
        runner = _runner(url)
    except StoreError as exc:
        st.error(f"VibeGen cannot open its database. {exc}")
        st.info("Check DATABASE_URL (or VIBEGEN_HOME for the embedded SQLite file) and "
                "reload. Nothing saved so far has been touched.")
        st.stop()
    return Context(runner.store, runner, runner.catalog)
