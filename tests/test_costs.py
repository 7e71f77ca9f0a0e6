"""Costs carry their kind; unknown is never $0."""

from __future__ import annotations

import pytest

from vibegen.catalog import default_catalog
from vibegen.costs import estimate, from_billable_units, from_credits, from_tokens
from vibegen.params import CommonParams, map_params


@pytest.fixture(scope="module")
def cat():
    return default_catalog()


def _estimate(cat, key, **common):
    m = cat.model(key)
    mp = map_params(m, CommonParams(**common))
    return estimate(m, mp.params, mp.width, mp.height, cat)


def test_megapixel_price_rounds_up(cat):
    one = _estimate(cat, "fal:flux-dev")
    assert one.kind == "estimated" and one.usd == pytest.approx(0.025)
    two_k = _estimate(cat, "fal:flux-dev", resolution="2K")  # 2048x2048 = 4 MP
    assert two_k.usd == pytest.approx(0.1)


def test_first_megapixel_premium(cat):
    c = _estimate(cat, "fal:flux-2-pro", resolution="2K")
    assert c.usd == pytest.approx(0.03 + 3 * 0.015)


def test_tier_chosen_by_request_parameters(cat):
    assert _estimate(cat, "fal:nano-banana-pro").usd == pytest.approx(0.15)
    assert _estimate(cat, "fal:nano-banana-pro", resolution="4K").usd == pytest.approx(0.30)
    assert _estimate(cat, "openai:gpt-image-2", quality="high").usd == pytest.approx(0.211)


def test_credits_convert_at_router_rate(cat):
    c = _estimate(cat, "kie:nano-banana-pro")
    assert c.usd == pytest.approx(18 * 0.005) and c.kind == "estimated"
    reported = from_credits(cat.model("kie:nano-banana-pro"), 24, cat)
    assert reported.kind == "reported" and reported.usd == pytest.approx(0.12)


def test_task_price_is_split_over_its_images(cat):
    assert _estimate(cat, "kie:midjourney-v7").usd == pytest.approx(8 * 0.005 / 4)


def test_simulated_and_self_hosted_kinds(cat):
    assert _estimate(cat, "sandbox:prism").kind == "simulated"
    sd = _estimate(cat, "sd:local")
    assert sd.kind == "self_hosted" and sd.usd is None and sd.label() == "self-hosted"


def test_unknown_is_not_zero(cat):
    m = cat.model("kie:flux-2-flex")  # its 2K price was not found (catalog.md §1b)
    mp = map_params(m, CommonParams(resolution="2K"))
    c = estimate(m, mp.params, mp.width, mp.height, cat)
    assert c.kind == "unknown" and c.usd is None and "$0" not in c.label()
    assert "resolution=2K" in c.basis


def test_billable_units_are_reported(cat):
    c = from_billable_units(cat.model("fal:flux-dev"), 3.008, {"image_size": "square_hd"})
    assert c.kind == "reported" and c.usd == pytest.approx(3.008 * 0.025)
    assert c.source and c.seen


def test_tokens_are_computed(cat):
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
        "output_tokens": 272,
        "total_tokens": 282,
    }
    c = from_tokens(cat.model("openai:gpt-image-2"), usage)
    assert c.kind == "computed"
    assert c.usd == pytest.approx((10 * 5.0 + 272 * 30.0) / 1_000_000)
