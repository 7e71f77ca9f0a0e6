"""One presentation spec drives the Leaderboard page, the HTML report and the exports."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from streamlit.testing.v1 import AppTest

from tests.test_report import assert_standalone, vote_store
from vibegen import exports, report
from vibegen.board_spec import COLUMNS, PAGE_COLUMNS, board_frame
from vibegen.leaderboard import BoardFilter, build_leaderboard, filter_rows

ROOT = Path(__file__).resolve().parent.parent
EVIL = "<script>alert(1)</script>"


class _Headings(HTMLParser):
    """The text of every table header cell, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[str] = []
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        if tag == "th":
            self._in_th = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False

    def handle_data(self, data):
        if self._in_th:
            self.headings[-1] += data


@pytest.fixture
def lb(store):
    """Three priced competitors and one of unknown cost, rated with pair votes."""
    return vote_store(
        store, {"fal:alpha": 0.2, "kie:beta": 0.01, "openai:gamma": 0.002, "sd:delta": None}
    )


def test_the_page_shows_every_page_column_of_the_spec_under_its_name(lb):
    at = AppTest.from_file(str(ROOT / "pages" / "4_Leaderboard.py"), default_timeout=30).run()
    assert not at.exception
    table = at.dataframe[0]
    assert list(table.value.columns) == [c.key for c in PAGE_COLUMNS]
    # The details it leaves out to fit a laptop screen are in the report and the exports.
    assert {c.key for c in COLUMNS} - {c.key for c in PAGE_COLUMNS} == {
        "model_key",
        "images",
        "failures",
    }
    config = {
        k: v for k, v in json.loads(table.proto.columns).items() if not v.get("hidden")
    }  # the hidden index
    level = lb.fit.level
    assert {k: v["label"] for k, v in config.items()} == {
        c.key: c.heading(level) for c in PAGE_COLUMNS
    }
    assert {k: v.get("help", "") for k, v in config.items()} == {
        c.key: c.help for c in PAGE_COLUMNS
    }
    # The values are the prepared frame's, the same the report prints.
    assert list(table.value["label"]) == list(board_frame(lb)["label"])


def test_the_report_shows_every_spec_column_under_the_same_name(lb):
    page = report.leaderboard_report_html(lb, secrets=[])
    parser = _Headings()
    parser.feed(page)
    assert parser.headings == [c.heading(lb.fit.level) for c in COLUMNS]
    assert "Score (95% interval)" in parser.headings  # the level is filled in


def test_the_exports_hold_every_spec_column(lb):
    header = next(
        csv.reader(io.StringIO(exports.leaderboard_csv(lb, secrets=[]).decode("utf-8-sig")))
    )
    for col in COLUMNS:
        assert col.fields and set(col.fields) <= set(header), col.key
    # The JSON names each column as the page and report do, with the fields behind it.
    data = json.loads(exports.leaderboard_json(lb, secrets=[]))
    assert [(c["key"], c["title"], c["fields"]) for c in data["columns"]] == [
        (c.key, c.heading(lb.fit.level), list(c.fields)) for c in COLUMNS
    ]


def test_a_script_in_a_label_is_escaped_by_the_template(store):
    lb = vote_store(
        store,
        {"fal:alpha": 0.2, "kie:beta": 0.01},
        labels={"fal:alpha": EVIL, "kie:beta": "Beta sk-live-123456789"},
    )
    page = report.leaderboard_report_html(lb, secrets=["sk-live-123456789"])
    assert_standalone(page)
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Table, chart label and chart tooltip: each escaped, none by a call of its own.
    assert page.count("&lt;script&gt;") >= 3
    assert "sk-live-123456789" not in page and "Beta ***" in page
    assert report.TEMPLATES.autoescape is True


def test_a_template_without_its_secrets_prints_nothing():
    with pytest.raises(RuntimeError, match="secrets"):
        report.TEMPLATES.from_string("{{ x }}").render(x="a")
    with pytest.raises(jinja2.UndefinedError):  # a misspelt name is an error, not a blank
        report.TEMPLATES.from_string("{{ nope }}").render(secrets=[])


def test_a_filter_is_one_typed_value(store):
    vote_store(store, {"fal:alpha": 0.2, "kie:beta": 0.01})
    gens, ratings = store.generations_frame(), store.ratings_frame()
    where = BoardFilter(rater=["r1", "r2"], blind_only=True)
    assert where.rater == ("r1", "r2") and hash(where) == hash(
        BoardFilter(rater=("r1", "r2"), blind_only=True)
    )
    by_value = build_leaderboard(gens, ratings, where)
    by_fields = build_leaderboard(gens, ratings, rater=["r1", "r2"], blind_only=True)
    assert by_value.where == by_fields.where == where
    assert by_value.table.equals(by_fields.table)
    assert by_value.filters["rater"] == ("r1", "r2")
    g, r = filter_rows(gens, ratings, where)
    assert set(r["rater"]) == {"r1", "r2"}
    with pytest.raises(TypeError):
        build_leaderboard(gens, ratings, raters=["r1"])  # misspelt: not silently ignored
    with pytest.raises(TypeError):
        build_leaderboard(gens, ratings, where, blind_only=True)
