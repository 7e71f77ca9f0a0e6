"""Every catalog price, worked out by hand from the cited sources, for every tier it has.

Each row: a request's native parameters and output size, the pre-run estimate, and the cost
for a billed quantity (fal billable units, Kie consumed credits, OpenAI output tokens). The
amounts are written out literally from reference/catalog.md (section and source in the
comments), never computed by the code under test. A model whose price depends on a request
parameter must have a row for every value of it, or the coverage test below fails.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import pytest

from vibegen.catalog import default_catalog
from vibegen.costs import estimate, from_billable_units, from_credits, from_tokens

CAT = default_catalog()


class Row(NamedTuple):
    key: str
    params: dict[str, Any]
    size: tuple[int, int]
    estimate: float | None  # None: the price is not known (kind "unknown")
    billed: float  # fal units / Kie credits per image / OpenAI output tokens
    reported: float | None
    kind: str  # kind of the cost for the billed quantity


SQ = (1024, 1024)
FAL_SQ = {"image_size": "square_hd"}


def _ratio(key: str, value: str) -> dict[str, str]:
    return {CAT.model(key).size.param: "1:1", "resolution": value}


ROWS: list[Row] = [
    # --- fal, per image by resolution (catalog.md §1a, LF F10): $0.15 1K-2K, $0.30 4K
    Row("fal:nano-banana-pro", _ratio("fal:nano-banana-pro", "1K"), SQ, 0.15, 1, 0.15, "reported"),
    Row("fal:nano-banana-pro", _ratio("fal:nano-banana-pro", "2K"), SQ, 0.15, 1, 0.15, "reported"),
    Row("fal:nano-banana-pro", _ratio("fal:nano-banana-pro", "4K"), SQ, 0.30, 1, 0.30, "reported"),
    # Nano Banana 2 (§1a, LF 2026-02-26): $0.08 1K, $0.12 2K, $0.16 4K
    Row("fal:nano-banana-2", _ratio("fal:nano-banana-2", "1K"), SQ, 0.08, 1, 0.08, "reported"),
    Row("fal:nano-banana-2", _ratio("fal:nano-banana-2", "2K"), SQ, 0.12, 1, 0.12, "reported"),
    Row("fal:nano-banana-2", _ratio("fal:nano-banana-2", "4K"), SQ, 0.16, 1, 0.16, "reported"),
    # Ideogram V3 (§1a, F14): TURBO $0.03, BALANCED $0.06, QUALITY $0.09
    Row("fal:ideogram-v3", {**FAL_SQ, "rendering_speed": "TURBO"}, SQ, 0.03, 1, 0.03, "reported"),
    Row(
        "fal:ideogram-v3", {**FAL_SQ, "rendering_speed": "BALANCED"}, SQ, 0.06, 1, 0.06, "reported"
    ),
    Row("fal:ideogram-v3", {**FAL_SQ, "rendering_speed": "QUALITY"}, SQ, 0.09, 1, 0.09, "reported"),
    # GPT Image 1.5 on fal (§1a, F6): low .009/.013; medium .034/.051 (1024x1536)/.050
    # (1536x1024); high .133/.200 (1024x1536)/.199 (1536x1024)
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1024x1024", "quality": "low"},
        SQ,
        0.009,
        1,
        0.009,
        "reported",
    ),
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1536x1024", "quality": "low"},
        (1536, 1024),
        0.013,
        1,
        0.013,
        "reported",
    ),
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1024x1536", "quality": "low"},
        (1024, 1536),
        0.013,
        1,
        0.013,
        "reported",
    ),
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1024x1024", "quality": "medium"},
        SQ,
        0.034,
        1,
        0.034,
        "reported",
    ),
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1536x1024", "quality": "medium"},
        (1536, 1024),
        0.050,
        1,
        0.050,
        "reported",
    ),
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1024x1536", "quality": "medium"},
        (1024, 1536),
        0.051,
        1,
        0.051,
        "reported",
    ),
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1024x1024", "quality": "high"},
        SQ,
        0.133,
        1,
        0.133,
        "reported",
    ),
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1536x1024", "quality": "high"},
        (1536, 1024),
        0.199,
        1,
        0.199,
        "reported",
    ),
    Row(
        "fal:gpt-image-1.5",
        {"image_size": "1024x1536", "quality": "high"},
        (1024, 1536),
        0.200,
        1,
        0.200,
        "reported",
    ),
    # --- fal per-image, one price (§1a)
    Row("fal:flux-pro-1.1", FAL_SQ, SQ, 0.04, 1, 0.04, "reported"),
    Row("fal:flux-pro-1.1-ultra", {"aspect_ratio": "1:1"}, SQ, 0.06, 1, 0.06, "reported"),
    Row("fal:nano-banana", {"aspect_ratio": "1:1"}, SQ, 0.039, 1, 0.039, "reported"),
    Row("fal:sd35-medium", FAL_SQ, SQ, 0.0398, 1, 0.0398, "reported"),
    Row("fal:seedream-v4", FAL_SQ, SQ, 0.03, 1, 0.03, "reported"),
    Row("fal:recraft-v3", FAL_SQ, SQ, 0.04, 1, 0.04, "reported"),
    Row("fal:imagen4-fast", {"aspect_ratio": "1:1"}, SQ, 0.02, 1, 0.02, "reported"),
    # Nano Banana 2.1 (field-2026-12.md §3): $0.08/image base
    Row("fal:nano-banana-2.1", {"aspect_ratio": "1:1"}, SQ, 0.08, 1, 0.08, "reported"),
    # --- fal, no price in any source (field-2026-12.md §3, catalog.md §1a): unknown, never $0,
    # before the run and after it (fal's billable units need a catalog price to mean dollars)
    *[
        Row(key, FAL_SQ, SQ, None, 3.008, None, "unknown")
        for key in (
            "fal:flux-2-max",
            "fal:flux-2-klein-4b",
            "fal:flux-2-klein-9b",
            "fal:z-image-turbo",
            "fal:seedream-v5-lite",
            "fal:seedream-v5-pro",
        )
    ],
    # --- fal per megapixel (§1a): 1 MP estimate; 3.008 billed MP reported (protocols §0.2)
    Row("fal:flux-schnell", FAL_SQ, SQ, 0.003, 3.008, 0.009024, "reported"),
    Row("fal:flux-dev", FAL_SQ, SQ, 0.025, 3.008, 0.0752, "reported"),
    Row("fal:flux-2", FAL_SQ, SQ, 0.012, 3.008, 0.036096, "reported"),
    # 2048x1152 = 2.25 MP, rounded up to 3 MP for the estimate: 3 × 0.012
    Row(
        "fal:flux-2",
        {"image_size": {"width": 2048, "height": 1152}},
        (2048, 1152),
        0.036,
        2.25,
        0.027,
        "reported",
    ),
    Row("fal:flux-2-turbo", FAL_SQ, SQ, 0.008, 3.008, 0.024064, "reported"),
    Row("fal:flux-2-flash", FAL_SQ, SQ, 0.005, 3.008, 0.01504, "reported"),
    # FLUX.2 pro: $0.03 first MP + $0.015 each extra: 3.008 MP = 0.03 + 2.008 × 0.015
    Row("fal:flux-2-pro", FAL_SQ, SQ, 0.03, 3.008, 0.06012, "reported"),
    Row(
        "fal:flux-2-pro",
        {"image_size": {"width": 2048, "height": 2048}},
        (2048, 2048),
        0.075,
        4,
        0.075,
        "reported",
    ),
    Row("fal:flux-2-flex", FAL_SQ, SQ, 0.06, 3.008, 0.18048, "reported"),
    Row("fal:qwen-image-2512", FAL_SQ, SQ, 0.02, 3.008, 0.06016, "reported"),
    Row("fal:hidream-i1-full", FAL_SQ, SQ, 0.05, 3.008, 0.1504, "reported"),
    Row("fal:hidream-i1-fast", FAL_SQ, SQ, 0.01, 3.008, 0.03008, "reported"),
    # --- Kie, credits × $0.005 (§1b, §2)
    # Nano Banana Pro: 18 credits ($0.09) 1K/2K, 24 ($0.12) 4K
    Row("kie:nano-banana-pro", _ratio("kie:nano-banana-pro", "1K"), SQ, 0.09, 18, 0.09, "reported"),
    Row("kie:nano-banana-pro", _ratio("kie:nano-banana-pro", "2K"), SQ, 0.09, 18, 0.09, "reported"),
    Row("kie:nano-banana-pro", _ratio("kie:nano-banana-pro", "4K"), SQ, 0.12, 24, 0.12, "reported"),
    # GPT Image 2 on Kie (K8): $0.03 1K / $0.05 2K / $0.08 4K
    Row("kie:gpt-image-2", _ratio("kie:gpt-image-2", "1K"), SQ, 0.03, 6, 0.03, "reported"),
    Row("kie:gpt-image-2", _ratio("kie:gpt-image-2", "2K"), SQ, 0.05, 10, 0.05, "reported"),
    Row("kie:gpt-image-2", _ratio("kie:gpt-image-2", "4K"), SQ, 0.08, 16, 0.08, "reported"),
    # FLUX.2 pro: 5 credits 1K, 7 credits 2K
    Row("kie:flux-2-pro", _ratio("kie:flux-2-pro", "1K"), SQ, 0.025, 5, 0.025, "reported"),
    Row("kie:flux-2-pro", _ratio("kie:flux-2-pro", "2K"), SQ, 0.035, 7, 0.035, "reported"),
    # FLUX.2 flex: 14 credits 1K; 2K n/f, but what Kie reports it consumed is still a fact
    Row("kie:flux-2-flex", _ratio("kie:flux-2-flex", "1K"), SQ, 0.07, 14, 0.07, "reported"),
    Row("kie:flux-2-flex", _ratio("kie:flux-2-flex", "2K"), SQ, None, 20, 0.10, "reported"),
    # Ideogram V3: TURBO $0.0175 / BALANCED $0.035 / QUALITY $0.05
    Row(
        "kie:ideogram-v3",
        {"image_size": "square_hd", "rendering_speed": "TURBO"},
        SQ,
        0.0175,
        3.5,
        0.0175,
        "reported",
    ),
    Row(
        "kie:ideogram-v3",
        {"image_size": "square_hd", "rendering_speed": "BALANCED"},
        SQ,
        0.035,
        7,
        0.035,
        "reported",
    ),
    Row(
        "kie:ideogram-v3",
        {"image_size": "square_hd", "rendering_speed": "QUALITY"},
        SQ,
        0.05,
        10,
        0.05,
        "reported",
    ),
    # Seedream 4.5: basic (2K) and high (4K) both 6.5 credits = $0.0325
    Row(
        "kie:seedream-4.5",
        {"aspect_ratio": "1:1", "quality": "basic"},
        SQ,
        0.0325,
        6.5,
        0.0325,
        "reported",
    ),
    Row(
        "kie:seedream-4.5",
        {"aspect_ratio": "1:1", "quality": "high"},
        SQ,
        0.0325,
        6.5,
        0.0325,
        "reported",
    ),
    Row("kie:nano-banana", {"image_size": "1:1"}, SQ, 0.02, 4, 0.02, "reported"),
    # Nano Banana 2 and Seedream 5.0 Lite on Kie: no price found (unknown before the run), but
    # the credits Kie reports it consumed are a fact: 18 credits × $0.005
    *[
        Row("kie:nano-banana-2", _ratio("kie:nano-banana-2", r), SQ, None, 18, 0.09, "reported")
        for r in ("1K", "2K", "4K")
    ],
    *[
        Row(
            "kie:seedream-5-lite",
            {"aspect_ratio": "1:1", "quality": q},
            SQ,
            None,
            7,
            0.035,
            "reported",
        )
        for q in ("basic", "high")
    ],
    Row("kie:seedream-v4", {"image_size": "square_hd"}, SQ, 0.025, 5, 0.025, "reported"),
    Row("kie:qwen-image", {"image_size": "square_hd"}, SQ, 0.02, 4, 0.02, "reported"),
    Row("kie:z-image", {"aspect_ratio": "1:1"}, SQ, 0.004, 0.8, 0.004, "reported"),
    Row("kie:imagen4-fast", {"aspect_ratio": "1:1"}, SQ, 0.02, 4, 0.02, "reported"),
    Row("kie:4o-image", {"size": "1:1"}, SQ, 0.03, 6, 0.03, "reported"),
    # Midjourney: 8 credits per fast task of 4 images = 2 credits ($0.01) per image
    Row("kie:midjourney-v7", {"aspectRatio": "1:1"}, SQ, 0.01, 2, 0.01, "reported"),
    # --- OpenAI direct (§1c); reported = 1000 output image tokens × the per-1M rate (computed)
    # GPT Image 1.5: low .009/.013, medium .034/.05, high .133/.20; image out $32/1M
    *[
        Row("openai:gpt-image-1.5", {"size": s, "quality": q}, wh, usd, 1000, 0.032, "computed")
        for q, s, wh, usd in [
            ("low", "1024x1024", SQ, 0.009),
            ("low", "1536x1024", (1536, 1024), 0.013),
            ("low", "1024x1536", (1024, 1536), 0.013),
            ("medium", "1024x1024", SQ, 0.034),
            ("medium", "1536x1024", (1536, 1024), 0.05),
            ("medium", "1024x1536", (1024, 1536), 0.05),
            ("high", "1024x1024", SQ, 0.133),
            ("high", "1536x1024", (1536, 1024), 0.20),
            ("high", "1024x1536", (1024, 1536), 0.20),
        ]
    ],
    # GPT Image 1 mini (O4): low .005/.006, medium .011/.015, high .036/.052; out $8/1M
    *[
        Row("openai:gpt-image-1-mini", {"size": s, "quality": q}, wh, usd, 1000, 0.008, "computed")
        for q, s, wh, usd in [
            ("low", "1024x1024", SQ, 0.005),
            ("low", "1536x1024", (1536, 1024), 0.006),
            ("low", "1024x1536", (1024, 1536), 0.006),
            ("medium", "1024x1024", SQ, 0.011),
            ("medium", "1536x1024", (1536, 1024), 0.015),
            ("medium", "1024x1536", (1024, 1536), 0.015),
            ("high", "1024x1024", SQ, 0.036),
            ("high", "1536x1024", (1536, 1024), 0.052),
            ("high", "1024x1536", (1024, 1536), 0.052),
        ]
    ],
    # GPT Image 1 (O1, shut down): low .011/.016, medium .042/.063, high .167/.25; out $40/1M
    *[
        Row("openai:gpt-image-1", {"size": s, "quality": q}, wh, usd, 1000, 0.04, "computed")
        for q, s, wh, usd in [
            ("low", "1024x1024", SQ, 0.011),
            ("low", "1536x1024", (1536, 1024), 0.016),
            ("low", "1024x1536", (1024, 1536), 0.016),
            ("medium", "1024x1024", SQ, 0.042),
            ("medium", "1536x1024", (1536, 1024), 0.063),
            ("medium", "1024x1536", (1024, 1536), 0.063),
            ("high", "1024x1024", SQ, 0.167),
            ("high", "1536x1024", (1536, 1024), 0.25),
            ("high", "1024x1536", (1024, 1536), 0.25),
        ]
    ],
    # DALL·E 3 (O2 C1), standard quality: $0.04 at 1024x1024, $0.08 at 1792; no usage, so a
    # token count cannot be priced: unknown
    Row("openai:dall-e-3", {"size": "1024x1024"}, SQ, 0.04, 1000, None, "unknown"),
    Row("openai:dall-e-3", {"size": "1792x1024"}, (1792, 1024), 0.08, 1000, None, "unknown"),
    Row("openai:dall-e-3", {"size": "1024x1792"}, (1024, 1792), 0.08, 1000, None, "unknown"),
]

# GPT Image 2 per image (§1c, quoted as official, O5), by quality and size class:
# 1K .006/.053/.211, 2K .012/.107/.428, 4K .016/.139/.565. The 2.5 / 2.6 snapshots have the
# same token rates (A1, O3), and the catalog assumes the same per-image figures for them.
GPT2_PER_IMAGE = [
    ("low", (1024, 1024), 0.006),
    ("medium", (1024, 1024), 0.053),
    ("high", (1024, 1024), 0.211),
    ("low", (2048, 2048), 0.012),
    ("medium", (2048, 2048), 0.107),
    ("high", (2048, 2048), 0.428),
    ("low", (3840, 2160), 0.016),
    ("medium", (3840, 2160), 0.139),
    ("high", (3840, 2160), 0.565),
]
for _key in (
    "openai:gpt-image-2",
    "openai:gpt-image-2.5-sunburst",
    "openai:gpt-image-2.5-flare",
    "openai:gpt-image-2.6-sunburst",
    "openai:gpt-image-2.6-flare",
):
    # 1000 output image tokens × $30/1M = $0.03, computed
    ROWS += [
        Row(_key, {"size": f"{w}x{h}", "quality": q}, (w, h), usd, 1000, 0.03, "computed")
        for q, (w, h), usd in GPT2_PER_IMAGE
    ]
# On fal, openai/gpt-image-2 is billed by tokens (F7): 1 billable unit is no image count, so
# the cost of the request stays the per-image estimate, labelled so.
ROWS += [
    Row(
        "fal:gpt-image-2",
        {"image_size": {"width": w, "height": h}, "quality": q},
        (w, h),
        usd,
        1,
        usd,
        "estimated",
    )
    for q, (w, h), usd in GPT2_PER_IMAGE
]


def _row_id(row: Row) -> str:
    return f"{row.key}-{'-'.join(str(v) for v in row.params.values())}-{row.size[0]}x{row.size[1]}"


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_pre_run_estimate(row: Row):
    c = estimate(CAT.model(row.key), row.params, *row.size, CAT)
    if row.estimate is None:
        assert c.kind == "unknown" and c.usd is None
    else:
        assert c.kind == "estimated" and c.usd == pytest.approx(row.estimate, abs=1e-9)


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_cost_for_the_billed_quantity(row: Row):
    model = CAT.model(row.key)
    if model.router == "fal":
        c = from_billable_units(model, row.billed, row.params)
    elif model.router == "kie":
        c = from_credits(model, row.billed, CAT)
    else:
        c = from_tokens(model, {"input_tokens": 0, "output_tokens": int(row.billed)})
    assert c.kind == row.kind
    if row.reported is None:
        assert c.usd is None
    else:
        assert c.usd == pytest.approx(row.reported, abs=1e-9)


@pytest.mark.parametrize(
    "units, why", [(16, "not the 1 image"), (2, "not the 1 image"), (0.5, "not the 1 image")]
)
def test_units_that_are_not_images_never_give_a_reported_per_image_cost(units, why):
    # issue 11: Nano Banana Pro at 4K showed $2.40 "reported" (16 units × $0.15)
    c = from_billable_units(
        CAT.model("fal:nano-banana-pro"), units, {"aspect_ratio": "1:1", "resolution": "4K"}
    )
    assert c.kind == "estimated" and c.usd == pytest.approx(0.30)
    assert why in c.basis and f"{units:g} billable units" in c.basis


def _size_classes(model) -> list[tuple[float, float]]:
    bounds = sorted({t.max_megapixels for t in model.price.tiers if t.max_megapixels})
    edges = [0.0, *bounds, float("inf")]
    return list(zip(edges, edges[1:], strict=False)) if bounds else []


def _values(model, key: str) -> set[str]:
    if key in model.params:
        return set(model.params[key])
    if key == model.size.param and model.size.values:
        return set(model.size.values)
    return {t.when[key] for t in model.price.tiers if key in t.when}


@pytest.mark.parametrize(
    "model", [m for m in CAT.models if m.router not in ("sandbox", "sd")], ids=lambda m: m.key
)
def test_every_priced_model_and_every_tier_value_has_a_row(model):
    rows = [r for r in ROWS if r.key == model.key]
    assert rows, f"{model.key}: no row in the cost table"
    # every parameter that selects (or could select) a price, with every value it takes
    keys = sorted(
        k
        for k in {k for t in model.price.tiers for k in t.when} | set(model.params)
        if not (k == model.size.param and not model.size.values)
    )
    classes = _size_classes(model) or [(0.0, float("inf"))]
    for combo in itertools.product(*(sorted(_values(model, k)) for k in keys)):
        want = dict(zip(keys, combo, strict=True))
        for low, high in classes:
            assert any(
                all(str(r.params.get(k)) == v for k, v in want.items())
                and low < r.size[0] * r.size[1] / 2**20 <= high
                for r in rows
            ), f"{model.key}: no row for {want}, {low:g}-{high:g} MP"
