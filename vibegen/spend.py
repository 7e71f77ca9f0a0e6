"""Spend summaries over the ledger: by router, model, UTC day or month, with how we know each
amount.

Real money (reported, computed, estimated) and the sandbox's simulated prices never mix: a
summary row carries both, and only the real figure is a total. A billed event whose amount is
unknown is counted, never added as $0. Billed failures (no image) are kept apart as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import altair as alt
import pandas as pd

from vibegen import budget
from vibegen.catalog import Catalog
from vibegen.errors import InputError
from vibegen.money import amount as money_amount
from vibegen.records import simulated_router

KINDS = ("reported", "computed", "estimated")
SIMULATED = "simulated"
COLUMNS = [
    "id",
    "generation_id",
    "run_id",
    "router",
    "model_key",
    "outcome",
    "usd",
    "kind",
    "basis",
    "source",
    "seen",
    "at",
]


@dataclass(frozen=True)
class SpendRow:
    """One line of a spend table: real money with its kind mix, failures and sandbox apart."""

    key: str
    label: str
    router: str
    usd: float  # real money with a known amount
    events: int  # real billed events, known or not
    unknown: int  # real billed events whose amount is unknown (never counted as $0)
    mix: Mapping[str, float] = field(default_factory=dict)  # kind -> USD, real kinds only
    failed_usd: float = 0.0
    failed_events: int = 0
    failed_unknown: int = 0
    simulated_usd: float = 0.0
    simulated_events: int = 0

    def mix_text(self) -> str:
        """How the total is known: 'reported $1.20 · estimated $0.30 · 2 unknown'."""
        parts = [f"{kind} {money(amount)}" for kind, amount in self.mix.items() if amount]
        if self.unknown:
            parts.append(f"{self.unknown} unknown")
        return " · ".join(parts) or "—"

    def failures_text(self) -> str:
        """Billed failures in words: '2 · $0.0030 + 1 unknown', or '—' for none."""
        if not self.failed_events:
            return "—"
        if self.failed_unknown == self.failed_events:
            return f"{self.failed_events} · amount unknown"
        text = f"{self.failed_events} · {money(self.failed_usd)}"
        return text + (f" + {self.failed_unknown} unknown" if self.failed_unknown else "")


@dataclass(frozen=True)
class Totals:
    """Real money billed this UTC day, this UTC month and in all; sandbox apart."""

    day: SpendRow
    month: SpendRow
    all_time: SpendRow


def ledger(frame: pd.DataFrame) -> pd.DataFrame:
    """The spend frame with UTC timestamps and float amounts (NaN = billed, amount unknown)."""
    df = frame.copy() if len(frame.columns) else pd.DataFrame(columns=COLUMNS)
    for col in COLUMNS:
        if col not in df:
            df[col] = None
    # SQLite hands back naive datetimes that are UTC; PostgreSQL hands back aware ones.
    df["at"] = pd.to_datetime(df["at"], utc=True)
    df["usd"] = pd.to_numeric(df["usd"], errors="coerce").astype(float)
    df["kind"] = df["kind"].fillna("unknown").astype(str)
    df["outcome"] = df["outcome"].fillna("image").astype(str)
    return df


def summarize(df: pd.DataFrame, key: str = "all", label: str = "", router: str = "") -> SpendRow:
    """One summary row over some ledger rows (already normalised by `ledger`)."""
    sim = df["kind"] == SIMULATED
    real, fake = df[~sim], df[sim]
    known = real[real["usd"].notna()]
    mix = {kind: float(known.loc[known["kind"] == kind, "usd"].sum()) for kind in KINDS}
    # A real kind outside the usual three (should not happen) still counts, under its name.
    for kind in sorted(set(known["kind"]) - set(KINDS)):
        mix[kind] = float(known.loc[known["kind"] == kind, "usd"].sum())
    failed = real[real["outcome"] == "failed"]
    return SpendRow(
        key=key,
        label=label or key,
        router=router,
        usd=float(known["usd"].sum()),
        events=len(real),
        unknown=int(real["usd"].isna().sum()),
        mix=mix,
        failed_usd=float(failed["usd"].sum()),
        failed_events=len(failed),
        failed_unknown=int(failed["usd"].isna().sum()),
        simulated_usd=float(fake["usd"].sum()),
        simulated_events=len(fake),
    )


def _grouped(df: pd.DataFrame, by: str) -> Iterable[tuple[str, pd.DataFrame]]:
    for value, group in df.groupby(by, sort=True):
        yield str(value), group


def by_router(frame: pd.DataFrame, catalog: Catalog) -> list[SpendRow]:
    """Spend per router, biggest real spend first."""
    df = ledger(frame)
    rows = [
        summarize(g, name, _router_label(catalog, name), name) for name, g in _grouped(df, "router")
    ]
    return sorted(rows, key=lambda r: (-r.usd, -r.simulated_usd, r.label))


def by_model(frame: pd.DataFrame, catalog: Catalog) -> list[SpendRow]:
    """Spend per model (its catalog label and router), biggest real spend first."""
    df = ledger(frame)
    rows = []
    for key, g in _grouped(df, "model_key"):
        router = str(g["router"].iloc[0])
        rows.append(summarize(g, key, _model_label(catalog, key), router))
    return sorted(rows, key=lambda r: (-r.usd, -r.simulated_usd, r.label))


def period_key(at: pd.Series, scope: str) -> pd.Series:
    """The UTC day ('2026-12-03') or month ('2026-12') of each timestamp."""
    if scope not in budget.SCOPES:
        raise ValueError(f"unknown period {scope!r}")
    return at.dt.strftime("%Y-%m-%d" if scope == "day" else "%Y-%m")


def by_period(frame: pd.DataFrame, scope: str = "day") -> list[SpendRow]:
    """Spend per UTC day or month, newest first."""
    df = ledger(frame)
    df["period"] = period_key(df["at"], scope)
    rows = [summarize(g, p) for p, g in _grouped(df, "period")]
    return sorted(rows, key=lambda r: r.key, reverse=True)


def totals(frame: pd.DataFrame, now: dt.datetime | None = None) -> Totals:
    """Spend this UTC day, this UTC month and in all."""
    df = ledger(frame)
    day, month = budget.period_start("day", now), budget.period_start("month", now)
    return Totals(
        summarize(df[df["at"] >= day], "day", "this day (UTC)"),
        summarize(df[df["at"] >= month], "month", "this month (UTC)"),
        summarize(df, "all", "all time"),
    )


def failures(frame: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Billed events that left no image (real money only), newest first."""
    df = ledger(frame)
    df = df[(df["outcome"] == "failed") & (df["kind"] != SIMULATED)]
    return (
        pd.DataFrame(
            {
                "at": df["at"],
                "model": [_model_label(catalog, k) for k in df["model_key"]],
                "router": df["router"],
                "usd": df["usd"],
                "amount": [money(u) if pd.notna(u) else "unknown" for u in df["usd"]],
                "kind": df["kind"],
                "basis": df["basis"],
                "run": df["run_id"],
            }
        )
        .sort_values("at", ascending=False)
        .reset_index(drop=True)
    )


def spent_by_router(
    frame: pd.DataFrame, now: dt.datetime | None = None
) -> dict[tuple[str, str], float]:
    """Real money per (router, "day" | "month") in the current UTC day and month."""
    df = ledger(frame)
    df = df[(df["kind"] != SIMULATED) & df["usd"].notna()]
    out: dict[tuple[str, str], float] = {}
    for scope in budget.SCOPES:
        recent = df[df["at"] >= budget.period_start(scope, now)]
        for router, amount in recent.groupby("router")["usd"].sum().items():
            out[(str(router), scope)] = float(amount)
    return out


def rows_frame(rows: Iterable[SpendRow], *, simulated: bool = False) -> pd.DataFrame:
    """A table of summary rows: real money with its kind mix, or (simulated) the sandbox's."""
    if simulated:
        return pd.DataFrame(
            [
                {
                    "key": r.key,
                    "label": r.label,
                    "router": r.router,
                    "simulated_usd": r.simulated_usd,
                    "events": r.simulated_events,
                }
                for r in rows
                if r.simulated_events
            ],
            columns=["key", "label", "router", "simulated_usd", "events"],
        )
    cols = [
        "key",
        "label",
        "router",
        "usd",
        *KINDS,
        "unknown",
        "events",
        "failed_usd",
        "failed_events",
        "how we know",
        "billed failures",
    ]
    return pd.DataFrame(
        [
            {
                "key": r.key,
                "label": r.label,
                "router": r.router,
                "usd": r.usd,
                **{k: r.mix.get(k, 0.0) for k in KINDS},
                "unknown": r.unknown,
                "events": r.events,
                "failed_usd": r.failed_usd,
                "failed_events": r.failed_events,
                "how we know": r.mix_text(),
                "billed failures": r.failures_text(),
            }
            for r in rows
            if r.events
        ],
        columns=cols,
    )


def period_chart(rows: Iterable[SpendRow], scope: str = "day") -> alt.Chart:
    """Stacked bars of real spend per period, coloured by how each amount is known."""
    data = pd.DataFrame(
        [
            {"period": r.key, "kind": kind, "usd": amount}
            for r in rows
            for kind, amount in r.mix.items()
            if amount
        ],
        columns=["period", "kind", "usd"],
    )
    title = "UTC day" if scope == "day" else "UTC month"
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=title, sort="ascending", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("sum(usd):Q", title="USD billed"),
            # strongest evidence darkest; red would read as an alarm, which an estimate is not
            color=alt.Color(
                "kind:N",
                title="cost kind",
                scale=alt.Scale(domain=list(KINDS), range=["#1f4e79", "#5b9bd5", "#b4c7dc"]),
            ),
            tooltip=["period:O", "kind:N", alt.Tooltip("usd:Q", format="$.4f")],
        )
        .properties(height=260)
    )


# ----------------------------------------------------------------------------- budgets
@dataclass(frozen=True)
class CapField:
    """One cap the Spend page edits: its setting key, current value and where that came from."""

    key: str
    scope: str  # "run", "day" or "month"
    router: str | None
    label: str
    env_var: str
    value: float | None
    source: str  # "settings", "environment" or "" (no cap)

    @property
    def text(self) -> str:
        """The value as the text input shows it ('' for no cap)."""
        return amount_text(self.value)

    def describe_source(self) -> str:
        """Where the value in force comes from, in words."""
        if self.source == "settings":
            return "set on this page"
        if self.source == "environment":
            return f"from the environment ({self.env_var})"
        return f"no cap (set one here, or with {self.env_var})"


def money(amount: float) -> str:
    """Dollars for the page: '$0' for nothing, otherwise as `vibegen.money.amount` writes them."""
    return "$0" if amount == 0 else money_amount(amount)


def amount_text(value: float | None) -> str:
    """A cap as it is stored and shown: '5', '2.5', '' for none."""
    if value is None:
        return ""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def cap_fields(
    env: Mapping[str, str], settings: Mapping[str, str], catalog: Catalog
) -> list[CapField]:
    """The per-run cap, then the daily and monthly cap of each router that bills."""
    wanted: list[tuple[str, str | None, str]] = [("run", None, "Per run")]
    for name, info in catalog.routers.items():
        if simulated_router(name):
            continue  # nothing is billed: nothing to cap
        wanted += [
            ("day", name, f"{info.label} per UTC day"),
            ("month", name, f"{info.label} per UTC month"),
        ]
    free = {
        name
        for name in catalog.routers
        if all(m.price.unit == "free" for m in catalog.models if m.router == name)
    }
    out = []
    for scope, router, label in wanted:
        key = budget.setting_key(scope, router)
        env_var = f"VIBEGEN_{key.upper()}"
        value, source = None, ""
        for origin, raw in (("settings", settings.get(key)), ("environment", env.get(env_var))):
            if raw is None or not str(raw).strip():
                continue
            try:
                value, source = budget.parse_usd(raw), origin
                break
            except InputError:
                continue  # the same rule as caps_from: a bad value is skipped
        if router in free and value is None:
            continue  # self-hosted: nothing is billed, so a cap would never bite
        out.append(CapField(key, scope, router, label, env_var, value, source))
    return out


def plan_cap_changes(
    fields: Iterable[CapField], typed: Mapping[str, str]
) -> tuple[dict[str, str | None], dict[str, str]]:
    """Settings to write (None = remove) for what was typed, and per-field errors.

    A field left as shown changes nothing (an environment cap is not copied into settings);
    with any error the caller saves nothing.
    """
    changes: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for f in fields:
        raw = typed.get(f.key, f.text)
        try:
            value = budget.parse_usd(raw, f.label)
        except InputError as exc:
            errors[f.key] = str(exc)
            continue
        if value == f.value:
            continue
        changes[f.key] = None if value is None else amount_text(value)
    return changes, errors


def left_of_cap(field_: CapField, spent: Mapping[tuple[str, str], float]) -> str:
    """What has been billed against a router cap this period and what is left, in words."""
    if field_.router is None:
        if field_.value is None:
            return ""
        return (
            f"a run estimated above {money(field_.value)} is refused, and a run "
            "stops starting cells once billed that much"
        )
    used = spent.get((field_.router, field_.scope), 0.0)
    billed = f"{money(used)} billed this {field_.scope} (UTC)"
    if field_.value is None:
        return billed
    left = max(field_.value - used, 0.0)
    return f"{billed} · {money(left)} left of {money(field_.value)}"


def _router_label(catalog: Catalog, name: str) -> str:
    info = catalog.routers.get(name)
    return info.label if info else name


def _model_label(catalog: Catalog, key: str) -> str:
    for m in catalog.models:
        if m.key == key:
            return m.label
    return key  # a model since removed from the catalog keeps its key
