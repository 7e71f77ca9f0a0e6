"""No input ends in a traceback: every widget of every page, driven with generated values.

Each page is opened with AppTest on a store seeded with a finished sandbox run (rated), a run
with failed cells, a brief, billed spend and enough runs to page History. Hypothesis then
drives the page the way a browser can: every widget shown gets a value (huge, negative and
non-finite numbers, non-ASCII digits, NUL and control characters, 10,000-character text,
empty and blank text, any option, any date in range), then a few single actions, buttons
included. After every rerun:

- the page raised nothing (`at.exception` is empty);
- a value the project's own parser refuses (seed, budget caps) has its message on the page;
- a clicked action either did its work or said why not;
- nothing saved before is lost (the seeded run, its images and the brief are intact).

Every widget of a page as it opens must have been driven at least once, so a new widget
without a strategy here fails the test instead of going unfuzzed. The same properties run on SQLite
and, when VIBEGEN_TEST_DATABASE_URL is set, on PostgreSQL (which refuses NUL in text, unlike
SQLite). Hypothesis is derandomized and keeps no example database, so CI sees the same
examples on every run.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from streamlit.proto.NumberInput_pb2 import NumberInput as NumberInputProto
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Widget

from tests.conftest import _postgres_url, _worker_database
from tests.test_spend import bill
from vibegen import budget, process
from vibegen.catalog import default_catalog
from vibegen.errors import InputError
from vibegen.params import CommonParams, parse_seed
from vibegen.ratings import make_rating
from vibegen.records import RunFilter
from vibegen.runner import Runner, plan_run
from vibegen.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {"sqlite": 3, "postgresql": 2}  # generated, after the explicit ones
# These strategies never touch the random module (and the examples are derandomized), but on
# PostgreSQL the pages run pgqueuer's embedded worker, whose timers draw from the module's
# global generator in their own thread (random.uniform jitter). Hypothesis sees that state
# move while it draws an example and cannot tell the thread apart from the strategy.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
STEPS = 3  # single actions after the sweep, per example

EVERY_RUN = RunFilter(archived=True)  # archived runs too

SEEDED_PROMPT = "a lighthouse at dusk, kept through every input"

# ------------------------------------------------------------------------------ values
NASTY_TEXT = [
    "",
    " ",
    " \t \n ",
    "\n",
    "\r\n",
    "\x00",
    "a\x00b",
    "\x00" * 3,
    "\x1b[31mred",
    "\x07\x08\x7f",
    "\u200b",
    "\u202e evil",
    "\ufeff",
    "²",
    "٣",
    "１２３",
    "Ⅻ",
    "½",
    "-1",
    "-0",
    "0",
    "4.5",
    "99999999999",
    "9" * 5000,
    "1e309",
    "nan",
    "inf",
    "-inf",
    "1_000",
    "0x1f",
    "1,5",
    "$5",
    "$",
    "5$",
    "💥" * 12,
    "é" * 40,
    "<b>x</b><script>alert(1)</script>",
    "[a](javascript:alert(1))",
    "'; DROP TABLE runs; --",
    "%s%n{0}",
    "_*`#",
    "x" * 10_000,
    "a line\n" * 400,
]
CHARS = st.characters(exclude_categories=("Cs",))  # lone surrogates cannot travel as UTF-8
SPICE = st.sampled_from(
    [
        "\x00",
        "\x1b",
        "\x7f",
        "\u0085",
        "\u200b",
        "\u202e",
        "²",
        "٣",
        "é",
        "💥",
        " ",
        "\n",
        "\t",
        "%",
        "_",
        "\\",
        "'",
        "a",
        "7",
    ]
)
TEXT = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(SPICE, max_size=20),  # the characters that break parsers and databases, mixed
    st.text(CHARS, max_size=40),
    st.builds(lambda c, n: c * n, CHARS, st.integers(1_000, 10_000)),
)
INTS = st.one_of(
    st.sampled_from([0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 10**30, -(10**30)]),
    st.integers(-(2**63), 2**63 - 1),
)
FLOATS = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _wire(widget: Widget, **fields: Any) -> None:
    """Send a value as the browser puts it on the wire (an option's label, say).

    AppTest would format the value with the page's format_func first, which only works for
    the page's own values; the browser sends the label the user clicked.
    """
    state = WidgetState(id=widget.id)
    for name, value in fields.items():
        if name == "string_array_value":
            state.string_array_value.data[:] = value
        else:
            setattr(state, name, value)
    base = type(widget)
    widget.__class__ = type(
        f"Wire{base.__name__}", (base,), {"_widget_state": property(lambda self: state)}
    )


def _name(widget: Widget) -> str:
    # Download buttons are keyed by file name and date; clicking one is the same act for all.
    if type(widget).__name__ == "DownloadButton":
        return "download_button"
    return widget.key or f"{type(widget).__name__}:{getattr(widget, 'label', '')}"


@dataclass
class Plan:
    """Everything one example sends, drawn up front in a fixed shape.

    Pages change between examples (a brief saved, a run finished in the background); were
    values drawn widget by widget, the draws would follow the page and Hypothesis would see
    its own replays differ. Fields take the pools' values in turn instead.
    """

    texts: list[str]
    ints: list[int]
    floats: list[float]
    flags: list[bool]
    picks: list[int]
    press: int  # which button the sweep clicks (or none)
    steps: list[int]  # which widget each single action drives
    every_button: bool = False  # after the sweep, click each button shown, one per rerun
    _used: dict[str, int] = field(default_factory=dict)

    def next(self, pool: str) -> Any:
        """The pool's next value, round and round."""
        values = getattr(self, pool)
        k = self._used.get(pool, 0)
        self._used[pool] = k + 1
        return values[k % len(values)]


# The brief's classes of bad value, each sent to every field of every page as it opens, then
# every button clicked with them in place, before the generated examples.
CLASSES = [
    {
        "texts": ["a\x00b", "\x00", "\x1b[31m\x07", "x\x7fy\x85"],
        "ints": [10**30, 2**31],
        "floats": [math.nan],
    },
    {
        "texts": ["9" * 5000, "99999999999", "x" * 10_000, "1e309"],
        "ints": [2**63 - 1, -(10**30)],
        "floats": [math.inf, 1e308],
    },
    {"texts": ["²", "٣", "１２３", "½"], "ints": [-1, -(2**63)], "floats": [-math.inf]},
    {"texts": ["", " ", " \t\n ", "\u200b"], "ints": [0], "floats": [-0.0]},
]


def _explicit(k: int) -> Plan:
    return Plan(
        flags=[True, False, False] * 22,
        picks=list(range(k, k + 16)),
        press=0,
        steps=[],
        every_button=True,
        **CLASSES[k],
    )


PICK = st.integers(0, 2**16)
PLANS = st.builds(
    Plan,
    texts=st.lists(TEXT, min_size=12, max_size=12),
    ints=st.lists(INTS, min_size=4, max_size=4),
    floats=st.lists(FLOATS, min_size=4, max_size=4),
    flags=st.lists(st.booleans(), min_size=64, max_size=64),
    picks=st.lists(PICK, min_size=16, max_size=16),
    press=PICK,
    steps=st.lists(PICK, max_size=STEPS),
)


def _drive(widget: Widget, plan: Plan) -> Any:
    """Give one widget a generated value (or click it); return what was sent."""
    kind = type(widget).__name__
    proto = widget.proto
    if kind in ("TextInput", "TextArea", "ChatInput"):
        value = plan.next("texts")
        limit = getattr(proto, "max_chars", 0)
        value = value[:limit] if limit else value  # the browser stops typing there
        widget.set_value(value)
    elif kind == "NumberInput":
        # An integer field's browser sends whole numbers only; a float field any double.
        value = plan.next("ints" if proto.data_type == NumberInputProto.INT else "floats")
        widget.set_value(value)
    elif kind in ("Checkbox", "Toggle"):
        value = plan.next("flags")
        widget.set_value(value)
    elif kind in ("Selectbox", "Radio"):
        value = widget.options[plan.next("picks") % len(widget.options)]
        _wire(widget, string_value=value)
    elif kind in ("Multiselect", "ButtonGroup"):
        chosen = {plan.next("picks") % len(widget.options) for _ in range(plan.next("picks") % 4)}
        value = [widget.options[i] for i in sorted(chosen)]
        _wire(widget, string_array_value=value)
    elif kind == "Feedback":
        value = [None, 0, 1, 2, 3, 4][plan.next("picks") % 6]
        widget.set_value(value)
    elif kind == "DateInput":
        span = (widget.max - widget.min).days + 1
        days = [widget.min + dt.timedelta(days=plan.next("picks") % span) for _ in range(2)]
        if proto.is_range:  # a range half picked, or cleared, is sent too
            value = tuple(sorted(days[: plan.next("picks") % 3]))
        else:
            value = days[0]
        widget.set_value(value)
    elif kind == "Slider":
        lo, hi = proto.min, proto.max
        value = lo + (hi - lo) * (plan.next("picks") % 101) / 100
        widget.set_value(value if proto.data_type == proto.FLOAT else int(value))
    elif kind in ("Button", "DownloadButton"):
        value = "click"
        widget.click()
    else:
        raise AssertionError(f"no strategy for a {kind} widget ({_name(widget)}): add one here")
    shown = repr(value)
    note(f"{kind} {_name(widget)!r} <- {shown[:80]}{'…' if len(shown) > 80 else ''}")
    return value


def _widgets(at: AppTest) -> list[Widget]:
    found: list[Widget] = []

    def walk(node: Any) -> None:
        if isinstance(node, Widget):
            found.append(node)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return [w for w in found if not getattr(w.proto, "disabled", False)]


def _is_button(widget: Widget) -> bool:
    return type(widget).__name__ in ("Button", "DownloadButton")


# ------------------------------------------------------------------------------ the store
@dataclass(frozen=True)
class Seeded:
    """What the fuzz must never lose, and the ids the pages are opened on."""

    url: str
    run_id: str
    gen_id: str
    failed_run_id: str
    brief_id: str
    team_link: str  # the run's review link token
    blind_link: str  # its blind review link token


def _seed(url: str) -> Seeded:
    store = Store.open(url)
    # The runner reads its environment from `env`, not the process's: say here that the seeded
    # images never fail (Halo and Mosaic fail 3 % and 5 % of calls by default, which failed
    # about one seeding in seven and every example after it).
    runner = Runner(
        store,
        env={"VIBEGEN_SANDBOX_FAILURES": "off", "VIBEGEN_SANDBOX_SPEED": "0.01"},
        heartbeat=False,
    )
    brief_id = store.save_prompt_set("coasts", ["a lighthouse", "a harbour"])
    run_id = runner.start_run(
        SEEDED_PROMPT,
        ["sandbox:prism", "sandbox:halo", "sandbox:mosaic"],
        CommonParams(images_per_model=2),
        prompt_set_id=brief_id,
    )
    assert runner.wait(run_id, 30)
    runner.close()
    cells = store.run_view(run_id).cells
    for rater in ("Ana", "Bo"):
        store.rate(run_id, rater, make_rating("best", cells[0].id, 1), blind=False)
        store.rate(run_id, rater, make_rating("stars", cells[1].id, 4), blind=True)
        store.rate(run_id, rater, make_rating("pair", cells[2].id, "a", cells[4].id), blind=True)
    bill(store)  # real billed money, billed failures and an unknown amount for Spend
    # Enough runs to give History a second page, each with a failed (unbilled) cell.
    plan = plan_run("an older run", ["sandbox:tide"], CommonParams(), default_catalog(), {})
    failed = ""
    for _ in range(51):
        failed = store.create_run("an older run", {}, plan.cells)
        cell = store.run_view(failed).cells[0]
        store.save_failure(cell.id, kind="other", message="the sandbox said no", wall_s=0.1)
    team, blind = (store.team.team_link(run_id, blind=b).token for b in (False, True))
    store.engine.dispose()
    return Seeded(url, run_id, cells[0].id, failed, brief_id, team, blind)


def _rater(seeded: Seeded, name: str) -> str:
    """A new rater, named after the page whose browser holds it."""
    rater, _secret = process.store(seeded.url).team.join(name, "joined")
    return rater.id


def _intact(seeded: Seeded) -> None:
    store = process.store(seeded.url)  # the pages' own store
    view = store.run_view(seeded.run_id)
    assert view.prompt == SEEDED_PROMPT and len(view.cells) == 6
    assert [c.status for c in view.cells] == ["ok"] * 6
    assert all(store.image(c.id) for c in view.cells)
    assert any(b["id"] == seeded.brief_id for b in store.prompt_sets())
    assert store.count_runs(EVERY_RUN) >= 53  # History's Archive hides, never deletes


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request, tmp_path_factory) -> tuple[str, Seeded]:
    """A seeded store on each engine, made once for the module (seeding takes a second)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'vibegen.db'}"
    else:
        # A database of its own: the seeded run lives for the whole module, while the tests
        # xdist interleaves with it on this worker empty the worker's database before each.
        url = _worker_database(_postgres_url(), "fuzz")
        drop = sa.create_engine(url)
        with drop.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        drop.dispose()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIBEGEN_SANDBOX_SPEED", "0.01")
        mp.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
        return request.param, _seed(url)


@pytest.fixture
def seeded(engine, monkeypatch, fast_sandbox) -> Iterator[tuple[str, Seeded]]:
    """Every page of this test opens the seeded store through DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", engine[1].url)
    yield engine
    # Runs the fuzz started render in this process's threads: let them end here, not slow the
    # next test down (and see that they did end).
    _settle(engine[1])


def _settle(seeded: Seeded) -> None:
    """Wait until every run the pages started has finished generating."""
    runner = process.runner(seeded.url, lambda: os.environ)
    for run in process.store(seeded.url).list_runs(EVERY_RUN, limit=10_000):
        assert runner.wait(run.id, 120), f"run {run.id} is still generating"


# ------------------------------------------------------------------------------ oracles
def _said(at: AppTest) -> list[str]:
    return [e.value for e in (*at.error, *at.warning, *at.success, *at.info)]


def _refusal(parse: Any, value: Any) -> str | None:
    try:
        parse(value)
    except InputError as exc:
        return str(exc)
    return None


def _check(at: AppTest, seeded: Seeded, clicked: str | None, before: dict[str, Any]) -> None:
    """The properties every rerun must have (see the module docstring)."""
    assert not at.exception, "\n".join(
        e.value + "\n" + "\n".join(e.stack_trace) for e in at.exception
    )
    errors = [e.value for e in at.error]
    seeds = [w for w in at.text_input if w.key == "seed"]
    if seeds and (why := _refusal(parse_seed, seeds[0].value)):
        assert any(why in e for e in errors), f"no message for seed {seeds[0].value!r}"
    if clicked == "generate":
        assert at.query_params.get("run") != before.get("run") or errors, (
            "Generate neither started a run nor said why"
        )
    if clicked == "save_brief":
        assert at.success or errors, "Save brief neither saved nor said why"
    if clicked == "run_brief":
        assert errors or _runs(seeded) > before["runs"], (
            "Run the brief neither started runs nor said why"
        )
    if clicked == "save_caps":
        caps = {w.key: w.value for w in at.text_input if (w.key or "").startswith("cap_")}
        refused = {k: why for k, v in caps.items() if (why := _refusal(budget.parse_usd, v))}
        if refused:
            assert any("Nothing was saved" in e for e in errors)
        else:
            assert any("cap" in s.value for s in at.success), "Save caps said nothing"
    if clicked and clicked.startswith("FormSubmitter:owner_token"):
        assert (
            at.session_state["_vibegen_owner"]
            if "_vibegen_owner" in at.session_state
            else any("not the owner token" in e for e in errors)
        )


def _runs(seeded: Seeded) -> int:
    return process.store(seeded.url).count_runs(EVERY_RUN)


# ------------------------------------------------------------------------------ the pages
PAGES = {
    # Spend first: its tables are summed per model on every rerun, and the runs the other
    # pages start would make each rerun slower, not its inputs any different.
    "Spend": ("pages/7_Spend.py", {}),
    "Generate": ("app.py", {}),
    "Generate, a run with failures": ("app.py", {"run": "failed_run_id"}),
    "History": ("pages/1_History.py", {}),
    "Review, the owner's": ("pages/2_Review.py", {"run": "run_id"}),
    "Review link, a new rater": ("pages/2_Review.py", {"link": "team_link"}),
    "Review link, named": ("pages/2_Review.py", {"link": "team_link"}),
    "Review, blind link, named": ("pages/2_Review.py", {"link": "blind_link"}),
    "Briefs": ("pages/3_Briefs.py", {}),
    "Leaderboard": ("pages/4_Leaderboard.py", {}),
    "Models": ("pages/5_Models.py", {}),
    "Image": ("pages/6_Image.py", {"gen": "gen_id"}),
}

_COMPONENTS: dict[str, Any] = {}  # Streamlit's component registry, found once per process


def _open(page: str, query: dict[str, str], seeded: Seeded, session: dict[str, Any]) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=30)
    # A server scans the installed packages for components once, at start; AppTest does it
    # for every new session (0.9 s here), which would be most of this file's time.
    if "registry" in _COMPONENTS:
        at._bidi_component_manager = _COMPONENTS["registry"]
    for k, v in query.items():
        at.query_params[k] = getattr(seeded, v, v)
    for k, v in session.items():
        at.session_state[k] = v
    at.run()
    _COMPONENTS.setdefault("registry", getattr(at, "_bidi_component_manager", None))
    return at


def _fuzz(
    page: str,
    query: dict[str, str],
    engine: tuple[str, Seeded],
    session: dict[str, Any] | None = None,
) -> None:
    name, seeded = engine
    first: set[str] = set()  # the widgets of the page as it opens
    driven: set[str] = set()

    def step(at: AppTest, plan: Plan, chosen: list[Widget]) -> None:
        before = {"run": at.query_params.get("run"), "runs": _runs(seeded)}
        clicked = None
        for widget in chosen:
            _drive(widget, plan)
            driven.add(_name(widget))
            clicked = widget.key if _is_button(widget) else clicked
        at.run()
        _check(at, seeded, clicked, before)

    @settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(plan=PLANS)
    def run(plan: Plan) -> None:
        at = _open(page, query, seeded, session or {})
        _check(at, seeded, None, {})
        ws = _widgets(at)
        first.update(_name(w) for w in ws)
        # The sweep: every field at once, and at most one button (a browser sends one click),
        # chosen by name so that seven download buttons do not crowd out the one that acts.
        fields = [w for w in ws if not _is_button(w)]
        buttons = {_name(w): w for w in reversed(ws) if _is_button(w)}
        names = [None, *sorted(buttons)]
        pressed = names[plan.press % len(names)]
        step(at, plan, fields + ([buttons[pressed]] if pressed else []))
        if plan.every_button:
            # Viewer buttons first: they change nothing stored, while Retry re-queues the
            # failed cells, whose View buttons are then gone until their new images are in.
            for button in sorted(buttons, key=lambda b: (not b.startswith("view-"), b)):
                again = {_name(w): w for w in reversed(_widgets(at)) if _is_button(w)}
                if button not in again:  # an earlier click took it away (a re-roll hides
                    # Retry until its image is in): press it on the page as it opens, once
                    # that image is in (a loaded machine can take longer than a rerun)
                    _settle(seeded)
                    at = _open(page, query, seeded, session or {})
                    again = {_name(w): w for w in reversed(_widgets(at)) if _is_button(w)}
                if button in again:
                    step(at, plan, [again[button]])
        for which in plan.steps:
            ws = _widgets(at)
            if not ws:
                break
            step(at, plan, [ws[which % len(ws)]])
        _intact(seeded)

    for k in range(len(CLASSES)):
        run = example(plan=_explicit(k))(run)
    run()
    # A viewer button is one kind whatever its place: a cell an earlier Retry finished brings
    # a View button of its own to a later example, which need not press it.
    viewer_driven = any(d.startswith("view-") for d in driven)
    missed = {m for m in first - driven if not (viewer_driven and m.startswith("view-"))}
    assert not missed, f"widgets never driven (more examples or steps?): {missed}"


@pytest.mark.parametrize("title", PAGES)
def test_no_input_ends_in_a_traceback(title, seeded):
    page, query = PAGES[title]
    # A named page's browser holds a rater of its own: the run has twelve pairs, and a rater
    # shared with another page's fuzz (on the same xdist worker or not, as the load decides)
    # may have voted on them all before this page opens, leaving no vote button to drive.
    session = {"rater_id": _rater(seeded[1], title)} if "named" in title else None
    _fuzz(page, query, seeded, session)


def test_the_owner_gate_takes_any_token(seeded, networked):
    _fuzz("pages/1_History.py", {}, seeded)


LINK_PAGES = {
    "Generate": ("app.py", "run"),
    "Review": ("pages/2_Review.py", "run"),
    "Review link": ("pages/2_Review.py", "link"),
    "Image link": ("pages/6_Image.py", "link"),
    "Image": ("pages/6_Image.py", "gen"),
}


@pytest.mark.parametrize("title", LINK_PAGES)
def test_any_link_opens_a_page_or_says_it_is_broken(title, seeded):
    """A link's query values are typed too (or mangled by a chat app): never a traceback."""
    name, store = seeded
    page, param = LINK_PAGES[title]

    @settings(
        max_examples=2 * EXAMPLES[name],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(value=TEXT, blind=st.sampled_from(["1", "0", "", "\x00", "ja"]))
    @example(value="a\x00b", blind="1")
    @example(value="f" * 31 + "\x00", blind="\x00")
    @example(value="9" * 10_000, blind="0")
    @example(value="٣" * 32, blind="")
    @example(value=" ", blind="1")
    def run(value: str, blind: str) -> None:
        at = _open(page, {param: value, "blind": blind}, store, {})
        assert not at.exception, [e.value for e in at.exception]
        if value.strip():  # an empty value is the page without a link, a prompt to open one
            assert at.error or at.info or at.warning, f"no word on the link {value[:40]!r}"

    run()
