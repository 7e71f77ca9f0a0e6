"""The fal adapter's transfer rules against the fake queue: the key stays on fal's host, the
image download obeys the caps, the deadline and the host policy, and fal's errors read in
words (an HTML page as its title, fal's timeouts as timeouts, echoed keys redacted)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.fal_server import (
    HUGE_SIZE,
    PRIVATE_IMAGE,
    TEST_FAL_KEY,
    FalFake,
)
from tests.routers.runs import finish_run
from vibegen.catalog import default_catalog
from vibegen.errors import (
    ImageTooLargeError,
    RefusedURLError,
    RouterTimeout,
    RouterValidationError,
    ServerError,
)
from vibegen.params import CommonParams
from vibegen.routers.base import GenerationRequest
from vibegen.routers.fal_router import FalRouter
from vibegen.routers.transfer import TransferPolicy
from vibegen.runner import Runner

CATALOG = default_catalog()
POLL = 0.01
MIB = 1024 * 1024
PUBLIC = "http://queue.fal.test"  # a "public" fal host, reached through the fake as a proxy


def resolve(host: str) -> list[str]:
    if host == "queue.fal.test":
        return ["93.184.216.34"]
    raise OSError(host)


@pytest.fixture
def fake() -> Iterator[FalFake]:
    with FalFake() as f:
        yield f


def fal(fake: FalFake, **kwargs) -> FalRouter:
    return FalRouter(
        catalog=CATALOG, key=TEST_FAL_KEY, base_url=fake.url, poll_interval=POLL, **kwargs
    )


def make_request(deadline_s: float = 10.0) -> GenerationRequest:
    return GenerationRequest(
        model=CATALOG.model("fal:flux-schnell"),
        prompt="a fox",
        params={"image_size": "square_hd"},
        width=1024,
        height=1024,
        deadline=time.monotonic() + deadline_s,
    )


def no_key_in(err: BaseException) -> None:
    text = f"{err} {err!r} {getattr(err, 'detail', '')}"
    for part in (
        TEST_FAL_KEY,
        *TEST_FAL_KEY.split(":"),
        base64.b64encode(TEST_FAL_KEY.encode()).decode(),
    ):
        assert part not in text


# ---------------------------------------------------------------------- the key's host
def test_a_status_url_on_another_host_is_refused_and_gets_no_key(fake):
    with FalFake() as elsewhere:
        fake.elsewhere_url = elsewhere.url
        fake.script("status_elsewhere")
        with pytest.raises(RefusedURLError) as info:
            fal(fake).generate(make_request())
        assert elsewhere.requests == []  # nothing at all went to the other host
        port = elsewhere.url.rsplit(":", 1)[1]
    host = fake.url.removeprefix("http://")
    assert str(info.value) == (
        f"fal: refused to send the key to 127.0.0.1:{port}: the URL is "
        f"not on the configured host {host}"
    )
    assert (info.value.kind, info.value.model) == ("protocol", "fal:flux-schnell")
    assert len(fake.received("POST")) == 1  # the submit, to the configured host


def test_the_cancel_goes_only_to_fals_host(fake):
    r = fal(fake)
    r._cancel("http://elsewhere.invalid/fal-ai/flux/requests/1/cancel")  # refused: no error
    assert fake.requests == []
    job_cancel = f"{fake.url}/fal-ai/flux/requests/none/cancel"
    r._cancel(job_cancel)
    assert fake.last.headers["authorization"] == f"Key {TEST_FAL_KEY}"


# ---------------------------------------------------------------------- the download
def test_an_image_over_the_byte_cap_is_a_clear_error(fake):
    fake.script("image_oversize")
    with pytest.raises(ImageTooLargeError) as info:
        fal(fake, transfer=TransferPolicy(max_bytes=1 * MIB)).generate(make_request())
    assert str(info.value) == "fal: the image is 2 MB, over the 1 MB cap"


def test_an_image_over_the_pixel_cap_is_a_clear_error(fake):
    fake.script("image_huge")
    with pytest.raises(ImageTooLargeError) as info:
        fal(fake).generate(make_request())
    w, h = HUGE_SIZE
    assert str(info.value) == (
        f"fal: the image is {w}×{h} (90 megapixels), over the 80 megapixel cap"
    )


def test_a_trickling_image_is_cut_at_the_models_deadline(fake):
    fake.script("image_trickle")
    t = time.monotonic()
    with pytest.raises(RouterTimeout) as info:
        fal(fake).generate(make_request(deadline_s=0.8))
    assert str(info.value) == "fal: timed out downloading the image"
    assert time.monotonic() - t < 1.5  # the whole call, download included, within the deadline
    assert fake.received("GET", "/files/trickle-")


def test_a_redirected_image_downloads(fake):
    fake.script("image_redirect")
    result = fal(fake).generate(make_request())
    assert result.image
    paths = [r.path for r in fake.received("GET", "/files/")]
    assert paths[0].startswith("/files/redirect-") and len(paths) == 2


def test_a_redirect_to_a_private_address_is_refused():
    # fal "on a public host": the client reaches it through the fake as an HTTP proxy.
    with FalFake(advertised_url=PUBLIC) as fake, httpx.Client(proxy=fake.root_url) as http:
        fake.script("image_redirect_private")
        r = FalRouter(
            catalog=CATALOG,
            key=TEST_FAL_KEY,
            base_url=PUBLIC,
            http=http,
            poll_interval=POLL,
            transfer=TransferPolicy(resolve=resolve),
        )
        with pytest.raises(RefusedURLError) as info:
            r.generate(make_request())
        assert str(info.value) == "fal: refused the image URL: 10.0.0.7 is a private address"
        assert all(not r.path.endswith("internal.png") for r in fake.requests)
        assert PRIVATE_IMAGE.endswith("internal.png")
        downloads = fake.received("GET", "/files/")
        assert len(downloads) == 1 and "authorization" not in downloads[0].headers
        fake.script("success")  # and a normal image from the public host still downloads
        assert r.generate(make_request()).image


# ---------------------------------------------------------------------- errors in words
def test_an_html_503_page_is_one_line(fake):
    fake.script("html_503")
    with pytest.raises(ServerError) as info:
        fal(fake).generate(make_request())
    assert str(info.value) == "fal: 503 Service Temporarily Unavailable"
    assert info.value.status == 503 and info.value.retryable


def test_an_echoed_key_is_redacted_raw_and_base64(fake):
    fake.script("echo_key")
    with pytest.raises(RouterValidationError) as info:
        fal(fake).generate(make_request())
    assert str(info.value) == "fal: Malformed header (base64 ***); raw Key ***"
    no_key_in(info.value)


def test_errors_keep_their_cause():
    r = FalRouter(
        catalog=CATALOG, key=TEST_FAL_KEY, base_url="http://127.0.0.1:9", poll_interval=POLL
    )
    with pytest.raises(ServerError) as info:
        r.generate(make_request())
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# ---------------------------------------------------------------------- via the runner
@pytest.mark.parametrize(
    "scenario, status, kind, message",
    [
        ("image_oversize", "error", "bad_image", "fal: the image is 2 MB, over the 1 MB cap"),
        (
            "image_huge",
            "error",
            "bad_image",
            "fal: the image is 10000×9000 (90 megapixels), over the 80 megapixel cap",
        ),
        ("completed_error", "timeout", "timeout", "fal: timed out: Request timed out"),
        ("echo_key", "error", "validation", "fal: Malformed header (base64 ***); raw Key ***"),
    ],
)
def test_stored_errors(store, fake, scenario, status, kind, message):
    fake.script(scenario)
    runner = Runner(
        store,
        CATALOG,
        env={"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url},
        router_options={"fal": {"poll_interval": POLL, "transfer": TransferPolicy(max_bytes=MIB)}},
        heartbeat=False,
    )
    run_id = finish_run(runner, "a fox", ["fal:flux-schnell"], CommonParams())
    cell = store.run_view(run_id).cells[0]
    assert (cell.status, cell.error_kind, cell.error_message) == (status, kind, message)


def test_a_trickling_download_is_cut_at_the_deadline_and_the_job_cancelled(fake):
    # The whole call is bounded, the download included; the job behind it gets its cancel.
    fake.script("image_trickle")
    with pytest.raises(RouterTimeout) as info:
        fal(fake).generate(make_request(deadline_s=1.0))
    assert info.value.job_may_run
    assert fake.cancels == list(fake.jobs)
    assert len(fake.received("POST")) == 1
