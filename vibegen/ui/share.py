"""This server's public base URL, as the links a designer sends to the team need it.

`base_url` is the one place a page learns where the app lives; link paths come from
`vibegen.share`.
"""

from __future__ import annotations

import streamlit as st

from vibegen.errors import ConfigError
from vibegen.settings import PUBLIC_URL_ENV, Settings
from vibegen.share import server_base
from vibegen.ui.runtime import settings as page_settings


def _context(name: str) -> object | None:
    try:
        return getattr(st.context, name)
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest) there is no context
        return None


def _detected_base() -> str:
    headers = _context("headers")
    get = getattr(headers, "get", None)
    url = _context("url")  # what the browser opened: host, port and path prefix
    return server_base(
        page_url=url if isinstance(url, str) else None,
        host=get("Host") if get else None,
        scheme=get("X-Forwarded-Proto") if get else None,
        base_path=str(st.get_option("server.baseUrlPath") or ""),
        port=int(st.get_option("server.port") or 8501),
    )


def public_url_problem(settings: Settings | None = None) -> str | None:
    """Why VIBEGEN_PUBLIC_URL cannot be used, or None when it is unset or fine."""
    value = (settings or page_settings()).public_url
    if not value.strip():
        return None
    try:
        server_base(public_url=value)
    except ConfigError as exc:
        return f"{PUBLIC_URL_ENV} is ignored: it is {exc}."
    return None


def base_url(settings: Settings | None = None) -> str:
    """The app's public base URL, no trailing slash: VIBEGEN_PUBLIC_URL, else as opened."""
    value = (settings or page_settings()).public_url
    try:
        return server_base(public_url=value) if value.strip() else _detected_base()
    except ConfigError:  # a malformed setting: links from the address bar still open
        return _detected_base()
