"""Spending caps: per run, and per router per day or month, set by the team.

Caps come from the environment (or secrets) and from the Spend page, which stores them in the
database and wins over the environment. Amounts are what the routers billed (the spend ledger),
real money only: the sandbox's simulated prices never count. Days and months are UTC.

    VIBEGEN_BUDGET_RUN_USD=2            at most $2 estimated for one run
    VIBEGEN_BUDGET_FAL_DAILY_USD=10     at most $10 billed by fal per UTC day
    VIBEGEN_BUDGET_KIE_MONTHLY_USD=50   at most $50 billed by Kie per UTC month
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vibegen.errors import InputError
from vibegen.money import amount as usd
from vibegen.records import simulated_router

log = logging.getLogger("vibegen.budget")

SCOPES = ("day", "month")
MAX_CAP_USD = 1_000_000.0


@dataclass(frozen=True)
class Caps:
    """The caps in force; None or a missing router means no cap."""

    per_run_usd: float | None = None
    daily: Mapping[str, float] = field(default_factory=dict)
    monthly: Mapping[str, float] = field(default_factory=dict)

    def for_router(self, router: str) -> dict[str, float]:
        """This router's caps by scope ("day", "month")."""
        caps = {"day": self.daily.get(router), "month": self.monthly.get(router)}
        return {scope: cap for scope, cap in caps.items() if cap is not None}


def setting_key(scope: str, router: str | None = None) -> str:
    """The settings key (and, upper-cased, the env var stem) of one cap."""
    if scope == "run":
        return "budget_run_usd"
    if scope not in SCOPES:
        raise ValueError(f"unknown cap scope {scope!r}")
    return f"budget_{router}_{'daily' if scope == 'day' else 'monthly'}_usd"


def parse_usd(text: str | float | None, what: str = "the cap") -> float | None:
    """A dollar amount typed by a person; None for empty; InputError in words otherwise."""
    if text is None:
        return None
    raw = str(text).strip().removeprefix("$").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InputError(
            f"{what}: {str(text)[:40]!r} is not an amount; type dollars like "
            "5 or 2.50, or leave it empty for no cap"
        ) from None
    if not math.isfinite(value) or value < 0 or value > MAX_CAP_USD:
        raise InputError(f"{what}: type an amount from $0 to ${MAX_CAP_USD:,.0f}")
    return round(value, 4)


def caps_from(env: Mapping[str, str], settings: Mapping[str, str], routers: Iterable[str]) -> Caps:
    """The caps in force: the Spend page's settings, else the environment's."""

    def value(key: str) -> float | None:
        for source, raw in (
            ("settings", settings.get(key)),
            ("environment", env.get(f"VIBEGEN_{key.upper()}")),
        ):
            if raw is None or not str(raw).strip():
                continue
            try:
                return parse_usd(raw)
            except InputError as exc:  # a bad env value must not stop the app: say and skip
                log.warning("ignoring %s %s: %s", source, key, exc)
        return None

    daily: dict[str, float] = {}
    monthly: dict[str, float] = {}
    for router in routers:
        if simulated_router(router):
            continue  # nothing is billed: nothing to cap
        if (d := value(setting_key("day", router))) is not None:
            daily[router] = d
        if (m := value(setting_key("month", router))) is not None:
            monthly[router] = m
    return Caps(value(setting_key("run")), daily, monthly)


def period_start(scope: str, now: dt.datetime | None = None) -> dt.datetime:
    """The start (UTC) of the day or month that `now` is in."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.replace(day=1) if scope == "month" else start


def _scope_words(scope: str) -> str:
    return "daily" if scope == "day" else "monthly"


def check_plan(
    estimated: Mapping[str, float],
    caps: Caps,
    spent: Mapping[tuple[str, str], float],
    router_labels: Mapping[str, str],
) -> None:
    """Refuse a run whose estimate exceeds what is left; InputError names the cap and numbers.

    `estimated` maps router → the run's estimated USD on it; `spent` maps (router, scope) →
    USD billed so far in the current day or month.
    """
    total = sum(v for r, v in estimated.items() if not simulated_router(r))
    if caps.per_run_usd is not None and total > caps.per_run_usd + 1e-9:
        raise InputError(
            f"this run is estimated at {usd(total)}, over the per-run cap of "
            f"{usd(caps.per_run_usd)}: pick fewer models or images, or raise the "
            "cap on the Spend page"
        )
    for router, amount in estimated.items():
        for scope, cap in caps.for_router(router).items():
            used = spent.get((router, scope), 0.0)
            left = max(cap - used, 0.0)
            if amount > left + 1e-9:
                label = router_labels.get(router, router)
                raise InputError(
                    f"{label}: this run is estimated at {usd(amount)} there, but only "
                    f"{usd(left)} is left of its {_scope_words(scope)} cap of {usd(cap)} "
                    f"({usd(used)} billed this {scope}); raise the cap on the Spend page or "
                    "wait for the next " + scope
                )


def over_cap(
    router: str,
    caps: Caps,
    spent: Mapping[tuple[str, str], float],
    run_spent: float,
    router_label: str = "",
) -> str | None:
    """Why no new cell may start now (a cap is reached), or None."""
    if simulated_router(router):
        return None
    if caps.per_run_usd is not None and run_spent >= caps.per_run_usd - 1e-9:
        return (
            f"this run has been billed {usd(run_spent)}, its per-run cap of {usd(caps.per_run_usd)}"
        )
    for scope, cap in caps.for_router(router).items():
        used = spent.get((router, scope), 0.0)
        if used >= cap - 1e-9:
            return (
                f"{router_label or router} has billed {usd(used)} this {scope}, its "
                f"{_scope_words(scope)} cap of {usd(cap)}"
            )
    return None
