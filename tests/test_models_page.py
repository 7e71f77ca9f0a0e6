"""The Models page against the listing fake: refresh, quotes beside shipped prices, add by id,
the shortlist the picker shows first, and a user catalog file's mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes.listing_server import KEY, ListingFake, openapi_for
from vibegen import discovery

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake(monkeypatch):
    with ListingFake() as f:
        monkeypatch.setenv("FAL_KEY", KEY)
        monkeypatch.setenv(discovery.FAL_PLATFORM_ENV, f.fal_url)
        yield f


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages/5_Models.py"), default_timeout=30)


def _text(at: AppTest) -> str:
    frames = "".join(df.value.to_csv() for df in at.dataframe)
    return frames + " ".join(x.value for x in [*at.caption, *at.error, *at.warning, *at.success])


def test_refresh_shows_quotes_beside_shipped_prices_and_listed_models(fake):
    at = _page().run()
    at.button(key="refresh_listings").click().run()
    assert not at.exception
    text = _text(at)
    assert "fal:models: 4 models" in text
    # FLUX.2 [max] had no price; fal's quote now prices it, labelled with its date
    assert "$0.07/megapixel quoted by fal on" in text
    assert "New Model" in text and "listed, not added" in text


def test_add_by_endpoint_id_and_bad_ids_are_said_next_to_the_field(fake):
    fake.openapi["fal-ai/new-model"] = openapi_for(
        "fal-ai/new-model", {"prompt": {"type": "string"}, "image_size": {}, "seed": {}}
    )
    at = _page().run()
    at.text_input(key="add_endpoint").input("fal-ai/nope").run()
    at.button(key="add_model").click().run()
    assert any("fal lists no endpoint 'fal-ai/nope'" in e.value for e in at.error)
    at.text_input(key="add_endpoint").input("not an id").run()
    at.button(key="add_model").click().run()
    assert any("is not a fal endpoint id" in e.value for e in at.error)
    at.text_input(key="add_endpoint").input("fal-ai/new-model").run()
    at.button(key="add_model").click().run()
    assert not at.exception
    assert any("Added New Model (fal): quoted by fal on" in s.value for s in at.success)
    generate = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert "pick:fal:fal-ai/new-model" in {b.key for b in generate.checkbox}


def test_the_shortlist_is_shown_first_in_the_picker():
    at = _page().run()
    at.multiselect(key="models_shortlist").set_value(["sandbox:tide", "fal:flux-2-pro"]).run()
    at.button(key="save_shortlist").click().run()
    generate = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    side = [e.label for e in generate.sidebar.expander]
    assert side[0] == "Shortlist · 2 models"
    keys = [b.key for b in generate.checkbox if b.key and b.key.startswith("pick:")]
    assert keys[:2] == ["pick:sandbox:tide", "pick:fal:flux-2-pro"]


def test_a_user_catalog_file_with_mistakes_is_named_and_the_rest_works(isolated_env):
    isolated_env.mkdir(parents=True, exist_ok=True)
    (isolated_env / "models.toml").write_text(
        '[[models]]\nkey = "fal:mine"\nlabel = "Mine"\nrouter = "fal"\nendpont = "x"\n',
        encoding="utf-8",
    )
    at = _page().run()
    assert not at.exception
    assert any("model 'fal:mine', field 'endpont'" in e.value for e in at.error)
    generate = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not generate.exception
    assert "pick:sandbox:prism" in {b.key for b in generate.checkbox}


def test_picker_search_narrows_but_keeps_what_is_picked():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    before = {b.key for b in at.checkbox}
    at.text_input(key="pick_search").input("tide").run()
    after = {b.key for b in at.checkbox if b.key and b.key.startswith("pick:")}
    assert "pick:sandbox:tide" in after and "pick:fal:flux-dev" not in after
    assert "pick:sandbox:prism" in after  # picked by default: a filter never drops a pick
    assert len(after) < len(before)


def test_each_router_shows_the_limits_in_force_and_the_setting_that_changes_them(monkeypatch):
    monkeypatch.setenv("VIBEGEN_FAL_CONCURRENCY", "40")
    at = _page().run()
    assert not at.exception
    table = at.dataframe[0].value
    limits = dict(zip(table["router"], table["limits"], strict=True))
    assert limits["fal.ai"] == "40 at once (fal.ai queues the rest) · set VIBEGEN_FAL_CONCURRENCY"
    assert limits["Kie.ai"].startswith("8 at once · 20 new jobs / 10 s · ")
    assert limits["Kie.ai"].endswith(" · set VIBEGEN_KIE_CONCURRENCY")
