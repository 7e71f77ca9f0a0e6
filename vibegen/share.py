"""Links VibeGen shows: a review link carries its token; owner links carry a run id.

Every link is absolute (`<base>/<path>`), because a designer copies it into a chat and a
teammate opens it elsewhere: a relative link means nothing there, and one resolved against the
wrong document (a page URL with a trailing slash) points at a page that does not exist.

`<base>` is the app's root as the browser sees it: scheme, host, port and any path prefix
(Streamlit's `server.baseUrlPath`, or a proxy's), with no trailing slash. `server_base` works
it out from what the page knows; this module imports no Streamlit, so all of it is unit-tested.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from vibegen.errors import ConfigError
from vibegen.raters import is_token
from vibegen.records import RUN_ID, check_run_id

# The app's pages as Streamlit names them in URLs (pages/<n>_<Name>.py -> /<Name>); the main
# page (app.py) is the root. A test checks this against the pages/ folder.
PAGES = ("History", "Review", "Briefs", "Leaderboard", "Models", "Image", "Spend")


# ----------------------------------------------------------------------- paths
def review_path(run_id: str, blind: bool = False) -> str:
    """The path of a run's review page, relative to the app's root."""
    check_run_id(run_id)
    return f"/Review?run={run_id}" + ("&blind=1" if blind else "")


def link_path(token: str) -> str:
    """The path of a review link: its token is all it carries (no run id, no blind flag)."""
    if not is_token(token):
        raise ValueError("a review link token is 16 to 64 URL-safe characters")
    return f"/Review?link={token}"


def blind_image_path(token: str, ref: str) -> str:
    """The path of one image seen through a blind link: named by an opaque reference."""
    if not is_token(token) or not re.fullmatch(r"[0-9a-f]{20}", ref or ""):
        raise ValueError("a blind image is named by its link and a 20-character reference")
    return f"/Image?link={token}&img={ref}"


def run_path(run_id: str) -> str:
    """The path of a run on the Generate page."""
    check_run_id(run_id)
    return f"/?run={run_id}"


def image_path(generation_id: str, blind: bool = False) -> str:
    """The path of one generated image at full size (blind: nothing on it names the model)."""
    if not isinstance(generation_id, str) or not RUN_ID.match(generation_id):
        raise ValueError("an image id is 32 hexadecimal characters")
    return f"/Image?gen={generation_id}" + ("&blind=1" if blind else "")


# ------------------------------------------------------------------------ URLs
def join(base: str, path: str) -> str:
    """`base` (no trailing slash) followed by an app path such as `/Review?run=…`."""
    return base.rstrip("/") + path


def review_url(base: str, run_id: str, blind: bool = False) -> str:
    """The absolute link to a run's review page."""
    return join(base, review_path(run_id, blind))


def link_url(base: str, token: str) -> str:
    """The absolute link a reviewer opens."""
    return join(base, link_path(token))


def blind_image_url(base: str, token: str, ref: str) -> str:
    """The absolute link to an image seen through a blind link."""
    return join(base, blind_image_path(token, ref))


def run_url(base: str, run_id: str) -> str:
    """The absolute link to a run on the Generate page."""
    return join(base, run_path(run_id))


def image_url(base: str, generation_id: str, blind: bool = False) -> str:
    """The absolute link to one image at full size."""
    return join(base, image_path(generation_id, blind))


# --------------------------------------------------------------- the app's base
def clean_base(url: str) -> str:
    """An http(s) URL as a base: no credentials, query, fragment or trailing slash.

    ConfigError if it is not an http(s) URL with a host.
    """
    try:
        parts = urlsplit(url.strip())
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - reading it raises ValueError on a port that is not a number
    except ValueError:  # a malformed IPv6 host or port
        ok = False
    if not ok:
        # The value is not echoed: a mistyped URL may still hold a user:password.
        raise ConfigError(
            "not an http:// or https:// address with a host, such as https://vibegen.example.com"
        )
    # Re-quote the path so a space or bracket cannot end a Markdown link early; keep what is
    # already escaped (%xx) and the characters a path may hold.
    path = quote(parts.path.rstrip("/"), safe="/%:@!$&'*+,;=-._~")
    host = parts.netloc.rpartition("@")[2]  # a user:password@ never goes into a shared link
    return urlunsplit((parts.scheme.lower(), host, path, "", ""))


def base_from_page_url(page_url: str) -> str:
    """The app's base from the URL a page was opened at (Streamlit's `st.context.url`).

    That URL is the base on the main page and `<base>/<Page>` on any other page, with or
    without a trailing slash; the page's name is cut off, never the host.
    """
    base = clean_base(page_url)
    head, _, last = base.rpartition("/")
    if last in PAGES and urlsplit(head).netloc:  # `head` still has a host: `last` is a page
        return head
    return base


def _base_path(base_path: str) -> str:
    path = base_path.strip().strip("/")
    return f"/{quote(path, safe='/%-._~')}" if path else ""


def server_base(
    *,
    public_url: str | None = None,
    page_url: str | None = None,
    host: str | None = None,
    scheme: str | None = None,
    base_path: str = "",
    port: int = 8501,
) -> str:
    """The app's public base URL, from the best source at hand.

    In order: `public_url` (VIBEGEN_PUBLIC_URL: a proxy's address, which the server cannot
    see), the URL the browser opened (`page_url`), the request's Host header (plus
    X-Forwarded-Proto as `scheme`) with Streamlit's `base_path`, and last `localhost:port`
    with `base_path` (no browser at all, as in AppTest). A malformed `public_url` raises
    ConfigError; a malformed `page_url` or `host` falls through to the next source.
    """
    if public_url and public_url.strip():
        return clean_base(public_url)
    if page_url:
        try:
            return base_from_page_url(page_url)
        except ConfigError:
            pass
    proto = (scheme or "").split(",")[0].strip().lower()
    proto = proto if proto in ("http", "https") else "http"
    if host and host.strip():
        try:
            return clean_base(f"{proto}://{host.strip()}{_base_path(base_path)}")
        except ConfigError:
            pass
    return f"http://localhost:{int(port)}{_base_path(base_path)}"
