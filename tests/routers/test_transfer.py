"""Image downloads (vibegen/routers/transfer.py `fetch_image`) against a real local file host:
deadlines that bound a trickle or a stall, byte and pixel caps, the host policy on every
redirect, and error text (HTML pages, redaction before clipping)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.http_fake import (
    HTML_503,
    FakeServer,
    Recorded,
    Reply,
    image_bytes,
    padded_png,
    png_header,
    redirect,
    trickle,
)
from vibegen.catalog import default_catalog
from vibegen.errors import BadImageError, ImageTooLargeError, RefusedURLError, RouterTimeout
from vibegen.routers.base import GenerationRequest
from vibegen.routers.transfer import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    TransferPolicy,
    clip,
    error_text,
    fetch_image,
    html_line,
)

CATALOG = default_catalog()
PNG = image_bytes(fmt="PNG")
DNS = {"cdn.example": ["93.184.216.34"], "queue.fal.run": ["104.18.10.1"]}


def resolve(host: str) -> list[str]:
    if host in DNS:
        return DNS[host]
    raise OSError(host)


class FileHost(FakeServer):
    """Serves `files[path]`; 404 otherwise."""

    label = "files"

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, Reply] = {}

    def handle(self, rec: Recorded) -> Reply:
        return self.files.get(rec.path, Reply(404, b"Not Found", content_type="text/plain"))


@pytest.fixture
def host() -> Iterator[FileHost]:
    with FileHost() as h:
        yield h


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def request(deadline_s: float = 5.0) -> GenerationRequest:
    return GenerationRequest(
        model=CATALOG.model("fal:flux-schnell"),
        prompt="p",
        params={},
        width=64,
        height=48,
        deadline=time.monotonic() + deadline_s,
    )


def fetch(
    http: httpx.Client,
    host: FileHost,
    path: str,
    *,
    deadline_s: float = 5.0,
    policy: TransferPolicy | None = None,
) -> tuple[bytes, str]:
    return fetch_image(
        http,
        f"{host.url}{path}",
        request(deadline_s),
        "fal",
        base_url=host.url,
        policy=policy or TransferPolicy(),
    )


def test_defaults_are_64_mib_and_80_megapixels():
    assert (DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS) == (64 * 1024 * 1024, 80_000_000)
    assert TransferPolicy() == TransferPolicy(DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS)


def test_an_image_downloads_without_any_auth_header(host, http):
    host.files["/a.png"] = Reply(200, PNG, content_type="image/png")
    data, ctype = fetch(http, host, "/a.png")
    assert (data, ctype) == (PNG, "image/png")
    assert "authorization" not in host.last.headers


# ------------------------------------------------------------------------------ deadline
def test_a_trickling_download_is_cut_at_the_deadline(host, http):
    # 64 bytes every 50 ms of a 40 KB file would take half a minute.
    host.files["/slow.png"] = trickle(padded_png(40_000), "image/png", 64, 0.05)
    t = time.monotonic()
    with pytest.raises(RouterTimeout) as info:
        fetch(http, host, "/slow.png", deadline_s=0.4)
    elapsed = time.monotonic() - t
    assert str(info.value) == "fal: timed out downloading the image"
    assert info.value.kind == "timeout" and info.value.model == "fal:flux-schnell"
    assert 0.35 <= elapsed < 1.0


def test_a_stalled_download_is_cut_at_the_deadline_not_at_the_next_byte(host, http):
    # One chunk per second: a per-read timeout alone (1.2 s from the read's start) would wait
    # for the second chunk at 2 s; the deadline is 1.2 s after the call began.
    host.files["/stall.png"] = trickle(padded_png(40_000), "image/png", 64, 1.0)
    t = time.monotonic()
    with pytest.raises(RouterTimeout):
        fetch(http, host, "/stall.png", deadline_s=1.2)
    assert time.monotonic() - t < 1.7


def test_no_time_left_means_no_request(host, http):
    host.files["/a.png"] = Reply(200, PNG, content_type="image/png")
    with pytest.raises(RouterTimeout):
        fetch(http, host, "/a.png", deadline_s=-1)
    assert host.requests == []


# ------------------------------------------------------------------------------ byte cap
def test_an_image_over_the_byte_cap_is_refused_from_its_content_length(host, http):
    host.files["/big.png"] = Reply(200, padded_png(3000), content_type="image/png")
    with pytest.raises(ImageTooLargeError) as info:
        fetch(http, host, "/big.png", policy=TransferPolicy(max_bytes=2048))
    err = info.value
    assert str(err) == "fal: the image is 2.9 KB, over the 2 KB cap"
    assert (err.kind, err.status, err.model) == ("bad_image", 200, "fal:flux-schnell")


def test_an_image_over_the_byte_cap_without_a_length_is_cut_while_streaming(host, http):
    host.files["/big.png"] = Reply(200, padded_png(300_000), content_type="image/png", length=False)
    with pytest.raises(ImageTooLargeError) as info:
        fetch(http, host, "/big.png", policy=TransferPolicy(max_bytes=100 * 1024))
    assert str(info.value) == "fal: the image is larger than the 100 KB cap"


def test_the_default_byte_cap_message_reads_in_megabytes(host, http):
    host.files["/huge.png"] = Reply(
        200, b"", {"Content-Length": str(130 * 1024 * 1024)}, content_type="image/png"
    )
    # The fake announces 130 MB and sends nothing: refused from the header alone.
    host.files["/huge.png"].length = False
    with pytest.raises(ImageTooLargeError) as info:
        fetch(http, host, "/huge.png")
    assert str(info.value) == "fal: the image is 130 MB, over the 64 MB cap"


def test_an_image_just_under_the_byte_cap_downloads(host, http):
    data = padded_png(2048)
    host.files["/ok.png"] = Reply(200, data, content_type="image/png", length=False)
    assert fetch(http, host, "/ok.png", policy=TransferPolicy(max_bytes=2048))[0] == data


# ----------------------------------------------------------------------------- pixel cap
def test_an_image_over_the_pixel_cap_is_refused_from_its_header(host, http):
    # The header claims 10000×9000; the file is a few dozen bytes: nothing was decoded.
    host.files["/wide.png"] = Reply(200, png_header(10_000, 9_000), content_type="image/png")
    with pytest.raises(ImageTooLargeError) as info:
        fetch(http, host, "/wide.png")
    assert str(info.value) == (
        "fal: the image is 10000×9000 (90 megapixels), over the 80 megapixel cap"
    )


def test_a_decompression_bomb_is_refused_in_words(host, http):
    host.files["/bomb.png"] = Reply(200, png_header(40_000, 40_000), content_type="image/png")
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        fetch(http, host, "/bomb.png", policy=TransferPolicy(max_pixels=10**12))


def test_the_pixel_cap_is_configurable(host, http):
    host.files["/a.png"] = Reply(200, PNG, content_type="image/png")
    with pytest.raises(ImageTooLargeError) as info:
        fetch(http, host, "/a.png", policy=TransferPolicy(max_pixels=1000))
    assert str(info.value) == (
        "fal: the image is 64×48 (0.003 megapixels), over the 0.001 megapixel cap"
    )
    assert fetch(http, host, "/a.png", policy=TransferPolicy(max_pixels=64 * 48))[0] == PNG


def test_bytes_that_are_not_an_image_pass_to_the_runners_decode_check(host, http):
    host.files["/x.bin"] = Reply(200, b"\x00garbage", content_type="application/octet-stream")
    assert fetch(http, host, "/x.bin")[0] == b"\x00garbage"


def test_data_uris_obey_both_caps():
    req = request()
    uri = "data:image/png;base64," + base64.b64encode(padded_png(4000)).decode()
    with pytest.raises(ImageTooLargeError, match=r"over the 2 KB cap"):
        fetch_image(httpx.Client(), uri, req, "fal", policy=TransferPolicy(max_bytes=2048))
    huge = "data:image/png;base64," + base64.b64encode(png_header(10_000, 9_000)).decode()
    with pytest.raises(ImageTooLargeError, match="90 megapixels"):
        fetch_image(httpx.Client(), huge, req, "fal")
    assert fetch_image(httpx.Client(), uri, req, "fal")[0] == padded_png(4000)


# ------------------------------------------------------------------------- host policy
def test_redirects_are_followed_and_each_hop_is_checked(host, http):
    host.files["/a.png"] = Reply(200, PNG, content_type="image/png")
    host.files["/go"] = redirect("/a.png")
    assert fetch(http, host, "/go")[0] == PNG
    assert [r.path for r in host.requests] == ["/go", "/a.png"]


def test_a_redirect_loop_ends_in_words(host, http):
    host.files["/loop"] = redirect("/loop")
    with pytest.raises(BadImageError, match="redirected more than 5 times"):
        fetch(http, host, "/loop")
    assert len(host.requests) == 6


def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(host):
    # The client reaches "cdn.example" through the fake as an HTTP proxy, so the router can be
    # configured on a public host (queue.fal.run) while every byte still stays on 127.0.0.1.
    host.files["/cat.png"] = redirect("http://10.0.0.7/internal.png")
    host.files["/internal.png"] = Reply(200, PNG, content_type="image/png")
    with httpx.Client(proxy=host.root_url) as proxied:
        with pytest.raises(RefusedURLError) as info:
            fetch_image(
                proxied,
                "http://cdn.example/cat.png",
                request(),
                "fal",
                base_url="https://queue.fal.run",
                policy=TransferPolicy(resolve=resolve),
            )
    assert str(info.value) == "fal: refused the image URL: 10.0.0.7 is a private address"
    assert info.value.kind == "protocol"
    assert [r.path for r in host.requests] == ["/cat.png"]  # the private hop never went out
    assert host.last.headers["host"] == "cdn.example"


def test_a_public_host_through_the_proxy_downloads(host):
    host.files["/cat.png"] = Reply(200, PNG, content_type="image/png")
    with httpx.Client(proxy=host.root_url) as proxied:
        data, _ = fetch_image(
            proxied,
            "http://cdn.example/cat.png",
            request(),
            "fal",
            base_url="https://queue.fal.run",
            policy=TransferPolicy(resolve=resolve),
        )
    assert data == PNG


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://127.0.0.1:9/x.png", "127.0.0.1 is a loopback address"),
        ("ftp://cdn.example/x.png", "scheme 'ftp' is not http or https"),
        ("file:///etc/passwd", "scheme 'file' is not http or https"),
    ],
)
def test_refused_image_urls_send_nothing(url, words):
    with pytest.raises(RefusedURLError) as info:
        fetch_image(
            httpx.Client(),
            url,
            request(),
            "kie",
            base_url="https://api.kie.ai",
            policy=TransferPolicy(resolve=resolve),
        )
    assert str(info.value) == f"kie: refused the image URL: {words}"
    assert isinstance(info.value.__cause__, ValueError)  # the policy's refusal is the cause


def test_a_router_on_loopback_downloads_from_loopback(host, http):
    host.files["/a.png"] = Reply(200, PNG, content_type="image/png")
    assert fetch(http, host, "/a.png")[0] == PNG  # the fake itself is on 127.0.0.1


def test_a_network_failure_keeps_its_cause(http):
    with pytest.raises(BadImageError) as info:
        fetch_image(
            http, "http://127.0.0.1:9/x.png", request(), "sd", base_url="http://127.0.0.1:7860"
        )
    assert str(info.value) == "sd: could not download the image (ConnectError)"
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# ---------------------------------------------------------------------------- error text
def test_an_html_error_page_is_its_title():
    assert html_line(HTML_503.body.decode()) == "503 Service Temporarily Unavailable"
    assert (
        html_line("<html><body><h2>Bad <b>gateway</b></h2><p>x</p></body></html>") == "Bad gateway"
    )
    assert html_line("<html><body>Just &amp; text</body></html>") == "Just & text"


def test_error_text_redacts_the_requests_key_before_clipping():
    key = "keyid-1234:secret-abcdefghijklmnop"
    req = httpx.Request("GET", "https://queue.fal.run/x", headers={"Authorization": f"Key {key}"})
    # The key sits across the 80-character cut: clipping first would leave its head behind.
    body = "x" * 50 + f" echoed {key} and base64 {base64.b64encode(key.encode()).decode()}"
    text = error_text(httpx.Response(400, text=body, request=req), limit=80)
    assert text == "x" * 50 + " echoed *** and base64 ***"
    b64 = base64.b64encode(key.encode()).decode()
    text = error_text(httpx.Response(400, text=f"{'y' * 70} {b64}", request=req), limit=80)
    assert b64[:8] not in text  # the base64 form was redacted before the cut


def test_clip_redacts_first():
    key = "sk-abcdefghijklmnopqrstuvwxyz"
    text = clip("the key is " + key, 20, [key])
    assert text == "the key is ***"
    naive = clip("the key is " + key, 20)  # without secrets, the cut leaves a head
    assert naive == "the key is sk-abcde…"
