"""Every link a page shows is absolute and starts with the app's base (AppTest, no browser).

The browser's URL is seeded through `AppTest.context["url"]`, as Streamlit reports it
(`st.context.url`); the real-browser twin is tests/e2e/test_links_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["sandbox:prism", "sandbox:halo"]
HEX = "[0-9a-f]{32}"
TOKEN = "[A-Za-z0-9_-]{32}"


@pytest.fixture
def run_id(fast_sandbox, store):
    """A finished two-model sandbox run, made in-process."""
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        rid = runner.start_run("a lighthouse", MODELS, CommonParams())
        assert runner.wait(rid, 30)
    finally:
        runner.close()
    return rid


def _page(path: str, url: str | None, rater: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=30)
    if url is not None:
        at.context = {"url": url}
    if rater:
        at.session_state["rater_id"] = rater
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _codes(at: AppTest) -> list[str]:
    return [c.value for c in at.code]


def _image_links(at: AppTest) -> list[str]:
    return [i.proto.link for i in at.image if i.proto.link]


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8611", "http://127.0.0.1:8611"),  # how Streamlit reports "/"
        ("http://127.0.0.1:8611/", "http://127.0.0.1:8611"),
        ("http://127.0.0.1:8611/vg", "http://127.0.0.1:8611/vg"),  # server.baseUrlPath=vg
        ("https://team.example/tools/vibegen", "https://team.example/tools/vibegen"),
    ],
)
def test_generate_page_shares_absolute_links(run_id, store, url, base):
    at = _page("app.py", url, run=run_id)
    team, blind = (store.team.team_link(run_id, blind=b).token for b in (False, True))
    assert _codes(at) == [f"{base}/Review?link={team}", f"{base}/Review?link={blind}"]
    assert team != blind and run_id not in team + blind
    links = _image_links(at)
    assert len(links) == len(MODELS)
    assert all(re.fullmatch(re.escape(f"{base}/Image?gen=") + HEX, link) for link in links)


def test_public_url_is_what_every_link_starts_with(run_id, store, monkeypatch):
    monkeypatch.setenv("VIBEGEN_PUBLIC_URL", "https://vibegen.example.com/team/")
    at = _page("app.py", "http://127.0.0.1:8611", run=run_id)
    public = "https://vibegen.example.com/team"
    assert [
        re.fullmatch(re.escape(f"{public}/Review?link=") + TOKEN, c) is not None for c in _codes(at)
    ] == [True, True]
    assert all(link.startswith(public + "/Image?gen=") for link in _image_links(at))
    ana = store.team.join("Ana", "owner")[0].id
    review = _page("pages/2_Review.py", "http://127.0.0.1:8611/Review", rater=ana, run=run_id)
    assert all(link.startswith(public + "/Image?gen=") for link in _image_links(review))


def test_a_malformed_public_url_is_said_and_links_still_open(run_id, monkeypatch):
    monkeypatch.setenv("VIBEGEN_PUBLIC_URL", "vibegen.example.com")
    at = _page("app.py", "http://127.0.0.1:8611/", run=run_id)
    assert re.fullmatch(re.escape("http://127.0.0.1:8611/Review?link=") + TOKEN, _codes(at)[0])
    assert any("VIBEGEN_PUBLIC_URL is ignored" in w.value for w in at.warning)


def test_without_a_browser_url_links_name_the_server_port(run_id):
    at = _page("app.py", None, run=run_id)
    assert re.fullmatch(re.escape("http://localhost:8501/Review?link=") + TOKEN, _codes(at)[0])


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8611/Review", "http://127.0.0.1:8611"),
        ("http://127.0.0.1:8611/Review/", "http://127.0.0.1:8611"),
        ("http://127.0.0.1:8611/vg/Review", "http://127.0.0.1:8611/vg"),
    ],
)
@pytest.mark.parametrize("blind", [False, True])
def test_review_page_image_links_point_at_the_image_page(run_id, store, url, base, blind):
    from vibegen.raters import image_ref

    link = store.team.team_link(run_id, blind=blind)
    ana = store.team.join("Ana", "joined")[0].id
    at = _page("pages/2_Review.py", url, rater=ana, link=link.token)
    links = _image_links(at)
    assert len(links) == len(MODELS)
    ids = {c.id for c in store.run_view(run_id).cells}
    if blind:  # through a blind link an image is named by an opaque reference, never its id
        refs = {image_ref(link.token, i) for i in ids}
        prefix = f"{base}/Image?link={link.token}&img="
        assert {x.removeprefix(prefix) for x in links} == refs
        assert not any(i in x for x in links for i in ids)
    else:
        assert {x.removeprefix(f"{base}/Image?gen=") for x in links} == ids


def test_image_page_links_back_to_the_run(run_id, store):
    gen = store.run_view(run_id).cells[0].id
    at = _page("pages/6_Image.py", "http://127.0.0.1:8611/vg/Image", gen=gen)
    assert any(f"(http://127.0.0.1:8611/vg/?run={run_id})" in m.value for m in at.markdown)


def test_briefs_page_links_to_its_runs(fast_sandbox, store):
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    brief = store.save_prompt_set("Posters", ["a fox"])
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        runner.start_prompt_set(brief, MODELS[:1], CommonParams())
        run_id = store.runs_of_prompt_set(brief)[0]
        assert runner.wait(run_id, 30)
    finally:
        runner.close()
    at = _page("pages/3_Briefs.py", "http://127.0.0.1:8611/vg/Briefs/")
    line = next(m.value for m in at.markdown if "review" in m.value and run_id in m.value)
    assert f"(http://127.0.0.1:8611/vg/?run={run_id})" in line
    assert f"(http://127.0.0.1:8611/vg/Review?run={run_id})" in line  # the owner's own review
