"""The catalog: packaged data, strict validation, shutdowns, router coverage."""

from __future__ import annotations

import datetime as dt

import pytest

from vibegen.catalog import default_catalog, parse_catalog
from vibegen.errors import ConfigError, UnknownModelError

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
    bad = MINIMAL.replace('price = { unit = "simulated", usd = 0.01',
                          'price = { unit = "credit", credits = 4')
    with pytest.raises(ConfigError, match="priced in credits"):
        parse_catalog(bad)


@pytest.mark.parametrize("line, words", [
    ('price = { unit = "image", usd = 0.1, seen = 2026-11-24, source = "t", tiers = '
     '[{ when = { q = "a" }, usd = 0.2, unknown = true }] }', "unknown tier takes no"),
    ('price = { unit = "image", usd = 0.1, seen = 2026-11-24, source = "t", tiers = '
     '[{ when = { q = "a" } }] }', "exactly one of usd / credits"),
])
def test_tier_amounts_are_checked(line, words):
    text = MINIMAL.replace(
        'price = { unit = "simulated", usd = 0.01, seen = 2026-11-24, source = "test" }', line)
    with pytest.raises(ConfigError, match=words):
        parse_catalog(text)


def test_size_limits_are_coherent():
    text = MINIMAL.replace('size = { param = "size", kind = "wh" }',
                           'size = { param = "size", kind = "wh", min_pixels = 10, '
                           'max_pixels = 5 }')
    with pytest.raises(ConfigError, match="min_pixels is above max_pixels"):
        parse_catalog(text)


def test_size_violations_name_each_broken_limit():
    spec = default_catalog().model("openai:gpt-image-2").size
    assert spec.violations(3840, 2160) == []
    assert spec.violations(3840, 3840) == ["14745600 pixels > 8294400"]
    assert spec.violations(3000, 992) == ["3000x992 is not a multiple of 16",
                                          "ratio 3.024 > 3.0"]
