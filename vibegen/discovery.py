"""What the routers themselves list: their models, their prices, and when we last asked.

Sources (shared/reference/field-2026-12.md §1, §3; protocols.md §3.5, §4.1):
- fal model search `GET {platform}/models` (no key needed): `q`, `category`, `status`,
  `limit`, `cursor`, repeated `endpoint_id`, `expand=openapi-3.0`; answers
  `{"models": [{"endpoint_id", "metadata": {"display_name", "category", "status", ...},
  "openapi"?}], "has_more", "next_cursor"}` (field names as fal's own CLI,
  fal-ai-community/genmedia-cli `src/commands/models.ts`, reads them).
- fal price list `GET {platform}/models/pricing?endpoint_id=...` (key needed) →
  `{"prices": [{"endpoint_id", "unit_price", "unit", "currency"}]}`.
- OpenAI `GET {base}/models` (key needed) → `{"data": [{"id", "shutdown_date"?, ...}]}`.
- A self-hosted A1111 / Forge server's `GET /sdapi/v1/sd-models` → `[{"title", "model_name"}]`.
- Kie publishes no model listing or price list in the references: its models come from the
  shipped catalog only.

Every failure is a `DiscoveryError` whose message says what to do; the cache keeps the last good
answer, and with no answer at all the shipped catalog is used as before. Base URLs are passed
in, so tests point them at local fakes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx

from vibegen.catalog import RouterSpec, default_catalog
from vibegen.errors import VibegenError
from vibegen.keys import redact

FAL_PLATFORM_URL = "https://api.fal.ai/v1"
FAL_PLATFORM_ENV = "VIBEGEN_FAL_PLATFORM_URL"
TIMEOUT_S = 15.0
MAX_PAGES = 40  # 40 pages × 100 = 4000 endpoints: far above fal's ~1300, a loop guard
PAGE_SIZE = 100
PRICE_BATCH = 50  # endpoint ids per pricing request (keeps the query string short)
# fal's categories VibeGen can tell apart; only text-to-image can be called (a prompt only)
TASKS = ("text-to-image", "image-to-image")
# The unit spellings a price list may use for what VibeGen can price. The references show the
# field but not its vocabulary (n/f), so anything else is reported as a unit we cannot use.
IMAGE_UNITS = {"image", "images", "per_image", "per image"}
MEGAPIXEL_UNITS = {"megapixel", "megapixels", "mp", "per_megapixel", "per megapixel"}
# OpenAI's /v1/models lists every model the key may call; these prefixes are its image models
OPENAI_IMAGE_PREFIXES = ("gpt-image", "dall-e", "chatgpt-image")


class DiscoveryError(VibegenError):
    """A router's listing or price list could not be read; the message says why in words."""


@dataclass(frozen=True)
class Listed:
    """One model a router lists."""

    router: str
    endpoint: str
    name: str
    task: str = ""  # fal category: text-to-image, image-to-image, ...
    status: str = "active"
    shutdown: str | None = None  # ISO date, when the router gives one (OpenAI)
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. an SD checkpoint's title

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (what the store keeps)."""
        return asdict(self)


@dataclass(frozen=True)
class Quote:
    """A price a router's price list states for one endpoint."""

    router: str
    endpoint: str
    unit_price: float
    unit: str
    currency: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (what the store keeps)."""
        return asdict(self)

    def kind(self) -> Literal["image", "megapixel"] | None:
        """'image' or 'megapixel' when VibeGen can price this unit, else None."""
        if self.currency.upper() != "USD":
            return None
        unit = self.unit.strip().lower()
        if unit in IMAGE_UNITS:
            return "image"
        if unit in MEGAPIXEL_UNITS:
            return "megapixel"
        return None

    def problem(self) -> str:
        """Why this quote cannot be used as a price ('' when it can)."""
        if self.currency.upper() != "USD":
            return (
                f"{self.router} quotes {self.endpoint} in {self.currency!r}; VibeGen "
                "prices in USD only, so its price stays unknown"
            )
        if self.kind() is None:
            return (
                f"{self.router} quotes {self.endpoint} per {self.unit!r}, a unit VibeGen "
                "cannot turn into a price per image, so its price stays unknown"
            )
        return ""


def listed_from_json(data: Mapping[str, Any]) -> Listed:
    """The inverse of `Listed.to_json`."""
    return Listed(**{k: data[k] for k in Listed.__dataclass_fields__ if k in data})


def quote_from_json(data: Mapping[str, Any]) -> Quote:
    """The inverse of `Quote.to_json`."""
    return Quote(**{k: data[k] for k in Quote.__dataclass_fields__})


# ------------------------------------------------------------------------------ HTTP
def _words(router: str, what: str, response: httpx.Response, secrets: Sequence[str]) -> str:
    status = response.status_code
    if status == 401 or status == 403:
        return (
            f"{router} refused the request for its {what} ({status}): check the key "
            "(the price list needs one)"
        )
    if status == 429:
        return (
            f"{router} is rate limiting requests for its {what} (429): the last answer "
            "is kept; try Refresh again in a minute"
        )
    if status == 404:
        return f"{router} has no {what} at {redact(str(response.url), secrets)} (404)"
    return f"{router} answered the request for its {what} with HTTP {status}"


def _get(
    client: httpx.Client,
    router: str,
    what: str,
    url: str,
    *,
    params: Any = None,
    headers: Mapping[str, str] | None = None,
    auth: Any = None,
    secrets: Sequence[str] = (),
) -> Any:
    """GET `url` and parse JSON, or DiscoveryError in words (never with a key in it)."""
    try:
        response = client.get(
            url, params=params, headers=dict(headers or {}), auth=auth or httpx.USE_CLIENT_DEFAULT
        )
    except httpx.TimeoutException as exc:
        raise DiscoveryError(
            f"{router} did not answer the request for its {what} in time; "
            "the last answer (or the shipped catalog) is used"
        ) from exc
    except httpx.HTTPError as exc:
        raise DiscoveryError(
            f"cannot reach {router} for its {what} "
            f"({redact(type(exc).__name__, secrets)}); the last answer (or "
            "the shipped catalog) is used"
        ) from exc
    if response.status_code != 200:
        raise DiscoveryError(_words(router, what, response, secrets))
    try:
        return response.json()
    except ValueError as exc:
        raise DiscoveryError(
            f"{router} answered the request for its {what} with something "
            "that is not JSON; the last answer is kept"
        ) from exc


def _garbage(router: str, what: str, why: str) -> DiscoveryError:
    return DiscoveryError(
        f"{router} answered the request for its {what} with an answer "
        f"VibeGen cannot read ({why}); the last answer is kept"
    )


def _fal_headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Key {key}"} if key else {}


def _fal_model(item: Any) -> Listed:
    if (
        not isinstance(item, Mapping)
        or not isinstance(item.get("endpoint_id"), str)
        or not item["endpoint_id"].strip()
    ):
        raise ValueError("a model without an endpoint_id")
    meta = item.get("metadata")
    if not isinstance(meta, Mapping):
        meta = {}
    name = meta.get("display_name")
    return Listed(
        "fal",
        item["endpoint_id"].strip(),
        name if isinstance(name, str) and name.strip() else item["endpoint_id"],
        task=str(meta.get("category") or ""),
        status=str(meta.get("status") or "active"),
    )


def fal_models(
    client: httpx.Client,
    base: str,
    *,
    categories: Iterable[str] = TASKS,
    key: str | None = None,
    secrets: Sequence[str] = (),
    page_size: int = PAGE_SIZE,
) -> list[Listed]:
    """Every active fal endpoint in `categories`, following the pages to the end."""
    out: dict[str, Listed] = {}
    for category in categories:
        cursor: str | None = None
        seen_cursors: set[str] = set()
        for _page in range(MAX_PAGES):
            params: dict[str, Any] = {"category": category, "status": "active", "limit": page_size}
            if cursor:
                params["cursor"] = cursor
            data = _get(
                client,
                "fal",
                "model listing",
                f"{base.rstrip('/')}/models",
                params=params,
                headers=_fal_headers(key),
                secrets=secrets,
            )
            if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
                raise _garbage("fal", "model listing", "no list of models")
            try:
                for item in data["models"]:
                    listed = _fal_model(item)
                    out.setdefault(listed.endpoint, listed)
            except ValueError as exc:
                raise _garbage("fal", "model listing", str(exc)) from exc
            cursor = data.get("next_cursor")
            if not data.get("has_more") or not isinstance(cursor, str) or not cursor:
                break
            if cursor in seen_cursors:
                raise _garbage("fal", "model listing", "the same page cursor twice")
            seen_cursors.add(cursor)
        else:
            raise _garbage("fal", "model listing", f"more than {MAX_PAGES} pages")
    return list(out.values())


def fal_model(
    client: httpx.Client,
    base: str,
    endpoint_id: str,
    *,
    key: str | None = None,
    secrets: Sequence[str] = (),
) -> tuple[Listed, Mapping[str, Any] | None]:
    """One fal endpoint by id, with its OpenAPI document when fal publishes one."""
    data = _get(
        client,
        "fal",
        "model search",
        f"{base.rstrip('/')}/models",
        params=[("endpoint_id", endpoint_id), ("expand", "openapi-3.0")],
        headers=_fal_headers(key),
        secrets=secrets,
    )
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
        raise _garbage("fal", "model search", "no list of models")
    for item in data["models"]:
        if isinstance(item, Mapping) and item.get("endpoint_id") == endpoint_id:
            try:
                listed = _fal_model(item)
            except ValueError as exc:
                raise _garbage("fal", "model search", str(exc)) from exc
            spec = item.get("openapi")
            return listed, spec if isinstance(spec, Mapping) else None
    raise DiscoveryError(
        f"fal lists no endpoint {endpoint_id!r}: check the id (it looks like "
        "'fal-ai/flux-2-pro', as on the model's fal.ai page)"
    )


def fal_prices(
    client: httpx.Client,
    base: str,
    key: str | None,
    endpoint_ids: Sequence[str],
    *,
    secrets: Sequence[str] = (),
    spec: RouterSpec | None = None,
) -> list[Quote]:
    """fal's quoted prices for `endpoint_ids` (needs a key; account discounts may apply).

    `spec` is fal's router declaration (default: the shipped one), which names the key.
    """
    if not key:
        spec = spec or default_catalog().routers["fal"]
        raise DiscoveryError(f"fal's price list needs {spec.key_env}: add it to see live prices")
    out: list[Quote] = []
    ids = list(dict.fromkeys(endpoint_ids))
    for start in range(0, len(ids), PRICE_BATCH):
        params = [("endpoint_id", e) for e in ids[start : start + PRICE_BATCH]]
        data = _get(
            client,
            "fal",
            "price list",
            f"{base.rstrip('/')}/models/pricing",
            params=params,
            headers=_fal_headers(key),
            secrets=secrets,
        )
        if not isinstance(data, Mapping) or not isinstance(data.get("prices"), list):
            raise _garbage("fal", "price list", "no list of prices")
        for item in data["prices"]:
            try:
                out.append(
                    Quote(
                        "fal",
                        str(item["endpoint_id"]),
                        float(item["unit_price"]),
                        str(item.get("unit") or ""),
                        str(item.get("currency") or "USD"),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise _garbage(
                    "fal", "price list", "a price without endpoint_id or a numeric unit_price"
                ) from exc
    return out


def openai_models(
    client: httpx.Client,
    base: str,
    key: str | None,
    *,
    secrets: Sequence[str] = (),
    spec: RouterSpec | None = None,
) -> list[Listed]:
    """The image models this OpenAI key may call, with their shutdown dates.

    `spec` is OpenAI's router declaration (default: the shipped one), which names the key.
    """
    if not key:
        spec = spec or default_catalog().routers["openai"]
        raise DiscoveryError(f"OpenAI's model list needs {spec.key_env}")
    data = _get(
        client,
        "OpenAI",
        "model list",
        f"{base.rstrip('/')}/models",
        headers={"Authorization": f"Bearer {key}"},
        secrets=secrets,
    )
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), list):
        raise _garbage("OpenAI", "model list", "no data list")
    out = []
    for item in data["data"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise _garbage("OpenAI", "model list", "a model without an id")
        if not item["id"].startswith(OPENAI_IMAGE_PREFIXES):
            continue
        shutdown = item.get("shutdown_date")
        out.append(
            Listed(
                "openai", item["id"], item["id"], task="text-to-image", shutdown=_iso_date(shutdown)
            )
        )
    return out


def _iso_date(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC).date().isoformat()
    if isinstance(value, str) and value.strip():
        try:
            return dt.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            return None
    return None


def sd_models(
    client: httpx.Client, base: str, auth: str | None = None, *, secrets: Sequence[str] = ()
) -> list[Listed]:
    """A self-hosted SD server's checkpoints, each one a model."""
    login = tuple(auth.split(":", 1)) if auth and ":" in auth else None
    data = _get(
        client,
        "Stable Diffusion",
        "checkpoint list",
        f"{base.rstrip('/')}/sdapi/v1/sd-models",
        auth=login,
        secrets=secrets,
    )
    if not isinstance(data, list):
        raise _garbage("Stable Diffusion", "checkpoint list", "not a list")
    out = []
    for item in data:
        if not isinstance(item, Mapping) or not isinstance(item.get("title"), str):
            raise _garbage("Stable Diffusion", "checkpoint list", "a checkpoint without title")
        name = str(item.get("model_name") or item["title"])
        out.append(Listed("sd", name, name, task="text-to-image", detail={"title": item["title"]}))
    return out


def client(timeout_s: float = TIMEOUT_S) -> httpx.Client:
    """The HTTP client listings use: a short timeout, no redirects to other hosts."""
    return httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
