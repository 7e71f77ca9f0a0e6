"""Spending caps: parsed in words, read from settings over the environment, enforced by the
runner before a run (refused, naming the cap and the numbers) and during it (skipped)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.fakes.fal_server import TEST_FAL_KEY, FalFake
from vibegen import budget
from vibegen.catalog import default_catalog
from vibegen.errors import InputError
from vibegen.params import CommonParams
from vibegen.runner import Runner

CATALOG = default_catalog()


@pytest.mark.parametrize(
    "text, usd", [("5", 5.0), (" $2.50 ", 2.5), ("", None), (None, None), ("0", 0.0)]
)
def test_amounts_people_type(text, usd):
    assert budget.parse_usd(text) == usd


@pytest.mark.parametrize("text", ["five", "-1", "nan", "inf", "1e9", "²", "1,5"])
def test_bad_amounts_are_refused_in_words(text):
    with pytest.raises(InputError, match="cap"):
        budget.parse_usd(text)


def test_settings_win_over_the_environment_and_bad_env_values_are_skipped():
    env = {
        "VIBEGEN_BUDGET_RUN_USD": "3",
        "VIBEGEN_BUDGET_FAL_DAILY_USD": "oops",
        "VIBEGEN_BUDGET_KIE_MONTHLY_USD": "50",
    }
    caps = budget.caps_from(env, {"budget_run_usd": "1.5"}, CATALOG.routers)
    assert caps.per_run_usd == 1.5
    assert caps.daily == {} and caps.monthly == {"kie": 50.0}


def test_periods_are_utc_days_and_months():
    now = dt.datetime(2026, 12, 17, 23, 59, tzinfo=dt.UTC)
    assert budget.period_start("day", now) == dt.datetime(2026, 12, 17, tzinfo=dt.UTC)
    assert budget.period_start("month", now) == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def fal_runner(store, fake, env=None) -> Runner:
    return Runner(
        store,
        CATALOG,
        env={"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url, **(env or {})},
        concurrency={"fal": 1},
        router_options={"fal": {"poll_interval": 0.01}},
        heartbeat=False,
    )


def test_a_run_over_the_per_run_cap_is_refused_naming_it(store):
    with FalFake() as fake:
        runner = fal_runner(store, fake, {"VIBEGEN_BUDGET_RUN_USD": "0.01"})
        with pytest.raises(InputError) as info:
            runner.start_run("a fox", ["fal:flux-schnell"], CommonParams(images_per_model=4))
        runner.close()
        assert str(info.value).startswith(
            "this run is estimated at $0.0120, over the per-run cap of $0.0100"
        )
        assert fake.received("POST") == [] and store.list_runs() == []


def test_a_run_over_what_is_left_of_a_daily_cap_is_refused(store):
    with FalFake() as fake:
        store.set_setting("budget_fal_daily_usd", "0.005")
        runner = fal_runner(store, fake)
        words = (
            r"fal\.ai: this run is estimated at \$0\.0120 there, but only \$0\.0050 is "
            r"left of its daily cap of \$0\.0050 \(\$0\.0000 billed this day\)"
        )
        with pytest.raises(InputError, match=words):
            runner.start_run("a fox", ["fal:flux-schnell"], CommonParams(images_per_model=4))
        runner.close()
        assert fake.received("POST") == []


def test_when_billed_spend_reaches_the_cap_no_new_cell_starts(store):
    # fal bills 2 MP per image where the catalog expected 1: the estimate ($0.012) fits the
    # $0.015 cap, the bills ($0.006 each) reach it after three images.
    with FalFake(billable_units=2.0) as fake:
        store.set_setting("budget_run_usd", "0.015")
        runner = fal_runner(store, fake)
        run_id = runner.start_run("a fox", ["fal:flux-schnell"], CommonParams(images_per_model=4))
        assert runner.wait(run_id, 20)
        view = store.run_view(run_id)
        assert [c.status for c in view.cells].count("ok") == 3
        skipped = [c for c in view.cells if c.error_kind == "budget"]
        assert len(skipped) == 1 and len(fake.received("POST")) == 3
        assert skipped[0].error_message.startswith(
            "skipped: budget — this run has been billed $0.0180, its per-run cap of $0.0150"
        )
        # Raising the cap lets Retry run the skipped cell.
        store.set_setting("budget_run_usd", "1")
        assert runner.retry_failed(run_id) == 1
        assert runner.wait(run_id, 20)
        runner.close()
        assert all(c.status == "ok" for c in store.run_view(run_id).cells)
        assert len(fake.received("POST")) == 4
