"""History: every run, newest first, as a gallery of cards (or a table), filtered and paged."""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from vibegen.errors import RunNotFoundError, StoreError
from vibegen.markup import escape_markdown
from vibegen.money import cents, exact
from vibegen.records import RunFilter, RunStatus, RunSummary
from vibegen.share import review_url, run_url
from vibegen.typed import control_character
from vibegen.ui.access import require_owner
from vibegen.ui.grid import thumbnails
from vibegen.ui.runtime import frame, local_time, zone_name
from vibegen.ui.sandbox import sandbox_banner
from vibegen.ui.share import base_url

# A card shows six thumbnails: twenty cards are a screenful or two, the table is denser.
PER_PAGE = {"Gallery": 20, "Table": 50}
THUMB_PX = 120  # six fit a card's width at 1440 px, two cards to a row
PROMPT_CHARS = 160  # a card's prompt, cut at a word; the run's page shows all of it
FILTERS = ("search", "f_models", "f_routers", "f_dates", "f_status", "f_archived")


def _first_page() -> None:
    # A new filter starts at its first page, not at the page number of the last one.
    st.session_state["page"] = 1


def _turn(by: int) -> None:
    st.session_state["page"] = st.session_state.get("page", 1) + by


def _clear_filters() -> None:
    for key in FILTERS:
        st.session_state.pop(key, None)
    _first_page()


def _archive(run_id: str, archived: bool) -> None:
    try:
        ctx.store.archive_run(run_id, archived=archived)
    except (StoreError, RunNotFoundError) as exc:
        st.session_state["archive_problem"] = str(exc)
        return
    st.session_state["archive_done"] = (run_id, archived)


def _short(prompt: str) -> str:
    if len(prompt) <= PROMPT_CHARS:
        return prompt
    return prompt[:PROMPT_CHARS].rsplit(" ", 1)[0] + " …"


def _day_bounds(days: tuple, zone: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    # The dates the viewer picked, as their own midnights: "2 Dec" is their 2 Dec.
    tz = ZoneInfo(zone)
    since = dt.datetime.combine(days[0], dt.time(), tz) if days else None
    last = days[1] if len(days) > 1 else None
    before = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz) if last else None
    return since, before


def _cost_line(r: RunSummary) -> str:
    parts = []
    if r.cost_usd:
        parts.append(f"cost {cents(r.cost_usd)}")
    if r.simulated_usd:  # made-up sandbox prices: said as such, never as money spent
        parts.append(f"simulated {cents(r.simulated_usd)} (sandbox, nothing billed)")
    return " · ".join(parts) or "no known cost yet"


def _card(r: RunSummary, thumbs: dict[str, bytes], base: str) -> None:
    with st.container(border=True, key=f"run-card-{r.id}"):
        shown = [thumbs[g] for g in r.previews if g in thumbs]
        if shown:
            st.image(shown, width=THUMB_PX)
        else:
            st.caption("No finished images yet." if r.done < r.cells else "No images.")
        st.markdown(f"**{escape_markdown(_short(r.prompt))}**")
        st.caption(escape_markdown(" · ".join(r.labels)) or "no models")
        status = r.status.value + (" · archived" if r.archived_at else "")
        st.caption(
            f"{local_time(r.created_at)} · {status} · {r.cells} image"
            f"{'s' if r.cells != 1 else ''} · {_cost_line(r)}",
            help=f"Exact: {exact(r.cost_usd)} billed or to be billed; failures: {r.failures}",
        )
        links, button = st.columns([3, 1], vertical_alignment="center")
        links.markdown(f"[Open]({run_url(base, r.id)}) · [Review]({review_url(base, r.id)})")
        if r.archived_at:
            button.button("Restore", key=f"restore-{r.id}", on_click=_archive, args=(r.id, False))
        else:
            button.button(
                "Archive",
                key=f"archive-{r.id}",
                on_click=_archive,
                args=(r.id, True),
                help="Hide it from History; its link, images and ratings are all kept",
            )


def _table(runs: list[RunSummary], base: str) -> None:
    table = pd.DataFrame(
        [
            {
                "open": run_url(base, r.id),
                "when": r.created_at,
                "prompt": r.prompt,
                "models": r.models,
                "images": r.cells,
                "status": r.status.value + (" (archived)" if r.archived_at else ""),
                # A sandbox run's images, times and prices are made up: said on its line.
                "simulated": (
                    ("simulated" if not r.cost_usd else "partly simulated")
                    if r.simulated_usd
                    else ""
                ),
                "failures": r.failures,
                "cost (USD)": r.cost_usd,
                "simulated (USD)": r.simulated_usd or None,
                "slowest (s)": r.wall_s,
                "review": review_url(base, r.id),
            }
            for r in runs
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "open": st.column_config.LinkColumn("run", display_text="open"),
            "review": st.column_config.LinkColumn("review", display_text="review"),
            # In the viewer's own time zone: a designer reads "14:05", not a UTC offset sum.
            "when": st.column_config.DatetimeColumn(
                "when", format="YYYY-MM-DD HH:mm", timezone=zone_name()
            ),
            "cost (USD)": st.column_config.NumberColumn(
                format="$%.2f",
                help="What real routers billed or will bill (known amounts), to the cent; "
                "the Spend page and the exports have the exact figures",
            ),
            "simulated (USD)": st.column_config.NumberColumn(
                format="$%.2f", help="Sandbox images: made-up prices, nothing is billed"
            ),
            "slowest (s)": st.column_config.NumberColumn(format="%.1f"),
        },
    )


def _any_of(col: Any, label: str, names: dict[str, str], key: str) -> list[str]:
    """A filter by one or more of `names` (key -> label); none picked means any."""
    return col.multiselect(
        label,
        list(names),
        key=key,
        format_func=lambda k: names.get(k, k),
        placeholder=f"any {label.lower().rstrip('s')}",
        on_change=_first_page,
    )


ctx = frame("History")
require_owner(ctx)  # served to a network, this page is the owner's
st.title("History")
zone = zone_name()
models = {m.key: m.label for m in ctx.catalog.models}
routers = {name: spec.label for name, spec in ctx.catalog.routers.items()}

search_col, model_col, router_col, date_col, status_col = st.columns([3, 3, 2, 2, 2])
search = search_col.text_input(
    "Search prompts", key="search", placeholder="lighthouse", on_change=_first_page
)
if found := control_character(search):  # a paste from a terminal: say why nothing matches
    search_col.warning(
        f"The search contains a control character ({found}); no prompt holds one, so "
        "nothing can match. Delete it and search again."
    )
picked_models = _any_of(model_col, "Models", models, key="f_models")
picked_routers = _any_of(router_col, "Routers", routers, key="f_routers")
days = date_col.date_input(
    "Dates", value=(), key="f_dates", format="YYYY-MM-DD", on_change=_first_page
)
picked_status = status_col.multiselect(
    "Status",
    [s.value for s in RunStatus],
    key="f_status",
    placeholder="any status",
    on_change=_first_page,
)
options, view_col = st.columns([3, 2], vertical_alignment="center")
archived = options.checkbox("Show archived runs", key="f_archived", on_change=_first_page)
view = view_col.radio(
    "View", list(PER_PAGE), key="history_view", horizontal=True, on_change=_first_page
)
if problem := st.session_state.pop("archive_problem", None):
    st.error(f"Could not change that run: {problem}. Nothing was lost; try again.")
if done := st.session_state.pop("archive_done", None):
    st.toast("Archived: hidden from History, kept everywhere else." if done[1] else "Restored.")

since, before = _day_bounds(tuple(days or ()), zone)
where = RunFilter(
    search=search,
    models=tuple(picked_models),
    routers=tuple(picked_routers),
    since=since,
    before=before,
    statuses=tuple(RunStatus(s) for s in picked_status),
    archived=archived,
)
per_page = PER_PAGE[view]
total = ctx.store.count_runs(where)
if not total:
    if where == RunFilter():
        st.info("No runs yet: start one on the Generate page.")
    else:
        st.info("No runs match these filters.")
        st.button("Clear filters", key="clear_filters", on_click=_clear_filters)
else:
    pages = -(-total // per_page)
    # Runs may have been archived, or the filters narrowed: keep the page number in range.
    st.session_state["page"] = min(max(1, int(st.session_state.get("page", 1))), pages)
    page = st.session_state["page"]
    runs = ctx.store.list_runs(where, limit=per_page, offset=(page - 1) * per_page)
    base = base_url()
    if any(r.simulated_usd for r in runs):  # sandbox results on this page: say what they are
        sandbox_banner(ctx.catalog)
    if view == "Gallery":
        # Every card's thumbnails in one query (and none twice in this process).
        thumbs = thumbnails(ctx.store, [g for r in runs for g in r.previews])
        for start in range(0, len(runs), 2):
            for col, r in zip(st.columns(2), runs[start : start + 2], strict=False):
                with col:
                    _card(r, thumbs, base)
    else:
        _table(runs, base)
    first = (page - 1) * per_page + 1
    shown = f" · showing {first:,}–{first + len(runs) - 1:,}" if pages > 1 else ""
    st.caption(
        f"{total:,} run{'s' if total != 1 else ''}{shown}. Costs count known amounts "
        f"only; unknown costs are never $0. Sandbox amounts are simulated and kept "
        f"apart: nothing is billed for them. Times are in {zone}."
    )
    if pages > 1:
        back, number, forward = st.columns([1, 2, 1], vertical_alignment="bottom")
        back.button(
            "← Newer", key="newer", on_click=_turn, args=(-1,), disabled=page <= 1, width="stretch"
        )
        number.number_input(
            f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="page"
        )
        forward.button(
            "Older →",
            key="older",
            on_click=_turn,
            args=(1,),
            disabled=page >= pages,
            width="stretch",
        )
