"""The host policy (vibegen/routers/hosts.py): where a key may go, which image URLs we fetch."""

from __future__ import annotations

import pytest

from vibegen.routers.hosts import (
    RefusedURL,
    check_image_url,
    non_public_reason,
    require_same_host,
    same_host,
)

DNS = {
    "queue.fal.run": ["104.18.10.1"],
    "v3.fal.media": ["104.18.20.2"],
    "cdn.example": ["93.184.216.34"],
    "intranet.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "rebind.example": ["93.184.216.34", "127.0.0.1"],  # one bad address is enough
    "sd.lan": ["192.168.1.20"],
    "2130706433": ["127.0.0.1"],  # 127.0.0.1 written as one decimal number
}


def resolve(host: str) -> list[str]:
    """A DNS table for the tests; an unknown name does not resolve, as in real DNS."""
    try:
        return DNS[host]
    except KeyError:
        raise OSError(f"unknown host {host}") from None


FAL = "https://queue.fal.run"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://queue.fal.run/fal-ai/flux/requests/1/status", True),
        ("https://QUEUE.fal.run:443/x", True),  # case and the default port folded
        ("https://queue.fal.run./x", True),  # trailing dot of a fully qualified name
        ("http://queue.fal.run/x", False),  # scheme differs: the key would travel in clear
        ("https://queue.fal.run:8443/x", False),
        ("https://queue.fal.run.evil.example/x", False),
        ("https://evil.example/?u=https://queue.fal.run", False),
        ("https://queue.fal.run@evil.example/x", False),  # userinfo trick: the host is evil
        ("ftp://queue.fal.run/x", False),
        ("not a url", False),
    ],
)
def test_same_host(url, expected):
    assert same_host(url, FAL) is expected


def test_same_host_on_a_local_base_compares_ports():
    assert same_host("http://127.0.0.1:8000/a", "http://127.0.0.1:8000")
    assert not same_host("http://127.0.0.1:8001/a", "http://127.0.0.1:8000")
    assert not same_host("http://localhost:8000/a", "http://127.0.0.1:8000")


def test_require_same_host_names_both_hosts_in_words():
    with pytest.raises(RefusedURL) as info:
        require_same_host("https://evil.example/requests/1/status", FAL, "status URL")
    assert str(info.value) == (
        "refused to send the key to evil.example: the status URL is not "
        "on the configured host queue.fal.run"
    )
    require_same_host(f"{FAL}/fal-ai/flux/requests/1", FAL)  # no error


@pytest.mark.parametrize(
    "url",
    [
        "https://v3.fal.media/files/a.png",
        "http://cdn.example/x.jpg",
        "https://93.184.216.34/x.png",
    ],
)
def test_public_image_urls_pass(url):
    check_image_url(url, FAL, resolve)


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://127.0.0.1:8000/x.png", "127.0.0.1 is a loopback address"),
        ("http://[::1]/x.png", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/x.png", "::ffff:127.0.0.1 (127.0.0.1) is a loopback address"),
        ("http://10.0.0.7/x.png", "10.0.0.7 is a private address"),
        ("http://intranet.example/x.png", "intranet.example (10.1.2.3) is a private address"),
        ("http://metadata.example/latest", "(169.254.169.254) is a link-local address"),
        ("http://169.254.169.254/latest", "169.254.169.254 is a link-local address"),
        ("http://rebind.example/x.png", "rebind.example (127.0.0.1) is a loopback address"),
        ("http://2130706433/x.png", "2130706433 (127.0.0.1) is a loopback address"),
        ("http://0.0.0.0/x.png", "0.0.0.0 is an unspecified address"),
        ("file:///etc/passwd", "scheme 'file' is not http or https"),
        ("gopher://cdn.example/x", "scheme 'gopher' is not http or https"),
        ("http:///x.png", "it has no host"),
        ("http://nowhere.example/x.png", "its host nowhere.example does not resolve"),
    ],
)
def test_risky_image_urls_are_refused_in_words(url, words):
    with pytest.raises(RefusedURL) as info:
        check_image_url(url, FAL, resolve)
    assert str(info.value).startswith("refused the image URL: ")
    assert words in str(info.value)


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:7860", "http://sd.lan:7860", "http://[::1]:9000"]
)
def test_a_router_on_a_private_address_may_serve_private_images(base):
    check_image_url("http://127.0.0.1:7860/file=x.png", base, resolve)
    check_image_url("http://192.168.1.20/x.png", base, resolve)
    with pytest.raises(RefusedURL, match="not http or https"):  # the scheme rule still holds
        check_image_url("file:///etc/passwd", base, resolve)


def test_an_unresolvable_base_does_not_open_private_addresses():
    with pytest.raises(RefusedURL, match="loopback"):
        check_image_url("http://127.0.0.1/x.png", "https://gone.example", resolve)


@pytest.mark.parametrize(
    "address, reason",
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.2", "a loopback address"),
        ("172.16.0.1", "a private address"),
        ("fd00::1", "a private address"),
        ("fe80::1%eth0", "a link-local address"),
        ("100.64.0.1", "a reserved address"),
        ("224.0.0.1", "a multicast address"),
        ("example.com", "not an IP address"),
    ],
)
def test_non_public_reason(address, reason):
    assert non_public_reason(address) == reason
