"""Finding a model among hundreds: a price hint per model, filters, and the team's shortlist."""

from __future__ import annotations

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
