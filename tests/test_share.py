"""Share links: every base URL form a page can be opened at gives links that point at the app."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from vibegen.errors import ConfigError, RunNotFoundError
from vibegen.share import (
    PAGES,
    base_from_page_url,
    clean_base,
    image_path,
    image_url,
    join,
    review_path,
    review_url,
    run_path,
    run_url,
    server_base,
)

ROOT = Path(__file__).resolve().parent.parent
RUN = "0123456789abcdef0123456789abcdef"
GEN = "fedcba9876543210fedcba9876543210"

# (base as the browser sees the app's root, what the links must start with)
BASES = [
    ("http://127.0.0.1:8611", "http://127.0.0.1:8611"),
    ("http://localhost:8501", "http://localhost:8501"),
    ("https://vibegen.example.com", "https://vibegen.example.com"),
    ("http://127.0.0.1:8611/vg", "http://127.0.0.1:8611/vg"),
    ("https://team.example:8443/tools/vibegen", "https://team.example:8443/tools/vibegen"),
    ("http://[::1]:8611", "http://[::1]:8611"),
    ("http://[::1]:8611/vg", "http://[::1]:8611/vg"),
]


def _page_urls(base: str, page: str | None) -> list[str]:
    """Every way the browser may report a page of the app at `base`."""
    where = base if page is None else f"{base}/{page}"
    return [
        where,
        where + "/",
        where + "?run=" + RUN,
        where + "/?run=" + RUN + "&blind=1",
        where + "#top",
    ]


# ---------------------------------------------------------------------- paths
def test_paths_carry_the_id_and_nothing_else():
    assert review_path(RUN) == f"/Review?run={RUN}"
    assert review_path(RUN, blind=True) == f"/Review?run={RUN}&blind=1"
    assert run_path(RUN) == f"/?run={RUN}"
    assert image_path(GEN) == f"/Image?gen={GEN}"
    assert image_path(GEN, blind=True) == f"/Image?gen={GEN}&blind=1"


@pytest.mark.parametrize("bad", ["", "abc", RUN.upper(), RUN + "0", "../" + RUN[3:], None])
def test_malformed_ids_make_no_link(bad):
    with pytest.raises(RunNotFoundError):
        review_path(bad)
    with pytest.raises(RunNotFoundError):
        run_url("http://h", bad)
    with pytest.raises(ValueError):
        image_url("http://h", bad)


# ----------------------------------------------------------------- page URLs
def test_pages_named_here_are_the_app_pages():
    # Streamlit names pages/<n>_<Name>.py "/<Name>" in URLs; a page missing here would keep
    # its name in the base and every link from it would point inside that page.
    on_disk = {re.sub(r"^\d+_", "", p.stem) for p in (ROOT / "pages").glob("*.py")}
    assert set(PAGES) == on_disk


@pytest.mark.parametrize("page", [None, *PAGES])
@pytest.mark.parametrize(("base", "expected"), BASES)
def test_base_from_any_page_url_is_the_app_root(base, expected, page):
    for url in _page_urls(base, page):
        assert base_from_page_url(url) == expected, url
        assert server_base(page_url=url) == expected, url


def test_the_reported_bug_root_without_slash_keeps_the_host():
    # Streamlit reports the main page as "http://host:port", no trailing slash; cutting the
    # last "/" segment made "http:/" and the link "http://Review?run=…".
    assert (
        review_url(server_base(page_url="http://127.0.0.1:8611"), RUN)
        == f"http://127.0.0.1:8611/Review?run={RUN}"
    )


def test_only_a_page_name_is_cut_never_the_host_or_a_base_path():
    assert base_from_page_url("http://Review:8501") == "http://Review:8501"
    assert base_from_page_url("http://Review") == "http://Review"
    assert base_from_page_url("http://h/Reviews") == "http://h/Reviews"
    assert base_from_page_url("http://h/vg/review") == "http://h/vg/review"  # names are exact
    assert base_from_page_url("http://h/Review/Image") == "http://h/Review"  # one page only


@pytest.mark.parametrize(
    ("page_url", "expected"),
    [
        ("HTTP://h:1/vg/", "http://h:1/vg"),
        ("http://h/vg//", "http://h/vg"),
        ("http://h/my tools/Review", "http://h/my%20tools"),
        ("http://h/a(b)/", "http://h/a%28b%29"),
        ("http://h/caf%C3%A9/Review", "http://h/caf%C3%A9"),
        ("http://ann:secret@h:1/vg", "http://h:1/vg"),
    ],
)
def test_base_is_normalised_and_safe_in_markdown(page_url, expected):
    assert base_from_page_url(page_url) == expected


# ------------------------------------------------------------------ links
@pytest.mark.parametrize(("base", "expected"), BASES)
def test_links_from_every_base_form(base, expected):
    for given in (base, base + "/"):
        root = server_base(page_url=given)
        assert review_url(root, RUN) == f"{expected}/Review?run={RUN}"
        assert review_url(root, RUN, blind=True) == f"{expected}/Review?run={RUN}&blind=1"
        assert run_url(root, RUN) == f"{expected}/?run={RUN}"
        assert image_url(root, GEN, blind=True) == f"{expected}/Image?gen={GEN}&blind=1"
        for link in (review_url(root, RUN), run_url(root, RUN), image_url(root, GEN)):
            parts = urlsplit(link)
            assert parts.scheme in ("http", "https") and parts.hostname, link
            assert parts.netloc == urlsplit(expected).netloc, link
            assert parts.path.startswith(urlsplit(expected).path), link
        assert parse_qs(urlsplit(review_url(root, RUN, True)).query) == {
            "run": [RUN],
            "blind": ["1"],
        }


def test_join_takes_a_base_with_or_without_slash():
    assert join("http://h/vg/", "/?run=x") == join("http://h/vg", "/?run=x") == "http://h/vg/?run=x"


# ----------------------------------------------------------- the public URL
@pytest.mark.parametrize(
    ("public", "expected"),
    [
        ("https://vibegen.example.com", "https://vibegen.example.com"),
        ("https://vibegen.example.com/", "https://vibegen.example.com"),
        ("  https://vibegen.example.com/  ", "https://vibegen.example.com"),
        ("https://team.example/vibegen/", "https://team.example/vibegen"),
        ("HTTPS://team.example:8443/vibegen", "https://team.example:8443/vibegen"),
        ("http://10.0.0.5:8501/?x=1#y", "http://10.0.0.5:8501"),
        ("https://bot:hunter2@team.example/vg", "https://team.example/vg"),
    ],
)
def test_public_url_wins_over_what_the_server_sees(public, expected):
    got = server_base(
        public_url=public,
        page_url="http://127.0.0.1:8611/Review",
        host="127.0.0.1:8611",
        base_path="vg",
        port=8611,
    )
    assert got == expected
    assert review_url(got, RUN).startswith(expected + "/Review?run=")
    assert "hunter2" not in got


@pytest.mark.parametrize(
    "bad",
    [
        "team.example/vg",
        "ftp://h/x",
        "https://",
        "http:///vg",
        "https://h:port/",
        "https://[::1/",
        "javascript:alert(1)",
        "https://bot:hunter2@team.example:port/",
    ],
)
def test_a_malformed_public_url_is_a_config_error_that_does_not_echo_it(bad):
    with pytest.raises(ConfigError) as err:
        server_base(public_url=bad, page_url="http://127.0.0.1:8611")
    assert "team.example" not in str(err.value) and "hunter2" not in str(err.value)


def test_a_blank_public_url_is_unset():
    assert server_base(public_url="  ", page_url="http://h:1/Review/") == "http://h:1"


# ------------------------------------------------- no browser URL: headers, port
@pytest.mark.parametrize(
    ("base_path", "suffix"), [("", ""), ("vg", "/vg"), ("/vg/", "/vg"), ("a/b", "/a/b")]
)
def test_without_a_page_url_host_header_and_base_path(base_path, suffix):
    assert (
        server_base(host="team.local:8501", base_path=base_path)
        == f"http://team.local:8501{suffix}"
    )
    assert (
        server_base(host="team.local", scheme="https", base_path=base_path)
        == f"https://team.local{suffix}"
    )
    assert (
        server_base(host="team.local", scheme="https, http", base_path=base_path)
        == f"https://team.local{suffix}"
    )
    assert (
        server_base(host="team.local", scheme="gopher", base_path=base_path)
        == f"http://team.local{suffix}"
    )
    assert server_base(base_path=base_path, port=8611) == f"http://localhost:8611{suffix}"


def test_a_broken_page_url_or_host_falls_through():
    assert server_base(page_url="not a url", host="h:1") == "http://h:1"
    assert server_base(page_url="", host="[::1", port=9) == "http://localhost:9"
    assert clean_base("http://h:1") == "http://h:1"
