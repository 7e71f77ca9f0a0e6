"""The leaderboard: a pure function of generation and rating rows (no Streamlit, no I/O).

Quality comes from a Bradley–Terry fit on pairwise outcomes (see `outcomes` and
`bradley_terry`); cost, speed and reliability come from the generation rows of the same
filtered slice. Competitors are model_keys (router + model).

Decision aids:
* Pareto front: competitors not beaten on both quality (higher score) and cost (lower median
  cost per image) by another. Only competitors with votes and a known cost take part;
  competitors whose cost is unknown are listed in `pareto_excluded` and never treated as free.
* Callout: the cheapest competitor (known cost) that shares rank 1 with the best, i.e. whose
  interval is not entirely below another competitor's interval.
* Projection: expected cost and wall time for N images; failed attempts are assumed not billed
  (fal states it does not charge for server errors) so cost = N x median cost per image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from vibegen.bradley_terry import (
    DEFAULT_MIN_VOTES,
    BTResult,
    VotesNeeded,
    fit_bradley_terry,
    votes_needed,
)
from vibegen.outcomes import pairwise_outcomes

GENERATION_COLUMNS = (
    "generation_id",
    "run_id",
    "model_key",
    "router",
    "label",
    "status",
    "error_kind",
    "cost_usd",
    "cost_kind",
    "wall_s",
    "created_at",
    "prompt_set_id",
    "sandbox",
)
RATING_COLUMNS = (
    "run_id",
    "rater",
    "mode",
    "generation_id",
    "other_generation_id",
    "value",
    "blind",
    "created_at",
)
FINISHED = ("ok", "error", "timeout", "interrupted")
FAILURE_GROUPS = ("content_filter", "timeout", "router_error", "rate_limit", "other")
COST_KINDS = ("reported", "computed", "estimated", "simulated", "self_hosted", "unknown")


@dataclass(frozen=True)
class Callout:
    """The cheapest competitor statistically tied with the best one."""

    model_key: str
    label: str
    cost_per_image: float
    best_model_key: str
    best_label: str
    best_cost_per_image: float  # NaN when the best one's cost is unknown
    n_tied: int  # competitors sharing rank 1 (including the best)
    text: str


@dataclass(frozen=True)
class Leaderboard:
    """Everything the leaderboard page shows, computed from one filtered slice of rows."""

    table: pd.DataFrame  # one row per competitor, best first (columns: see TABLE_COLUMNS)
    outcomes: pd.DataFrame  # the pairwise outcomes the fit used
    fit: BTResult
    pareto: tuple[str, ...]  # model_keys on the front, by increasing cost
    pareto_excluded: tuple[str, ...]  # rated competitors left off the front: cost unknown
    callout: Callout | None
    disconnection: str | None
    votes_needed: VotesNeeded | None  # for the top two by score
    notes: tuple[str, ...]
    filters: dict[str, Any] = field(default_factory=dict)


TABLE_COLUMNS = [
    "model_key",
    "label",
    "router",
    "score",
    "lo",
    "hi",
    "rank",
    "votes",
    "raters",  # distinct raters behind the votes
    "preliminary",
    "estimate_flag",
    "flag_reason",
    "cost_per_image",  # median USD over successful images with a known cost
    "cost_known_images",
    "cost_kinds",  # dict kind -> count over successful images
    "wall_p50_s",
    "wall_p90_s",
    "images_ok",
    "finished",
    "in_flight",
    "success_rate",
    "failures",
    *[f"fail_{g}" for g in FAILURE_GROUPS],
    "pareto",
]


PROJECTION_COLUMNS = [
    "model_key",
    "label",
    "router",
    "success_rate",
    "attempts",
    "concurrency",
    "cost_per_image",
    "expected_cost_usd",
    "wall_p50_s",
    "expected_wall_s",
    "expected_wall_p90_s",
    "note",
]


def _as_utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    """A tz-aware UTC timestamp (naive values are taken as UTC)."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def filter_rows(
    generations: pd.DataFrame,
    ratings: pd.DataFrame,
    *,
    prompt_set_id: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    rater: str | Sequence[str] | None = None,
    blind_only: bool = False,
    include_sandbox: bool = False,
    include_held: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Filter generations and ratings to one slice; ratings follow their images.

    The time window [since, until) selects images by their generation time: quality is a
    property of the images a router returned in that window (a model can change behind an
    alias), and cost, speed and reliability are measured on the same images. Votes on those
    images count whenever they were cast. A rating is kept only if every image it refers to is
    kept; `rater` and `blind_only` then filter the ratings themselves. Ratings the store marks
    as not counted (`counts`: a rater held for the owner, dropped, or excluded from that run)
    are left out unless `include_held`.
    """
    g = _with_columns(generations, GENERATION_COLUMNS)
    keep = np.ones(len(g), bool)
    if not include_sandbox:
        keep &= ~g["sandbox"].fillna(False).astype(bool).to_numpy()
    if prompt_set_id is not None:
        keep &= g["prompt_set_id"].eq(prompt_set_id).to_numpy()
    if since is not None or until is not None:
        gt = pd.to_datetime(g["created_at"], utc=True)
        if since is not None:
            keep &= (gt >= _as_utc(since)).to_numpy()
        if until is not None:
            keep &= (gt < _as_utc(until)).to_numpy()
    g = g[keep]

    r = _with_columns(ratings, RATING_COLUMNS)
    ids = pd.Index(g["generation_id"])
    rkeep = ids.get_indexer(r["generation_id"]) >= 0
    other = r["other_generation_id"]
    rkeep &= other.isna().to_numpy() | (ids.get_indexer(other) >= 0)
    if rater is not None:
        raters = [rater] if isinstance(rater, str) else list(rater)
        rkeep &= r["rater"].isin(raters).to_numpy()
    if blind_only:
        rkeep &= r["blind"].fillna(False).astype(bool).to_numpy()
    if not include_held and "counts" in r.columns:
        rkeep &= r["counts"].fillna(True).astype(bool).to_numpy()
    return g, r[rkeep]


def _with_columns(df: pd.DataFrame | None, columns: Sequence[str]) -> pd.DataFrame:
    """`df`, or an empty frame with `columns` when the store hands over no rows at all."""
    if df is not None and len(df) and set(columns) <= set(df.columns):
        return df
    if df is not None and len(df):
        missing = sorted(set(columns) - set(df.columns))
        raise ValueError(f"missing columns: {', '.join(missing)}")
    base = df if df is not None else pd.DataFrame()
    return base.reindex(columns=list(dict.fromkeys([*base.columns, *columns])))


def _failure_group(status: pd.Series, error_kind: pd.Series) -> pd.Series:
    """Map a failed attempt to content_filter / timeout / router_error / rate_limit / other."""
    kind = error_kind.astype(object).where(error_kind.notna(), None)
    named = kind.where(kind.isin(FAILURE_GROUPS[:-1]), None)
    # A timeout status without an error kind is still a timeout.
    named = named.where(named.notna() | ~status.eq("timeout"), "timeout")
    return named.fillna("other")


def competitor_stats(generations: pd.DataFrame) -> pd.DataFrame:
    """Cost, speed and reliability per model_key from generation rows."""
    g = generations
    key = g["model_key"]
    status = g["status"]
    ok = status.eq("ok")
    finished = status.isin(FINISHED)
    first = g.groupby("model_key", sort=True)[["label", "router"]].first()
    out = pd.DataFrame(index=first.index)
    out["label"] = first["label"]
    out["router"] = first["router"]

    ok_rows = g[ok]
    costs = ok_rows.loc[ok_rows["cost_usd"].notna(), ["model_key", "cost_usd"]]
    out["cost_per_image"] = costs.groupby("model_key")["cost_usd"].median()
    out["cost_known_images"] = costs.groupby("model_key").size()
    kind_counts = ok_rows.groupby(["model_key", ok_rows["cost_kind"].fillna("unknown")]).size()
    kinds: dict[str, dict[str, int]] = {m: {} for m in out.index}
    for (m, kind), count in kind_counts.items():
        kinds[m][str(kind)] = int(count)
    out["cost_kinds"] = [kinds[m] for m in out.index]
    walls = ok_rows.loc[ok_rows["wall_s"].notna(), ["model_key", "wall_s"]]
    wall_q = walls.groupby("model_key")["wall_s"].quantile([0.5, 0.9]).unstack()
    for q, col in ((0.5, "wall_p50_s"), (0.9, "wall_p90_s")):
        out[col] = wall_q[q] if q in wall_q.columns else np.nan
    out["images_ok"] = ok.groupby(key).sum()
    out["finished"] = finished.groupby(key).sum()
    out["in_flight"] = status.isin(["pending", "running"]).groupby(key).sum()
    out["success_rate"] = out["images_ok"] / out["finished"].where(out["finished"] > 0)
    failed = g[finished & ~ok]
    groups = _failure_group(failed["status"], failed["error_kind"])
    breakdown = failed.groupby([failed["model_key"], groups]).size().unstack(fill_value=0)
    out["failures"] = (finished & ~ok).groupby(key).sum()
    for grp in FAILURE_GROUPS:
        col = breakdown[grp] if grp in breakdown.columns else pd.Series(dtype=int)
        out[f"fail_{grp}"] = col.reindex(out.index).fillna(0).astype(int)
    for col in ("cost_known_images", "images_ok", "finished", "in_flight", "failures"):
        out[col] = out[col].fillna(0).astype(int)
    for col in ("cost_per_image", "wall_p50_s", "wall_p90_s", "success_rate"):
        out[col] = out[col].astype(float)
    return out


def pareto_front(table: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Model_keys on the quality/cost front (by cost) and rated ones excluded for unknown cost."""
    rated = table[table["votes"] > 0]
    known = rated[rated["cost_per_image"].notna()]
    excluded = tuple(rated.loc[rated["cost_per_image"].isna(), "model_key"])
    ordered = known.sort_values(["cost_per_image", "score"], ascending=[True, False])
    front: list[str] = []
    best = -math.inf
    for key, score in zip(ordered["model_key"], ordered["score"], strict=True):
        if score > best:  # cheaper ones seen so far all score lower: not dominated
            front.append(key)
            best = score
    return tuple(front), excluded


def _money(x: float) -> str:
    return f"${x:.4f}" if x < 0.1 else f"${x:.2f}"


def tied_cheapest(table: pd.DataFrame) -> Callout | None:
    """The cheapest competitor (known cost) sharing rank 1 with the best by score."""
    rated = table[table["votes"] > 0]
    if rated.empty:
        return None
    best = rated.sort_values(["score", "model_key"], ascending=[False, True]).iloc[0]
    tied = rated[rated["rank"] == 1]
    priced = tied[tied["cost_per_image"].notna()]
    if priced.empty:
        return None
    pick = priced.sort_values(["cost_per_image", "score"], ascending=[True, False]).iloc[0]
    best_cost = float(best["cost_per_image"]) if pd.notna(best["cost_per_image"]) else math.nan
    if pick["model_key"] == best["model_key"]:
        text = (
            f"{pick['label']} scores highest and is also the cheapest of the {len(tied)} "
            f"competitor(s) sharing rank 1 ({_money(pick['cost_per_image'])} per image)."
        )
    else:
        versus = (
            f" versus {_money(best_cost)} for {best['label']}"
            if not math.isnan(best_cost)
            else f"; the cost of {best['label']} is unknown"
        )
        text = (
            f"{pick['label']} is statistically tied with the best ({best['label']}: they share "
            f"rank 1) and costs {_money(pick['cost_per_image'])} per image{versus}."
        )
    if bool(pick["preliminary"]):
        text += " Preliminary: few votes so far."
    return Callout(
        model_key=str(pick["model_key"]),
        label=str(pick["label"]),
        cost_per_image=float(pick["cost_per_image"]),
        best_model_key=str(best["model_key"]),
        best_label=str(best["label"]),
        best_cost_per_image=best_cost,
        n_tied=len(tied),
        text=text,
    )


def build_leaderboard(
    generations: pd.DataFrame,
    ratings: pd.DataFrame,
    *,
    prompt_set_id: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    rater: str | Sequence[str] | None = None,
    blind_only: bool = False,
    include_sandbox: bool = False,
    include_held: bool = False,
    min_votes: int = DEFAULT_MIN_VOTES,
    level: float = 0.95,
) -> Leaderboard:
    """Build the leaderboard for one filtered slice of generation and rating rows."""
    filters = dict(
        prompt_set_id=prompt_set_id,
        since=since,
        until=until,
        rater=rater,
        blind_only=blind_only,
        include_sandbox=include_sandbox,
        include_held=include_held,
    )
    gens, rates = filter_rows(generations, ratings, **filters)
    outcomes = pairwise_outcomes(rates, gens)
    stats = competitor_stats(gens)
    fit = fit_bradley_terry(outcomes, list(stats.index), min_votes=min_votes, level=level,
                            cluster_column="judgment")
    table = fit.table().set_index("model_key").join(stats, how="left").reset_index()
    table["raters"] = table["model_key"].map(distinct_raters(outcomes)).fillna(0).astype(int)
    table = _order(table)
    front, excluded = pareto_front(table)
    table["pareto"] = table["model_key"].isin(front)
    table = table[TABLE_COLUMNS]

    # Notes name competitors as people read them, "FLUX.2 pro (fal)", not by catalog key.
    names = {key: f"{label} ({router})" for key, label, router
             in zip(table["model_key"], table["label"], table["router"], strict=True)}
    notes: list[str] = []
    if excluded:
        notes.append("Not on the Pareto front because their cost is unknown: "
                     + ", ".join(names[k] for k in excluded) + ".")
    if fit.prior_applied:
        notes.append(
            "Some scores could not be estimated from the votes alone (a competitor won or lost "
            "every vote, or groups were never compared); all scores include a weak prior of one "
            "win and one loss against an average opponent."
        )
    unrated = table.loc[table["votes"] == 0, "model_key"].tolist()
    if unrated:
        notes.append("No votes yet (no score or rank): "
                     + ", ".join(names[k] for k in unrated) + ".")

    rated = table[table["votes"] > 0]
    need = None
    if len(rated) >= 2:
        top = rated.sort_values(["score", "model_key"], ascending=[False, True])["model_key"]
        need = votes_needed(fit, top.iloc[0], top.iloc[1], level=level)
    return Leaderboard(
        table=table,
        outcomes=outcomes,
        fit=fit,
        pareto=front,
        pareto_excluded=excluded,
        callout=tied_cheapest(table),
        disconnection=fit.disconnection,
        votes_needed=need,
        notes=tuple(notes),
        filters=filters,
    )


def distinct_raters(outcomes: pd.DataFrame) -> pd.Series:
    """How many different raters stand behind each competitor's outcomes."""
    if outcomes is None or outcomes.empty:
        return pd.Series(dtype=int)
    both = pd.concat([
        pd.DataFrame({"model_key": outcomes["a"].astype(str), "rater": outcomes["rater"]}),
        pd.DataFrame({"model_key": outcomes["b"].astype(str), "rater": outcomes["rater"]}),
    ])
    return both.drop_duplicates().groupby("model_key").size()


def _order(table: pd.DataFrame) -> pd.DataFrame:
    """Rated competitors by score (best first), then unrated ones by name."""
    rated = table["votes"] > 0
    return pd.concat(
        [
            table[rated].sort_values(["score", "model_key"], ascending=[False, True]),
            table[~rated].sort_values("model_key"),
        ],
        ignore_index=True,
    )


def projection(
    leaderboard: Leaderboard,
    n_images: int = 100,
    concurrency: Mapping[str, int] | None = None,
    *,
    default_concurrency: int = 1,
) -> pd.DataFrame:
    """Expected cost and wall time to get `n_images` successful images from each competitor.

    attempts = ceil(n_images / success_rate); cost = n_images x median cost per image (failed
    attempts assumed not billed); wall = ceil(attempts / concurrency[router]) x p50 wall time
    (and the same with p90 as a pessimistic bound). Routers missing from `concurrency` use
    `default_concurrency`. Unknown inputs give NaN, never 0.
    """
    if n_images < 0:
        raise ValueError("n_images must be >= 0")
    conc = dict(concurrency or {})
    t = leaderboard.table
    rows = []
    for rec in t.itertuples(index=False):
        c = max(1, int(conc.get(rec.router, default_concurrency)))
        sr = rec.success_rate
        note = ""
        if pd.isna(sr):
            attempts = math.nan
            note = "no finished attempts yet"
        elif sr <= 0:
            attempts = math.inf
            note = "no successful image yet"
        else:
            attempts = float(math.ceil(n_images / sr - 1e-9))
        cost = n_images * rec.cost_per_image if pd.notna(rec.cost_per_image) else math.nan
        if math.isnan(cost) and not note:
            note = "cost unknown"
        batches = math.ceil(attempts / c) if math.isfinite(attempts) else attempts
        rows.append(
            {
                "model_key": rec.model_key,
                "label": rec.label,
                "router": rec.router,
                "success_rate": sr,
                "attempts": attempts,
                "concurrency": c,
                "cost_per_image": rec.cost_per_image,
                "expected_cost_usd": cost,
                "wall_p50_s": rec.wall_p50_s,
                "expected_wall_s": batches * rec.wall_p50_s,
                "expected_wall_p90_s": batches * rec.wall_p90_s,
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=PROJECTION_COLUMNS)
