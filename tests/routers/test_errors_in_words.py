"""Errors in words across Kie, OpenAI and SD, against their fakes: an HTML page is one line,
the verdict comes from the router's structured code (never from words), the router's own
message is kept, and a credential the server echoes back is redacted before anything is cut."""

from __future__ import annotations

import base64
import time

import pytest

from tests.fakes.http_fake import HTML_503
from tests.fakes.kie_server import TEST_KIE_KEY, KieFake
from tests.fakes.openai_server import TEST_KEY, OpenAIFake
from tests.fakes.sd_server import SDFake
from vibegen.catalog import default_catalog
from vibegen.errors import ContentFilteredError, RouterValidationError, ServerError
from vibegen.params import CommonParams, map_params
from vibegen.routers.base import GenerationRequest
from vibegen.routers.kie_router import KieRouter, _fail_error, kie_error
from vibegen.routers.openai_router import OpenAIRouter
from vibegen.routers.sd_router import SDRouter

CATALOG = default_catalog()


def make_request(model_key: str) -> GenerationRequest:
    model = CATALOG.model(model_key)
    mapped = map_params(model, CommonParams())
    return GenerationRequest(
        model=model,
        prompt="a lighthouse",
        params=mapped.params,
        width=mapped.width,
        height=mapped.height,
        deadline=time.monotonic() + 10,
    )


@pytest.mark.parametrize("mode", ["mirror", "always_200"])
def test_kie_html_503_page_is_one_line(mode):
    with KieFake(http_status_mode=mode) as fake:
        fake.script("html_503")
        r = KieRouter(catalog=CATALOG, key=TEST_KIE_KEY, base_url=fake.url, poll_interval=0.004)
        with pytest.raises(ServerError) as info:
            r.generate(make_request("kie:nano-banana-pro"))
    assert str(info.value) == "kie: 503 Service Temporarily Unavailable"
    assert info.value.status == 503 and info.value.retryable


def test_kie_words_never_decide_the_kind():
    # "safety" in a validation message is not a content filter: the code (422) decides.
    err = kie_error(422, "safety_tolerance must be between 1 and 6", "kie:flux-2-pro")
    assert isinstance(err, RouterValidationError)
    assert str(err) == "kie: safety_tolerance must be between 1 and 6"
    err = _fail_error("422", "Your prompt was flagged as NSFW", "kie:flux-2-pro")
    assert isinstance(err, RouterValidationError) and "flagged as NSFW" in str(err)


def test_openai_html_503_page_is_one_line():
    with OpenAIFake() as fake:
        fake.script("html_503")
        r = OpenAIRouter(catalog=CATALOG, key=TEST_KEY, base_url=fake.url)
        try:
            with pytest.raises(ServerError) as info:
                r.generate(make_request("openai:gpt-image-2"))
        finally:
            r.close()
    assert str(info.value) == "openai: 503 Service Temporarily Unavailable"
    assert info.value.status == 503


def test_openai_content_filter_comes_from_the_code_and_keeps_the_words():
    with OpenAIFake() as fake:
        fake.script("content_policy_violation")
        r = OpenAIRouter(catalog=CATALOG, key=TEST_KEY, base_url=fake.url)
        try:
            with pytest.raises(ContentFilteredError) as info:
                r.generate(make_request("openai:gpt-image-2"))
        finally:
            r.close()
    assert str(info.value).startswith(
        "openai: content filtered: Your request was rejected as a result of our safety system."
    )


def test_openai_400_mentioning_safety_is_validation_not_a_filter():
    # 400_invalid has no moderation code; its words decide nothing.
    with OpenAIFake() as fake:
        fake.script("400_invalid")
        r = OpenAIRouter(catalog=CATALOG, key=TEST_KEY, base_url=fake.url)
        try:
            with pytest.raises(RouterValidationError):
                r.generate(make_request("openai:gpt-image-2"))
        finally:
            r.close()


def test_sd_html_503_page_is_one_line():
    with SDFake() as fake:
        fake.script("html_503")
        with pytest.raises(ServerError) as info:
            SDRouter(catalog=CATALOG, base_url=fake.url).generate(make_request("sd:local"))
    assert str(info.value) == "sd: 503 Service Temporarily Unavailable"


def test_sd_echoed_basic_auth_is_redacted_in_every_form():
    login = "artist:not-a-real-password"
    with SDFake(auth=login) as fake:
        fake.script("echo_auth")
        with pytest.raises(ServerError) as info:
            SDRouter(catalog=CATALOG, base_url=fake.url, auth=login).generate(
                make_request("sd:local")
            )
    text = f"{info.value} {info.value.detail}"
    assert "Basic ***" in text
    for needle in ("not-a-real-password", base64.b64encode(login.encode()).decode()):
        assert needle not in text


def test_html_503_fixture_is_an_html_page():
    assert HTML_503.status == 503 and HTML_503.content_type == "text/html"
