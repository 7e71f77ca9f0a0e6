"""Per-process resources (store, runner) and the frame every page starts with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from vibegen import listings, process
from vibegen.catalog import Catalog, default_catalog
from vibegen.errors import ConfigError, StoreError
from vibegen.listings import Index
from vibegen.model_search import SHORTLIST_SETTING, parse_shortlist
from vibegen.runner import Runner
from vibegen.settings import Settings, load_settings
from vibegen.ui.nav import page_nav
from vibegen.user_models import effective_catalog, user_file_path

if TYPE_CHECKING:
    from vibegen.store import Store


def _secrets() -> dict:
    # With no secrets.toml at all, even reading st.secrets raises: no file is a normal state.
    try:
        return dict(st.secrets)
    except Exception:  # noqa: BLE001 - StreamlitSecretNotFoundError and parse errors alike
        return {}


def settings() -> Settings:
    """This page run's settings: the server's environment over Streamlit secrets.

    The UI's entry point: what a page needs from the environment it gets from here (or from
    the runner's `env`, read through this the first time the runner was made).
    """
    return load_settings(_secrets())


def _runner(url: str) -> Runner:
    # One runner per server process (and database): it owns the worker threads that keep
    # generating when a browser tab reruns, switches page or closes. It is held by
    # vibegen.process, not st.cache_resource: "Clear caches" would otherwise start another
    # runner (more threads, files and per-router limits no longer shared) on every use.
    return process.runner(url, lambda: settings().environ)


@dataclass
class Context:
    """What a page needs: the store, the runner, the catalog and the environment."""

    store: Store
    runner: Runner
    catalog: Catalog
    index: Index = field(default_factory=Index)  # the cached router listings
    catalog_problems: list[str] = field(default_factory=list)  # the user file's mistakes
    settings: Settings = field(default_factory=settings)  # this page run's settings

    @property
    def shortlist(self) -> list[str]:
        """The team's shortlisted model keys (set on the Models page), shown first."""
        return parse_shortlist(
            self.store.settings().get(SHORTLIST_SETTING), {m.key for m in self.catalog.models}
        )

    @property
    def env(self) -> dict[str, str]:
        """The environment the runner was configured with."""
        return self.runner.env


def frame(title: str) -> Context:
    """Set up the page and open the store; on failure show why and stop the page."""
    st.set_page_config(page_title=f"{title} · VibeGen", page_icon="🎨", layout="wide")
    page_nav()
    try:
        read = settings()
    except ConfigError as exc:
        st.error(f"VibeGen cannot start: a setting is wrong. {exc}")
        st.stop()
    url = read.store_url
    try:
        runner = _runner(url)
    except StoreError as exc:
        st.error(f"VibeGen cannot open its database. {exc}")
        st.info(
            "Check DATABASE_URL (or VIBEGEN_HOME for the embedded SQLite file) and "
            "reload. Nothing saved so far has been touched."
        )
        st.stop()
    return Context(runner.store, runner, *offered(runner, read.data_dir), settings=read)


def offered(runner: Runner, home: Path) -> tuple[Catalog, Index, list[str]]:
    """Re-read what is offered (user file in `home`, added models, listings) and give it to
    the runner; start the daily listing refresh in the background when it is due."""
    index = listings.cached(runner.store)
    merged, problems = effective_catalog(
        default_catalog(),
        index,
        runner.store.user_models(),
        user_path=user_file_path(home),
    )
    runner.catalog = merged  # one attribute swap: running cells keep the object they hold
    listings.refresh_if_due(runner.store, merged, runner.env, dt.datetime.now(dt.UTC))
    return merged, index, problems


def zone_name() -> str:
    """The IANA name of the viewer's browser time zone ("Europe/Berlin"); "UTC" if unknown."""
    name = st.context.timezone
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return "UTC"  # a name this machine's zone database lacks
        return name
    return "UTC"  # the browser did not say (AppTest, some privacy settings)


def local_time(moment: dt.datetime) -> str:
    """'2026-12-02 17:05 CET': a stored (UTC) time as the viewer's clock shows it."""
    return moment.astimezone(ZoneInfo(zone_name())).strftime("%Y-%m-%d %H:%M %Z")
