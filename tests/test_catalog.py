"""The catalog: packaged data, strict validation, shutdowns, router coverage."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import pytest

from vibegen import catalog as catalog_module
from vibegen import discovery, listings
from vibegen.catalog import default_catalog, parse_catalog
from vibegen.discovery import DiscoveryError
from vibegen.errors import ConfigError, MissingKeyError, UnknownModelError
from vibegen.params import CommonParams, map_params
from vibegen.routers import build_router, router_class, router_status
from vibegen.routers.base import GenerationRequest

MINIMAL = """
schema_version = 1
[routers.sandbox]
label = "Sandbox"
[[models]]
key = "sandbox:a"
label = "A"
router = "sandbox"
endpoint = "a"
size = { param = "size", kind = "wh" }
price = { unit = "simulated", usd = 0.01, seen = 2026-11-24, source = "test" }
"""


def test_packaged_catalog_loads_with_every_router():
    cat = default_catalog()
    routers = {m.router for m in cat.models}
    assert routers == {"sandbox", "fal", "kie", "openai", "sd"}
    offered = cat.offered(dt.date(2026, 11, 24))
    assert sum(m.router == "fal" for m in offered) >= 12
    assert sum(m.router == "kie" for m in offered) >= 8
    assert sum(m.router == "sandbox" for m in offered) >= 3


def test_every_price_has_source_and_date():
    for m in default_catalog().models:
        assert m.price.source.strip(), m.key
        assert isinstance(m.price.seen, dt.date), m.key


def test_sandbox_prices_are_labelled_simulated():
    for m in default_catalog().models:
        if m.router == "sandbox":
            assert m.price.unit == "simulated"
            assert "simulated" in m.price.source


def test_models_past_shutdown_are_not_offered():
    cat = default_catalog()
    keys = {m.key for m in cat.offered(dt.date(2026, 11, 24))}
    assert "openai:dall-e-3" not in keys and "openai:gpt-image-1" not in keys
    assert "openai:gpt-image-1.5" in keys  # shuts down 2026-12-01
    later = {m.key for m in cat.offered(dt.date(2026, 12, 1))}
    assert "openai:gpt-image-1.5" not in later


@pytest.mark.parametrize(
    "key, last_day",
    [
        # official shutdowns (field-2026-12.md §3): offered up to the day before, never from it
        ("fal:imagen4-fast", dt.date(2026, 8, 16)),
        ("kie:imagen4-fast", dt.date(2026, 8, 16)),
        ("fal:nano-banana", dt.date(2026, 10, 1)),
        ("kie:nano-banana", dt.date(2026, 10, 1)),
        ("openai:gpt-image-1.5", dt.date(2026, 11, 30)),
        ("openai:gpt-image-1-mini", dt.date(2026, 11, 30)),
        ("fal:gpt-image-1.5", dt.date(2026, 11, 30)),
    ],
)
def test_official_shutdowns_hide_models_but_keep_them(key, last_day):
    cat = default_catalog()
    model = cat.model(key)  # still there, for history and the leaderboard
    assert not model.offered(last_day + dt.timedelta(days=1))
    assert model.key not in {m.key for m in cat.offered(dt.date(2026, 12, 1))}
    assert model.shutdown == last_day + dt.timedelta(days=1)


def test_models_designers_asked_for_are_offered_with_exact_ids():
    offered = {m.key: m for m in default_catalog().offered(dt.date(2026, 12, 1))}
    want = {
        "fal:nano-banana-2.1": "fal-ai/nano-banana-2.1",
        "fal:seedream-v5-lite": "fal-ai/bytedance/seedream/v5/lite/text-to-image",
        "fal:seedream-v5-pro": "fal-ai/bytedance/seedream/v5/pro/text-to-image",
        "kie:seedream-5-lite": "seedream/5-lite-text-to-image",
        "fal:flux-2-max": "fal-ai/flux-2-max",
        "fal:flux-2-klein-4b": "fal-ai/flux-2/klein/4b",
        "fal:flux-2-klein-9b": "fal-ai/flux-2/klein/9b",
        "fal:z-image-turbo": "fal-ai/z-image/turbo",
        "openai:gpt-image-2.6-sunburst": "gpt-image-2.6-sunburst",
        "openai:gpt-image-2.6-flare": "gpt-image-2.6-flare",
    }
    for key, endpoint in want.items():
        assert offered[key].endpoint == endpoint, key
    assert offered["fal:nano-banana-2.1"].price.usd == 0.08
    # no source gives these a price: unknown (never a made-up figure, never $0)
    for key in ("fal:flux-2-max", "fal:z-image-turbo", "fal:seedream-v5-pro"):
        assert offered[key].price.unit == "unknown" and offered[key].price.usd is None


def test_an_unknown_price_takes_no_amount():
    text = MINIMAL.replace('unit = "simulated", usd = 0.01', 'unit = "unknown", usd = 0.01')
    with pytest.raises(ConfigError, match=r"model 'sandbox:a', field 'price'.*no amount"):
        parse_catalog(text)


def test_minimal_catalog_parses():
    cat = parse_catalog(MINIMAL)
    assert cat.model("sandbox:a").label == "A"
    with pytest.raises(UnknownModelError, match="sandbox:b"):
        cat.model("sandbox:b")


def test_unknown_field_names_entry_and_field():
    bad = MINIMAL.replace('endpoint = "a"', 'endpoint = "a"\nendpont = "typo"')
    with pytest.raises(ConfigError) as err:
        parse_catalog(bad, origin="my.toml")
    assert "my.toml" in str(err.value)
    assert "model 'sandbox:a'" in str(err.value) and "endpont" in str(err.value)


def test_missing_price_field_is_named():
    bad = MINIMAL.replace('source = "test"', 'confidence = "high"')
    with pytest.raises(ConfigError, match=r"model 'sandbox:a', field 'price.source'"):
        parse_catalog(bad)


def test_model_with_unknown_router_is_refused():
    bad = MINIMAL.replace('router = "sandbox"', 'router = "nope"')
    with pytest.raises(ConfigError, match="unknown router 'nope'"):
        parse_catalog(bad)


def test_invalid_toml_is_reported():
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_catalog("schema_version = = 1")


def test_credit_price_needs_router_credit_rate():
    bad = MINIMAL.replace(
        'price = { unit = "simulated", usd = 0.01', 'price = { unit = "credit", credits = 4'
    )
    with pytest.raises(ConfigError, match="priced in credits"):
        parse_catalog(bad)


@pytest.mark.parametrize(
    "line, words",
    [
        (
            'price = { unit = "image", usd = 0.1, seen = 2026-11-24, source = "t", tiers = '
            '[{ when = { q = "a" }, usd = 0.2, unknown = true }] }',
            "unknown tier takes no",
        ),
        (
            'price = { unit = "image", usd = 0.1, seen = 2026-11-24, source = "t", tiers = '
            '[{ when = { q = "a" } }] }',
            "exactly one of usd / credits",
        ),
    ],
)
def test_tier_amounts_are_checked(line, words):
    text = MINIMAL.replace(
        'price = { unit = "simulated", usd = 0.01, seen = 2026-11-24, source = "test" }', line
    )
    with pytest.raises(ConfigError, match=words):
        parse_catalog(text)


def test_size_limits_are_coherent():
    text = MINIMAL.replace(
        'size = { param = "size", kind = "wh" }',
        'size = { param = "size", kind = "wh", min_pixels = 10, max_pixels = 5 }',
    )
    with pytest.raises(ConfigError, match="min_pixels is above max_pixels"):
        parse_catalog(text)


def test_size_violations_name_each_broken_limit():
    spec = default_catalog().model("openai:gpt-image-2").size
    assert spec.violations(3840, 2160) == []
    assert spec.violations(3840, 3840) == ["14745600 pixels > 8294400"]
    assert spec.violations(3000, 992) == ["3000x992 is not a multiple of 16", "ratio 3.024 > 3.0"]


def _renamed_fal():
    """The shipped catalog with fal's key and URL variables renamed in its declaration."""
    text = (Path(__file__).resolve().parent.parent / "vibegen" / "catalog.toml").read_text()
    text = text.replace('key_env = "FAL_KEY"', 'key_env = "FAL_TOKEN"').replace(
        'url_env = "VIBEGEN_FAL_URL"', 'url_env = "FAL_PROXY_URL"'
    )
    return parse_catalog(text)


def test_the_enable_message_comes_from_the_router_declaration():
    cat = _renamed_fal()
    status = router_status("fal", cat, {"FAL_KEY": "an-old-name-is-not-read"})
    assert (status.enabled, status.reason) == (False, "add FAL_TOKEN to enable")
    assert router_status("fal", cat, {"FAL_TOKEN": "abcd"}).enabled
    with pytest.raises(MissingKeyError, match="^fal: add FAL_TOKEN to enable$"):
        build_router("fal", cat, {}).generate(_request(cat, "fal:flux-schnell"))
    with pytest.raises(DiscoveryError, match="needs FAL_TOKEN"):
        discovery.fal_prices(
            httpx.Client(), "http://127.0.0.1:9", None, ["fal-ai/x"], spec=cat.routers["fal"]
        )
    # The adapter's URL comes from the declared variable too.
    built = build_router("fal", cat, {"FAL_TOKEN": "abcd", "FAL_PROXY_URL": "http://127.0.0.1:9"})
    assert built.base_url == "http://127.0.0.1:9"


def test_a_self_hosted_router_asks_for_its_declared_url():
    text = (Path(__file__).resolve().parent.parent / "vibegen" / "catalog.toml").read_text()
    cat = parse_catalog(text.replace('url_env = "VIBEGEN_SD_URL"', 'url_env = "SD_HOST"'))
    assert router_status("sd", cat, {}).reason == "set SD_HOST to enable"
    with pytest.raises(MissingKeyError, match="^sd: set SD_HOST to enable$"):
        build_router("sd", cat, {}).generate(_request(cat, "sd:local"))
    assert (
        listings.bases({"SD_HOST": "http://127.0.0.1:7860"}, cat)["sd"] == "http://127.0.0.1:7860"
    )


def test_only_the_sandbox_is_simulated_and_every_router_names_its_adapter():
    cat = default_catalog()
    assert {name for name, spec in cat.routers.items() if spec.simulated} == {"sandbox"}
    for name, spec in cat.routers.items():
        assert router_class(name, cat).name == name, spec.adapter


def test_a_bad_adapter_is_a_config_error_naming_the_router():
    text = MINIMAL.replace('label = "Sandbox"\n', 'label = "Sandbox"\nadapter = "vibegen.nope:X"\n')
    with pytest.raises(ConfigError, match="router 'sandbox', field 'adapter'"):
        router_class("sandbox", parse_catalog(text))


def test_only_one_class_is_called_router():
    assert not hasattr(catalog_module, "Router")
    assert catalog_module.RouterSpec is type(default_catalog().routers["fal"])


def _request(cat, key: str) -> GenerationRequest:
    model = cat.model(key)
    mapped = map_params(model, CommonParams())
    return GenerationRequest(
        model=model,
        prompt="p",
        params=mapped.params,
        width=mapped.width,
        height=mapped.height,
        deadline=time.monotonic() + 5,
    )
