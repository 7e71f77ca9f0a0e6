"""The sandbox router: deterministic, honours size, simulates latency and failures."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from vibegen.catalog import default_catalog
from vibegen.errors import RouterError, RouterTimeout
from vibegen.params import CommonParams, map_params
from vibegen.routers import build_router
from vibegen.routers.base import GenerationRequest
from vibegen.routers.sandbox_router import _CAPTION as STYLES
from vibegen.routers.sandbox_router import banner, caption, render, shuffled_palette


def _request(key, prompt="a fox", seed=1, aspect="1:1", deadline=5.0):
    cat = default_catalog()
    model = cat.model(key)
    mp = map_params(model, CommonParams(aspect=aspect, seed=seed))
    return GenerationRequest(
        model=model,
        prompt=prompt,
        params=mp.params,
        width=mp.width,
        height=mp.height,
        deadline=time.monotonic() + deadline,
        seed=seed,
    )


@pytest.fixture
def router():
    return build_router("sandbox", default_catalog(), {}, speed=0.0, failures=False)


def test_same_inputs_same_bytes_other_seed_other_image(router):
    a = router.generate(_request("sandbox:halo")).image
    assert a == router.generate(_request("sandbox:halo")).image
    assert a != router.generate(_request("sandbox:halo", seed=2)).image
    assert a != router.generate(_request("sandbox:halo", prompt="a whale")).image


def test_models_look_different(router):
    images = {
        router.generate(_request(k)).image
        for k in [
            "sandbox:prism",
            "sandbox:halo",
            "sandbox:mosaic",
            "sandbox:tide",
            "sandbox:pointil",
            "sandbox:lattice",
        ]
    }
    assert len(images) == 6


def test_aspect_ratio_and_size_are_honoured(router):
    img = Image.open(io.BytesIO(router.generate(_request("sandbox:prism", aspect="16:9")).image))
    assert img.width > img.height and abs(img.width / img.height - 16 / 9) < 0.05


def test_image_carries_no_metadata(router):
    img = Image.open(io.BytesIO(router.generate(_request("sandbox:tide")).image))
    assert not img.info.get("exif") and not getattr(img, "text", {})


def test_latency_is_simulated():
    r = build_router("sandbox", default_catalog(), {}, speed=0.1, failures=False, jitter=False)
    t = time.monotonic()
    r.generate(_request("sandbox:mosaic"))  # median 2.0 s × 0.1
    assert 0.18 <= time.monotonic() - t < 1.0


def test_failures_are_simulated_as_router_errors():
    r = build_router("sandbox", default_catalog(), {}, speed=0.0, failures=True)
    kinds = set()
    for _ in range(200):
        try:
            r.generate(_request("sandbox:lattice", deadline=30))
        except RouterError as exc:
            kinds.add(exc.kind)
            assert str(exc).startswith("sandbox: ")
    assert kinds and kinds <= {"content_filter", "router_error", "rate_limit"}


def test_deadline_turns_into_timeout():
    r = build_router("sandbox", default_catalog(), {}, speed=1.0, failures=False, jitter=False)
    with pytest.raises(RouterTimeout):
        r.generate(_request("sandbox:lattice", deadline=0.2))


def _ink_pixels(png: bytes, box: tuple[int, int, int, int], ink: tuple[int, int, int]) -> int:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").crop(box))
    return int((pixels == np.array(ink, np.uint8)).all(axis=2).sum())


@pytest.mark.parametrize("style", ["stripes", "rings", "blocks", "waves", "dots", "grid"])
def test_the_prompt_words_are_set_into_the_picture(style):
    prompt = "a lighthouse in a storm, linocut"
    png = render(style, prompt, 1, 512, 512)
    cap = caption(style, prompt, 512, 512, shuffled_palette(style, prompt, 1))
    # Every word is set, in the style's letter case, and the ink is in the picture.
    assert (
        " ".join(cap.lines).split()
        == (prompt.upper() if style in ("blocks", "grid") else prompt).split()
    )
    inked = _ink_pixels(png, cap.box, cap.ink)
    assert inked > 500, (style, inked)
    # Without words, the same box holds (almost) none of that ink.
    blank = render(style, "", 1, 512, 512)
    assert _ink_pixels(blank, cap.box, cap.ink) < inked / 5


def test_two_prompts_give_two_pictures_and_models_letter_them_apart(router):
    fox = router.generate(_request("sandbox:halo", prompt="a red fox in snow")).image
    whale = router.generate(_request("sandbox:halo", prompt="a red fox in rain")).image
    assert fox != whale
    # One word changed: another picture, not the same one relabelled.
    a, b = (Image.open(io.BytesIO(x)).convert("L") for x in (fox, whale))
    assert a.size == b.size and a.tobytes() != b.tobytes()
    styles = {caption(s, "a red fox", 512, 512, [(0, 0, 0)] * 6).box for s in STYLES}
    assert len(styles) == len(STYLES)  # each model places the words its own way


def test_a_long_prompt_is_cut_with_an_ellipsis_inside_its_box():
    prompt = " ".join(["word"] * 400)
    cap = caption("dots", prompt, 256, 256, [(255, 255, 255)] * 6)
    assert cap.lines[-1].endswith("…")
    x0, y0, x1, y1 = cap.box
    assert len(cap.lines) * cap.size * 1.25 <= y1 - y0


def test_the_banner_says_what_the_sandbox_is_and_how_to_add_a_real_router():
    text = banner(["FAL_KEY", "VIBEGEN_SD_URL"])
    assert text.startswith("Sandbox: an offline stand-in") and "simulated" in text
    assert "FAL_KEY, VIBEGEN_SD_URL" in text and "secrets.toml" in text
