"""The sandbox router: deterministic, honours size, simulates latency and failures."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from vibegen.catalog import default_catalog
from vibegen.errors import RouterError, RouterTimeout
from vibegen.params import CommonParams, map_params
from vibegen.routers import build_router
from vibegen.routers.base import GenerationRequest


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
