"""The process-wide store and runner: one of each per database URL, for the process's life.

Contract:
- `store(url)` and `runner(url, env)` return the same object for the same URL on every call,
  from every thread, until the process ends. Nothing a UI cache does (Streamlit's "Clear
  caches", `st.cache_resource.clear()`) can make a second one: they live here, in a plain
  module, not in a cache.
- Creating one registers its clean stop with `atexit`: the runner stops its heartbeat, then
  the store checkpoints SQLite's WAL into the database file, so a copy of vibegen.db taken
  after a normal stop holds every saved row.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Mapping

from vibegen.allocator import keep_freed_memory
from vibegen.catalog import Catalog, default_catalog
from vibegen.runner import Runner
from vibegen.store import Store

# Reentrant: creating a runner takes the store under the same lock.
_lock = threading.RLock()
_stores: dict[str, Store] = {}
_runners: dict[str, Runner] = {}


def store(url: str) -> Store:
    """The one store of this process for `url`, opened (and migrated) on first use."""
    with _lock:
        if url not in _stores:
            # A process that opens a store is a server or a worker: it builds boards and
            # holds images, many large arrays made and freed (see vibegen.allocator).
            keep_freed_memory()
            opened = Store.open(url)
            _stores[url] = opened
            atexit.register(opened.close)
        return _stores[url]


def runner(url: str, env: Callable[[], Mapping[str, str]]) -> Runner:
    """The one runner of this process for `url`; `env()` is read only when it is created."""
    with _lock:
        if url not in _runners:
            opened = store(url)
            # the catalog the app offers (shipped + user file + added by id + listings), so a
            # paid cell of an added model can be resumed at startup
            read = env()
            made = Runner(opened, offered_catalog(opened, read), env=read)
            _runners[url] = made
            # atexit runs last-registered first: the runner stops before its store closes.
            atexit.register(made.close)
        return _runners[url]


def offered_catalog(opened: Store, env: Mapping[str, str]) -> Catalog:
    """The shipped catalog merged with the user's models (the file in `env`'s data directory)
    and the cached router listings."""
    from vibegen import listings
    from vibegen.settings import Settings
    from vibegen.user_models import effective_catalog, user_file_path

    merged, _problems = effective_catalog(
        default_catalog(),
        listings.cached(opened),
        opened.user_models(),
        user_path=user_file_path(Settings.from_environ(env).data_dir),
    )
    return merged
