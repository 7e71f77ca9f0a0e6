"""The Spend page over real store rows (AppTest): totals, tables, sandbox apart, caps."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_spend import bill

ROOT = Path(__file__).resolve().parent.parent


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "7_Spend.py"), default_timeout=30).run()


def _save(at: AppTest, **typed: str) -> AppTest:
    for key, text in typed.items():
        at.text_input(key=f"cap_{key}").input(text)
    return at.button(key="save_caps").click().run()


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_renders_with_no_data(store):
    at = _page()
    assert not at.exception
    assert [m.value for m in at.metric] == ["$0", "$0", "$0"]
    assert any("Nothing has been billed" in i.value for i in at.info)
    assert not any("simulated" in s.value for s in at.subheader)
    assert at.text_input(key="cap_budget_run_usd").value == ""


def test_renders_with_data(store):
    bill(store)
    at = _page()
    assert not at.exception
    assert [m.value for m in at.metric] == ["$0.0710"] * 3  # the sandbox's $0.50 is not in it
    assert any("1** billed event(s) whose amount is unknown" in c.value for c in at.caption)
    routers = at.dataframe[0].value
    assert list(routers["label"]) == ["OpenAI", "fal.ai", "Kie.ai"]
    assert list(routers["usd"]) == ["$0.0400", "$0.0310", "unknown"]  # Kie: never $0
    by_label = routers.set_index("label")
    assert by_label.loc["fal.ai", "how we know"] == "reported $0.0060 · estimated $0.0250"
    assert by_label.loc["fal.ai", "billed failures"] == "1 · $0.0030"
    assert by_label.loc["Kie.ai", "how we know"] == "1 unknown"  # not $0
    assert by_label.loc["Kie.ai", "billed failures"] == "1 · amount unknown"
    assert by_label.loc["OpenAI", "billed failures"] == "—"
    models = at.dataframe[1].value
    assert set(models["router"]) == {"fal.ai", "Kie.ai", "OpenAI"}  # no sandbox in real money
    subheads = [s.value for s in at.subheader]
    assert "Sandbox: simulated — nothing was billed" in subheads
    assert "Billed failures" in subheads
    assert (
        "2 request(s) were billed without giving an image: $0.0030 known, 1 of unknown "
        "amount." in _captions(at)
    )
    sandbox = at.dataframe[-1].value
    assert list(sandbox["simulated_usd"]) == [0.5]
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")

    at.toggle(key="spend_by_month").set_value(True).run()
    assert not at.exception and "By UTC month" in [s.value for s in at.subheader]


@pytest.mark.parametrize("bad", ["five", "-1", "1e9", "²"])
def test_bad_cap_shows_the_message_and_saves_nothing(store, bad):
    at = _save(_page(), budget_run_usd="3", budget_fal_daily_usd=bad)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors[0].startswith("fal.ai per UTC day:")
    assert "Nothing was saved" in errors[-1]
    assert store.settings() == {}  # not even the good per-run cap


def test_good_cap_is_saved_shown_and_cleared(store):
    at = _save(_page(), budget_run_usd="$2.50", budget_kie_monthly_usd="40")
    assert not at.exception and not at.error
    assert store.settings() == {"budget_run_usd": "2.5", "budget_kie_monthly_usd": "40"}
    assert [s.value for s in at.success] == ["Saved 2 cap(s)."]
    assert "$0 billed this month (UTC) · $40.00 left of $40.00" in _captions(at)

    fresh = _page()  # a new session shows the saved values
    assert fresh.text_input(key="cap_budget_run_usd").value == "2.5"
    assert "set on this page" in _captions(fresh)

    at = _save(fresh, budget_run_usd="")
    assert store.settings() == {"budget_kie_monthly_usd": "40"}
    assert [s.value for s in at.success] == ["Saved 1 cap(s)."]


def test_environment_cap_is_shown_with_its_source(store, monkeypatch):
    monkeypatch.setenv("VIBEGEN_BUDGET_FAL_DAILY_USD", "10")
    bill(store)
    at = _page()
    assert at.text_input(key="cap_budget_fal_daily_usd").value == "10"
    assert (
        "from the environment (VIBEGEN_BUDGET_FAL_DAILY_USD) · $0.0310 billed this day "
        "(UTC) · $9.97 left of $10.00" in _captions(at)
    )
    at = _save(at)  # saving unchanged fields does not copy the environment into settings
    assert store.settings() == {} and [s.value for s in at.success] == ["No cap changed."]
    at = _save(at, budget_fal_daily_usd="")
    assert "Still capped by the environment" in at.success[0].value
