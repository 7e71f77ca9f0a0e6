"""The model catalog: routers, models, parameters and prices, loaded from `catalog.toml`.

Every price carries its source and the date it was seen. A model past its shutdown date is
loaded but not offered. Unknown fields are rejected, so a typo fails at load and the message
names the entry and the field.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vibegen.errors import ConfigError, UnknownModelError

# "unknown": no price was found in any source; estimates say "unknown", never $0.
PriceUnit = Literal["image", "megapixel", "token", "credit", "task", "free", "simulated", "unknown"]
SizeKind = Literal["wh", "fal_image_size", "aspect_ratio", "openai_size", "size_enum"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceTier(_Strict):
    """A price that applies when every `when` parameter matches the request.

    The amount is in the price's own unit: per image for `image` (and the per-image fallback
    of a `token` price), per megapixel for `megapixel`, per task for `task`. `max_megapixels`
    narrows a tier to outputs of at most that size (OpenAI's per-image tables by size class).
    `unknown = true` records a tier whose price was not found: its estimate is "unknown".
    """

    when: dict[str, str]
    usd: float | None = None
    credits: float | None = None
    max_megapixels: float | None = None
    unknown: bool = False

    @model_validator(mode="after")
    def _one_amount(self) -> PriceTier:
        if self.unknown:
            if self.usd is not None or self.credits is not None:
                raise ValueError("an unknown tier takes no usd / credits")
        elif (self.usd is None) == (self.credits is None):
            raise ValueError("a tier needs exactly one of usd / credits")
        return self

    def describe(self) -> str:
        """The tier's condition as text: 'quality=high, ≤ 4.5 MP'."""
        parts = [f"{k}={v}" for k, v in self.when.items()]
        if self.max_megapixels is not None:
            parts.append(f"≤ {self.max_megapixels:g} MP")
        return ", ".join(parts) or "any request"


class Price(_Strict):
    """How a model is billed, with where that figure came from."""

    unit: PriceUnit
    usd: float | None = None
    credits: float | None = None
    first_unit_usd: float | None = None
    extra_unit_usd: float | None = None
    mp_rounding: Literal["ceil", "exact"] = "ceil"
    per_tokens: int | None = None
    text_input_usd: float | None = None
    text_output_usd: float | None = None
    image_input_usd: float | None = None
    image_output_usd: float | None = None
    tiers: list[PriceTier] = Field(default_factory=list)
    # What the router's reported quantity counts, when it is not `unit` (fal bills
    # openai/gpt-image-2 in tokens while the catalog can only price it per image).
    billed_unit: Literal["image", "megapixel", "token", "credit"] | None = None
    seen: dt.date
    source: str
    confidence: Literal["high", "medium", "low"] = "medium"

    @model_validator(mode="after")
    def _complete(self) -> Price:
        if self.unit == "token" and not self.per_tokens:
            raise ValueError("a token price needs per_tokens")
        if self.unit == "megapixel" and self.usd is None and self.first_unit_usd is None:
            raise ValueError("a megapixel price needs usd or first_unit_usd")
        if self.unit in ("image", "simulated") and self.usd is None and not self.tiers:
            raise ValueError(f"a {self.unit} price needs usd")
        if self.unit in ("credit", "task") and self.credits is None and self.usd is None:
            raise ValueError(f"a {self.unit} price needs credits or usd")
        if self.unit == "unknown" and any(
            v is not None for v in (self.usd, self.credits, self.first_unit_usd, self.per_tokens)
        ):
            raise ValueError(
                "an unknown price takes no amount: say where it was looked for in source"
            )
        return self


class SizeSpec(_Strict):
    """Which request parameter controls the output size, and the sizes the model accepts.

    The constraints are the model's documented limits on a width × height request (free sizes
    and fal presets alike); `map_params` sends only sizes inside them. `excluded` lists request
    parameter combinations the model rejects (Kie gpt-image-2: 1:1 is not offered at 4K).
    """

    param: str
    kind: SizeKind
    values: list[str] = Field(default_factory=list)
    default: str | None = None
    max_edge: int = 2048
    multiple_of: int = 16
    max_pixels: int | None = None
    min_pixels: int | None = None
    max_ratio: float | None = None  # longer edge / shorter edge
    excluded: list[dict[str, str]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> SizeSpec:
        if self.multiple_of < 1:
            raise ValueError("multiple_of must be at least 1")
        if (
            self.max_pixels is not None
            and self.min_pixels is not None
            and self.min_pixels > self.max_pixels
        ):
            raise ValueError("min_pixels is above max_pixels")
        if self.max_ratio is not None and self.max_ratio < 1:
            raise ValueError("max_ratio is longer edge / shorter edge, at least 1")
        return self

    def violations(self, width: int, height: int) -> list[str]:
        """Which of this spec's size constraints a width × height request breaks."""
        out = []
        if width % self.multiple_of or height % self.multiple_of:
            out.append(f"{width}x{height} is not a multiple of {self.multiple_of}")
        if max(width, height) > self.max_edge:
            out.append(f"edge {max(width, height)} > {self.max_edge}")
        if self.max_pixels is not None and width * height > self.max_pixels:
            out.append(f"{width * height} pixels > {self.max_pixels}")
        if self.min_pixels is not None and width * height < self.min_pixels:
            out.append(f"{width * height} pixels < {self.min_pixels}")
        if (
            self.max_ratio is not None
            and max(width, height) / min(width, height) > self.max_ratio + 1e-9
        ):
            out.append(f"ratio {max(width, height) / min(width, height):.3f} > {self.max_ratio}")
        return out


class SandboxSpec(_Strict):
    """How a sandbox model behaves: its look, its latency and how often it fails."""

    style: Literal["stripes", "rings", "blocks", "waves", "dots", "grid"]
    latency_median_s: float = 1.5
    latency_sigma: float = 0.4
    failure_rate: float = 0.05


class Model(_Strict):
    """One (router, model) pair: the unit VibeGen compares."""

    key: str
    label: str
    router: str
    endpoint: str
    api: str = "default"
    status: Literal["active", "deprecated", "verify", "unverified", "shutdown"] = "active"
    shutdown: dt.date | None = None
    seed_supported: bool = True
    seed_param: str = "seed"
    max_prompt_chars: int = 4000
    size: SizeSpec
    params: dict[str, list[str]] = Field(default_factory=dict)
    fixed_params: dict[str, Any] = Field(default_factory=dict)
    images_per_task: int = 1  # a task that yields several images (Midjourney: 4)
    latency_hint_s: float | None = None
    deadline_s: float = 180.0
    price: Price
    sandbox: SandboxSpec | None = None
    note: str = ""

    def offered(self, today: dt.date) -> bool:
        """Whether the model may be called on `today` (not shut down by then).

        The date is passed in, never read from the clock here, so a page, a run and a test
        agree on which models exist and a shutdown can be tested on both sides of its date.
        """
        if self.status == "shutdown":
            return False
        return self.shutdown is None or today < self.shutdown


class RouterSpec(_Strict):
    """A router, declared once: its adapter, key, URL, limits, cost reporting and how to enable it.

    Everything VibeGen says or does about a router that is not a model comes from here: the
    registry imports `adapter`, the status and the adapters' MissingKeyError say
    `enable_message()`, listings read its key and URL through `key()` / `url()`.
    """

    label: str
    adapter: str = ""  # "module:Class" of the adapter; a test router may `register` instead
    simulated: bool = False  # renders locally: nothing is billed, no key, no network
    key_env: str = ""
    url_env: str = ""
    auth_env: str = ""  # an optional login ("user:pass"), e.g. a self-hosted server's
    base_url: str = ""
    key_url: str = ""
    concurrency: int = 4  # jobs the account runs at once (projections; the client's cap too)
    # The router queues every job itself and runs `concurrency` of them per account (fal's
    # queue API): every cell is sent at once and the router's own queue does the limiting.
    queues_server_side: bool = False
    rate_limit_requests: int | None = None  # new jobs per window, all cells together
    rate_limit_window_s: float | None = None
    poll_limit_requests: int | None = None  # status polls per window, all cells together
    poll_limit_window_s: float | None = None
    credit_usd: float | None = None
    credit_usd_seen: dt.date | None = None
    credit_usd_source: str = ""
    cost_reporting: str = ""
    note: str = ""

    def limits(self, concurrency: int, setting: str) -> str:
        """The account limits in force, in words: "2 at once (fal queues the rest) · set
        VIBEGEN_FAL_CONCURRENCY"; `concurrency` is the figure in force, `setting` its name."""
        if self.simulated:
            return f"{concurrency} at once (simulated)"
        parts = [
            f"{concurrency} at once"
            + (f" ({self.label} queues the rest)" if self.queues_server_side else "")
        ]
        if self.rate_limit_requests and self.rate_limit_window_s:
            parts.append(f"{self.rate_limit_requests} new jobs / {self.rate_limit_window_s:g} s")
        if self.poll_limit_requests and self.poll_limit_window_s:
            parts.append(f"{self.poll_limit_requests} polls / {self.poll_limit_window_s:g} s")
        return " · ".join(parts) + f" · set {setting}"

    def key_message(self) -> str:
        """What to do when the key is missing: "add FAL_KEY to enable"."""
        return f"add {self.key_env} to enable"

    def url_message(self) -> str:
        """What to do when the server's address is missing: "set VIBEGEN_SD_URL to enable"."""
        return f"set {self.url_env} to enable"

    def enable_message(self, env: Mapping[str, str]) -> str:
        """Why the router cannot be called with `env`, as the step that fixes it; "" if it can."""
        if self.key_env and not env.get(self.key_env):
            return self.key_message()
        if self.url_env and not self.base_url and not env.get(self.url_env):
            return self.url_message()
        return ""

    def needs(self) -> str:
        """The setting that enables the router ("FAL_KEY"), or "nothing"."""
        return self.key_env or self.url_env or "nothing"

    def key(self, env: Mapping[str, str]) -> str | None:
        """The router's key in `env`, or None."""
        return (env.get(self.key_env) or None) if self.key_env else None

    def url(self, env: Mapping[str, str]) -> str:
        """The router's base URL: `url_env` in `env` when set (a proxy, a fake), else the
        declared one ("" for a self-hosted server with none set)."""
        return (env.get(self.url_env) if self.url_env else None) or self.base_url

    def auth(self, env: Mapping[str, str]) -> str | None:
        """The optional login in `env` ("user:pass"), or None."""
        return (env.get(self.auth_env) or None) if self.auth_env else None


class Catalog(_Strict):
    """All routers and models."""

    schema_version: int
    routers: dict[str, RouterSpec]
    models: list[Model]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        seen: set[str] = set()
        for m in self.models:
            if m.key in seen:
                raise ValueError(f"duplicate model key {m.key!r}")
            seen.add(m.key)
            if m.router not in self.routers:
                raise ValueError(f"model {m.key!r} names unknown router {m.router!r}")
            if m.price.unit == "credit" and self.routers[m.router].credit_usd is None:
                raise ValueError(f"model {m.key!r} is priced in credits but its router has none")
        return self

    def model(self, key: str) -> Model:
        """The model with this key, or UnknownModelError."""
        for m in self.models:
            if m.key == key:
                return m
        raise UnknownModelError(key)

    def offered(self, today: dt.date) -> list[Model]:
        """Models that may be called on `today`, in catalog order."""
        return [m for m in self.models if m.offered(today)]


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    """Turn pydantic's error list into sentences naming the catalog entry and field."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            entries = data.get("models", [])
            key = entries[loc[1]].get("key", f"#{loc[1]}") if loc[1] < len(entries) else loc[1]
            field = ".".join(str(p) for p in loc[2:]) or "(entry)"
            where = f"model {key!r}, field {field!r}"
        elif len(loc) >= 2 and loc[0] == "routers":
            field = ".".join(str(p) for p in loc[2:]) or "(entry)"
            where = f"router {loc[1]!r}, field {field!r}"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def describe_errors(exc: ValidationError, data: dict[str, Any]) -> str:
    """Pydantic's errors as sentences naming the entry and field (the user file's words too)."""
    return _describe(exc, data)


def parse_catalog(text: str, origin: str = "catalog") -> Catalog:
    """Parse catalog TOML text; raise ConfigError naming the bad entry and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_describe(exc, data)}") from exc


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load a catalog file, or the packaged default when no path is given."""
    if path is None:
        return default_catalog()
    path = Path(path)
    return parse_catalog(path.read_text(encoding="utf-8"), origin=str(path))


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The catalog that ships with VibeGen (parsed once per process)."""
    text = resources.files("vibegen").joinpath("catalog.toml").read_text(encoding="utf-8")
    return parse_catalog(text, origin="vibegen/catalog.toml")
