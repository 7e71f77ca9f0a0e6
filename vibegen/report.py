"""Standalone HTML reports of a run or of the leaderboard (pure: returns text, no Streamlit).

A report is one self-contained file that opens offline, without the server: inline CSS,
images as data: URIs made from the stored JPEG thumbnails, and the quality-vs-cost chart drawn
here as inline SVG. It holds no script and no external URL (a Content-Security-Policy meta tag
forbids both, as a second line of defence), and every untrusted string — prompt, labels,
error messages, rater names — is redacted of API keys and then HTML-escaped, so it shows
literally, never interpreted.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from vibegen.charts import chart_data
from vibegen.costs import KIND_LABEL
from vibegen.exports import plain, resolve_secrets
from vibegen.keys import redact
from vibegen.leaderboard import FAILURE_GROUPS, Leaderboard
from vibegen.markup import escape_html
from vibegen.store import Cell, RunView, Store

# Nothing may load or run: only inline styles and data: images (and no form can post).
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "form-action 'none'; base-uri 'none'")
# Vega's default category colours, so the report's chart matches the app's Altair chart.
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b",
           "#9d755d", "#ff9da6", "#bab0ac")

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 24px auto; max-width: 1200px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.muted, .meta { color: #59636e; } .meta { font-size: 12px; }
pre.prompt { white-space: pre-wrap; word-break: break-word; background: #f6f8fa;
             border: 1px solid #d1d9e0; border-radius: 6px; padding: 10px 12px;
             font: 14px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 14px; }
figure.cell { margin: 0; border: 1px solid #d1d9e0; border-radius: 8px; padding: 8px;
              break-inside: avoid; }
figure.cell img { width: 100%; height: auto; border-radius: 4px; display: block; }
figcaption { margin-top: 6px; word-break: break-word; }
.error { background: #fff1f0; border: 1px solid #ffccc7; border-radius: 6px; padding: 8px;
         color: #a8071a; white-space: pre-wrap; word-break: break-word; }
.pending { background: #f6f8fa; border-radius: 6px; padding: 40px 8px; text-align: center; }
.badge { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 9px;
         background: #eef1f4; color: #424a53; margin-left: 4px; white-space: nowrap; }
.badge.prelim { background: #fff4d6; color: #7a5200; }
.badge.pareto { background: #e6f4ea; color: #1a6130; }
.badge.sandbox { background: #f1e8fd; color: #5b2a9a; }
.callout { background: #eef6ff; border: 1px solid #b6d7ff; border-radius: 8px; padding: 10px 12px; }
.warn { background: #fff8e6; border: 1px solid #f5d48a; border-radius: 8px; padding: 10px 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e8ee; padding: 6px 8px; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; } td.num { text-align: right; white-space: nowrap; }
dl.params { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dl.params dt { color: #59636e; } dl.params dd { margin: 0; word-break: break-word; }
figure.chart { margin: 0; } figure.chart svg { width: 100%; height: auto; max-width: 900px; }
.legend span.sw { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
                  margin: 0 4px 0 12px; vertical-align: middle; }
footer { margin-top: 32px; font-size: 12px; color: #59636e; }
@media print { body { margin: 0; } .grid { gap: 8px; } }
"""


# ------------------------------------------------------------------------- helpers
def _escaper(secrets: Sequence[str]) -> Callable[[Any], str]:
    def esc(value: Any) -> str:
        # Redact first, escape second: a key containing & or < would not match once escaped.
        return escape_html(redact("" if value is None else str(value), secrets))

    return esc


def _page(title: str, body: str, esc: Callable[[Any], str]) -> str:
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
        f"<footer>Made by VibeGen on {esc(made)}. A standalone file: it needs no server and "
        "loads nothing from the network.</footer>\n</body>\n</html>\n"
    )


def money(x: float | None) -> str:
    """'$0.0040' below ten cents, '$0.25' above; 'unknown' for a missing amount."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "unknown"
    return f"${x:.4f}" if x < 0.1 else f"${x:.2f}"


def _seconds(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f} s"


def _num(x: Any, fmt: str = ".0f") -> str:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(f) else format(f, fmt)


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


def _tally_html(t: _Tally | None, esc: Callable[[Any], str]) -> str:
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
    return f'<div class="meta">{esc(" · ".join(parts))}</div>' if parts else ""


def _cell_html(cell: Cell, thumb: bytes | None, tally: _Tally | None,
               esc: Callable[[Any], str]) -> str:
    title = f"<b>{esc(cell.label)}</b>"
    if cell.router == "sandbox":
        title += '<span class="badge sandbox">sandbox</span>'
    if cell.image_index:
        title += f" #{cell.image_index + 1}"
    caption = [f"<div>{title}</div>",
               f'<div class="meta">{esc(cell.router)} · {esc(cell.model_key)}</div>']
    if cell.status == "ok":
        uri = _thumb_uri(thumb)
        visual = (f'<img src="{uri}" alt="{esc(cell.label)} image">' if uri
                  else '<div class="pending">image missing</div>')
        times = _seconds(cell.wall_s)
        if cell.queue_s is not None or cell.inference_s is not None:
            times += f" (queue {_seconds(cell.queue_s)}, inference {_seconds(cell.inference_s)})"
        size = f"{cell.width}×{cell.height}" if cell.width and cell.height else "size unknown"
        caption.append(f'<div class="meta" title="{esc(cell.cost.provenance())}">'
                       f"{esc(cell.cost.describe())}</div>")
        caption.append(f'<div class="meta">{esc(times)} · {esc(size)}'
                       + (f" · seed {esc(cell.seed)}" if cell.seed else "") + "</div>")
        caption.append(_tally_html(tally, esc))
    elif cell.status in ("pending", "running"):
        visual = (f'<div class="pending">{"queued" if cell.status == "pending" else "generating"}'
                  " when this report was made</div>")
    else:
        icon = "⏱️" if cell.status == "timeout" else "⚠️"
        kind = f" ({cell.error_kind})" if cell.error_kind else ""
        visual = (f'<div class="error">{icon} {esc(cell.status + kind)}: '
                  f"{esc(cell.error_message or 'no message')}</div>")
        if cell.wall_s is not None:
            caption.append(f'<div class="meta">after {esc(_seconds(cell.wall_s))}</div>')
    if cell.notes:
        caption.append('<div class="meta">not honoured: ' + esc(", ".join(
            f"{k}: {v}" for k, v in cell.notes.items())) + "</div>")
    return f'<figure class="cell">{visual}<figcaption>{"".join(caption)}</figcaption></figure>'


def _summary_html(view: RunView, esc: Callable[[Any], str]) -> str:
    ok = [c for c in view.cells if c.status == "ok"]
    walls = [c.wall_s for c in ok if c.wall_s is not None]
    cost = money(view.cost_so_far)
    if view.unknown_costs:
        cost += f" + {view.unknown_costs} unknown"
    parts = [f"{len(ok)} of {len(view.cells)} images from "
             f"{len({c.model_key for c in view.cells})} models",
             f"{view.failures} failed", f"cost {cost}",
             f"slowest image {_seconds(max(walls)) if walls else '—'}"]
    if not view.complete:
        parts.append(f"still running ({view.done} of {len(view.cells)} done)")
    return f'<p class="muted">{esc(" · ".join(parts))}</p>'


def _params_html(params: dict[str, Any], esc: Callable[[Any], str]) -> str:
    if not params:
        return ""
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(json.dumps(plain(v), ensure_ascii=False))}</dd>"
                   for k, v in params.items())
    return f'<h2>Parameters</h2><dl class="params">{rows}</dl>'


def run_report_html(store: Store, run_id: str, *, secrets: Iterable[str] | None = None) -> str:
    """One run as a standalone HTML page: prompt, every image or error, costs, times, ratings."""
    esc = _escaper(resolve_secrets(secrets))
    view = store.run_view(run_id)
    ratings = store.current_ratings(run_id)
    tallies = _tallies(ratings)
    cells = "".join(_cell_html(c, store.image(c.id, thumb=True) if c.status == "ok" else None,
                               tallies.get(c.id), esc) for c in view.cells)
    progress = store.review_progress(run_id)
    n_ok = sum(c.status == "ok" for c in view.cells)
    reviews = ("<ul>" + "".join(f"<li>{esc(rater)} rated {k} of {n_ok} images</li>"
                                for rater, k in progress.items()) + "</ul>"
               if progress else '<p class="muted">No ratings yet.</p>')
    # The short id names the run; the full id is a capability (it opens the run) and this
    # file may travel further than the team.
    body = (
        f"<h1>VibeGen run {esc(view.id[:8])}</h1>"
        f'<p class="muted">Created {esc(_utc(view.created_at))}</p>'
        f'<h2>Prompt</h2><pre class="prompt">{esc(view.prompt)}</pre>'
        f"{_summary_html(view, esc)}{_params_html(view.params, esc)}"
        f'<h2>Images</h2><div class="grid">{cells}</div>'
        f"<h2>Reviews</h2>{reviews}"
    )
    return _page(f"VibeGen run · {view.prompt[:80]}", body, esc)


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


def quality_cost_svg(lb: Leaderboard, *, secrets: Iterable[str] = ()) -> str:
    """The quality-vs-cost chart as inline SVG with its legend (works offline, no script).

    Points are competitors with votes and a known cost: score with its interval bar against
    median cost per image (log x when costs span 10x or more), the Pareto front as a dashed
    line, preliminary competitors faded; hovering a point shows its figures.
    """
    esc = _escaper(list(secrets))
    data = chart_data(lb)
    if data.empty:
        return ('<p class="muted">No competitor has both votes and a known cost yet, so there '
                "is nothing to plot.</p>")
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
    out = [f'<svg viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="Quality score against median cost per image" '
           f'font-family="system-ui, sans-serif" font-size="11">',
           "<title>Quality vs cost per image</title>",
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fbfcfd" '
           'stroke="#d1d9e0"/>']
    for t in _nice_ticks(y0, y1):
        y = fy(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" '
                   'stroke="#e3e8ee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#59636e">'
                   f"{t:.0f}</text>")
    for t in (_log_ticks(x0, x1) if log else _nice_ticks(x0, x1)):
        x = fx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" '
                   'stroke="#e3e8ee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle" '
                   f'fill="#59636e">{esc(_tick_money(t))}</text>')
    x_title = "Median cost per image (USD" + (", log scale)" if log else ")")
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 14}" text-anchor="middle" '
               f'font-size="12">{esc(x_title)}</text>')
    level = f"{lb.fit.level:.0%}"
    out.append(f'<text transform="translate(16 {top + ph / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle" font-size="12">'
               f"{esc(f'Quality score (Elo-like, {level} interval)')}</text>")

    front = data[data["pareto"]].sort_values("cost_per_image")
    if len(front) >= 2:
        pts = " ".join(f"{fx(c):.1f},{fy(s):.1f}"
                       for c, s in zip(front["cost_per_image"], front["score"], strict=True))
        out.append(f'<polyline points="{pts}" fill="none" stroke="#1f2328" '
                   'stroke-width="1.5" stroke-dasharray="6 3"/>')
    for rec, lo_v, hi_v in zip(data.itertuples(index=False), lows, highs, strict=True):
        x, y = fx(rec.cost_per_image), fy(rec.score)
        c = color[str(rec.router)]
        opacity = "0.45" if rec.preliminary else "0.95"
        out.append(f'<g opacity="{opacity}">')
        out.append(f'<line x1="{x:.1f}" y1="{fy(lo_v):.1f}" x2="{x:.1f}" y2="{fy(hi_v):.1f}" '
                   f'stroke="{c}" stroke-width="2"/>')
        for v in (lo_v, hi_v):
            out.append(f'<line x1="{x - 4:.1f}" y1="{fy(v):.1f}" x2="{x + 4:.1f}" '
                       f'y2="{fy(v):.1f}" stroke="{c}" stroke-width="2"/>')
        success = f"{rec.success_rate:.0%}" if pd.notna(rec.success_rate) else "unknown"
        tip = (f"{rec.label} ({rec.router})\nscore {_num(rec.score)} [{_num(lo_v)}–"
               f"{_num(hi_v)}], rank {_num(rec.rank)}, {int(rec.votes)} votes"
               + (" (preliminary)" if rec.preliminary else "")
               + f"\ncost {money(rec.cost_per_image)} per image"
               + f"\nwall p50 {_seconds(rec.wall_p50_s)}, p90 {_seconds(rec.wall_p90_s)}"
               + f"\nsuccess rate {success}"
               + ("\non the Pareto front" if rec.pareto else ""))
        stroke = "2" if rec.pareto else "0.8"
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{c}" stroke="#1f2328" '
                   f'stroke-width="{stroke}"><title>{esc(tip)}</title></circle>')
        # Labels go right of the point, or left of it near the right edge so they stay inside.
        if x > left + pw * 0.78:
            out.append(f'<text x="{x - 9:.1f}" y="{y - 7:.1f}" text-anchor="end">'
                       f"{esc(rec.label)}</text>")
        else:
            out.append(f'<text x="{x + 9:.1f}" y="{y - 7:.1f}">{esc(rec.label)}</text>')
        out.append("</g>")
    out.append("</svg>")
    legend = "".join(f'<span class="sw" style="background:{color[r]}"></span>{esc(r)}'
                     for r in routers)
    notes = (f"Bars: {level} interval. Dashed line: Pareto front (nobody is both better and "
             "cheaper). Faded: preliminary (few votes). Hover a point for its figures.")
    if lb.pareto_excluded:
        notes += " Not shown, cost unknown: " + ", ".join(lb.pareto_excluded) + "."
    return (f'<figure class="chart">{"".join(out)}<figcaption class="legend meta">Router:'
            f'{legend}<br>{esc(notes)}</figcaption></figure>')


# ----------------------------------------------------------- leaderboard report
def _kinds_html(kinds: Any, esc: Callable[[Any], str]) -> str:
    if not isinstance(kinds, dict) or not kinds:
        return ""
    mix = ", ".join(f"{KIND_LABEL.get(k, k)} {v}" for k, v in kinds.items())
    return f'<div class="meta">{esc(mix)}</div>'


def _failures_html(row: pd.Series, esc: Callable[[Any], str]) -> str:
    total = int(row["failures"]) if pd.notna(row["failures"]) else 0
    parts = [f"{g.replace('_', ' ')} {int(row[f'fail_{g}'])}" for g in FAILURE_GROUPS
             if f"fail_{g}" in row and pd.notna(row[f"fail_{g}"]) and int(row[f"fail_{g}"])]
    detail = f'<div class="meta">{esc(", ".join(parts))}</div>' if parts else ""
    return f"{total}{detail}"


def _table_html(lb: Leaderboard, esc: Callable[[Any], str]) -> str:
    level = f"{lb.fit.level:.0%}"
    head = ("<tr><th>Rank</th><th>Competitor</th>"
            f"<th>Score ({esc(level)} interval)</th><th>Votes</th><th>Cost / image</th>"
            "<th>Wall p50 / p90</th><th>Success</th><th>Failures</th></tr>")
    rows = []
    for _, r in lb.table.iterrows():
        rated = pd.notna(r["votes"]) and int(r["votes"]) > 0
        badges = ""
        if rated and bool(r["preliminary"]):
            badges += '<span class="badge prelim">preliminary</span>'
        if bool(r["pareto"]):
            badges += '<span class="badge pareto">Pareto</span>'
        score = (f"{_num(r['score'])} <span class=\"meta\">[{_num(r['lo'])}–{_num(r['hi'])}]"
                 "</span>" if rated else '<span class="muted">no votes</span>')
        success = (f"{r['success_rate']:.0%}" if pd.notna(r["success_rate"]) else "—")
        ok = int(r["images_ok"]) if pd.notna(r["images_ok"]) else 0
        finished = int(r["finished"]) if pd.notna(r["finished"]) else 0
        rows.append(
            "<tr>"
            f'<td class="num">{esc(_num(r["rank"])) if rated else "—"}</td>'
            f"<td><b>{esc(r['label'])}</b>{badges}"
            f'<div class="meta">{esc(r["router"])} · {esc(r["model_key"])}</div></td>'
            f'<td class="num">{score}</td>'
            f'<td class="num">{esc(_num(r["votes"]))}</td>'
            f'<td class="num">{esc(money(r["cost_per_image"]))}'
            f"{_kinds_html(r['cost_kinds'], esc)}</td>"
            f'<td class="num">{esc(_seconds(r["wall_p50_s"]))} / '
            f'{esc(_seconds(r["wall_p90_s"]))}</td>'
            f'<td class="num">{esc(success)}<div class="meta">{ok} of {finished}</div></td>'
            f'<td class="num">{_failures_html(r, esc)}</td>'
            "</tr>")
    if not rows:
        rows.append('<tr><td colspan="8" class="muted">No competitors in this slice.</td></tr>')
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


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


def _votes_needed_text(lb: Leaderboard) -> str | None:
    need = lb.votes_needed
    if need is None:
        return None
    labels = dict(zip(lb.table["model_key"], lb.table["label"], strict=False))
    a, b = labels.get(need.a, need.a), labels.get(need.b, need.b)
    if need.separated:
        return f"{a} and {b} (the top two) are already separated at {need.level:.0%}."
    if not math.isfinite(need.votes):
        return f"{a} and {b} (the top two) are level: no number of votes is likely to split them."
    return (f"About {math.ceil(need.votes)} more direct votes between {a} and {b} (the top two) "
            f"would likely separate them at {need.level:.0%}.")


def leaderboard_report_html(lb: Leaderboard, *, secrets: Iterable[str] | None = None) -> str:
    """The leaderboard as a standalone HTML page: callout, chart, table and notes."""
    secrets = resolve_secrets(secrets)
    esc = _escaper(secrets)
    parts = ["<h1>VibeGen leaderboard</h1>",
             f'<p class="muted">{esc(_filters_text(lb.filters))} · '
             f"{int(lb.outcomes.shape[0])} pairwise outcomes</p>"]
    if lb.callout is not None:
        parts.append(f'<p class="callout">{esc(lb.callout.text)}</p>')
    if lb.disconnection:
        parts.append(f'<p class="warn">{esc(lb.disconnection)}</p>')
    need = _votes_needed_text(lb)
    if need:
        parts.append(f'<p class="muted">{esc(need)}</p>')
    parts.append("<h2>Quality vs cost</h2>" + quality_cost_svg(lb, secrets=secrets))
    parts.append("<h2>Table</h2>" + _table_html(lb, esc))
    if lb.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in lb.notes)
                     + "</ul>")
    parts.append(
        f'<p class="meta">Scores: Bradley–Terry fit on pairwise outcomes, Elo-like (mean 1000 '
        f"over rated competitors), with {esc(f'{lb.fit.level:.0%}')} intervals; competitors "
        f"with fewer than {int(lb.fit.min_votes)} votes are preliminary. Rank = 1 + the number "
        "of competitors whose interval lies entirely above this one's, so statistically tied "
        "competitors share a rank. Cost per image: "
        "median over successful images with a known cost; unknown costs are never $0.</p>")
    return _page("VibeGen leaderboard", "".join(parts), esc)
