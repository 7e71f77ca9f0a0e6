"""Models beyond the shipped catalog: a user catalog file, models added by endpoint id, and the
checkpoints a self-hosted SD server lists; merged with the shipped catalog into the one the
app offers.

- The user catalog file is `<data dir>/models.toml`: `schema_version = 1` and `[[models]]`
  entries in the shipped catalog's schema (routers come from the shipped catalog). A mistake
  names the entry and the field; entries with mistakes are skipped, the rest load.
- A model added by id on the Models page is kept in the store. Its price is the router's
  quote ("quoted by fal on DATE") when the price list has one, else unknown (never $0). Which
  common parameters it takes is read from the endpoint's OpenAPI input schema when fal
  publishes one.
- A quote also fills in a shipped model whose price no source gave.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vibegen.catalog import Catalog, Model, Price, describe_errors
from vibegen.discovery import Listed, Quote
from vibegen.errors import InputError
from vibegen.listings import Index
from vibegen.params import RESOLUTIONS

USER_FILE = "models.toml"
FAL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)+$")
_RATIO = re.compile(r"^\d+:\d+$")
IMAGE_INPUTS = ("image_url", "image_urls", "input_image", "image")


def user_file_path(home: Path) -> Path:
    """Where the user catalog file lives: `models.toml` in the data directory `home`."""
    return home / USER_FILE


def parse_user_models(
    text: str, catalog: Catalog, origin: str = USER_FILE
) -> tuple[list[Model], list[str]]:
    """The valid entries of a user catalog file and a message per entry with a mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [f"{origin}: not valid TOML: {exc}"]
    problems = []
    extra = sorted(set(data) - {"schema_version", "models"})
    if extra:
        problems.append(
            f"{origin}: {', '.join(extra)} not allowed here (routers are set in "
            "the shipped catalog; this file holds [[models]] only)"
        )
    if data.get("schema_version", 1) != 1:
        problems.append(f"{origin}: schema_version {data['schema_version']!r} is not 1")
    entries = data.get("models", [])
    if not isinstance(entries, list):
        return [], [*problems, f"{origin}: models must be [[models]] entries"]
    models: list[Model] = []
    known = {m.key for m in catalog.models}
    for i, entry in enumerate(entries):
        name = entry.get("key", f"#{i + 1}") if isinstance(entry, dict) else f"#{i + 1}"
        try:
            model = Model.model_validate(entry)
        except ValidationError as exc:
            words = describe_errors(exc, {})
            problems.append(f"{origin}: {_entry_words(words, i, name)}")
            continue
        why = _refuse(model, catalog, known)
        if why:
            problems.append(f"{origin}: model {name!r}: {why}")
            continue
        known.add(model.key)
        models.append(model)
    return models, problems


def _entry_words(words: str, index: int, name: str) -> str:
    # pydantic locations of a lone entry start at the field: name the entry like the catalog
    parts = []
    for part in words.split("; "):
        where, _, msg = part.partition(": ")
        field = where.removeprefix(f"{index}.") if where.startswith(f"{index}.") else where
        parts.append(f"model {name!r}, field {field!r}: {msg}")
    return "; ".join(parts)


def _refuse(model: Model, catalog: Catalog, known: set[str]) -> str:
    if model.key in known:
        return "this key is already in the catalog; pick another key"
    if model.router not in catalog.routers:
        return (
            f"field 'router': unknown router {model.router!r} (known: {', '.join(catalog.routers)})"
        )
    if model.price.unit == "credit" and catalog.routers[model.router].credit_usd is None:
        return "field 'price.unit': priced in credits but its router has none"
    return ""


def load_user_file(catalog: Catalog, path: Path) -> tuple[list[Model], list[str]]:
    """The user catalog file's models and problems; no file is no models and no problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path}: cannot read it ({exc})"]
    return parse_user_models(text, catalog, origin=str(path))


# ------------------------------------------------------------------ prices from quotes
def quoted_price(quote: Quote, on: dt.date) -> Price | None:
    """A catalog price from a router's quote, labelled as quoted with its date; None when its
    unit or currency cannot be priced (see `Quote.problem`)."""
    kind = quote.kind()
    if kind is None:
        return None
    return Price(
        unit=kind,
        usd=quote.unit_price,
        mp_rounding="ceil",
        seen=on,
        source=f"quoted by {quote.router} on {on.isoformat()} (router price list)",
        confidence="high",
    )


def _takes_quote(model: Model) -> bool:
    return model.price.unit == "unknown" or model.price.source.startswith("quoted by ")


def with_quote(model: Model, index: Index) -> Model:
    """The model with its router's current quote when its own price is unknown or quoted."""
    quote = index.quote(model.router, model.endpoint)
    on = index.quoted_on(model.router)
    if quote is None or on is None or not _takes_quote(model):
        return model
    price = quoted_price(quote, on)
    return model.model_copy(update={"price": price}) if price else model


# ------------------------------------------------------------------ fal by endpoint id
def check_fal_id(endpoint_id: str) -> str:
    """The endpoint id, stripped, or InputError saying what one looks like."""
    text = (endpoint_id or "").strip().strip("/")
    if text.startswith(("https://", "http://")):
        text = re.sub(r"^https?://[^/]+/(models/)?", "", text)
    if not FAL_ID.match(text):
        raise InputError(
            f"{endpoint_id!r} is not a fal endpoint id: it looks like "
            "'fal-ai/flux-2-pro' (owner/name, as on the model's fal.ai page)"
        )
    return text


def _resolve(spec: Mapping[str, Any], node: Any) -> Any:
    for _ in range(10):
        if isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            target: Any = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            node = target
        elif (
            isinstance(node, Mapping)
            and isinstance(node.get("allOf"), list)
            and len(node["allOf"]) == 1
        ):
            node = node["allOf"][0]
        else:
            return node
    return node


def input_schema(openapi: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The request body schema of the endpoint's POST, resolved, or None."""
    for item in (openapi.get("paths") or {}).values():
        post = item.get("post") if isinstance(item, Mapping) else None
        body = ((post or {}).get("requestBody") or {}).get("content", {})
        schema = (body.get("application/json") or {}).get("schema")
        resolved = _resolve(openapi, schema)
        if isinstance(resolved, Mapping) and isinstance(resolved.get("properties"), Mapping):
            return resolved
    return None


def _enum(openapi: Mapping[str, Any], prop: Any) -> list[str]:
    node = _resolve(openapi, prop)
    values = node.get("enum") if isinstance(node, Mapping) else None
    return [str(v) for v in values] if isinstance(values, list) else []


def fal_model_entry(
    listed: Listed,
    openapi: Mapping[str, Any] | None,
    quote: Quote | None,
    today: dt.date,
    quoted_on: dt.date | None = None,
) -> dict[str, Any]:
    """A catalog entry for a fal endpoint, from its listing, input schema and quote."""
    if listed.task and listed.task != "text-to-image":
        raise InputError(
            f"{listed.endpoint} is a {listed.task} endpoint: VibeGen sends a "
            "prompt only, so it can add text-to-image endpoints"
        )
    schema = input_schema(openapi) if openapi else None
    props: Mapping[str, Any] = (schema or {}).get("properties") or {}
    required = set((schema or {}).get("required") or [])
    if required & set(IMAGE_INPUTS):
        raise InputError(
            f"{listed.endpoint} needs an input image "
            f"({', '.join(sorted(required & set(IMAGE_INPUTS)))}): VibeGen sends "
            "a prompt only"
        )
    note = [f"Added by endpoint id on {today.isoformat()}."]
    size: dict[str, Any]
    if "image_size" in props or schema is None:
        size = {"param": "image_size", "kind": "fal_image_size", "max_edge": 2048}
        if schema is None:
            note.append(
                "fal publishes no input schema for it: VibeGen sends the prompt and "
                "fal's usual image_size only."
            )
    elif "aspect_ratio" in props:
        ratios = [v for v in _enum(openapi or {}, props["aspect_ratio"]) if _RATIO.match(v)]
        if not ratios:
            raise InputError(
                f"{listed.endpoint}: its aspect_ratio lists no W:H values VibeGen "
                "can choose from; add it in the user catalog file instead"
            )
        size = {"param": "aspect_ratio", "kind": "aspect_ratio", "values": ratios, "max_edge": 2048}
    else:
        raise InputError(
            f"{listed.endpoint}: its input schema has neither image_size nor "
            "aspect_ratio, so VibeGen cannot choose its size; add it in the user "
            "catalog file with its inputs instead"
        )
    params: dict[str, list[str]] = {}
    if "resolution" in props:
        offered = [v for v in _enum(openapi or {}, props["resolution"]) if v in RESOLUTIONS]
        if offered:
            params["resolution"] = offered
    prompt = _resolve(openapi or {}, props.get("prompt")) if props else None
    limit = prompt.get("maxLength") if isinstance(prompt, Mapping) else None
    price: dict[str, Any] = {
        "unit": "unknown",
        "seen": today,
        "source": "fal's price list has no quote for it (or no key)",
        "confidence": "low",
    }
    if quote is not None:
        made = quoted_price(quote, quoted_on or today)
        if made is not None:
            price = made.model_dump(exclude_defaults=True)
            price["seen"] = made.seen
        else:
            note.append(quote.problem() + ".")
    entry: dict[str, Any] = {
        "key": f"fal:{listed.endpoint}",
        "label": f"{listed.name} (fal)",
        "router": "fal",
        "endpoint": listed.endpoint,
        "seed_supported": "seed" in props,
        "size": size,
        "params": params,
        "price": price,
        "note": " ".join(note),
    }
    if isinstance(limit, int) and limit > 0:
        entry["max_prompt_chars"] = limit
    Model.model_validate(entry)  # a bug here must not reach the store
    return entry


# ------------------------------------------------------------------ SD checkpoints
def sd_checkpoint_models(catalog: Catalog, listed: Sequence[Listed]) -> list[Model]:
    """One model per checkpoint a self-hosted server lists, modelled on the shipped `sd:local`."""
    base = next((m for m in catalog.models if m.router == "sd"), None)
    if base is None:
        return []
    out = []
    for item in listed:
        title = str(item.detail.get("title") or item.endpoint)
        out.append(
            base.model_copy(
                update={
                    "key": f"sd:{item.endpoint}",
                    "label": f"{item.name} (self-hosted)",
                    "fixed_params": {
                        **base.fixed_params,
                        "override_settings": {"sd_model_checkpoint": title},
                    },
                    "note": f"Checkpoint {title} listed by your server; "
                    "VibeGen asks for it per call.",
                }
            )
        )
    return out


# ------------------------------------------------------------------ the merged catalog
def effective_catalog(
    shipped: Catalog,
    index: Index,
    added: Sequence[Mapping[str, Any]] = (),
    *,
    user_path: Path,
) -> tuple[Catalog, list[str]]:
    """Shipped + user file + added by id + SD checkpoints, quotes applied; and the problems."""
    file_models, problems = load_user_file(shipped, user_path)
    models = list(shipped.models)
    keys = {m.key for m in models}
    for m in file_models:
        models.append(m)
        keys.add(m.key)
    for entry in added:
        try:
            m = Model.model_validate(entry)
        except ValidationError as exc:
            problems.append(
                f"added model {entry.get('key')!r} is no longer valid: {exc.errors()[0]['msg']}"
            )
            continue
        if m.key in keys:
            problems.append(f"added model {m.key!r} is also in the catalog file; the file wins")
            continue
        models.append(m)
        keys.add(m.key)
    for m in sd_checkpoint_models(shipped, index.listed.get("sd", [])):
        if m.key not in keys:
            models.append(m)
            keys.add(m.key)
    models = [with_quote(m, index) for m in models]
    merged = Catalog.model_construct(
        schema_version=shipped.schema_version, routers=shipped.routers, models=models
    )
    return merged, problems
