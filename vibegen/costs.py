"""Costs as facts with provenance: every amount says how we know it.

Kinds, strongest first:
- reported    the router said what it billed (fal billable units, Kie consumed credits)
- computed    reported usage × published rates (OpenAI tokens)
- estimated   catalog price × request parameters
- simulated   a sandbox model's pretend price
- self_hosted your own hardware; no per-image price
- unknown     we cannot tell; shown as "unknown", never as $0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vibegen.catalog import Catalog, Model, Price, PriceTier

KIND_LABEL = {"reported": "reported by router", "computed": "computed from usage",
              "estimated": "estimated from catalog", "simulated": "simulated (sandbox)",
              "self_hosted": "self-hosted", "unknown": "unknown"}


@dataclass(frozen=True)
class Cost:
    """An amount in USD (None when unknown) with its kind and where the figure came from."""

    usd: float | None
    kind: str
    basis: str = ""
    source: str = ""
    seen: str = ""

    def describe(self) -> str:
        """Text for a grid cell: '$0.0120 · estimated from catalog', 'cost unknown', …."""
        if self.kind == "self_hosted":
            return "self-hosted (no per-image price)"
        if self.usd is None or self.kind == "unknown":
            return "cost unknown"
        return f"${self.usd:.4f} · {KIND_LABEL.get(self.kind, self.kind)}"

    def provenance(self) -> str:
        """Where the figure came from: basis, price source and the date the price was seen."""
        parts = [self.basis, f"price source: {self.source}" if self.source else "",
                 f"price seen: {self.seen}" if self.seen else ""]
        return " · ".join(p for p in parts if p)

    def label(self) -> str:
        """Short text for a grid cell: '$0.0120 estimated', 'unknown', 'self-hosted'."""
        if self.kind == "self_hosted":
            return "self-hosted"
        if self.usd is None or self.kind == "unknown":
            return "cost unknown"
        return f"${self.usd:.4f} {self.kind}"


UNKNOWN = Cost(None, "unknown", "no price known")


def _provenance(price: Price) -> dict[str, str]:
    return {"source": price.source, "seen": price.seen.isoformat()}


def _tier(price: Price, params: dict[str, Any]) -> PriceTier | None:
    for tier in price.tiers:
        if all(str(params.get(k)) == v for k, v in tier.when.items()):
            return tier
    return None


def megapixels(width: int, height: int) -> float:
    """Output size in megapixels (1 MP = 1024 × 1024, as fal bills)."""
    return width * height / (1024 * 1024)


def _usd(amount_usd: float | None, credits: float | None, model: Model, catalog: Catalog):
    if amount_usd is not None:
        return amount_usd
    rate = catalog.routers[model.router].credit_usd
    return None if credits is None or rate is None else credits * rate


def estimate(model: Model, params: dict[str, Any], width: int, height: int,
             catalog: Catalog) -> Cost:
    """The catalog's price for one image with these parameters at this size."""
    price = model.price
    prov = _provenance(price)
    tier = _tier(price, params)
    if price.unit == "free":
        return Cost(None, "self_hosted", "self-hosted: no per-image price", **prov)
    if price.unit == "simulated":
        usd = tier.usd if tier else price.usd
        return Cost(usd, "simulated", "sandbox: simulated price, nothing is billed", **prov)
    if tier is not None:
        usd = _usd(tier.usd, tier.credits, model, catalog)
        if price.unit == "task":
            per = model.images_per_task
            usd = None if usd is None else usd / per
        return Cost(usd, "estimated", f"catalog tier {tier.when}", **prov) if usd is not None \
            else UNKNOWN
    if price.unit == "megapixel":
        mp = megapixels(width, height)
        units = math.ceil(mp - 1e-9) if price.mp_rounding == "ceil" else mp
        units = max(units, 1) if price.mp_rounding == "ceil" else units
        return Cost(megapixel_price(price, units), "estimated",
                    f"{units:g} MP × catalog price", **prov)
    if price.unit in ("image", "credit", "task"):
        usd = _usd(price.usd, price.credits, model, catalog)
        if usd is None:
            return UNKNOWN
        if price.unit == "task":
            usd /= model.images_per_task
        return Cost(usd, "estimated", f"catalog price per {price.unit}", **prov)
    return UNKNOWN  # token prices without usage and without a matching tier


def megapixel_price(price: Price, units: float) -> float:
    """USD for `units` billed megapixels (flat, or first MP plus extra MPs)."""
    if price.first_unit_usd is not None:
        extra = price.extra_unit_usd if price.extra_unit_usd is not None else price.first_unit_usd
        return price.first_unit_usd + max(units - 1, 0) * extra
    return units * (price.usd or 0.0)


def from_billable_units(model: Model, units: float) -> Cost:
    """fal: the `x-fal-billable-units` header × the catalog's unit price (reported)."""
    price = model.price
    if price.unit == "megapixel":
        usd = megapixel_price(price, units)
    elif price.usd is not None:
        usd = units * price.usd
    else:
        return UNKNOWN
    return Cost(usd, "reported", f"{units:g} billable units reported × catalog unit price",
                **_provenance(price))


def from_credits(model: Model, credits: float, catalog: Catalog) -> Cost:
    """Kie: consumed credits × the router's credit rate (reported)."""
    router = catalog.routers[model.router]
    if router.credit_usd is None:
        return UNKNOWN
    seen = router.credit_usd_seen.isoformat() if router.credit_usd_seen else ""
    return Cost(credits * router.credit_usd, "reported",
                f"{credits:g} credits reported × ${router.credit_usd}/credit",
                source=router.credit_usd_source, seen=seen)


def from_tokens(model: Model, usage: dict[str, Any]) -> Cost:
    """OpenAI: usage tokens × the model's per-token rates (computed)."""
    price = model.price
    if price.unit != "token" or not price.per_tokens:
        return UNKNOWN
    details = usage.get("input_tokens_details") or {}
    text_in = details.get("text_tokens", usage.get("input_tokens", 0)) or 0
    image_in = details.get("image_tokens", 0) or 0
    out_details = usage.get("output_tokens_details") or {}
    out_total = usage.get("output_tokens", 0) or 0
    text_out = out_details.get("text_tokens", 0) or 0
    image_out = out_details.get("image_tokens", out_total - text_out) or 0
    per = price.per_tokens
    usd = (text_in * (price.text_input_usd or 0) + image_in * (price.image_input_usd or 0)
           + text_out * (price.text_output_usd or 0)
           + image_out * (price.image_output_usd or 0)) / per
    return Cost(usd, "computed",
                f"{text_in + image_in} input + {out_total} output tokens × published rates",
                **_provenance(price))
