"""One presentation spec drives the Leaderboard page, the HTML report and the exports."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from streamlit.testing.v1 import AppTest

from tests.test_report import assert_standalone, vote_store
from vibegen import exports, report
from vibegen.board_spec import COLUMNS, PAGE_COLUMNS, board_frame, ordinal, place, verdict
from vibegen.leaderboard import BoardFilter, build_leaderboard, filter_rows
from vibegen.markup import escape_markdown

ROOT = Path(__file__).resolve().parent.parent
EVIL = "<script>alert(1)</script>"

# The leaderboard's page columns as a designer reads them (the browser test reads them too).
PAGE_WORDS = (
    "place",
    "model",
    "quality score",
    "likely range",
    "votes",
    "raters",
    "cost per image",
    "typical time",
    "success",
    "note",
)


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
        "router",
        "pareto",
        "preliminary",
        "sandbox",
        "wall_p90",
        "cost_kinds",
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
    frame = board_frame(lb)
    assert list(table.value["label"]) == list(frame["label"] + " · " + frame["router"])
    # Named in words with units; the statistics are in the help text.
    assert [c.heading(level) for c in PAGE_COLUMNS] == list(PAGE_WORDS)
    # Each has a width, and together they fit the 1440 px screen beside the sidebar.
    assert sum(c.width or 10_000 for c in PAGE_COLUMNS) <= 978
    assert "Bradley–Terry" in config["score"]["help"] and "clicks" in config["votes"]["help"]
    # The page opens with the verdict, above the table.
    lines = verdict(lb)
    assert at.success[0].value == "  \n".join(escape_markdown(line) for line in lines)
    assert lines[0].startswith("Best value: Beta — tied for 1st with the top scorer, Alpha")


def test_the_report_shows_every_spec_column_under_the_same_name(lb):
    page = report.leaderboard_report_html(lb, secrets=[])
    parser = _Headings()
    parser.feed(page)
    assert parser.headings == [c.heading(lb.fit.level) for c in COLUMNS]
    assert "likely range" in parser.headings and "quality score" in parser.headings


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


def test_places_are_said_in_words_and_ties_as_ties(lb):
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "111th",
    ]  # fmt: skip
    assert place(1, 2) == "tied for 1st" and place(3, 1) == "3rd" and place(None, 0) == "—"
    frame = board_frame(lb).set_index("model_key")
    table = lb.table.set_index("model_key")
    for key, row in table.iterrows():
        shared = int((table["rank"] == row["rank"]).sum())
        words = frame.loc[key, "rank"]
        alone = ordinal(int(row["rank"]))
        assert words == (f"tied for {alone}" if shared > 1 else alone), key
    assert (frame["rank"] == "tied for 1st").sum() == int((table["rank"] == 1).sum()) >= 2


def test_the_verdict_names_best_value_the_tied_and_the_votes_needed(lb):
    lines = verdict(lb)
    tied = lb.table.loc[lb.table["rank"] == 1, "label"].tolist()
    assert lines[0].startswith(f"Best value: {lb.callout.label} — tied for 1st")
    assert lines[1].startswith("Tied for 1st: ") and all(name in lines[1] for name in tied)
    need = lb.votes_needed
    assert need is not None and need.separated  # clear head to head, ranges still overlap
    assert (
        lines[2]
        == "Alpha is clearly ahead of Beta head to head, although their likely ranges overlap."
    )
    assert not any("simulated" in line.lower() for line in lines)  # no sandbox model here


def test_a_sandbox_board_says_it_is_simulated(store):
    lb = vote_store(store, {"fal:alpha": 0.2, "kie:beta": 0.01})
    table = lb.table.assign(sandbox=True)
    sandboxed = dataclasses.replace(lb, table=table)
    assert verdict(sandboxed)[0].startswith("Simulated: every model here is a sandbox model")
    assert set(board_frame(sandboxed)["note"].str.split(";").str[0]) == {"simulated"}
    page = report.leaderboard_report_html(sandboxed, secrets=[])
    assert "Simulated: this board includes sandbox models" in page
    assert "Simulated" not in report.leaderboard_report_html(lb, secrets=[])
