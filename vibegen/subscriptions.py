"""Flat-fee subscriptions (ChatGPT Plus, Midjourney) as an alternative to per-image API prices.

Source: the project's seed document "Model Comparison: Kie.AI vs Fal.AI vs Direct Access"
(last updated 2026-01-15). It gives ChatGPT Plus at $20/month ("unlimited within rate limits",
image generation inside ChatGPT), Midjourney Basic at $10/month for 200 images, and Midjourney
at "$10-$60/month" overall. The Standard ($30) and Pro ($60) prices come from the project brief
and fit that range; the seed gives no image counts for them. We treat Standard and Pro as
*unlimited in relaxed mode* with a monthly cap on fast GPU hours (the cap's size is not in the
seed, so it is not modelled): per-image cost then simply falls with volume. Subscriptions are
for interactive use (chat / Discord / web), not an API the runner can call, and prices change:
every entry keeps its `source` and the date it was `seen`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

SEED_SOURCE = (
    "seed document 'Model Comparison: Kie.AI vs Fal.AI vs Direct Access' (updated 2026-01-15)"
)
SEED_SEEN = date(2026, 1, 15)
RELAXED_LIMITS = (
    "Treated as unlimited in relaxed mode; fast GPU hours are capped (cap not in the seed, "
    "not modelled)."
)


@dataclass(frozen=True)
class Subscription:
    """One subscription plan with its price provenance."""

    key: str
    name: str
    provider: str
    monthly_usd: float
    included_images: int | None  # fixed monthly allowance; None = no fixed image count
    unlimited: bool  # no image count: "within rate limits" or relaxed mode
    model: str
    limits: str  # what caps use, in words
    source: str
    seen: date


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(
        key="chatgpt-plus",
        name="ChatGPT Plus",
        provider="OpenAI",
        monthly_usd=20.0,
        included_images=None,
        unlimited=True,
        model="ChatGPT image generation (DALL-E 3 per the seed document)",
        limits="Image generation within rate limits; no fixed image count.",
        source=SEED_SOURCE,
        seen=SEED_SEEN,
    ),
    Subscription(
        key="midjourney-basic",
        name="Midjourney Basic",
        provider="Midjourney",
        monthly_usd=10.0,
        included_images=200,
        unlimited=False,
        model="Midjourney",
        limits="About 200 images per month.",
        source=SEED_SOURCE,
        seen=SEED_SEEN,
    ),
    Subscription(
        key="midjourney-standard",
        name="Midjourney Standard",
        provider="Midjourney",
        monthly_usd=30.0,
        included_images=None,
        unlimited=True,
        model="Midjourney",
        limits=RELAXED_LIMITS,
        source=SEED_SOURCE + "; $30 from the project brief, within the seed's $10-$60 range",
        seen=SEED_SEEN,
    ),
    Subscription(
        key="midjourney-pro",
        name="Midjourney Pro",
        provider="Midjourney",
        monthly_usd=60.0,
        included_images=None,
        unlimited=True,
        model="Midjourney",
        limits=RELAXED_LIMITS,
        source=SEED_SOURCE + "; $60 from the project brief, the top of the seed's $10-$60 range",
        seen=SEED_SEEN,
    ),
)


def get_subscription(key: str) -> Subscription:
    """The subscription with this key (KeyError if unknown)."""
    for sub in SUBSCRIPTIONS:
        if sub.key == key:
            return sub
    raise KeyError(key)


def covers(sub: Subscription, monthly_volume: float) -> bool:
    """Whether the plan allows this many images a month."""
    return sub.included_images is None or monthly_volume <= sub.included_images


def per_image_cost(sub: Subscription, monthly_volume: float) -> float:
    """USD per image at this monthly volume; inf when the plan cannot cover it (or volume is 0)."""
    if monthly_volume < 0 or math.isnan(monthly_volume):
        raise ValueError("monthly_volume must be >= 0")
    if monthly_volume == 0 or not covers(sub, monthly_volume):
        return math.inf
    return sub.monthly_usd / monthly_volume


def breakeven_volume(sub: Subscription, api_cost_per_image: float) -> float:
    """Monthly images above which the plan is cheaper than paying this API price (inf: never)."""
    if api_cost_per_image <= 0 or math.isnan(api_cost_per_image):
        return math.inf
    volume = sub.monthly_usd / api_cost_per_image
    return volume if covers(sub, volume) else math.inf
