"""Router listings and prices (issue 15): paging, failures, the cache, models added by id, the
user catalog file and the merged catalog, all against local fakes."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.fakes.listing_server import KEY, OPENAI_KEY, ListingFake, fal_entry, openapi_for
from vibegen import discovery, listings
from vibegen.catalog import default_catalog
from vibegen.costs import estimate
from vibegen.discovery import DiscoveryError, Quote
from vibegen.errors import InputError
from vibegen.params import CommonParams
from vibegen.runner import plan_run
from vibegen.settings import load_settings
from vibegen.user_models import (
    check_fal_id,
    effective_catalog,
    fal_model_entry,
    parse_user_models,
    user_file_path,
)

CAT = default_catalog()
TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def fake():
    with ListingFake(slow_s=2.0) as f:
        yield f


@pytest.fixture
def http():
    c = discovery.client(timeout_s=0.5)
    yield c
    c.close()


def user_file():  # read per test: each test has its own VIBEGEN_HOME
    """The user catalog file of this test's data directory."""
    return user_file_path(load_settings().data_dir)


def env_for(fake: ListingFake, **extra: str) -> dict[str, str]:
    return {discovery.FAL_PLATFORM_ENV: fake.fal_url, "OPENAI_BASE_URL": fake.openai_url, **extra}


# ------------------------------------------------------------------ discovery
def test_fal_listing_follows_every_page_and_filters_by_category_and_status(fake, http):
    got = discovery.fal_models(http, fake.fal_url, page_size=1)
    assert [m.endpoint for m in got] == [
        "fal-ai/flux-2-max",
        "fal-ai/z-image/turbo",
        "fal-ai/new-model",
        "fal-ai/some-edit",
    ]
    assert {m.task for m in got} == {"text-to-image", "image-to-image"}
    pages = fake.received("GET", "/fal/v1/models")
    assert len(pages) == 4  # 3 text-to-image pages of one, 1 image-to-image page
    assert all(r.query["status"] == ["active"] for r in pages)
    assert "authorization" not in pages[0].headers  # fal's search needs no key


def test_a_page_cursor_that_repeats_is_garbage_not_a_hang(fake, http):
    fake.cursor_loop = True
    with pytest.raises(DiscoveryError, match="same page cursor twice"):
        discovery.fal_models(http, fake.fal_url, page_size=1)


@pytest.mark.parametrize(
    "scenario, words",
    [
        ("429", "rate limiting .* \\(429\\)"),
        ("not_json", "not JSON"),
        ("garbage", "cannot read \\(no list of models\\)"),
        ("html_503", "HTTP 503"),
        ("slow", "did not answer .* in time"),
    ],
)
def test_fal_listing_failures_are_said_in_words(fake, http, scenario, words):
    fake.script(scenario)
    with pytest.raises(DiscoveryError, match=words):
        discovery.fal_models(http, fake.fal_url)


def test_fal_prices_need_a_key_and_say_401_in_words(fake, http):
    with pytest.raises(DiscoveryError, match="needs FAL_KEY"):
        discovery.fal_prices(http, fake.fal_url, None, ["fal-ai/flux-2-max"])
    assert not fake.received("GET", "/fal/v1/models/pricing")  # no call without a key
    with pytest.raises(DiscoveryError, match="refused .* \\(401\\): check the key") as err:
        discovery.fal_prices(
            http, fake.fal_url, "wrong-key-123", ["fal-ai/flux-2-max"], secrets=["wrong-key-123"]
        )
    assert "wrong-key-123" not in str(err.value)
    quotes = discovery.fal_prices(
        http, fake.fal_url, KEY, ["fal-ai/flux-2-max", "fal-ai/new-model", "fal-ai/x"]
    )
    assert {(q.endpoint, q.unit_price, q.kind()) for q in quotes} == {
        ("fal-ai/flux-2-max", 0.07, "megapixel"),
        ("fal-ai/new-model", 0.02, "image"),
    }
    assert fake.last.headers["authorization"] == f"Key {KEY}"


def test_a_price_in_an_unknown_unit_is_never_a_price():
    q = Quote("fal", "fal-ai/x", 0.5, "second", "USD")
    assert q.kind() is None and "per 'second'" in q.problem()
    assert Quote("fal", "fal-ai/x", 0.5, "image", "EUR").kind() is None


def test_openai_lists_only_image_models_with_shutdown_dates(fake, http):
    with pytest.raises(DiscoveryError, match="401"):
        discovery.openai_models(http, fake.openai_url, "sk-wrong-000")
    got = discovery.openai_models(http, fake.openai_url, OPENAI_KEY)
    assert [(m.endpoint, m.shutdown) for m in got] == [
        ("gpt-image-2", None),
        ("gpt-image-1.5", "2026-12-01"),
    ]


def test_sd_checkpoints_each_become_a_model(fake, http):
    got = discovery.sd_models(http, fake.root_url)
    assert [m.endpoint for m in got] == ["sd_xl_base_1.0"]
    fake.script("garbage")
    with pytest.raises(DiscoveryError, match="not a list"):
        discovery.sd_models(http, fake.root_url)


# ------------------------------------------------------------------ the cache
def test_refresh_caches_answers_and_a_failure_keeps_the_last_good_one(fake, http, store):
    env = env_for(fake, FAL_KEY=KEY)
    said = listings.refresh(store, CAT, env, sources=["fal:models", "fal:prices"], http=http)
    assert said == {"fal:models": "4 models", "fal:prices": "2 prices"}
    first = listings.cached(store)
    assert first.listed_ids("fal") >= {"fal-ai/new-model"}
    assert first.quote("fal", "fal-ai/flux-2-max").unit_price == 0.07
    # the router changes between calls: a model goes, a price moves
    fake.fal = [m for m in fake.fal if m["endpoint_id"] != "fal-ai/new-model"]
    fake.prices["fal-ai/flux-2-max"] = (0.08, "megapixels")
    listings.refresh(store, CAT, env, sources=["fal:models", "fal:prices"], http=http)
    second = listings.cached(store)
    assert "fal-ai/new-model" not in second.listed_ids("fal")
    assert second.quote("fal", "fal-ai/flux-2-max").unit_price == 0.08
    # then it fails: the message is kept beside the last good answer
    fake.script("429")
    said = listings.refresh(store, CAT, env, sources=["fal:models"], http=http)
    assert "429" in said["fal:models"]
    third = listings.cached(store)
    assert "429" in third.errors["fal:models"]
    assert third.listed_ids("fal") == second.listed_ids("fal")


def test_daily_refresh_only_for_set_up_routers_and_at_most_once_a_day(fake, store):
    now = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    assert listings.due(store, CAT, {}, now) == []  # sandbox only: no network at all
    env = env_for(fake, FAL_KEY=KEY)
    assert listings.due(store, CAT, env, now) == ["fal:models", "fal:prices"]
    ran = []
    started = listings.refresh_if_due(store, CAT, env, now, start=lambda work: ran.append(work))
    assert started == ["fal:models", "fal:prices"]
    ran[0]()  # run the background work here, to the end
    assert listings.cached(store).listed_ids("fal")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    assert listings.due(store, CAT, env, later) == []
    assert listings.due(store, CAT, env, later + dt.timedelta(hours=2)) == [
        "fal:models",
        "fal:prices",
    ]


def test_offline_the_shipped_catalog_is_what_is_offered(store, fake):
    env = env_for(fake, FAL_KEY=KEY)
    fake.stop()  # nothing answers
    said = listings.refresh(
        store, CAT, env, sources=["fal:models"], http=discovery.client(timeout_s=0.5)
    )
    assert "cannot reach fal" in said["fal:models"]
    merged, problems = effective_catalog(
        CAT, listings.cached(store), store.user_models(), user_path=user_file()
    )
    assert problems == []
    assert [m.key for m in merged.models] == [m.key for m in CAT.models]
    plan = plan_run("a fox", ["sandbox:prism"], CommonParams(), merged, {}, today=TODAY)
    assert len(plan.cells) == 1


# ------------------------------------------------------------------ quotes fill unknown prices
def test_a_quote_prices_a_model_no_source_priced_and_says_so(fake, http, store):
    env = env_for(fake, FAL_KEY=KEY)
    listings.refresh(store, CAT, env, sources=["fal:prices"], http=http)
    index = listings.cached(store)
    merged, _ = effective_catalog(CAT, index, user_path=user_file())
    flux_max = merged.model("fal:flux-2-max")
    assert flux_max.price.unit == "megapixel" and flux_max.price.usd == 0.07
    on = index.quoted_on("fal").isoformat()
    assert flux_max.price.source == f"quoted by fal on {on} (router price list)"
    cost = estimate(flux_max, {"image_size": "square_hd"}, 1024, 1024, merged)
    assert cost.usd == pytest.approx(0.07) and f"quoted by fal on {on}" in cost.provenance()
    # a shipped price is never overwritten by a quote (both are shown on the Models page)
    assert merged.model("fal:flux-2-pro").price == CAT.model("fal:flux-2-pro").price
    # no quote: still unknown, never $0
    z = merged.model("fal:z-image-turbo")
    assert estimate(z, {"image_size": "square_hd"}, 1024, 1024, merged).usd is None


# ------------------------------------------------------------------ any model by id
def test_unknown_endpoint_id_gets_a_clear_message(fake, http):
    with pytest.raises(DiscoveryError, match="fal lists no endpoint 'fal-ai/nope'"):
        discovery.fal_model(http, fake.fal_url, "fal-ai/nope")
    with pytest.raises(InputError, match="not a fal endpoint id"):
        check_fal_id("flux 2 pro")
    assert check_fal_id(" https://fal.ai/models/fal-ai/new-model ") == "fal-ai/new-model"


def test_a_model_added_by_id_reads_its_inputs_from_the_openapi_schema(fake, http, store):
    fake.openapi["fal-ai/new-model"] = openapi_for(
        "fal-ai/new-model",
        {
            "prompt": {"type": "string", "maxLength": 2000},
            "aspect_ratio": {"$ref": "#/components/schemas/Ratio"},
            "resolution": {"enum": ["1K", "2K"]},
            "seed": {"type": "integer"},
        },
    )
    fake.openapi["fal-ai/new-model"]["components"]["schemas"]["Ratio"] = {
        "enum": ["1:1", "16:9", "9:16", "auto"]
    }
    listed, spec = discovery.fal_model(http, fake.fal_url, "fal-ai/new-model")
    quote = discovery.fal_prices(http, fake.fal_url, KEY, ["fal-ai/new-model"])[0]
    entry = fal_model_entry(listed, spec, quote, TODAY)
    assert entry["size"]["values"] == ["1:1", "16:9", "9:16"]
    assert entry["params"] == {"resolution": ["1K", "2K"]}
    assert entry["seed_supported"] is True and entry["max_prompt_chars"] == 2000
    assert entry["price"]["usd"] == 0.02
    assert entry["price"]["source"] == "quoted by fal on 2026-12-01 (router price list)"
    store.save_user_model(entry["key"], entry)
    merged, problems = effective_catalog(
        CAT, listings.cached(store), store.user_models(), user_path=user_file()
    )
    assert problems == []
    plan = plan_run(
        "a fox",
        ["fal:fal-ai/new-model"],
        CommonParams(aspect="16:9"),
        merged,
        {"FAL_KEY": KEY},
        today=TODAY,
    )
    assert plan.cells[0].params["aspect_ratio"] == "16:9"
    assert plan.estimated_usd == pytest.approx(0.02)


def test_a_model_without_a_quote_or_schema_is_priced_unknown(fake, http):
    listed, spec = discovery.fal_model(http, fake.fal_url, "fal-ai/z-image/turbo")
    entry = fal_model_entry(listed, spec, None, TODAY)
    assert entry["price"]["unit"] == "unknown"
    assert "no input schema" in entry["note"] and entry["seed_supported"] is False


def test_image_to_image_and_image_inputs_are_refused_in_words(fake, http):
    listed, spec = discovery.fal_model(http, fake.fal_url, "fal-ai/some-edit")
    with pytest.raises(InputError, match="image-to-image endpoint: VibeGen sends a prompt"):
        fal_model_entry(listed, spec, None, TODAY)
    fake.fal.append(fal_entry("fal-ai/needs-image", "Needs Image"))
    fake.openapi["fal-ai/needs-image"] = openapi_for(
        "fal-ai/needs-image",
        {"prompt": {}, "image_url": {}, "image_size": {}},
        ["prompt", "image_url"],
    )
    listed, spec = discovery.fal_model(http, fake.fal_url, "fal-ai/needs-image")
    with pytest.raises(InputError, match="needs an input image \\(image_url\\)"):
        fal_model_entry(listed, spec, None, TODAY)


def test_a_quote_in_an_unknown_unit_leaves_the_price_unknown_and_says_why(fake, http):
    fake.script("ok", "bad_unit")
    listed, spec = discovery.fal_model(http, fake.fal_url, "fal-ai/new-model")
    quote = discovery.fal_prices(http, fake.fal_url, KEY, ["fal-ai/new-model"])[0]
    entry = fal_model_entry(listed, spec, quote, TODAY)
    assert entry["price"]["unit"] == "unknown" and "per 'second'" in entry["note"]


# ------------------------------------------------------------------ the user catalog file
GOOD = """
schema_version = 1
[[models]]
key = "fal:my-flux"
label = "My FLUX"
router = "fal"
endpoint = "fal-ai/my-flux"
size = { param = "image_size", kind = "fal_image_size" }
price = { unit = "image", usd = 0.01, seen = 2026-12-01, source = "my invoice" }
"""


def test_user_catalog_file_adds_models_in_the_same_schema(isolated_env):
    path = user_file_path(load_settings().data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(GOOD, encoding="utf-8")
    merged, problems = effective_catalog(CAT, listings.Index(), user_path=user_file())
    assert problems == []
    assert merged.model("fal:my-flux").price.source == "my invoice"


@pytest.mark.parametrize(
    "text, words",
    [
        (
            GOOD.replace('endpoint = "fal-ai/my-flux"', 'endpont = "x"'),
            "model 'fal:my-flux', field 'endpoint': Field required",
        ),
        (
            GOOD.replace('source = "my invoice"', 'confidence = "high"'),
            "model 'fal:my-flux', field 'price.source'",
        ),
        (
            GOOD.replace('router = "fal"', 'router = "replicate"'),
            "model 'fal:my-flux': field 'router': unknown router 'replicate'",
        ),
        (
            GOOD.replace('key = "fal:my-flux"', 'key = "fal:flux-2-pro"'),
            "model 'fal:flux-2-pro': this key is already in the catalog",
        ),
        (
            GOOD.replace("usd = 0.01", "usd = 0.01, credits = 3").replace(
                'unit = "image"', 'unit = "unknown"'
            ),
            "field 'price': .*no amount",
        ),
        ("[routers.x]\nlabel = 'x'\n" + GOOD, "routers not allowed here"),
        ("schema_version = = 1", "not valid TOML"),
    ],
)
def test_user_catalog_mistakes_name_the_entry_and_field(text, words):
    models, problems = parse_user_models(text, CAT, origin="models.toml")
    assert any(__import__("re").search(words, p) for p in problems), problems
    assert all(p.startswith("models.toml") for p in problems)


def test_a_bad_entry_is_skipped_and_the_good_ones_still_load():
    two = GOOD + GOOD.split("schema_version = 1")[1].replace("fal:my-flux", "fal:my-other").replace(
        ', source = "my invoice"', ""
    )
    models, problems = parse_user_models(two, CAT)
    assert [m.key for m in models] == ["fal:my-flux"]
    assert len(problems) == 1 and "fal:my-other" in problems[0]


def test_sd_checkpoints_from_the_listing_are_offered_per_checkpoint(fake, http, store):
    listings.refresh(
        store, CAT, {"VIBEGEN_SD_URL": fake.root_url}, sources=["sd:models"], http=http
    )
    merged, _ = effective_catalog(CAT, listings.cached(store), user_path=user_file())
    m = merged.model("sd:sd_xl_base_1.0")
    assert m.fixed_params["override_settings"] == {
        "sd_model_checkpoint": "sd_xl_base_1.0.safetensors [31e35c80fc]"
    }
    assert estimate(m, {}, 1024, 1024, merged).kind == "self_hosted"


def test_plan_refuses_a_model_past_its_shutdown_on_the_date_given():
    common = CommonParams()
    env = {"OPENAI_API_KEY": OPENAI_KEY}
    key = "openai:gpt-image-1.5"
    assert plan_run("a fox", [key], common, CAT, env, today=dt.date(2026, 11, 30)).cells
    with pytest.raises(InputError, match="shut down on 2026-12-01"):
        plan_run("a fox", [key], common, CAT, env, today=dt.date(2026, 12, 1))


def test_listings_and_added_models_survive_in_either_database(any_store):
    store = any_store
    store.save_listing("fal:models", [{"router": "fal", "endpoint": "fal-ai/a", "name": "A"}])
    store.save_listing("fal:models", None, "fal is rate limiting (429)")
    row = store.listings()["fal:models"]
    assert row["payload"][0]["endpoint"] == "fal-ai/a" and "429" in row["error"]
    assert row["fetched_at"] <= row["attempted_at"]
    store.save_user_model("fal:fal-ai/a", {"key": "fal:fal-ai/a"})
    assert store.user_models() == [{"key": "fal:fal-ai/a"}]
    store.remove_user_model("fal:fal-ai/a")
    assert store.user_models() == []
