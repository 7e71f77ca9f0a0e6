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
from vibegen.params import requested_size

KIND_LABEL = {
    "reported": "reported by router",
    "computed": "computed from usage",
    "estimated": "estimated from catalog",
    "simulated": "simulated (sandbox)",
    "self_hosted": "self-hosted",
    "unknown": "unknown",
}


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
        parts = [
            self.basis,
            f"price source: {self.source}" if self.source else "",
            f"price seen: {self.seen}" if self.seen else "",
        ]
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


def _tier(price: Price, params: dict[str, Any], mp: float | None = None) -> PriceTier | None:
    """The first tier whose parameters (and size class, if it has one) match the request."""
    for tier in price.tiers:
        if not all(str(params.get(k)) == v for k, v in tier.when.items()):
            continue
        if tier.max_megapixels is not None and (mp is None or mp > tier.max_megapixels + 1e-9):
            continue
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


def _unknown_tier(tier: PriceTier, price: Price) -> Cost:
    return Cost(
        None, "unknown", f"no price found for catalog tier {tier.describe()}", **_provenance(price)
    )


def _per_mp(price: Price, tier: PriceTier | None) -> Price:
    """The megapixel price with a tier's per-MP rate in place of the base rate."""
    if tier is None or tier.usd is None:
        return price
    return price.model_copy(
        update={"usd": tier.usd, "first_unit_usd": None, "extra_unit_usd": None}
    )


def estimate(
    model: Model, params: dict[str, Any], width: int, height: int, catalog: Catalog
) -> Cost:
    """The catalog's price for one image with these parameters at this size."""
    price = model.price
    prov = _provenance(price)
    mp = megapixels(width, height) if width and height else None
    tier = _tier(price, params, mp)
    if price.unit == "free":
        return Cost(None, "self_hosted", "self-hosted: no per-image price", **prov)
    if price.unit == "unknown":
        return Cost(None, "unknown", "no price found for this model", **prov)
    if price.unit == "simulated":
        usd = tier.usd if tier and tier.usd is not None else price.usd
        return Cost(usd, "simulated", "sandbox: simulated price, nothing is billed", **prov)
    if tier is not None and tier.unknown:
        return _unknown_tier(tier, price)
    if price.unit == "megapixel":
        exact = mp or 0.0
        units = math.ceil(exact - 1e-9) if price.mp_rounding == "ceil" else exact
        units = max(units, 1) if price.mp_rounding == "ceil" else units
        basis = f"{units:g} MP × catalog price" + (f" (tier {tier.describe()})" if tier else "")
        return Cost(megapixel_price(_per_mp(price, tier), units), "estimated", basis, **prov)
    if tier is not None:
        usd = _usd(tier.usd, tier.credits, model, catalog)
        if price.unit == "task":
            per = model.images_per_task
            usd = None if usd is None else usd / per
        return (
            Cost(usd, "estimated", f"catalog tier {tier.describe()}", **prov)
            if usd is not None
            else UNKNOWN
        )
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


def _images_asked(params: dict[str, Any]) -> int:
    n = params.get("num_images", 1)
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1


def from_billable_units(model: Model, units: float, params: dict[str, Any]) -> Cost:
    """fal: the `x-fal-billable-units` header × the price of this request's tier.

    What a unit counts follows the model's pricing unit (fal's pricing API lists a unit per
    endpoint): megapixels for a per-MP model (units = billed MP, possibly fractional), images
    for a per-image model. A per-image price applies to units only when they are an image
    count, i.e. the number of images this request asked for; anything else (fractional units,
    16 "units" for one 4K image, a model fal bills by tokens) is not what the per-image tier
    means, so the cost is the catalog's estimate for the request, labelled so, with the reason.
    """
    price = model.price
    prov = _provenance(price)
    size = requested_size(model, params)
    mp = megapixels(*size) if size else None
    tier = _tier(price, params, mp)
    if tier is not None and tier.unknown:
        return _unknown_tier(tier, price)
    billed = price.billed_unit or price.unit
    where = f" (tier {tier.describe()})" if tier else ""
    if price.unit == "megapixel" and billed == "megapixel":
        per_mp = _per_mp(price, tier)
        return Cost(
            megapixel_price(per_mp, units),
            "reported",
            f"{units:g} billable units (MP) reported × catalog price per MP{where}",
            **prov,
        )
    if price.unit != "image":
        return UNKNOWN  # no fal model is priced otherwise; the runner estimates instead
    usd = tier.usd if tier is not None else price.usd
    if usd is None:
        return UNKNOWN
    asked = _images_asked(params)
    if billed == "image" and units == asked:
        return Cost(
            units * usd,
            "reported",
            f"{units:g} billable units (images) reported × ${usd:g}/image{where}",
            **prov,
        )
    why = (
        f"fal bills this model by {billed}s"
        if billed != "image"
        else f"that is not the {asked} image(s) asked for"
    )
    return Cost(
        asked * usd,
        "estimated",
        f"fal reported {units:g} billable units, but the catalog prices this model per "
        f"image{where} and {why}: estimated as {asked} × ${usd:g}",
        **prov,
    )


def from_credits(model: Model, credits: float, catalog: Catalog) -> Cost:
    """Kie: consumed credits × the router's credit rate (reported)."""
    router = catalog.routers[model.router]
    if router.credit_usd is None:
        return UNKNOWN
    seen = router.credit_usd_seen.isoformat() if router.credit_usd_seen else ""
    return Cost(
        credits * router.credit_usd,
        "reported",
        f"{credits:g} credits reported × ${router.credit_usd}/credit",
        source=router.credit_usd_source,
        seen=seen,
    )


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
    usd = (
        text_in * (price.text_input_usd or 0)
        + image_in * (price.image_input_usd or 0)
        + text_out * (price.text_output_usd or 0)
        + image_out * (price.image_output_usd or 0)
    ) / per
    return Cost(
        usd,
        "computed",
        f"{text_in + image_in} input + {out_total} output tokens × published rates",
        **_provenance(price),
    )
