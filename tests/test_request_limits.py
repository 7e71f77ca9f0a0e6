"""Only requests the router accepts: every model × every choice the UI offers.

`map_params` turns the common choice (aspect, resolution, quality, seed) into each model's own
request. Walk all of them and check what would be sent against the limits the catalog declares
(enums, edge multiples, pixel budget, ratio, rejected combinations), then once more against
limits written out here from reference/protocols.md §3.2 for the gpt-image-2 family, so this
test does not only re-read the figures the code uses.
"""

from __future__ import annotations

import io
import itertools
import time

import pytest
from PIL import Image

from tests.fakes.openai_server import TEST_KEY, OpenAIFake, size_error
from vibegen.catalog import Model, default_catalog
from vibegen.params import ASPECTS, QUALITIES, RESOLUTIONS, CommonParams, map_params
from vibegen.routers.base import GenerationRequest
from vibegen.routers.openai_router import OpenAIRouter

CAT = default_catalog()
CHOICES = [
    CommonParams(aspect=a, resolution=r, quality=q, seed=7)
    for a, r, q in itertools.product(ASPECTS, RESOLUTIONS, QUALITIES)
]
# fal's named sizes, catalog.md §3
PRESET_PX = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


def sent_size(model: Model, params: dict) -> tuple[int, int] | None:
    """The width × height a request names, read from the request itself."""
    spec = model.size
    if spec.kind == "wh":
        return params["width"], params["height"]
    value = params[spec.param]
    if isinstance(value, dict):
        assert set(value) == {"width", "height"}, value
        return value["width"], value["height"]
    if spec.kind == "fal_image_size":
        assert value in PRESET_PX, f"{model.key}: {value!r} is not a fal preset"
        return PRESET_PX[value]
    if spec.kind == "openai_size":
        w, h = value.split("x")
        return int(w), int(h)
    return None  # aspect-ratio enums: no pixel size in the request


@pytest.mark.parametrize("model", CAT.models, ids=lambda m: m.key)
def test_every_request_is_inside_the_catalogs_declared_limits(model: Model):
    spec = model.size
    for common in CHOICES:
        mp = map_params(model, common)
        where = f"{model.key} {common.aspect} {common.resolution} {common.quality}"
        if spec.values:  # an enum: only its values
            assert mp.params[spec.param] in spec.values, where
        for name, options in model.params.items():
            assert mp.params[name] in options, f"{where}: {name}={mp.params[name]}"
        for combo in spec.excluded:
            assert not all(str(mp.params.get(k)) == v for k, v in combo.items()), where
        size = sent_size(model, mp.params)
        if size is None:
            continue
        w, h = size
        assert (mp.width, mp.height) == (w, h), where
        assert w % spec.multiple_of == 0 and h % spec.multiple_of == 0, f"{where}: {w}x{h}"
        assert max(w, h) <= spec.max_edge, f"{where}: {w}x{h}"
        if spec.max_pixels is not None:
            assert w * h <= spec.max_pixels, f"{where}: {w}x{h}"
        if spec.min_pixels is not None:
            assert w * h >= spec.min_pixels, f"{where}: {w}x{h}"
        if spec.max_ratio is not None:
            assert max(w, h) <= spec.max_ratio * min(w, h), f"{where}: {w}x{h}"
        # a size short of the tier asked for (neither its area nor, like fal's 1K presets,
        # its long edge) is said in the cell, never silent
        side = {"1K": 1024, "2K": 2048, "4K": 4096}[common.resolution]
        if w * h < 0.85 * side * side and max(w, h) < side:
            assert "resolution" in mp.notes, f"{where}: {w}x{h} without a note"


GPT_IMAGE_2 = [
    "openai:gpt-image-2",
    "openai:gpt-image-2.5-sunburst",
    "openai:gpt-image-2.6-sunburst",
    "openai:gpt-image-2.6-flare",
    "fal:gpt-image-2",
]


@pytest.mark.parametrize("key", GPT_IMAGE_2)
def test_gpt_image_2_sizes_against_the_documented_figures(key: str):
    # protocols.md §3.2: WxH both divisible by 16, ratio between 1:3 and 3:1, max 3840x2160
    model = CAT.model(key)
    for common in CHOICES:
        w, h = sent_size(model, map_params(model, common).params)
        assert w % 16 == 0 and h % 16 == 0, (common, w, h)
        assert max(w, h) <= 3840 and w * h <= 3840 * 2160, (common, w, h)
        assert max(w, h) <= 3 * min(w, h), (common, w, h)
        if key.startswith("openai:"):  # the fake Images API, written separately, agrees
            assert size_error(model.endpoint, f"{w}x{h}", common.quality) is None


@pytest.mark.parametrize(
    "aspect, size", [("1:1", "2880x2880"), ("16:9", "3840x2160"), ("9:16", "2160x3840")]
)
def test_openai_4k_is_the_largest_valid_size_and_says_so(aspect: str, size: str):
    mp = map_params(CAT.model("openai:gpt-image-2"), CommonParams(aspect=aspect, resolution="4K"))
    assert mp.params["size"] == size
    assert mp.notes["resolution"].startswith(f"4K → {size.replace('x', '×')}")


def test_kie_gpt_image_2_never_sends_1_1_at_4k():
    mp = map_params(CAT.model("kie:gpt-image-2"), CommonParams(aspect="1:1", resolution="4K"))
    assert mp.params["aspect_ratio"] == "1:1" and mp.params["resolution"] == "2K"
    assert "not offered at 4K" in mp.notes["resolution"]


def test_kie_presets_only_never_get_a_width_height_object():
    mp = map_params(CAT.model("kie:seedream-v4"), CommonParams(aspect="3:2", resolution="2K"))
    assert mp.params["image_size"] == "landscape_4_3"
    assert "aspect" in mp.notes and "resolution" in mp.notes


def test_seedream_presets_below_its_minimum_area_are_not_sent():
    # catalog.md §1a: Seedream 4.0 needs at least 921,600 px; landscape_16_9 is 589,824
    mp = map_params(CAT.model("fal:seedream-v4"), CommonParams(aspect="16:9"))
    size = mp.params["image_size"]
    assert isinstance(size, dict) and size["width"] * size["height"] >= 921_600


def test_every_aspect_at_4k_is_accepted_by_the_openai_fake():
    # issue 11: 5 of 7 aspect ratios failed at 4K. Through the adapter and the fake Images
    # API (which checks the pixel budget), every one now comes back as an image.
    model = CAT.model("openai:gpt-image-2")
    with OpenAIFake() as fake:
        router = OpenAIRouter(catalog=CAT, key=TEST_KEY, base_url=fake.url)
        try:
            for aspect in ASPECTS:
                mp = map_params(model, CommonParams(aspect=aspect, resolution="4K", quality="low"))
                result = router.generate(
                    GenerationRequest(
                        model=model,
                        prompt="a fox",
                        params=mp.params,
                        width=mp.width,
                        height=mp.height,
                        deadline=time.monotonic() + 10,
                    )
                )
                assert Image.open(io.BytesIO(result.image)).size == (mp.width, mp.height)
        finally:
            router.close()
        sizes = [r.body["size"] for r in fake.requests]
    assert len(sizes) == 7 and all(size_error("gpt-image-2", s, "low") is None for s in sizes)
