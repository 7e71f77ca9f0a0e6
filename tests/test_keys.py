"""API keys never reach the database, the data directory, logs, exports, page text or links.

Every router runs against its fake with distinctive fake keys — including a refused key, so
the routers' error messages are exercised too — then everything VibeGen writes is searched.
"""

from __future__ import annotations

import base64
import io
import logging
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes.fal_server import FalFake
from tests.fakes.kie_server import KieFake
from tests.fakes.openai_server import OpenAIFake
from tests.fakes.sd_server import SDFake
from vibegen import exports, report
from vibegen.keys import env_secrets
from vibegen.leaderboard import build_leaderboard
from vibegen.params import CommonParams
from vibegen.ratings import make_rating
from vibegen.runner import Runner
from vibegen.settings import load_settings
from vibegen.share import link_path, review_path, run_path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {
    "FAL_KEY": "falkeyid0000111:falsecretAAAA2222BBBB",
    "KIE_API_KEY": "kiesecretCCCC3333DDDD4444",
    "OPENAI_API_KEY": "sk-openaisecretEEEE5555FFFF6666",
    "VIBEGEN_SD_AUTH": "sduser:sdpasswordGGGG7777",
}
MODELS = [
    "fal:flux-schnell",
    "kie:nano-banana-pro",
    "openai:gpt-image-2",
    "sd:local",
    "sandbox:prism",
]


def keys() -> list[str]:
    """The key values this test's environment sets (an entry point passes them to exports)."""
    return env_secrets(load_settings().environ)


def _needles() -> list[bytes]:
    parts = set()
    for value in KEYS.values():
        parts.add(value)
        parts.update(p for p in value.split(":") if len(p) >= 8)
    return [p.encode() for p in parts]


def _assert_clean(blob: bytes, where: str) -> None:
    for needle in _needles():
        assert needle not in blob, f"a key ({needle[:6]!r}…) leaked into {where}"


def _page_text(node) -> str:
    """Every element's full protobuf text, recursively: what the browser would receive."""
    parts = [str(getattr(node, "proto", "") or "")]
    for child in getattr(node, "children", {}).values():
        parts.append(_page_text(child))
    return "\n".join(parts)


@pytest.fixture
def fakes():
    with (
        FalFake(key=KEYS["FAL_KEY"]) as fal,
        KieFake(key=KEYS["KIE_API_KEY"]) as kie,
        OpenAIFake(key=KEYS["OPENAI_API_KEY"]) as oai,
        SDFake(auth=KEYS["VIBEGEN_SD_AUTH"]) as sd,
    ):
        yield {"fal": fal, "kie": kie, "openai": oai, "sd": sd}


def test_keys_are_never_written_anywhere(
    fakes, store, isolated_env, monkeypatch, caplog, fast_sandbox
):
    env = dict(
        KEYS,
        VIBEGEN_FAL_URL=fakes["fal"].url,
        VIBEGEN_KIE_URL=fakes["kie"].url,
        OPENAI_BASE_URL=fakes["openai"].url,
        VIBEGEN_SD_URL=fakes["sd"].url,
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    runner = Runner(
        store,
        env=env,
        heartbeat=False,
        router_options={"fal": {"poll_interval": 0.01}, "kie": {"poll_interval": 0.004}},
    )
    run_id = runner.start_run("a lighthouse", MODELS, CommonParams(seed=5))
    assert runner.wait(run_id, 60)
    view = store.run_view(run_id)
    assert {c.model_key: c.status for c in view.cells} == dict.fromkeys(MODELS, "ok")

    # a refused key on every router: error messages must not echo it
    for fake in ("fal", "kie", "openai"):
        fakes[fake].script("401")
    failed = runner.start_run("a lighthouse", MODELS[:3], CommonParams())
    assert runner.wait(failed, 60)
    assert {c.error_kind for c in store.run_view(failed).cells} == {"auth"}
    runner.close()

    for cell in view.cells:
        store.rate(run_id, "Ana", make_rating("stars", cell.id, 4), blind=False)
    ana = store.current_ratings(run_id)[0]["rater_id"]
    links = (
        review_path(run_id)
        + review_path(run_id, blind=True)
        + run_path(run_id)
        + link_path(store.team.team_link(run_id, blind=True).token)
    )
    _assert_clean(links.encode(), "share links")

    pages = []
    for path, query in (
        ("app.py", {"run": run_id}),
        ("pages/2_Review.py", {"run": run_id}),
        ("pages/1_History.py", {}),
        ("pages/4_Leaderboard.py", {}),
        ("pages/5_Models.py", {}),
        ("pages/7_Spend.py", {}),
    ):
        at = AppTest.from_file(str(ROOT / path), default_timeout=30)
        for k, v in query.items():
            at.query_params[k] = v
        at.session_state["rater_id"] = ana
        at.run()
        assert not at.exception, path
        pages.append(_page_text(at._tree).encode())
    assert b"a lighthouse" in pages[0] and b"Ana" in pages[1]  # the dump holds the page text
    for path, page in zip(
        ["run", "review", "history", "leaderboard", "models", "spend"], pages, strict=True
    ):
        _assert_clean(page, f"the {path} page")

    outputs = {
        "runs.csv": exports.runs_csv(store, secrets=keys()),
        "runs.json": exports.runs_json(store, secrets=keys()),
        "images.csv": exports.images_csv(store, secrets=keys()),
        "images.json": exports.images_json(store, secrets=keys()),
        "ratings.csv": exports.ratings_csv(store, secrets=keys()),
        "ratings.json": exports.ratings_json(store, secrets=keys()),
        "run.zip": exports.run_zip(store, run_id, secrets=keys()),
        "blind.zip": exports.run_zip(store, run_id, blind=True, secrets=keys()),
        "run report": report.run_report_html(store, run_id, secrets=keys()).encode(),
    }
    lb = build_leaderboard(store.generations_frame(), store.ratings_frame(), include_sandbox=True)
    outputs.update(
        {
            "leaderboard.csv": exports.leaderboard_csv(lb, secrets=keys()),
            "leaderboard.json": exports.leaderboard_json(lb, secrets=keys()),
            "leaderboard report": report.leaderboard_report_html(lb, secrets=keys()).encode(),
        }
    )
    for name, blob in outputs.items():
        blob = blob.encode() if isinstance(blob, str) else blob
        assert len(blob) > 100, name
        _assert_clean(blob, f"the export {name}")
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(blob)) as zf:
                for member in zf.namelist():
                    _assert_clean(zf.read(member), f"{name}/{member}")

    store.engine.dispose()
    for file in isolated_env.rglob("*"):
        if file.is_file():
            _assert_clean(file.read_bytes(), f"the data directory ({file.name})")
    _assert_clean(caplog.text.encode(), "the logs")


# ------------------------------------------------------------------ redact, encoded forms
def test_redact_catches_the_key_raw_halved_base64_and_url_encoded():
    from urllib.parse import quote

    from vibegen.keys import redact

    key = KEYS["FAL_KEY"]
    key_id, secret = key.split(":")
    b64 = base64.b64encode(key.encode()).decode()
    texts = [
        key,
        f"id {key_id} only",
        f"Basic {b64}",
        f"b64 {b64.rstrip('=')}",
        f"secret b64 {base64.b64encode(secret.encode()).decode()}",
        f"url {quote(key, safe='')}",
        f"lower {quote(key, safe='').replace('%3A', '%3a')}",
        f"urlsafe {base64.urlsafe_b64encode(key.encode()).decode()}",
    ]
    for text in texts:
        out = redact(text, [key])
        assert "***" in out, text
        for needle in (key_id, secret, b64.rstrip("=")):
            assert needle not in out


def test_redact_basic_auth_login():
    from vibegen.keys import redact

    login = KEYS["VIBEGEN_SD_AUTH"]
    header = "Authorization: Basic " + base64.b64encode(login.encode()).decode()
    assert redact(header, [login]) == "Authorization: Basic ***"


def test_redact_leaves_short_fragments_and_plain_text_alone():
    from vibegen.keys import redact

    assert redact("a:b is fine", ["a:b"]) == "a:b is fine"
    assert redact("nothing to hide", [KEYS["KIE_API_KEY"]]) == "nothing to hide"
