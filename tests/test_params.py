"""The common parameter choice, mapped per model; what cannot be honoured is said."""

from __future__ import annotations

import pytest

from vibegen.catalog import default_catalog
from vibegen.errors import InputError
from vibegen.params import CommonParams, map_params, target_size


@pytest.fixture(scope="module")
def cat():
    return default_catalog()


def test_fal_preset_for_1k(cat):
    mp = map_params(cat.model("fal:flux-dev"), CommonParams(aspect="16:9", seed=7), 1)
    assert mp.params == {"image_size": "landscape_16_9", "seed": 8}
    assert (mp.width, mp.height) == (1024, 576)


def test_fal_custom_size_beyond_presets(cat):
    mp = map_params(cat.model("fal:flux-dev"), CommonParams(aspect="3:2", resolution="2K"))
    size = mp.params["image_size"]
    assert size["width"] % 16 == 0 and size["width"] > size["height"]


def test_seed_not_supported_is_noted(cat):
    mp = map_params(cat.model("openai:gpt-image-2"), CommonParams(seed=3))
    assert "seed" not in mp.params and mp.notes["seed"] == "n/a"


def test_openai_fixed_sizes_pick_nearest_and_say_so(cat):
    mp = map_params(cat.model("openai:gpt-image-1.5"), CommonParams(aspect="16:9"))
    assert mp.params["size"] == "1536x1024"
    assert "16:9" in mp.notes["aspect"]


def test_aspect_enum_and_resolution(cat):
    mp = map_params(cat.model("kie:nano-banana-pro"), CommonParams(aspect="9:16", resolution="4K"))
    assert mp.params["aspect_ratio"] == "9:16" and mp.params["resolution"] == "4K"


def test_sandbox_size_honours_aspect():
    w, h = target_size("16:9", "1K", multiple=64)
    assert w > h and abs(w / h - 16 / 9) < 0.05


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"aspect": "5:1"}, "aspect ratio"),
        ({"images_per_model": 5}, "images per model"),
        ({"quality": "ultra"}, "quality"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_choices_are_named(kwargs, words):
    with pytest.raises(InputError, match=words):
        CommonParams(**kwargs)
