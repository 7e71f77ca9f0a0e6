"""Standalone HTML reports of a run or of the leaderboard (pure: returns text, no Streamlit).

A report is one self-contained file that opens offline, without the server: inline CSS,
images as data: URIs made from the stored JPEG thumbnails, and the quality-vs-cost chart drawn
as inline SVG. It holds no script and no external URL (a Content-Security-Policy meta tag
forbids both, as a second line of defence).

The markup lives in Jinja2 templates (vibegen/templates/, shipped as package data) with
autoescaping on, so every value a template prints is HTML-escaped: there is no escape call to
forget. Every printed value also passes through one finalize hook that redacts API keys first
(redact, then escape: a key containing & or < would not match once escaped). This module only
prepares plain values for the templates; the leaderboard table's columns, names and formats
come from `board_spec`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from vibegen.board_spec import COLUMNS, board_frame, tooltip_lines, verdict, x_axis, y_axis
from vibegen.charts import chart_data
from vibegen.exports import plain, resolve_secrets
from vibegen.keys import redact
from vibegen.leaderboard import Leaderboard
from vibegen.records import Cell, RunView, Status

if TYPE_CHECKING:
    from vibegen.store import Store

# Vega's default category colours, so the report's chart matches the app's Altair chart.
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#bab0ac",
)


@jinja2.pass_context
def _redacted(context: jinja2.runtime.Context, value: Any) -> Any:
    """The one place report text is redacted: every value a template prints passes here."""
    if value is None:
        return ""
    secrets = context.get("secrets")
    if secrets is None:  # a template rendered without its secrets must not print anything
        raise RuntimeError("report templates need `secrets` in their context")
    # Templates get plain values only (no Markup): so everything printed is redacted, then
    # escaped; a value marked safe would come out escaped twice, visibly, never unredacted.
    return redact(str(value), secrets)


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("vibegen", "templates"),
    autoescape=True,
    finalize=_redacted,
    undefined=jinja2.StrictUndefined,  # a misspelt name fails here, not as an empty cell
    trim_blocks=True,
    lstrip_blocks=True,
)


def _render(template: str, secrets: Sequence[str], **context: Any) -> str:
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return TEMPLATES.get_template(template).render(secrets=list(secrets), made=made, **context)


# ------------------------------------------------------------------------- helpers
def _seconds(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f} s"


def _utc(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _thumb_uri(data: bytes | None) -> str | None:
    # Thumbnails are JPEGs we made ourselves (vibegen.images.prepare): no metadata inside.
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii") if data else None


# --------------------------------------------------------------------- run report
@dataclass
class _Tally:
    """What the raters said about one image."""

    best: list[str] = field(default_factory=list)
    reject: list[str] = field(default_factory=list)
    stars: list[int] = field(default_factory=list)
    won: int = 0
    lost: int = 0
    tied: int = 0


def _tallies(ratings: Iterable[dict]) -> dict[str, _Tally]:
    out: dict[str, _Tally] = defaultdict(_Tally)
    for r in ratings:
        gen, other, value = r["generation_id"], r["other_generation_id"], r["value"]
        if r["mode"] == "best":
            out[gen].best.append(r["rater"])
        elif r["mode"] == "reject":
            out[gen].reject.append(r["rater"])
        elif r["mode"] == "stars" and str(value).isdigit():
            out[gen].stars.append(int(value))
        elif r["mode"] == "pair" and other:
            if value == "a":
                out[gen].won += 1
                out[other].lost += 1
            elif value == "b":
                out[other].won += 1
                out[gen].lost += 1
            else:  # tie and both_bad: neither side won
                out[gen].tied += 1
                out[other].tied += 1
    return out


def _tally_text(t: _Tally | None) -> str:
    if t is None:
        return ""
    parts = []
    if t.stars:
        parts.append(f"★ {sum(t.stars) / len(t.stars):.1f} ({len(t.stars)})")
    if t.best:
        parts.append("best: " + ", ".join(t.best))
    if t.reject:
        parts.append("rejected: " + ", ".join(t.reject))
    if t.won or t.lost or t.tied:
        parts.append(f"pairs: {t.won} won, {t.lost} lost, {t.tied} tied")
    return " · ".join(parts)


def _cell(cell: Cell, thumb: bytes | None, tally: _Tally | None) -> dict[str, Any]:
    """What the run template shows of one cell."""
    meta: list[dict[str, str]] = []
    out: dict[str, Any] = {
        "label": cell.label,
        "router": cell.router,
        "model_key": cell.model_key,
        "sandbox": cell.simulated,
        "number": cell.image_index + 1 if cell.image_index else None,
        "meta": meta,
        "state": "error",
        "uri": None,
        "waiting": "",
        "error": "",
    }
    if cell.ok:
        times = _seconds(cell.wall_s)
        if cell.queue_s is not None or cell.inference_s is not None:
            times += f" (queue {_seconds(cell.queue_s)}, inference {_seconds(cell.inference_s)})"
        size = f"{cell.width}×{cell.height}" if cell.width and cell.height else "size unknown"
        out |= {"state": "ok", "uri": _thumb_uri(thumb)}
        meta.append({"text": cell.cost.describe(), "title": cell.cost.provenance()})
        meta.append(
            {
                "text": f"{times} · {size}" + (f" · seed {cell.seed}" if cell.seed else ""),
                "title": "",
            }
        )
        if tally_text := _tally_text(tally):
            meta.append({"text": tally_text, "title": ""})
    elif cell.in_flight:
        out |= {
            "state": "waiting",
            "waiting": "queued" if cell.status == Status.PENDING else "generating",
        }
    else:
        icon = "⏱️" if cell.status == Status.TIMEOUT else "⚠️"
        kind = f" ({cell.error_kind})" if cell.error_kind else ""
        out["error"] = f"{icon} {cell.status + kind}: {cell.error_message or 'no message'}"
        if cell.wall_s is not None:
            meta.append({"text": f"after {_seconds(cell.wall_s)}", "title": ""})
    if cell.notes:
        meta.append(
            {
                "text": "not honoured: " + ", ".join(f"{k}: {v}" for k, v in cell.notes.items()),
                "title": "",
            }
        )
    return out


def _summary(view: RunView) -> str:
    ok = [c for c in view.cells if c.ok]
    walls = [c.wall_s for c in ok if c.wall_s is not None]
    # Said as the run page says it: a sandbox's pretend amounts are never shown as a cost.
    cost = view.spent_text()
    if view.unknown_costs:
        cost += f" + {view.unknown_costs} unknown"
    parts = [
        f"{len(ok)} of {len(view.cells)} images from "
        f"{len({c.model_key for c in view.cells})} models",
        f"{view.failures} failed",
        cost,
        f"slowest image {_seconds(max(walls)) if walls else '—'}",
    ]
    if not view.complete:
        parts.append(f"still running ({view.done} of {len(view.cells)} done)")
    return " · ".join(parts)


def run_report_html(store: Store, run_id: str, *, secrets: Iterable[str]) -> str:
    """One run as a standalone HTML page: prompt, every image or error, costs, times, ratings."""
    view = store.run_view(run_id)
    tallies = _tallies(store.current_ratings(run_id))
    ok = [c.id for c in view.cells if c.ok]
    thumbs = store.thumbnails(ok) if ok else {}
    n_ok = len(ok)
    return _render(
        "run.html.j2",
        resolve_secrets(secrets),
        title=f"VibeGen run · {view.prompt[:80]}",
        # The short id names the run; the full id is a capability (it opens the run) and this
        # file may travel further than the team.
        short_id=view.id[:8],
        created=_utc(view.created_at),
        prompt=view.prompt,
        summary=_summary(view),
        params=[(k, json.dumps(plain(v), ensure_ascii=False)) for k, v in view.params.items()],
        cells=[_cell(c, thumbs.get(c.id), tallies.get(c.id)) for c in view.cells],
        reviews=[
            f"{rater} rated {k} of {n_ok} images"
            for rater, k in store.review_progress(run_id).items()
        ],
    )


# ------------------------------------------------------------- quality vs cost SVG
def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    raw = (hi - lo) / max(n, 1)
    if raw <= 0 or not math.isfinite(raw):
        return [lo]
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = [10.0**k for k in range(k0, k1 + 1) if lo <= 10.0**k <= hi]
    if len(decades) >= 3:
        return decades
    return [m * 10.0**k for k in range(k0, k1 + 1) for m in (1, 2, 5) if lo <= m * 10.0**k <= hi]


def _tick_money(v: float) -> str:
    return "$" + (f"{v:.6f}".rstrip("0").rstrip(".") or "0")


def _x_domain(costs: pd.Series, log: bool) -> tuple[float, float]:
    lo, hi = float(costs.min()), float(costs.max())
    if log:
        l0, l1 = math.log10(lo), math.log10(hi)
        pad = 0.08 * (l1 - l0)
        return 10 ** (l0 - pad), 10 ** (l1 + pad)
    pad = 0.08 * (hi - lo) if hi > lo else max(abs(lo) * 0.5, 0.001)
    return max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad


def _chart(lb: Leaderboard) -> dict[str, Any]:
    """The chart's geometry and text for chart.svg.j2 (no points: nothing to plot)."""
    data = chart_data(lb)
    if data.empty:
        return {"points": []}
    width, height = 760, 440
    left, right, top, bottom = 78, 28, 16, 58
    pw, ph = width - left - right, height - top - bottom
    costs = data["cost_per_image"].astype(float)
    log = bool((costs > 0).all() and costs.max() / costs.min() >= 10)
    x0, x1 = _x_domain(costs, log)
    lows = data["lo"].astype(float).fillna(data["score"].astype(float))
    highs = data["hi"].astype(float).fillna(data["score"].astype(float))
    y0, y1 = float(lows.min()), float(highs.max())
    ypad = 0.06 * (y1 - y0) if y1 > y0 else 10.0
    y0, y1 = y0 - ypad, y1 + ypad

    def tx(v: float) -> float:
        return math.log10(v) if log else v

    def fx(v: float) -> float:
        return left + pw * (tx(v) - tx(x0)) / (tx(x1) - tx(x0))

    def fy(v: float) -> float:
        return top + ph * (1 - (v - y0) / (y1 - y0))

    routers = sorted(data["router"].astype(str).unique())
    color = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(routers)}
    level = lb.fit.level
    front = data[data["pareto"]].sort_values("cost_per_image")
    points = []
    for (_, rec), lo_v, hi_v in zip(data.iterrows(), lows, highs, strict=True):
        x, y = fx(rec["cost_per_image"]), fy(rec["score"])
        # Labels go right of the point, or left of it near the right edge so they stay inside.
        end = x > left + pw * 0.78
        points.append(
            {
                "x": f"{x:.1f}",
                "y": f"{y:.1f}",
                "lo": f"{fy(lo_v):.1f}",
                "hi": f"{fy(hi_v):.1f}",
                "x_left": f"{x - 4:.1f}",
                "x_right": f"{x + 4:.1f}",
                "color": color[str(rec["router"])],
                "opacity": "0.45" if rec["preliminary"] else "0.95",
                "stroke": "2" if rec["pareto"] else "0.8",
                "tip": "\n".join(tooltip_lines(rec, level)),
                "label": rec["label"],
                "label_x": f"{x - 9:.1f}" if end else f"{x + 9:.1f}",
                "label_y": f"{y - 7:.1f}",
                "anchor_end": end,
            }
        )
    notes = (
        f"Bars: {level:.0%} interval. Dashed line: Pareto front (nobody is both better and "
        "cheaper). Faded: preliminary (few votes). Hover a point for its figures."
    )
    if lb.pareto_excluded:
        notes += " Not shown, cost unknown: " + ", ".join(lb.pareto_excluded) + "."
    return {
        "width": width,
        "height": height,
        "left": left,
        "top": top,
        "pw": pw,
        "ph": ph,
        "right_x": left + pw,
        "bottom_y": top + ph,
        "y_ticks": [
            {"at": f"{fy(t):.1f}", "text_at": f"{fy(t) + 4:.1f}", "label": f"{t:.0f}"}
            for t in _nice_ticks(y0, y1)
        ],
        "x_ticks": [
            {"at": f"{fx(t):.1f}", "label": _tick_money(t)}
            for t in (_log_ticks(x0, x1) if log else _nice_ticks(x0, x1))
        ],
        "x_title": x_axis(log),
        "x_title_at": f"{left + pw / 2:.1f}",
        "y_title_at": f"{top + ph / 2:.1f}",
        "y_title": y_axis(level),
        "front": " ".join(
            f"{fx(c):.1f},{fy(q):.1f}"
            for c, q in zip(front["cost_per_image"], front["score"], strict=True)
        )
        if len(front) >= 2
        else "",
        "points": points,
        "legend": [{"name": r, "color": color[r]} for r in routers],
        "notes": notes,
    }


def quality_cost_svg(lb: Leaderboard, *, secrets: Iterable[str] = ()) -> str:
    """The quality-vs-cost chart as inline SVG with its legend (works offline, no script).

    Points are competitors with votes and a known cost: score with its interval bar against
    median cost per image (log x when costs span 10x or more), the Pareto front as a dashed
    line, preliminary competitors faded; hovering a point shows its figures.
    """
    return TEMPLATES.get_template("chart.svg.j2").render(chart=_chart(lb), secrets=list(secrets))


# ----------------------------------------------------------- leaderboard report
def _filters_text(filters: dict[str, Any]) -> str:
    parts = []
    if filters.get("prompt_set_id"):
        parts.append(f"prompt set {filters['prompt_set_id']}")
    if filters.get("since"):
        parts.append(f"images from {plain(filters['since'])}")
    if filters.get("until"):
        parts.append(f"images before {plain(filters['until'])}")
    rater = filters.get("rater")
    if rater:
        parts.append("votes by " + (rater if isinstance(rater, str) else ", ".join(rater)))
    if filters.get("blind_only"):
        parts.append("blind votes only")
    parts.append("sandbox included" if filters.get("include_sandbox") else "sandbox excluded")
    return " · ".join(parts)


def leaderboard_report_html(lb: Leaderboard, *, secrets: Iterable[str]) -> str:
    """The leaderboard as a standalone HTML page: callout, chart, table and notes."""
    return _render(
        "leaderboard.html.j2",
        resolve_secrets(secrets),
        title="VibeGen leaderboard",
        filters=_filters_text(lb.filters),
        n_votes=lb.n_votes,
        n_outcomes=int(lb.outcomes.shape[0]),
        verdict=verdict(lb),
        simulated=bool(lb.table["sandbox"].any()),
        disconnection=lb.disconnection,
        chart=_chart(lb),
        columns=COLUMNS,
        rows=board_frame(lb).to_dict("records"),
        notes=list(lb.notes),
        level=lb.fit.level,
        level_text=f"{lb.fit.level:.0%}",
        min_votes=int(lb.fit.min_votes),
    )
