"""Standalone HTML reports: self-contained, offline, and untrusted text shown literally."""

from __future__ import annotations

import base64
import html
import io
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

from tests.test_exports import ERROR, PROMPT, make_run, rate_run
from vibegen.board_spec import verdict
from vibegen.catalog import default_catalog
from vibegen.costs import Cost
from vibegen.keys import env_secrets
from vibegen.leaderboard import build_leaderboard
from vibegen.money import cents
from vibegen.params import CommonParams
from vibegen.ratings import make_rating
from vibegen.records import CellSpec
from vibegen.report import leaderboard_report_html, quality_cost_svg, run_report_html
from vibegen.routers.sandbox_router import render
from vibegen.runner import Runner
from vibegen.settings import load_settings
from vibegen.store import Store

FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "link",
    "base",
    "form",
    "frame",
    "applet",
    "foreignobject",
    "use",
    "image",
    "a",
}


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def keys() -> list[str]:
    """The key values this test's environment sets (an entry point passes them to exports)."""
    return env_secrets(load_settings().environ)


def parse(page: str) -> _Tags:
    """Parse a report the way a browser tokenises it."""
    p = _Tags()
    p.feed(page)
    p.close()
    return p


def assert_standalone(page: str) -> _Tags:
    """No script, no external URL, no event handler; every image a data: URI."""
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert not re.search(
        r"""(?:src|href|action|poster|srcset)\s*=\s*["']?\s*(?:https?:|//)""", page, re.I
    )
    assert not re.search(r"url\(|@import", page, re.I)
    tags = parse(page)
    for tag, attrs in tags.tags:
        assert tag not in FORBIDDEN_TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)  # no event handler was injected
            if name in ("src", "href", "xlink:href"):
                assert value and value.startswith("data:image/"), (tag, name, value)
    metas = [a for t, a in tags.tags if t == "meta" and a.get("http-equiv")]
    assert metas and "default-src 'none'" in metas[0]["content"]
    return tags


def test_run_report_is_standalone_and_shows_untrusted_text_literally(store):
    run_id = make_run(store)
    rate_run(store, run_id)
    page = run_report_html(store, run_id, secrets=keys())
    tags = assert_standalone(page)
    text = "".join(tags.text)
    # The prompt, the error message and the rater's name read exactly as typed...
    assert PROMPT in text and ERROR in text and "<b>Bo</b>" in text
    # ...because in the markup they are escaped, never live tags or Markdown.
    assert html.escape(PROMPT) in page and "<script>alert" not in page
    assert html.escape(ERROR) in page and "<img src=x" not in page
    assert "&lt;b&gt;Bo&lt;/b&gt;" in page and "<b>Bo</b>" not in page
    assert not any(t == "img" and "x.png" in (a.get("src") or "") for t, a in tags.tags)
    # One thumbnail per successful image, each a JPEG that decodes.
    imgs = [a["src"] for t, a in tags.tags if t == "img"]
    assert len(imgs) == 3
    for src in imgs:
        data = base64.b64decode(src.split(",", 1)[1])
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "JPEG"
    # Costs, times and ratings are there; unknown cost is said, never $0.
    assert "$0.0250 · reported by router" in text and "cost unknown" in text
    assert "3.2 s (queue 0.5 s, inference 2.5 s)" in text and "seed 42" in text
    assert "★ 4.0 (1)" in text and "best: Ana" in text and "pairs: 1 won, 0 lost" in text
    assert "3 of 4 images from 3 models · 1 failed" in text
    assert run_id[:8] in text and run_id not in page  # the full id is a capability


def test_run_report_of_a_running_run(store):
    run_id = store.create_run(
        "still going",
        {},
        [
            CellSpec(
                "fal:flux-dev",
                "fal",
                "FLUX dev",
                0,
                "still going",
                {},
                {},
                Cost(0.025, "estimated"),
            )
        ],
    )
    page = run_report_html(store, run_id, secrets=keys())
    assert_standalone(page)
    assert "queued when this report was made" in page and "still running" in page


def vote_store(
    store: Store,
    costs: dict[str, float | None],
    votes: int = 30,
    labels: dict[str, str] | None = None,
):
    """One run per competitor pair with pair votes: earlier keys in `costs` win more often."""
    keys = list(costs)
    specs = [
        CellSpec(
            k,
            k.split(":")[0],
            (labels or {}).get(k, k.split(":")[1].title()),
            0,
            "p",
            {},
            {},
            Cost(costs[k], "estimated" if costs[k] else "unknown"),
        )
        for k in keys
    ]
    run_id = store.create_run("p", {}, specs)
    cells = store.run_view(run_id).cells
    for i, c in enumerate(cells):
        usd = costs[c.model_key]
        store.save_success(
            c.id,
            render("dots", "p", i, 32, 32),
            cost=Cost(usd, "reported" if usd else "unknown"),
            wall_s=2.0 + i,
        )
    for k in range(votes):
        for i in range(len(cells)):
            for j in range(i + 1, len(cells)):
                # The better one wins 3 times in 4: close, so intervals overlap a little.
                value = "a" if (k + i + j) % 4 else "b"
                store.rate(
                    run_id,
                    f"r{k}",
                    make_rating("pair", cells[i].id, value, cells[j].id),
                    blind=True,
                )
    return build_leaderboard(store.generations_frame(), store.ratings_frame())


def test_leaderboard_report_has_table_callout_notes_and_offline_chart(store):
    lb = vote_store(
        store,
        {"fal:alpha": 0.2, "kie:beta": 0.01, "openai:gamma": 0.002, "sd:delta": None},
        labels={"fal:alpha": "<i>Alpha</i> ![x](http://e/x.png)"},
    )
    page = leaderboard_report_html(lb, secrets=keys())
    tags = assert_standalone(page)
    text = "".join(tags.text)
    # Every competitor, its label literal (escaped in the table and in the chart alike).
    assert text.count("<i>Alpha</i> ![x](http://e/x.png)") >= 2
    assert "<i>Alpha</i>" not in page
    for key in ("fal:alpha", "kie:beta", "openai:gamma", "sd:delta"):
        assert key in text
    for line in verdict(lb):  # the verdict opens the report, as it opens the page
        assert line in text
    assert text.index("Best value:") < text.index("Quality vs cost")
    for note in lb.notes:
        assert note in text
    assert "likely range" in text and "cost per image" in text
    assert f"{lb.n_votes} votes ({len(lb.outcomes)} pairwise comparisons" in text
    assert "$0.20" in text and "$0.0100" in text and "$0.0020" in text
    assert "reported by router 1" in text  # the cost-kind mix
    assert "2.0 s" in text and "100%" in text
    # The chart is inline SVG: one point per rated competitor with a known cost, with
    # interval bars, a dashed Pareto line, and a log x axis (costs span 100x).
    svgs = [a for t, a in tags.tags if t == "svg"]
    assert len(svgs) == 1 and "xmlns" not in svgs[0]
    circles = [a for t, a in tags.tags if t == "circle"]
    assert len(circles) == 3
    assert any(t == "polyline" and "stroke-dasharray" in a for t, a in tags.tags) == (
        len(lb.pareto) >= 2
    )
    assert "log scale" in text and "Not shown, cost unknown: sd:delta" in text
    assert "Pareto" in text


def test_preliminary_badge_and_linear_axis(store):
    lb = vote_store(store, {"fal:alpha": 0.03, "kie:beta": 0.02}, votes=3)
    assert lb.table["preliminary"].all()
    page = leaderboard_report_html(lb, secrets=keys())
    assert_standalone(page)
    assert page.count('class="badge prelim"') == 2
    assert "log scale" not in page  # 1.5x apart: a linear axis reads better
    svg = quality_cost_svg(lb)
    assert svg.count("<circle") == 2 and 'opacity="0.45"' in svg  # faded: preliminary


def test_leaderboard_report_with_no_votes_and_hostile_filter(store):
    make_run(store)
    lb = build_leaderboard(
        store.generations_frame(), store.ratings_frame(), rater="<script>alert(1)</script>"
    )
    page = leaderboard_report_html(lb, secrets=keys())
    tags = assert_standalone(page)
    text = "".join(tags.text)
    assert "votes by <script>alert(1)</script>" in text
    assert "nothing to plot" in text and "no votes" in text
    assert not any(t == "svg" for t, _ in tags.tags)


@pytest.mark.parametrize("costs", [{"fal:a": 0.001, "kie:b": 0.5}, {"fal:a": 0.01, "kie:b": 0.01}])
def test_chart_points_stay_inside_the_plot(store, costs):
    lb = vote_store(store, costs, votes=5)
    svg = quality_cost_svg(lb)
    for cx, cy in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg):
        assert 78 <= float(cx) <= 760 - 28 and 16 <= float(cy) <= 440 - 58


def test_a_sandbox_runs_report_says_its_amounts_are_simulated(store):
    # The sandbox's prices are pretend: the report says so as the run page does, never "cost".
    env = {"VIBEGEN_SANDBOX_FAILURES": "off", "VIBEGEN_SANDBOX_SPEED": "0.02"}
    runner = Runner(store, default_catalog(), env=env, heartbeat=False)
    try:
        run_id = runner.start_run("a fox", ["sandbox:prism", "sandbox:halo"], CommonParams())
        assert runner.wait(run_id, 30)
    finally:
        runner.close()
    view = store.run_view(run_id)
    text = " ".join(parse(run_report_html(store, run_id, secrets=[])).text)
    assert view.simulated > 0 and not view.spent
    assert f"simulated {cents(view.simulated)} (sandbox: nothing billed)" in text
    assert "cost $" not in text and "spent $" not in text
