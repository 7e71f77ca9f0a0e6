"""Exports: CSV/JSON of runs, images, ratings and the leaderboard; run ZIPs; no key ever."""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import io
import json
import re
import sys
import threading
import zipfile

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from vibegen import exports, report
from vibegen.costs import Cost
from vibegen.keys import env_secrets
from vibegen.leaderboard import build_leaderboard
from vibegen.ratings import make_rating
from vibegen.records import CellSpec
from vibegen.routers.sandbox_router import render
from vibegen.settings import load_settings
from vibegen.store import Store

PROMPT = "<script>alert(1)</script> ![x](http://e/x.png)"
ERROR = "<img src=x onerror=alert(1)> content filtered"
# Strings that name a model or router: none may reach a blind ZIP.
MODEL_WORDS = ["flux-dev", "FLUX dev", "fal-ai", "seedream", "Seedream", "gpt-image", "GPT Image"]


def keys() -> list[str]:
    """The key values this test's environment sets (an entry point passes them to exports)."""
    return env_secrets(load_settings().environ)


def png_with_metadata(prompt: str, seed: int, text: dict[str, str]) -> bytes:
    """A sandbox PNG carrying text chunks (as some routers write the model into the file)."""
    img = Image.open(io.BytesIO(render("rings", prompt, seed, 64, 64)))
    info = PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    out = io.BytesIO()
    img.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_exif(prompt: str, seed: int, software: str) -> bytes:
    """A sandbox image as JPEG whose EXIF names the model."""
    img = Image.open(io.BytesIO(render("blocks", prompt, seed, 64, 48))).convert("RGB")
    exif = Image.Exif()
    exif[0x0131] = software  # Software tag
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def make_run(
    store: Store,
    prompt: str = PROMPT,
    *,
    error: str = ERROR,
    png_text: dict[str, str] | None = None,
) -> str:
    """A run of 4 cells: two FLUX images (PNG with text chunks, JPEG with EXIF), one
    Seedream image of unknown cost, one GPT Image content-filter failure."""
    specs = [
        CellSpec(
            "fal:flux-dev",
            "fal",
            "FLUX dev",
            0,
            prompt,
            {"size": "64x64"},
            {},
            Cost(0.025, "estimated"),
            64,
            64,
        ),
        CellSpec(
            "fal:flux-dev",
            "fal",
            "FLUX dev",
            1,
            prompt,
            {"size": "64x64"},
            {},
            Cost(0.025, "estimated"),
            64,
            64,
        ),
        CellSpec(
            "kie:seedream",
            "kie",
            "Seedream",
            0,
            prompt,
            {"size": "64x64"},
            {"seed": "not supported"},
            Cost(None, "unknown"),
            64,
            64,
        ),
        CellSpec(
            "openai:gpt-image",
            "openai",
            "GPT Image",
            0,
            prompt,
            {"size": "64x64"},
            {},
            Cost(0.04, "estimated"),
            64,
            64,
        ),
    ]
    run_id = store.create_run(prompt, {"size": "64x64", "images_per_model": 2}, specs)
    a, b, c, d = store.run_view(run_id).cells
    text = {"parameters": "model: fal-ai/flux-dev (FLUX dev)", "Software": "flux-dev"}
    store.save_success(
        a.id,
        png_with_metadata(prompt, 1, text | (png_text or {})),
        cost=Cost(0.025, "reported", "1 billable unit", "https://fal.ai/x", "2026-01-01"),
        wall_s=3.25,
        seed="42",
        queue_s=0.5,
        inference_s=2.5,
    )
    store.save_success(
        b.id,
        jpeg_with_exif(prompt, 2, "flux-dev"),
        cost=Cost(0.03, "reported", "1.2 billable units"),
        wall_s=4.0,
        seed="43",
    )
    store.save_success(
        c.id,
        render("waves", prompt, 3, 64, 64),
        cost=Cost(None, "unknown", "no price known"),
        wall_s=9.5,
    )
    store.save_failure(d.id, kind="content_filter", message=error, wall_s=1.5)
    return run_id


def rate_run(store: Store, run_id: str, rater: str = "<b>Bo</b>") -> None:
    """Ana picks a best (after changing her mind), Bo stars, a third rater votes a pair."""
    a, b, c, _ = store.run_view(run_id).cells
    store.rate(run_id, "Ana", make_rating("best", c.id, 1), blind=False)
    store.rate(run_id, "Ana", make_rating("best", a.id, 1), blind=False)
    store.rate(run_id, "Ana", make_rating("reject", c.id, 1), blind=False)
    store.rate(run_id, "Ana", make_rating("reject", c.id, None), blind=False)  # undone
    store.rate(run_id, rater, make_rating("stars", c.id, 4), blind=True)
    store.rate(run_id, "=cmd|' /C calc'!A0", make_rating("pair", a.id, "a", c.id), blind=True)


def read_csv(data: bytes) -> list[dict[str, str]]:
    """CSV export bytes back into rows (checking the BOM is there for Excel)."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def strict_json(data: bytes):
    """JSON export bytes back into data; NaN or Infinity would be invalid JSON."""

    def refuse(name: str):
        raise AssertionError(f"{name} in JSON output")

    return json.loads(data.decode("utf-8"), parse_constant=refuse)


def open_zip(data: bytes) -> dict[str, bytes]:
    """Every member of a ZIP, decompressed."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


# ------------------------------------------------------------------------- runs
def test_runs_csv_and_json_parse_back_one_row_per_run(store):
    first = make_run(store)
    second = store.create_run(
        "a lighthouse",
        {},
        [
            CellSpec(
                "fal:flux-dev",
                "fal",
                "FLUX dev",
                0,
                "a lighthouse",
                {},
                {},
                Cost(0.025, "estimated"),
            )
        ],
    )
    rows = read_csv(exports.runs_csv(store, secrets=keys()))
    assert list(rows[0]) == exports.RUN_COLUMNS
    assert [r["run_id"] for r in rows] == [second, first]  # newest first, like History
    got = rows[1]
    assert got["prompt"] == PROMPT  # literal, not guarded (it does not start a formula)
    assert (got["status"], got["models"], got["cells"], got["images_ok"], got["failures"]) == (
        "complete with failures",
        "3",
        "4",
        "3",
        "1",
    )
    assert float(got["cost_usd"]) == pytest.approx(0.055)
    assert got["unknown_costs"] == "1" and float(got["slowest_wall_s"]) == 9.5
    assert json.loads(got["params"]) == {"size": "64x64", "images_per_model": 2}
    assert rows[0]["status"] == "running" and rows[0]["slowest_wall_s"] == ""

    data = strict_json(exports.runs_json(store, secrets=keys()))
    assert [r["run_id"] for r in data] == [second, first]
    assert data[1]["params"] == {"size": "64x64", "images_per_model": 2}
    created = dt.datetime.fromisoformat(data[1]["created_at"])
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
    assert data[0]["slowest_wall_s"] is None


# ----------------------------------------------------------------------- images
def test_images_export_has_one_row_per_generation_and_no_bytes(store):
    run_id = make_run(store)
    other = make_run(store, "another prompt")
    rows = read_csv(exports.images_csv(store, run_id, secrets=keys()))
    assert list(rows[0]) == exports.IMAGE_COLUMNS
    cells = store.run_view(run_id).cells
    assert [r["generation_id"] for r in rows] == [c.id for c in cells]
    a, b, c, d = rows
    assert (a["model_key"], a["router"], a["label"], a["status"], a["seed"]) == (
        "fal:flux-dev",
        "fal",
        "FLUX dev",
        "ok",
        "42",
    )
    assert (float(a["wall_s"]), float(a["queue_s"]), float(a["inference_s"])) == (3.25, 0.5, 2.5)
    assert (
        float(a["cost_usd"]),
        a["cost_kind"],
        a["cost_basis"],
        a["cost_source"],
        a["cost_seen"],
    ) == (0.025, "reported", "1 billable unit", "https://fal.ai/x", "2026-01-01")
    assert (a["width"], a["height"], b["width"], b["height"]) == ("64", "64", "64", "48")
    assert (c["cost_usd"], c["cost_kind"]) == ("", "unknown")  # unknown, never 0
    assert json.loads(c["notes"]) == {"seed": "not supported"}
    assert (d["status"], d["error_kind"], d["error_message"]) == ("error", "content_filter", ERROR)
    assert d["seed"] == "" and d["cost_usd"] == "0.04"  # the estimate stays on a failure

    data = strict_json(exports.images_json(store, run_id, secrets=keys()))
    assert [r["generation_id"] for r in data] == [c.id for c in cells]
    assert data[2]["cost_usd"] is None and data[3]["error_message"] == ERROR
    assert data[0]["params"] == {"size": "64x64"}
    assert dt.datetime.fromisoformat(data[0]["finished_at"]).tzinfo is not None
    # Every run when no run is given; never image bytes (PNG, JPEG or base64) in either.
    everything = exports.images_csv(store, secrets=keys())
    assert len(read_csv(everything)) == 8
    assert {r["run_id"] for r in strict_json(exports.images_json(store, secrets=keys()))} == {
        run_id,
        other,
    }
    for blob in (
        everything,
        exports.images_json(store, secrets=keys()),
    ):
        assert b"\x89PNG" not in blob and b"\xff\xd8\xff" not in blob
        assert not re.search(rb"[A-Za-z0-9+/]{200,}", blob)


# ---------------------------------------------------------------------- ratings
def test_ratings_export_is_current_ratings_with_models(store):
    run_id = make_run(store)
    rate_run(store, run_id)
    a, _, c, _ = store.run_view(run_id).cells
    rows = read_csv(exports.ratings_csv(store, run_id, secrets=keys()))
    assert list(rows[0]) == exports.RATING_COLUMNS
    vote = make_rating("pair", a.id, "a", c.id)  # stored with its ids in sorted order
    got = {(r["rater"], r["mode"], r["generation_id"], r["value"]) for r in rows}
    assert got == {
        ("Ana", "best", a.id, "1"),
        ("<b>Bo</b>", "stars", c.id, "4"),
        ("'=cmd|' /C calc'!A0", "pair", vote.generation_id, vote.value),
    }
    models = {a.id: "fal:flux-dev", c.id: "kie:seedream"}
    pair = next(r for r in rows if r["mode"] == "pair")
    assert (
        pair["model_key"],
        pair["other_generation_id"],
        pair["other_model_key"],
        pair["blind"],
    ) == (
        models[vote.generation_id],
        vote.other_generation_id,
        models[vote.other_generation_id],
        "true",
    )

    data = strict_json(exports.ratings_json(store, secrets=keys()))
    assert len(data) == 3
    assert {r["rater"] for r in data} == {"Ana", "<b>Bo</b>", "=cmd|' /C calc'!A0"}
    assert all(isinstance(r["blind"], bool) for r in data)
    assert all(dt.datetime.fromisoformat(r["created_at"]).tzinfo for r in data)


# ----------------------------------------------------------------- CSV injection
@pytest.mark.parametrize(
    "text", ["=1+2", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://e/x","click")']
)
def test_formula_starts_are_neutralised(text):
    assert exports.csv_safe(text) == "'" + text
    assert exports.csv_safe("a " + text) == "a " + text


def test_untrusted_prompts_cannot_become_spreadsheet_formulas(store):
    prompt = '=HYPERLINK("http://e/x","click")'
    run_id = make_run(store, prompt, error="-1 credits left")
    rate_run(store, run_id, rater="@SUM(A1)")
    for data in (
        exports.runs_csv(store, secrets=keys()),
        exports.images_csv(store, secrets=keys()),
        exports.ratings_csv(store, secrets=keys()),
    ):
        for row in read_csv(data):
            for value in row.values():
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert read_csv(exports.runs_csv(store, secrets=keys()))[0]["prompt"] == "'" + prompt
    assert (
        read_csv(exports.images_csv(store, secrets=keys()))[3]["error_message"]
        == "'-1 credits left"
    )
    # JSON is data, not a spreadsheet: it keeps the text exactly as typed.
    assert strict_json(exports.runs_json(store, secrets=keys()))[0]["prompt"] == prompt


# ------------------------------------------------------------------ leaderboard
def rated_leaderboard(store: Store):
    """A leaderboard over two runs with enough pair votes to rank FLUX above Seedream."""
    for n in range(2):
        run_id = make_run(store, f"prompt {n}")
        a, b, c, _ = store.run_view(run_id).cells
        for k in range(12):
            store.rate(
                run_id, f"r{k}", make_rating("pair", a.id, "a" if k % 4 else "b", c.id), blind=True
            )
            store.rate(
                run_id,
                f"r{k}",
                make_rating("pair", b.id, "a" if k % 3 else "tie", c.id),
                blind=True,
            )
    return build_leaderboard(store.generations_frame(), store.ratings_frame())


def test_leaderboard_csv_and_json(store):
    lb = rated_leaderboard(store)
    rows = read_csv(exports.leaderboard_csv(lb, secrets=keys()))
    assert list(rows[0]) == list(lb.table.columns)
    assert [r["model_key"] for r in rows] == list(lb.table["model_key"])
    flux = next(r for r in rows if r["model_key"] == "fal:flux-dev")
    assert flux["cost_kinds"] == "reported=4" and flux["rank"] == "1"
    assert flux["pareto"] == "true" and float(flux["cost_per_image"]) == pytest.approx(0.0275)
    seedream = next(r for r in rows if r["model_key"] == "kie:seedream")
    assert seedream["cost_per_image"] == "" and seedream["cost_kinds"] == "unknown=2"
    gpt = next(r for r in rows if r["model_key"] == "openai:gpt-image")
    assert (gpt["votes"], gpt["rank"], gpt["fail_content_filter"]) == ("0", "", "2")

    data = strict_json(exports.leaderboard_json(lb, secrets=keys()))
    assert [r["model_key"] for r in data["table"]] == list(lb.table["model_key"])
    by_key = {r["model_key"]: r for r in data["table"]}
    assert by_key["fal:flux-dev"]["cost_kinds"] == {"reported": 4}
    assert by_key["fal:flux-dev"]["rank"] == 1 and by_key["openai:gpt-image"]["rank"] is None
    assert by_key["kie:seedream"]["cost_per_image"] is None  # NaN -> null
    assert by_key["openai:gpt-image"]["wall_p50_s"] is None
    assert data["pareto"] == list(lb.pareto) and "fal:flux-dev" in data["pareto"]
    assert data["pareto_excluded"] == ["kie:seedream"]
    assert data["notes"] == list(lb.notes) and any("Seedream (kie)" in n for n in data["notes"])
    assert data["callout"]["model_key"] == lb.callout.model_key
    assert data["callout"]["text"] == lb.callout.text
    assert data["filters"]["include_sandbox"] is False and data["level"] == 0.95
    assert data["votes_needed"]["a"] == lb.votes_needed.a
    dt.datetime.fromisoformat(data["generated_at"])


def test_leaderboard_export_of_an_empty_store(store):
    lb = build_leaderboard(store.generations_frame(), store.ratings_frame())
    assert read_csv(exports.leaderboard_csv(lb, secrets=keys())) == []
    data = strict_json(exports.leaderboard_json(lb, secrets=keys()))
    assert data["table"] == [] and data["callout"] is None and data["pareto"] == []


# --------------------------------------------------------------------------- ZIP
def test_run_zip_has_every_image_and_a_manifest(store):
    run_id = make_run(store)
    cells = store.run_view(run_id).cells
    files = open_zip(exports.run_zip(store, run_id, secrets=keys()))
    assert sorted(files) == sorted(
        ["01-flux-dev.png", "02-flux-dev-2.jpg", "03-seedream.png", "manifest.json", "manifest.csv"]
    )
    # Originals, byte for byte (with their metadata: this is the named export).
    assert files["01-flux-dev.png"] == store.image(cells[0].id)
    assert files["02-flux-dev-2.jpg"] == store.image(cells[1].id)
    rows = read_csv(files["manifest.csv"])
    assert list(rows[0]) == exports.MANIFEST_COLUMNS
    assert [(r["file"], r["generation_id"], r["model_key"], r["status"]) for r in rows] == [
        ("01-flux-dev.png", cells[0].id, "fal:flux-dev", "ok"),
        ("02-flux-dev-2.jpg", cells[1].id, "fal:flux-dev", "ok"),
        ("03-seedream.png", cells[2].id, "kie:seedream", "ok"),
        ("", cells[3].id, "openai:gpt-image", "error"),
    ]
    first = rows[0]
    assert (
        first["router"],
        first["label"],
        first["seed"],
        float(first["wall_s"]),
        float(first["cost_usd"]),
        first["cost_kind"],
    ) == ("fal", "FLUX dev", "42", 3.25, 0.025, "reported")
    assert first["sha256"] == __import__("hashlib").sha256(files["01-flux-dev.png"]).hexdigest()
    assert rows[3]["error_message"] == ERROR
    manifest = strict_json(files["manifest.json"])
    assert manifest["run_id"] == run_id and manifest["prompt"] == PROMPT
    assert manifest["blind"] is False
    assert [r["file"] for r in manifest["images"]] == [r["file"] or None for r in rows]
    assert manifest["images"][2]["cost_usd"] is None


def test_blind_zip_names_no_model_anywhere(store):
    run_id = make_run(store)
    cells = store.run_view(run_id).cells
    blob = exports.run_zip(store, run_id, blind=True, secrets=keys())
    files = open_zip(blob)
    images = sorted(n for n in files if n.startswith("image-"))
    assert images == ["image-01.png", "image-02.png", "image-03.png"]
    assert sorted(files) == images + ["manifest.csv", "manifest.json"]
    rows = read_csv(files["manifest.csv"])
    assert list(rows[0]) == exports.BLIND_MANIFEST_COLUMNS
    assert [r["file"] for r in rows] == images
    manifest = strict_json(files["manifest.json"])
    assert set(manifest) == {"run_id", "created_at", "prompt", "blind", "images"}
    assert all(set(r) == set(exports.BLIND_MANIFEST_COLUMNS) for r in manifest["images"])
    for name in ("manifest.csv", "manifest.json"):
        text = files[name].decode("utf-8-sig").lower()
        for word in (
            "fal",
            "kie",
            "openai",
            "flux",
            "seedream",
            "gpt",
            "cost",
            "wall",
            "seed",
            "router",
            "model",
            "generation",
            *(c.id for c in cells),
        ):
            assert word not in text, (name, word)
    for name in images:
        data = files[name]
        for word in MODEL_WORDS:
            assert word.encode() not in data, (name, word)
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "PNG"
            assert img.text == {} and "exif" not in img.info and "icc_profile" not in img.info
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        # One timestamp for all: per-image times would give away which model is fast.
        assert len({i.date_time for i in zf.infolist()}) == 1
        assert not any(w.lower() in (zf.comment or b"").decode().lower() for w in MODEL_WORDS)

    # The named ZIP says which blind file is which, and the pixels match.
    named = open_zip(exports.run_zip(store, run_id, secrets=keys()))
    for row in read_csv(named["manifest.csv"]):
        if not row["file"]:
            assert row["blind_file"] == ""
            continue
        with (
            Image.open(io.BytesIO(named[row["file"]])) as a,
            Image.open(io.BytesIO(files[row["blind_file"]])) as b,
        ):
            assert a.convert("RGB").tobytes() == b.convert("RGB").tobytes()
    assert (
        open_zip(exports.run_zip(store, run_id, blind=True, secrets=keys())).keys() == files.keys()
    )


# --------------------------------------------------------------------------- keys
KEYS = {
    "FAL_KEY": "fal-id-1234:fal-secret-abcdef987654",
    "KIE_API_KEY": "kie-test-key-5f5f5f5f5f",
    "OPENAI_API_KEY": "sk-test-openai-0123456789abcdef",
    "VIBEGEN_SD_AUTH": "sduser-xyz:sd-password-42424242",
}


def _key_parts() -> list[str]:
    parts = set(KEYS.values())
    for value in KEYS.values():
        parts.update(p for p in value.split(":") if len(p) >= 4)
    return sorted(parts)


def _payloads(name: str, data: bytes | str) -> list[tuple[str, bytes]]:
    """Everything a file holds: ZIP members unpacked, data: URIs of HTML decoded."""
    data = data.encode() if isinstance(data, str) else data
    out = [(name, data)]
    if data[:2] == b"PK":
        for member, content in open_zip(data).items():
            out.append((f"{name}/{member}", content))
    for uri in re.findall(rb"data:[a-z/+]+;base64,([A-Za-z0-9+/=]+)", data):
        out.append((f"{name}/data-uri", base64.b64decode(uri)))
    return out


def test_no_key_ever_reaches_an_export_or_report(store, monkeypatch):
    from vibegen.ui.exports import current_secrets, leaderboard_files, run_files

    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    # Keys are never stored, but suppose one leaked anyway: into a router's error message,
    # a prompt, a rater's name and an image's metadata.
    prompt = f"a fox, {KEYS['OPENAI_API_KEY']}"
    run_id = make_run(
        store,
        prompt,
        error=f"401: bad key Authorization: Key {KEYS['FAL_KEY']}",
        png_text={"auth": KEYS["VIBEGEN_SD_AUTH"]},
    )
    rate_run(store, run_id, rater=f"Bo {KEYS['KIE_API_KEY']}")
    make_run(store)
    lb = build_leaderboard(
        store.generations_frame(), store.ratings_frame(), rater=["Ana", f"Bo {KEYS['KIE_API_KEY']}"]
    )

    secrets = current_secrets()
    assert set(KEYS.values()) <= set(secrets)
    outputs: list[tuple[str, bytes | str]] = [
        (f.file_name, f.build())
        for f in run_files(store, run_id, secrets) + leaderboard_files(store, lb, secrets)
    ]
    # And with no secrets passed, every function reads the environment itself.
    outputs += [
        ("runs.csv", exports.runs_csv(store, secrets=keys())),
        ("runs.json", exports.runs_json(store, secrets=keys())),
        ("images.csv", exports.images_csv(store, secrets=keys())),
        ("images.json", exports.images_json(store, secrets=keys())),
        ("ratings.csv", exports.ratings_csv(store, secrets=keys())),
        ("ratings.json", exports.ratings_json(store, secrets=keys())),
        ("lb.csv", exports.leaderboard_csv(lb, secrets=keys())),
        ("lb.json", exports.leaderboard_json(lb, secrets=keys())),
        ("run.zip", exports.run_zip(store, run_id, secrets=keys())),
        (
            "blind.zip",
            exports.run_zip(store, run_id, blind=True, secrets=keys()),
        ),
        (
            "run.html",
            report.run_report_html(store, run_id, secrets=keys()),
        ),
        (
            "lb.html",
            report.leaderboard_report_html(lb, secrets=keys()),
        ),
    ]
    assert len(outputs) == 7 + 9 + 12
    checked = 0
    for name, data in outputs:
        for where, blob in _payloads(name, data):
            checked += 1
            for part in _key_parts():
                assert part.encode() not in blob, (where, part)
    assert checked > len(outputs)
    # The leaked texts are still there, with the key replaced.
    assert "401: bad key Authorization: Key ***" in exports.images_csv(
        store, secrets=keys()
    ).decode("utf-8-sig")
    assert "a fox, ***" in report.run_report_html(store, run_id, secrets=keys())


# ------------------------------------------------------------------- widgets
def _download_page(run_id: str) -> None:
    from vibegen.leaderboard import build_leaderboard
    from vibegen.settings import load_settings
    from vibegen.store import Store
    from vibegen.ui.exports import leaderboard_downloads, run_downloads

    store = Store.open(load_settings().store_url)
    run_downloads(store, run_id)
    leaderboard_downloads(
        store, build_leaderboard(store.generations_frame(), store.ratings_frame())
    )


@contextlib.contextmanager
def calls_to(*functions):
    """Names of the given functions as they are called, on any thread (observed, not patched)."""
    codes = {f.__code__: f.__name__ for f in functions}
    seen: list[str] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            seen.append(codes[frame.f_code])

    sys.setprofile(profile)
    threading.setprofile(profile)  # the AppTest script runs on a thread of its own
    try:
        yield seen
    finally:
        sys.setprofile(None)
        threading.setprofile(None)


def test_download_buttons_build_files_only_on_click(store):
    from streamlit.testing.v1 import AppTest

    from vibegen.ui import exports as ui_exports
    from vibegen.ui.exports import leaderboard_files, run_files

    run_id = make_run(store)
    builders = (
        exports.export,
        exports.run_zip,
        exports.leaderboard_csv,
        exports.leaderboard_json,
        report.run_report_html,
        report.leaderboard_report_html,
    )
    with calls_to(*builders, ui_exports.run_files) as seen:
        at = AppTest.from_function(_download_page, args=(run_id,), default_timeout=30).run()
    assert "run_files" in seen  # the observer does see the page's thread
    built = [name for name in seen if name != "run_files"]
    assert not at.exception
    buttons = at.get("download_button")
    assert len(buttons) == 7 + 9
    assert all(b.proto.deferred_file_id and b.proto.ignore_rerun for b in buttons)
    assert built == []  # rendering the page built nothing
    labels = [b.proto.label for b in buttons]
    assert "Blind images (ZIP)" in labels and "Leaderboard (JSON)" in labels

    lb = build_leaderboard(store.generations_frame(), store.ratings_frame())
    files = run_files(store, run_id, []) + leaderboard_files(store, lb, [])
    assert len({f.file_name for f in files}) == len(files)
    assert all(run_id not in f.file_name for f in files)  # the full id opens the run
    with calls_to(*builders) as built:
        for f in files:
            data = f.build()
            assert data is not None
            if f.mime == "text/html":  # the real reports, not stand-ins
                assert data.startswith("<!DOCTYPE html>") and "</html>" in data
            else:
                assert len(data) > 0
    assert len(built) == len(files)


def test_runs_bulk_reads_what_run_view_reads(store):
    """The exports' bulk read gives every run exactly as `run_view` does, newest first."""
    ids = [make_run(store, f"prompt {k}") for k in range(3)]
    rate_run(store, ids[0])
    one_by_one = [store.run_view(s.id) for s in store.list_runs()]
    assert store.runs_bulk() == one_by_one and len(one_by_one) == 3
    assert store.runs_bulk([ids[1], "not-an-id", "0" * 32]) == [store.run_view(ids[1])]
    assert store.runs_bulk([]) == []
    cells = store.run_view(ids[0]).cells
    assert store.images_bulk(c.id for c in cells) == {
        c.id: store.image(c.id) for c in cells if c.status == "ok"
    }
