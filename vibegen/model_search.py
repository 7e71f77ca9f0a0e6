"""Finding a model among hundreds: a price hint per model, filters, and the team's shortlist."""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from vibegen.catalog import Catalog, Model

SHORTLIST_SETTING = "models.shortlist"


def base_usd(model: Model, catalog: Catalog) -> float | None:
    """The model's base price in USD per its unit (per image, per MP), None when not known."""
    p = model.price
    if p.unit in ("unknown", "free", "token"):
        return None
    if p.usd is not None:
        return p.usd
    if p.first_unit_usd is not None:
        return p.first_unit_usd
    rate = catalog.routers[model.router].credit_usd
    if p.credits is not None and rate is not None:
        return p.credits * rate / (model.images_per_task if p.unit == "task" else 1)
    return None


def price_hint(model: Model, catalog: Catalog) -> str:
    """Short text beside a name: '$0.04/image', '$0.012/MP', 'price unknown', ...."""
    p = model.price
    if p.unit == "free":
        return "self-hosted"
    if p.unit == "unknown":
        return "price unknown"
    if p.unit == "token":
        low = min((t.usd for t in p.tiers if t.usd is not None), default=None)
        return f"from ${low:g}/image (tokens)" if low is not None else "priced by tokens"
    usd = base_usd(model, catalog)
    if usd is None:
        return "price unknown"
    per = {"megapixel": "MP", "simulated": "image (simulated)"}.get(p.unit, "image")
    more = "+" if p.tiers else ""
    quoted = " quoted" if p.source.startswith("quoted by ") else ""
    return f"${usd:g}{more}/{per}{quoted}"


def hint(model: Model, catalog: Catalog) -> str:
    """Price and typical time, as the picker shows them beside a name."""
    parts = [price_hint(model, catalog)]
    if model.latency_hint_s:
        parts.append(f"~{model.latency_hint_s:g} s")
    return " · ".join(parts)


@dataclass(frozen=True)
class Filter:
    """What a user narrowed the list to; empty fields do not filter."""

    text: str = ""
    routers: Collection[str] = ()
    tasks: Collection[str] = ()
    statuses: Collection[str] = ()
    max_usd: float | None = None  # models above it (or of unknown price) are hidden

    def matches(self, model: Model, catalog: Catalog, task: str = "text-to-image") -> bool:
        """Whether `model` passes every filter that is set."""
        words = self.text.strip().lower().split()
        hay = f"{model.label} {model.endpoint} {model.key} {model.router}".lower()
        if any(w not in hay for w in words):
            return False
        if self.routers and model.router not in self.routers:
            return False
        if self.tasks and task not in self.tasks:
            return False
        if self.statuses and model.status not in self.statuses:
            return False
        if self.max_usd is not None:
            usd = base_usd(model, catalog)
            if usd is None or usd > self.max_usd + 1e-12:
                return False
        return True


def parse_shortlist(text: str | None, known: Collection[str]) -> list[str]:
    """The stored shortlist (JSON list of model keys), keeping only keys that still exist."""
    try:
        keys = json.loads(text) if text else []
    except ValueError:
        return []
    if not isinstance(keys, list):
        return []
    return [k for k in dict.fromkeys(keys) if isinstance(k, str) and k in known]


def dump_shortlist(keys: Sequence[str]) -> str:
    """The shortlist as stored in the team settings."""
    return json.dumps(list(dict.fromkeys(keys)))


def shortlist_first(models: Sequence[Model], shortlist: Sequence[str]) -> list[Model]:
    """The shortlisted models first, in shortlist order, then the rest in catalog order."""
    order = {k: i for i, k in enumerate(shortlist)}
    return sorted(models, key=lambda m: (order.get(m.key, len(order)),))


def named(text: str, models: Sequence[Model]) -> Model | None:
    """The model a person typed: its key ("fal:flux-schnell"), the key with a slash
    ("fal/flux-schnell"), its label or its endpoint id, case-insensitive; None unless one."""
    wanted = text.strip().lower()
    for forms in (
        lambda m: {m.key.lower()},
        lambda m: {m.key.replace(":", "/", 1).lower()},
        lambda m: {m.label.lower(), m.endpoint.lower()},
    ):  # the strongest form first: a key is never shadowed by another model's label
        found = [m for m in models if wanted in forms(m)]
        if len(found) == 1:
            return found[0]
    return None


def close_matches(text: str, models: Sequence[Model], catalog: Catalog, n: int = 5) -> list[str]:
    """Keys of models like `text`: those the picker's search finds for it, else near spellings."""
    # Typed as a key with a slash ("fal/flux") or as part of an endpoint id ("flux/dev").
    searches = [Filter(text=t) for t in dict.fromkeys((text, text.replace("/", ":", 1)))]
    found = [m.key for m in models if any(f.matches(m, catalog) for f in searches)]
    if found:
        return found[:n]
    return difflib.get_close_matches(text.strip().lower(), [m.key for m in models], n, 0.75)
