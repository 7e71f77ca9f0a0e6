"""The cache of router listings in the store: what was fetched, when, and refreshing it.

Sources: `fal:models` (no key needed), `fal:prices` (FAL_KEY), `openai:models`
(OPENAI_API_KEY) and `sd:models` (VIBEGEN_SD_URL). Kie has no listing (see `discovery`).
A refresh runs when the Models page asks, or on its own at most once a day per source, and only
for routers that are set up, so a machine that uses the sandbox alone never calls out. A failed
try is recorded with its message and keeps the last good answer; with no answer at all the
shipped catalog is what the app offers, as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from vibegen import discovery
from vibegen.catalog import Catalog
from vibegen.discovery import DiscoveryError, Listed, Quote, listed_from_json, quote_from_json
from vibegen.keys import secret_values
from vibegen.routers import router_status

if TYPE_CHECKING:
    from vibegen.store import Store

log = logging.getLogger(__name__)
SOURCES = ("fal:models", "fal:prices", "openai:models", "sd:models")
MAX_AGE = dt.timedelta(days=1)
NO_LISTING = {
    "kie": "Kie publishes no model listing or price list: its models come from the "
    "shipped catalog (add others in the user catalog file)"
}


@dataclass
class Index:
    """The cached listings, read once: models by router, quotes by endpoint, dates, errors."""

    listed: dict[str, list[Listed]] = field(default_factory=dict)
    quotes: dict[tuple[str, str], Quote] = field(default_factory=dict)
    fetched: dict[str, dt.datetime | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def quote(self, router: str, endpoint: str) -> Quote | None:
        """The router's quoted price for an endpoint, if its price list gave one."""
        return self.quotes.get((router, endpoint))

    def quoted_on(self, router: str) -> dt.date | None:
        """The day the router's price list was fetched."""
        at = self.fetched.get(f"{router}:prices")
        return at.date() if at else None

    def listed_ids(self, router: str) -> set[str] | None:
        """Endpoint ids the router listed, or None when its listing was never fetched."""
        if self.fetched.get(f"{router}:models") is None:
            return None
        return {m.endpoint for m in self.listed.get(router, [])}

    def find(self, router: str, endpoint: str) -> Listed | None:
        """The listed model with this endpoint id, if any."""
        return next((m for m in self.listed.get(router, []) if m.endpoint == endpoint), None)


def cached(store: Store) -> Index:
    """What the store holds from earlier refreshes (never calls a router)."""
    index = Index()
    for source, row in store.listings().items():
        router, _, what = source.partition(":")
        index.fetched[source] = row["fetched_at"]
        if row["error"]:
            index.errors[source] = row["error"]
        payload = row["payload"] or []
        if what == "models":
            index.listed[router] = [listed_from_json(x) for x in payload]
        elif what == "prices":
            for x in payload:
                q = quote_from_json(x)
                index.quotes[(q.router, q.endpoint)] = q
    return index


def bases(env: Mapping[str, str], catalog: Catalog) -> dict[str, str]:
    """Where each listing lives, from the environment (tests point these at fakes)."""
    routers = catalog.routers
    return {
        "fal": env.get(discovery.FAL_PLATFORM_ENV) or discovery.FAL_PLATFORM_URL,
        "openai": routers["openai"].url(env) if "openai" in routers else "",
        "sd": routers["sd"].url(env) if "sd" in routers else "",
    }


def due(
    store: Store,
    catalog: Catalog,
    env: Mapping[str, str],
    now: dt.datetime,
    max_age: dt.timedelta = MAX_AGE,
) -> list[str]:
    """Sources of set-up routers not tried within `max_age` (what a daily refresh fetches)."""
    rows = store.listings()
    out = []
    for source in SOURCES:
        router = source.split(":")[0]
        if router not in catalog.routers or not router_status(router, catalog, env).enabled:
            continue
        if (
            router == "fal"
            and env.get(catalog.routers["fal"].url_env)
            and not env.get(discovery.FAL_PLATFORM_ENV)
        ):
            continue  # fal's queue points elsewhere (a proxy, a fake): so must its platform
        last = rows.get(source, {}).get("attempted_at")
        if last is None or now - last >= max_age:
            out.append(source)
    return out


def _fetch(
    source: str,
    http: httpx.Client,
    catalog: Catalog,
    env: Mapping[str, str],
    where: Mapping[str, str],
    price_ids: Iterable[str],
) -> list:
    secrets = secret_values(env, catalog)
    router = source.split(":")[0]
    spec = catalog.routers.get(router)
    if spec is None:
        raise DiscoveryError(f"unknown listing {source!r}")
    if source == "fal:models":
        return discovery.fal_models(http, where["fal"], key=spec.key(env), secrets=secrets)
    if source == "fal:prices":
        ids = sorted({m.endpoint for m in catalog.models if m.router == "fal"} | set(price_ids))
        return discovery.fal_prices(
            http, where["fal"], spec.key(env), ids, secrets=secrets, spec=spec
        )
    if source == "openai:models":
        return discovery.openai_models(
            http, where["openai"], spec.key(env), secrets=secrets, spec=spec
        )
    if source == "sd:models":
        if not where["sd"]:
            raise DiscoveryError(f"set {spec.url_env} to list a self-hosted server's checkpoints")
        return discovery.sd_models(http, where["sd"], spec.auth(env), secrets=secrets)
    raise DiscoveryError(f"unknown listing {source!r}")


def refresh(
    store: Store,
    catalog: Catalog,
    env: Mapping[str, str],
    *,
    sources: Iterable[str] = SOURCES,
    http: httpx.Client | None = None,
    price_ids: Iterable[str] = (),
) -> dict[str, str]:
    """Fetch `sources` now and cache each answer; return {source: what happened, in words}."""
    where = bases(env, catalog)
    own = http is None
    http = http or discovery.client()
    said: dict[str, str] = {}
    try:
        for source in sources:
            ids = set(price_ids)
            if source == "fal:prices":  # price every text-to-image endpoint fal listed too
                ids |= {
                    m.endpoint
                    for m in cached(store).listed.get("fal", [])
                    if m.task in ("", "text-to-image")
                }
            try:
                items = _fetch(source, http, catalog, env, where, ids)
            except DiscoveryError as exc:
                store.save_listing(source, None, str(exc))
                said[source] = str(exc)
                continue
            store.save_listing(source, [x.to_json() for x in items])
            said[source] = f"{len(items)} {'prices' if source.endswith('prices') else 'models'}"
    finally:
        if own:
            http.close()
    return said


_auto_lock = threading.Lock()
_auto_running: set[str] = set()


def refresh_if_due(
    store: Store,
    catalog: Catalog,
    env: Mapping[str, str],
    now: dt.datetime,
    *,
    start: Callable[[Callable[[], None]], None] | None = None,
) -> list[str]:
    """Start a background refresh of the sources that are a day old; return which ones.

    At most one automatic refresh per database runs at a time; a page never waits for it.
    """
    key = str(store.engine.url)
    with _auto_lock:
        if key in _auto_running:
            return []
        sources = due(store, catalog, env, now)
        if not sources:
            return []
        _auto_running.add(key)

    def work() -> None:
        try:
            refresh(store, catalog, env, sources=sources)
        except Exception as exc:  # noqa: BLE001 - a background refresh must never break a page
            log.warning("automatic listing refresh failed: %s", type(exc).__name__)
        finally:
            with _auto_lock:
                _auto_running.discard(key)

    if start is None:
        threading.Thread(target=work, name="vibegen-listings", daemon=True).start()
    else:
        start(work)
    return sources
