"""Spend summaries: exact sums by router, model and UTC period; simulated never real."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from vibegen import spend
from vibegen.catalog import default_catalog
from vibegen.costs import Cost
from vibegen.params import CommonParams
from vibegen.records import CellSpec
from vibegen.routers.sandbox_router import render
from vibegen.runner import Runner
from vibegen.settings import load_settings

CATALOG = default_catalog()
PNG = render("dots", "p", 1, 64, 64)


def _spec(model_key: str, router: str) -> CellSpec:
    return CellSpec(model_key, router, model_key, 0, "p", {}, {}, Cost(None, "estimated"), 64, 64)


def bill(store):
    """One run on fal, Kie, OpenAI and the sandbox: images, billed failures, an unknown."""
    specs = [
        _spec("fal:flux-schnell", "fal"),
        _spec("fal:flux-schnell", "fal"),
        _spec("fal:flux-dev", "fal"),
        _spec("kie:nano-banana", "kie"),
        _spec("openai:gpt-image-1", "openai"),
        _spec("sandbox:prism", "sandbox"),
        _spec("sandbox:halo", "sandbox"),
    ]
    run_id = store.create_run("p", {}, specs)
    a, b, c, d, e, s1, s2 = store.run_view(run_id).cells
    store.save_success(a.id, PNG, cost=Cost(0.003, "reported"), wall_s=1)
    store.save_failure(
        b.id, kind="content_filter", message="filtered", wall_s=1, cost=Cost(0.003, "reported")
    )
    store.save_success(c.id, PNG, cost=Cost(0.025, "estimated"), wall_s=1)
    store.save_failure(
        d.id, kind="router_error", message="lost", wall_s=1, cost=Cost(None, "unknown")
    )  # billed, amount unknown
    store.save_success(e.id, PNG, cost=Cost(0.04, "computed"), wall_s=1)
    store.save_failure(s2.id, kind="other", message="no", wall_s=1)  # not billed: no cost
    store.save_success(s1.id, PNG, cost=Cost(0.5, "simulated"), wall_s=1)
    return store


@pytest.fixture
def billed(any_store):
    """The billed run, on each engine."""
    return bill(any_store)


def test_totals_are_real_money_only(billed):
    t = spend.totals(billed.spend_frame())
    for row in (t.day, t.month, t.all_time):
        assert row.usd == pytest.approx(0.003 + 0.003 + 0.025 + 0.04)
        assert row.events == 5 and row.unknown == 1
        assert row.mix == pytest.approx({"reported": 0.006, "computed": 0.04, "estimated": 0.025})
        assert row.simulated_usd == pytest.approx(0.5) and row.simulated_events == 1
        assert row.failed_usd == pytest.approx(0.003) and row.failed_events == 2
    # the store's own sum agrees: the simulated $0.50 is in neither
    assert t.all_time.usd == pytest.approx(billed.spent())


def test_by_router_and_model(billed):
    frame = billed.spend_frame()
    routers = {r.key: r for r in spend.by_router(frame, CATALOG)}
    assert routers["fal"].label == "fal.ai"
    assert routers["fal"].usd == pytest.approx(0.031)
    assert routers["fal"].mix["reported"] == pytest.approx(0.006)
    assert routers["fal"].mix["estimated"] == pytest.approx(0.025)
    assert routers["kie"].usd == 0 and routers["kie"].unknown == 1
    assert routers["kie"].mix_text() == "1 unknown"  # unknown is never shown as $0
    assert routers["sandbox"].usd == 0 and routers["sandbox"].simulated_usd == pytest.approx(0.5)
    assert [r.key for r in spend.by_router(frame, CATALOG)][:2] == ["openai", "fal"]

    models = {r.key: r for r in spend.by_model(frame, CATALOG)}
    schnell = models["fal:flux-schnell"]
    assert schnell.label == CATALOG.model("fal:flux-schnell").label
    assert schnell.router == "fal" and schnell.usd == pytest.approx(0.006)
    assert schnell.failed_events == 1 and schnell.failed_usd == pytest.approx(0.003)
    assert routers["fal"].failures_text() == "1 · $0.0030"
    assert routers["kie"].failures_text() == "1 · amount unknown"
    assert spend.totals(frame).all_time.failures_text() == "2 · $0.0030 + 1 unknown"
    assert routers["openai"].failures_text() == "—"

    table = spend.rows_frame(spend.by_model(frame, CATALOG))
    assert "sandbox:prism" not in set(table["key"])  # the sandbox has no real row
    assert table["usd"].sum() == pytest.approx(0.071)
    sim = spend.rows_frame(spend.by_model(frame, CATALOG), simulated=True)
    assert list(sim["key"]) == ["sandbox:prism"] and sim["simulated_usd"].sum() == 0.5


def test_billed_failures_apart(billed):
    failed = spend.failures(billed.spend_frame(), CATALOG)
    assert sorted(failed["router"]) == ["fal", "kie"]
    assert failed["usd"].sum() == pytest.approx(0.003)
    assert failed["usd"].isna().sum() == 1


def _frame(rows):
    return pd.DataFrame(
        [
            dict(
                id=i,
                generation_id=f"g{i}",
                run_id="r",
                router=r,
                model_key=f"{r}:m",
                outcome="image",
                usd=u,
                kind=k,
                basis="",
                source="",
                seen="",
                at=pd.Timestamp(at),
            )
            for i, (r, u, k, at) in enumerate(rows)
        ]
    )


# naive timestamps, as SQLite hands them back: they are UTC
ROWS = [
    ("fal", 1.0, "reported", "2026-11-30 23:59:59"),
    ("fal", 2.0, "reported", "2026-12-01 00:00:00"),
    ("kie", 0.5, "estimated", "2026-12-01 10:00:00"),
    ("kie", None, "reported", "2026-12-01 11:00:00"),
    ("sandbox", 9.0, "simulated", "2026-12-01 12:00:00"),
]
NOW = dt.datetime(2026, 12, 1, 15, tzinfo=dt.UTC)


def test_periods_are_utc_days_and_months():
    frame = _frame(ROWS)
    days = {r.key: r for r in spend.by_period(frame, "day")}
    assert list(days) == ["2026-12-01", "2026-11-30"]  # newest first
    assert days["2026-12-01"].usd == pytest.approx(2.5)
    assert days["2026-12-01"].unknown == 1
    assert days["2026-12-01"].simulated_usd == pytest.approx(9.0)
    months = {r.key: r.usd for r in spend.by_period(frame, "month")}
    assert months == pytest.approx({"2026-12": 2.5, "2026-11": 1.0})

    t = spend.totals(frame, NOW)
    assert (t.day.usd, t.month.usd, t.all_time.usd) == pytest.approx((2.5, 2.5, 3.5))
    assert spend.spent_by_router(frame, NOW) == pytest.approx(
        {("fal", "day"): 2.0, ("fal", "month"): 2.0, ("kie", "day"): 0.5, ("kie", "month"): 0.5}
    )


def test_aware_timestamps_convert_to_utc():
    # 2026-12-01 01:00 in UTC+02:00 is still 30 November in UTC
    frame = _frame([("fal", 1.0, "reported", "2026-12-01 01:00:00+02:00")])
    assert [r.key for r in spend.by_period(frame, "day")] == ["2026-11-30"]


def test_empty_ledger(store):
    frame = store.spend_frame()
    assert spend.totals(frame).all_time.usd == 0
    assert spend.by_router(frame, CATALOG) == []
    assert spend.rows_frame([]).empty and spend.failures(frame, CATALOG).empty
    spend.period_chart([], "day").to_dict()  # an empty chart still builds


def test_runner_sandbox_spend_is_simulated(store, fast_sandbox):
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    run_id = runner.start_run("a fox", ["sandbox:prism", "sandbox:halo"], CommonParams())
    assert runner.wait(run_id, 20)
    runner.close()
    t = spend.totals(store.spend_frame())
    assert t.all_time.usd == 0 and t.all_time.events == 0
    assert t.all_time.simulated_events == 2 and t.all_time.simulated_usd > 0


# ----------------------------------------------------------------------------- caps
def test_cap_fields_say_where_the_value_comes_from():
    env = {"VIBEGEN_BUDGET_FAL_DAILY_USD": "10", "VIBEGEN_BUDGET_KIE_MONTHLY_USD": "oops"}
    settings = {"budget_fal_daily_usd": "3", "budget_run_usd": "2.5"}
    fields = {f.key: f for f in spend.cap_fields(env, settings, CATALOG)}
    assert not any(f.router == "sandbox" for f in fields.values())
    assert not any(f.router == "sd" for f in fields.values())  # self-hosted bills nothing
    assert fields["budget_run_usd"].text == "2.5"
    assert (
        fields["budget_fal_daily_usd"].value == 3
        and fields["budget_fal_daily_usd"].source == "settings"
    )
    assert fields["budget_kie_monthly_usd"].value is None  # a bad env value is skipped
    del settings["budget_fal_daily_usd"]
    f = {f.key: f for f in spend.cap_fields(env, settings, CATALOG)}["budget_fal_daily_usd"]
    assert f.value == 10 and "VIBEGEN_BUDGET_FAL_DAILY_USD" in f.describe_source()
    assert (
        spend.left_of_cap(f, {("fal", "day"): 4.0})
        == "$4.00 billed this day (UTC) · $6.00 left of $10.00"
    )


@pytest.mark.parametrize("bad", ["five", "-1", "1e9", "²", "nan"])
def test_bad_cap_changes_nothing(bad):
    fields = spend.cap_fields({}, {}, CATALOG)
    changes, errors = spend.plan_cap_changes(
        fields, {"budget_run_usd": "4", "budget_fal_daily_usd": bad}
    )
    assert list(errors) == ["budget_fal_daily_usd"]
    assert errors["budget_fal_daily_usd"].startswith("fal.ai per UTC day:")


def test_cap_changes():
    fields = spend.cap_fields(
        {"VIBEGEN_BUDGET_FAL_DAILY_USD": "10"}, {"budget_run_usd": "2"}, CATALOG
    )
    typed = {f.key: f.text for f in fields} | {"budget_kie_daily_usd": " $5.50 "}
    changes, errors = spend.plan_cap_changes(fields, typed)
    # unchanged fields (the environment's 10 too) are not written
    assert errors == {} and changes == {"budget_kie_daily_usd": "5.5"}
    typed["budget_run_usd"] = ""
    assert spend.plan_cap_changes(fields, typed)[0]["budget_run_usd"] is None
