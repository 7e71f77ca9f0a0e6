"""Served to a network, the owner's pages need the owner token; reviewers keep their links.

Every owner page is opened through AppTest with the server bound to 0.0.0.0: without the token
it shows the refusal and no data, with the token it works; on loopback nothing is asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.conftest import OWNER_TOKEN as TOKEN
from vibegen import access
from vibegen.params import CommonParams
from vibegen.runner import Runner
from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent

OWNER_PAGES = [
    "app.py",
    "pages/1_History.py",
    "pages/3_Briefs.py",
    "pages/4_Leaderboard.py",
    "pages/5_Models.py",
    "pages/7_Spend.py",
]
REFUSAL = "This page is for the owner of this VibeGen"
PROMPT = "a secret prompt about a lighthouse"


@pytest.fixture
def a_run(store, fast_sandbox):
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    run_id = runner.start_run(PROMPT, ["sandbox:prism", "sandbox:halo"], CommonParams())
    assert runner.wait(run_id, 20)
    runner.close()
    return run_id


def _texts(at: AppTest) -> str:
    parts = (
        [e.value for e in at.markdown]
        + [e.value for e in at.title]
        + [e.value for e in at.text]
        + [e.value for e in at.caption]
    )
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.1.2.3", True),
        ("0.0.0.0", False),
        ("", False),
        ("192.168.1.20", False),
        ("::", False),
    ],
)
def test_which_bindings_are_loopback(address, loopback):
    assert access.is_loopback(address) is loopback


@pytest.mark.parametrize("page", OWNER_PAGES)
def test_owner_pages_refuse_without_the_token(networked, a_run, page):
    at = AppTest.from_file(str(ROOT / page), default_timeout=30)
    at.query_params["run"] = a_run
    at.run()
    assert not at.exception
    assert REFUSAL in _texts(at)
    assert PROMPT not in _texts(at)  # no data behind the refusal
    assert len(at.dataframe) == 0 and len(at.image) == 0
    assert [b for b in at.button if b.key in ("generate", "retry")] == []


@pytest.mark.parametrize("page", OWNER_PAGES)
def test_owner_pages_open_with_the_token(networked, a_run, page):
    at = AppTest.from_file(str(ROOT / page), default_timeout=30)
    at.query_params["token"] = TOKEN
    at.run()
    assert not at.exception
    assert REFUSAL not in _texts(at)


def test_a_wrong_token_is_refused_and_the_form_accepts_the_right_one(networked, a_run):
    at = AppTest.from_file(str(ROOT / "pages/1_History.py"), default_timeout=30)
    at.query_params["token"] = "not-the-token-at-all"
    at.run()
    assert REFUSAL in _texts(at)
    at.text_input[0].input("still wrong")
    at.button[0].click().run()
    assert "That is not the owner token." in [e.value for e in at.error]
    at.text_input[0].input(TOKEN)
    at.button[0].click().run()
    assert REFUSAL not in _texts(at)
    assert f"**{PROMPT}**" in [m.value for m in at.markdown]  # the run's gallery card


def test_on_loopback_nothing_is_asked(a_run):
    config.set_option("server.address", "127.0.0.1")
    at = AppTest.from_file(str(ROOT / "pages/1_History.py"), default_timeout=30).run()
    assert REFUSAL not in _texts(at)


def test_the_image_page_names_nothing_for_a_reviewer(networked, a_run, store):
    cell = store.run_view(a_run).cells[0]
    at = AppTest.from_file(str(ROOT / "pages/6_Image.py"), default_timeout=30)
    at.query_params["gen"] = cell.id  # no blind flag in the URL
    at.run()
    assert not at.exception
    assert cell.label not in _texts(at) and "seed" not in _texts(at)
    assert len(at.image) == 1


def test_a_short_configured_token_is_flagged():
    assert "at least 16" in access.token_problem({"VIBEGEN_OWNER_TOKEN": "abc"})
    assert access.token_problem({"VIBEGEN_OWNER_TOKEN": TOKEN}) is None
    assert access.matches(TOKEN, TOKEN) and not access.matches("", TOKEN)
