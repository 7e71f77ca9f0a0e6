"""A model fal lists but the shipped catalog lacks, found and added by its endpoint id on the
Models page, then run from the Generate page — in Chromium, against the listing fake (fal's
model search and price list) and the fal queue fake, as a designer would do it."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import (
    cell_captions,
    pick_models,
    wait_for_images,
    wait_until,
    wait_until_idle,
)
from tests.fakes.fal_server import FalFake
from tests.fakes.listing_server import KEY, ListingFake, openapi_for

pytestmark = pytest.mark.browser

ENDPOINT = "fal-ai/new-model"  # listed by the fake, priced $0.02 an image, not in the catalog


def test_a_listed_model_added_by_id_runs_and_costs_what_fal_billed(start_server, page, store):
    with ListingFake() as listing, FalFake(key=KEY) as fal:
        listing.openapi[ENDPOINT] = openapi_for(
            ENDPOINT, {"prompt": {"type": "string"}, "image_size": {}, "seed": {}}
        )
        server = start_server(
            FAL_KEY=KEY, VIBEGEN_FAL_PLATFORM_URL=listing.fal_url, VIBEGEN_FAL_URL=fal.url
        )
        page.goto(f"{server.url}/Models")
        page.get_by_role("button", name="Refresh from the routers").click()
        page.get_by_text(re.compile(r"fal:models: \d+ models")).first.wait_for()

        box = page.get_by_label("fal endpoint id")
        box.fill("fal-ai/no-such-model")
        box.press("Enter")
        page.get_by_role("button", name="Add", exact=True).click()
        page.get_by_text("fal lists no endpoint 'fal-ai/no-such-model'").wait_for()
        box.fill(ENDPOINT)
        box.press("Enter")
        page.get_by_role("button", name="Add", exact=True).click()
        page.get_by_text(re.compile(r"Added New Model \(fal\): quoted by fal on")).wait_for()

        page.goto(server.url)
        prompt = page.get_by_label("Prompt")
        prompt.fill("a paper crane on a windowsill")
        prompt.press("Control+Enter")
        pick_models(page, [])  # no sandbox model: only the one just added
        search = page.get_by_label("Find a model")
        search.fill("new model")
        search.press("Enter")
        group = page.locator("[data-testid=stExpander] summary", has_text=re.compile(r"· 1 models"))
        new = page.get_by_role("checkbox", name="New Model")
        group.first.wait_for()
        wait_until_idle(page)  # the search's rerun is over: the group stays as we leave it

        def unfolded() -> bool:
            if not new.is_visible():
                group.first.click()  # a real router's group starts folded
            return new.is_visible()

        wait_until(unfolded, what="the fal group to unfold")
        page.locator("[data-testid=stCheckbox]").filter(has=new).click()
        page.get_by_text("1 images from 1 models").first.wait_for()
        page.get_by_role("button", name="Generate").click()
        page.wait_for_url(re.compile(r"[?&]run=[0-9a-f]{32}"))
        wait_for_images(page, 1, timeout=60)

        caption = wait_until(lambda: cell_captions(page), what="the cell's time and cost")[0]
        billed = sum(fal.billed.values())  # billable units: one image
        assert billed == 1.0, fal.billed
        assert f"${0.02 * billed:.4f}" in caption, caption  # units × fal's quoted price
        assert "reported by router" in caption, caption  # fal's billed units, not a guess
        submits = [r for r in fal.requests if r.method == "POST"]
        assert [r.path for r in submits] == [f"/{ENDPOINT}"], submits  # one paid job
