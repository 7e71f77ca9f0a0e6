"""Where a router's key may go and which image URLs we fetch: one policy, pure functions.

* A router's key goes only to that router's configured host (same scheme, host and port).
  fal hands back status / result / cancel URLs in its submit answer; one on another host is
  refused before anything is sent, so a tampered or buggy answer cannot collect the key.
* An image URL must be http(s), and must not resolve to a loopback, private, link-local or
  otherwise non-public address, unless the router itself is configured on such an address (a
  self-hosted server or a test fake on 127.0.0.1 legitimately serves its images from there).

The resolver is a parameter so the policy is tested without DNS. What the resolver says and
what the HTTP client later connects to can differ (DNS rebinding); closing that gap needs
connecting to the checked address itself, which this module does not do.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

# host name → the IP addresses it resolves to (raises OSError when it does not resolve).
Resolver = Callable[[str], Iterable[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class RefusedURL(ValueError):
    """A URL the policy refuses; the message says why, in words."""


def system_resolve(host: str) -> list[str]:
    """The addresses `host` resolves to through the system resolver."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower().rstrip("."), port or _DEFAULT_PORTS.get(scheme)


def shown_host(url: str) -> str:
    """`host[:port]` of `url` for a message (never the user:pass@ part)."""
    _, host, port = _origin(url)
    scheme = urlsplit(url).scheme.lower()
    return host if port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def same_host(url: str, base_url: str) -> bool:
    """True when `url` has the scheme, host and port of `base_url` (default ports folded)."""
    scheme, host, port = _origin(url)
    return bool(host) and scheme in _DEFAULT_PORTS and (scheme, host, port) == _origin(base_url)


def require_same_host(url: str, base_url: str, what: str = "URL") -> None:
    """RefusedURL unless `url` is on `base_url`'s host (then the key may be sent to it)."""
    if not same_host(url, base_url):
        raise RefusedURL(
            f"refused to send the key to {shown_host(url) or repr(url)}: the {what} "
            f"is not on the configured host {shown_host(base_url)}"
        )


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.split("%")[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip


def non_public_reason(address: str) -> str | None:
    """Why `address` is not a public internet address ("a loopback address"), or None."""
    ip = _address(address)
    if ip is None:
        return "not an IP address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def _addresses(host: str, resolve: Resolver) -> list[str]:
    literal = _address(host.strip("[]"))
    return [str(literal)] if literal is not None else list(resolve(host))


def is_non_public_host(base_url: str, resolve: Resolver = system_resolve) -> bool:
    """True when `base_url`'s host is (or resolves to) a non-public address, e.g. 127.0.0.1."""
    _, host, _ = _origin(base_url)
    if not host:
        return False
    try:
        return any(non_public_reason(a) for a in _addresses(host, resolve))
    except OSError:
        return False  # a base that does not resolve proves nothing about the image host


def check_image_url(url: str, base_url: str, resolve: Resolver = system_resolve) -> None:
    """RefusedURL unless `url` is an http(s) URL we may download an image from.

    Non-public addresses are allowed only when the router (`base_url`) is itself on one.
    """
    scheme, host, _ = _origin(url)
    if scheme not in _DEFAULT_PORTS:
        raise RefusedURL(
            f"refused the image URL: scheme {scheme or '(none)'!r} is not http or https"
        )
    if not host:
        raise RefusedURL("refused the image URL: it has no host")
    try:
        addresses = _addresses(host, resolve)
    except OSError as exc:
        raise RefusedURL(f"refused the image URL: its host {host} does not resolve") from exc
    if not addresses:
        raise RefusedURL(f"refused the image URL: its host {host} does not resolve")
    if is_non_public_host(base_url, resolve):
        return  # a self-hosted router serves its images from its own network
    for address in addresses:
        reason = non_public_reason(address)
        if reason:
            shown = host if host == address else f"{host} ({address})"
            raise RefusedURL(f"refused the image URL: {shown} is {reason}")
