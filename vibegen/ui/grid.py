"""The live result grid: one cell per (model, image), filled from the store as results land."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import streamlit as st

from vibegen.errors import STORE_UNAVAILABLE, RunNotFoundError
from vibegen.markup import escape_markdown
from vibegen.records import Cell, RunView, Status
from vibegen.share import image_url
from vibegen.ui.redraw import redraw
from vibegen.ui.runtime import local_time
from vibegen.ui.share import base_url
from vibegen.ui.viewer import view_button, viewer

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store

POLL_S = 0.5
# The live grid's poll: a tick that finds the run unchanged costs one small query and draws
# nothing (the progress line is its own fragment, redrawn when the run moved), so it can look
# often; a saved image shows within about this long (issue 16: saved → visible p95 ≤ 300 ms;
# at 0.5 s the wait alone made it 0.6 s).
WATCH_POLL_S = 0.2
# A failure's icon by kind: a store that refused the write is not the model's failure.
ICONS = {Status.TIMEOUT: "⏱️", STORE_UNAVAILABLE: "💾"}

# Grid density: how many columns the person chose, kept in a year-long cookie so every run
# (a new one, a link, a reload) opens at that size; read back from the request's cookies.
DENSITIES = (2, 3, 4, 6)
DEFAULT_COLUMNS = 4
COLS_COOKIE = "vibegen_cols"
_COLS_KEY = "grid_cols"
GRID_KEY = "run-grid"
LIVE_KEY = "run-live"  # the fragment holding the header, the density control and the grid
CSS_KEY = "run-grid-box"  # the fragment holding the grid images' box style
HEADER_KEY = "run-header"  # the fragment holding the progress line
_DRAWN = "_grid_drawn"  # session state: run id -> what the live grid last drew

_THUMBS_MAX = 4000
_thumbs: OrderedDict[tuple[str, str], bytes] = OrderedDict()  # (database URL, id) -> thumb
_thumbs_lock = threading.Lock()


def thumbnails(store: Store, generation_ids: list[str]) -> dict[str, bytes]:
    """Thumbnails of these images: the ones not seen yet fetched together, in one query.

    A saved image never changes, so its thumbnail is kept for the process (keyed by the
    database URL too: two stores never share an entry; the oldest go past 4000 entries).
    """
    url = str(store.engine.url)
    with _thumbs_lock:
        found = {g: _thumbs[(url, g)] for g in generation_ids if (url, g) in _thumbs}
    missing = [g for g in generation_ids if g not in found]
    if missing:
        fetched = store.thumbnails(missing)
        found.update(fetched)
        with _thumbs_lock:
            for g, thumb in fetched.items():
                _thumbs[(url, g)] = thumb
            while len(_thumbs) > _THUMBS_MAX:
                _thumbs.popitem(last=False)
    return found


def columns_from(value: str | None) -> int:
    """The column count a remembered value names; the default for anything else."""
    try:
        n = int(value or "")
    except ValueError:
        return DEFAULT_COLUMNS
    return n if n in DENSITIES else DEFAULT_COLUMNS


def _remembered_columns() -> int:
    try:
        return columns_from(st.context.cookies.get(COLS_COOKIE))
    except Exception:  # noqa: BLE001 - no browser context (AppTest)
        return DEFAULT_COLUMNS


def _remember_columns(n: int) -> None:
    cookie = f"{COLS_COOKIE}={n}; path=/; max-age=31536000; SameSite=Lax"
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True
    )


def density_control() -> int:
    """The grid's column count, chosen with a small control and remembered by the browser."""
    if _COLS_KEY not in st.session_state:
        st.session_state[_COLS_KEY] = _remembered_columns()
    n = st.segmented_control(
        "Columns",
        DENSITIES,
        key=_COLS_KEY,
        required=True,
        label_visibility="collapsed",
        format_func=lambda c: f"{c} ▦",
        help="Columns in the grid: this browser remembers the choice.",
    )
    n = n if n in DENSITIES else DEFAULT_COLUMNS
    # The session's cookies are those it opened with: write the cookie once per change.
    held = st.session_state.get("_grid_cols_written") or _remembered_columns()
    if n != held:
        _remember_columns(n)
        st.session_state["_grid_cols_written"] = n
    return n


def _box_css(view: RunView, key: str) -> None:
    # Cells of different shapes line up in rows: every image sits in a box of one shape (the
    # run's own, when all images share one, else square), letterboxed, so titles, images and
    # captions start at the same height across a row.
    # An unfinished cell's skeleton stands still: its shimmer repaints every frame, which
    # for 16 cells cost headless Chromium 0.16 cores on the 2-core machine (0.001 still),
    # and a busy browser draws a saved image late (issue 16: saved → visible); the caption
    # and the header still say "generating…".
    w, h = _box_shape(view)
    st.html(
        f"<style>.st-key-{key} [data-testid=stImage] img {{aspect-ratio: {w} / {h}; "
        "object-fit: contain; width: 100%; background: rgba(128,128,128,0.08);} "
        f".st-key-{key} .stSkeleton, .st-key-{key} .stSkeleton *, "
        f".st-key-{key} .stSkeleton::before, .st-key-{key} .stSkeleton::after "
        "{animation: none !important;}</style>"
    )


def _box_shape(view: RunView) -> tuple[int, int]:
    shapes = {(c.width, c.height) for c in view.cells if c.ok and c.width and c.height}
    return shapes.pop() if len(shapes) == 1 else (1, 1)


def cost_text(cell: Cell) -> str:
    """'$0.0120 · estimated from catalog', 'cost unknown', 'self-hosted'."""
    return cell.cost.describe()


def run_header(view: RunView, unsaved: Mapping[str, str] | None = None) -> None:
    """The run's progress and totals in one line: done, spent for what, failures, slowest."""
    n = len(view.cells)
    waiting = sum(not c.finished and c.id in (unsaved or {}) for c in view.cells)
    busy = n - view.done - waiting  # cells a router is still working on
    parts = [f"{view.done} of {n} done" + (" · generating…" if busy else "")]
    if waiting:
        parts.append(f"{waiting} waiting for the database to accept writes")
    parts.append(view.spent_text())
    if view.unknown_costs:
        parts.append(f"{view.unknown_costs} cost{'s' * (view.unknown_costs != 1)} unknown")
    if view.failures:
        parts.append(f"{view.failures} failed")
    walls = [c.wall_s for c in view.cells if c.wall_s is not None and c.ok]
    if walls:
        parts.append(f"slowest {max(walls):.1f} s")
    bar, exact = st.columns([48, 1], vertical_alignment="center", gap="small")
    bar.progress(view.done / n if n else 1.0, text=" · ".join(parts))
    # Totals read to the cent; the exact figures are a hover away, not a second line.
    exact.markdown(":material/info:", help=f"Exactly: {view.spent_text(exact=True)}")


def _cell(
    store: Store,
    cell: Cell,
    blind: bool,
    label: str,
    base: str,
    index: int,
    billed_ids: frozenset[str] = frozenset(),
    unsaved: str | None = None,
    thumb: bytes | None = None,
    where: str | None = None,
    rerun: str | None = None,
) -> None:
    if not blind:
        title = f"**{escape_markdown(label)}**"
        if cell.simulated:
            title += " :violet-badge[sandbox]"
        st.markdown(title + (f" · #{cell.image_index + 1}" if cell.image_index else ""))
    else:
        st.markdown(f"**{escape_markdown(label)}**")
    if cell.in_flight and unsaved:
        # The store refuses writes (disk full, locked): the runner holds the outcome and
        # writes it the moment it can; say so rather than "generating…".
        st.warning(f"{ICONS[STORE_UNAVAILABLE]} {escape_markdown(unsaved)}")
        return
    if cell.in_flight:
        st.skeleton(height=220)
        said = where or ("queued…" if cell.status == Status.PENDING else "generating…")
        st.caption(escape_markdown(said))
        return
    if not cell.ok:
        icon = ICONS.get(cell.error_kind or "") or ICONS.get(cell.status) or "⚠️"
        st.error(f"{icon} {escape_markdown(cell.error_message or cell.status)}")
        if not blind and cell.wall_s is not None:
            billed = f" · 💲 {cost_text(cell)} billed" if cell.id in billed_ids else ""
            st.caption(
                f"after {cell.wall_s:.1f} s{billed}",
                help=cell.cost.provenance() if billed else None,
            )
        return
    link = image_url(base, cell.id, blind)
    if thumb:
        # A plain click on the image opens the viewer in the page (viewer.py); the link stays
        # for a new tab (middle or Ctrl click) and for copying.
        st.image(
            thumb,
            output_format="JPEG",
            width="stretch",
            link=link,
            alt="generated image" if blind else f"{label} image",
        )
        view_button(index, rerun=rerun)
    if not blind:
        st.caption(
            f"⏱️ {cell.wall_s:.1f} s · 💲 {cost_text(cell)}", help=cell.cost.provenance() or None
        )
        if cell.notes:
            st.caption("not honoured: " + ", ".join(f"{k}: {v}" for k, v in cell.notes.items()))


def run_grid(
    store: Store,
    view: RunView,
    columns: int = 4,
    unsaved: Mapping[str, str] | None = None,
    where: Mapping[str, str] | None = None,
) -> None:
    """Draw every cell of a run in a responsive grid (`unsaved`: id → why not stored yet;
    `where`: id → where an unfinished cell's job is, as its router says)."""
    _box_css(view, GRID_KEY)
    grid = _grid(columns)
    billed = _billed(view)
    base = base_url()
    thumbs = thumbnails(store, [c.id for c in view.cells if c.ok])
    for i, cell in enumerate(view.cells):
        with grid.cell():
            _cell(
                store,
                cell,
                blind=False,
                label=cell.label,
                base=base,
                index=i,
                billed_ids=billed,
                unsaved=(unsaved or {}).get(cell.id),
                thumb=thumbs.get(cell.id),
                where=(where or {}).get(cell.id),
            )
    viewer(store, view.cells, blind=False)


def _grid(columns: int):  # noqa: ANN202 - Streamlit's grid container has no public type
    # A narrow floor, so six columns still fit beside the sidebar at 1440 px; a phone wraps.
    return st.grid(columns, min_column_width=150, border=True, key=GRID_KEY)


def _billed(view: RunView) -> frozenset[str]:
    return frozenset(s.generation_id for s in view.spend if s.outcome == "failed")


@dataclass
class _Drawn:
    """What the live grid last drew for a run, and what each cell's drawing depended on."""

    version: tuple
    view: RunView
    held: Mapping[str, str]
    where: Mapping[str, str]
    billed: frozenset[str]
    thumbs: dict[str, bytes]
    marks: list[tuple] = field(default_factory=list)
    fresh: bool = True  # just drawn by the whole grid: the poll's first look can skip

    @classmethod
    def read(
        cls,
        store: Store,
        run_id: str,
        unsaved: Callable[[str], Mapping[str, str]] | None,
        where: Callable[[str], Mapping[str, str]] | None,
        version: tuple | None = None,
    ) -> _Drawn:
        """The run as stored now (the version read first: a write in between is seen on the
        next look, never missed)."""
        version = store.run_version(run_id) if version is None else version
        view = store.run_view(run_id)
        drawn = cls(
            version,
            view,
            dict(unsaved(run_id)) if unsaved else {},
            dict(where(run_id)) if where else {},
            _billed(view),
            thumbnails(store, [c.id for c in view.cells if c.ok]),
        )
        drawn.marks = [
            (
                c,
                drawn.held.get(c.id),
                drawn.where.get(c.id),
                c.id in drawn.billed,
                c.id in drawn.thumbs,
            )
            for c in view.cells
        ]
        return drawn


def _live_box_css(run_id: str) -> None:
    # Its own fragment, redrawn only when the box's shape changes: a style sent again on
    # every poll makes the browser restyle the whole grid each time.
    drawn: _Drawn | None = st.session_state.get(_DRAWN, {}).get(run_id)
    if drawn is not None:
        _box_css(drawn.view, GRID_KEY)


def _live_header(run_id: str) -> None:
    # Its own fragment, redrawn only when the run moved: a poll that finds nothing new then
    # draws nothing at all, and Streamlit sends the browser no element for it to lay out.
    drawn: _Drawn | None = st.session_state.get(_DRAWN, {}).get(run_id)
    if drawn is not None:
        run_header(drawn.view, drawn.held)


def _cell_key(index: int) -> str:
    return f"run-cell-{index}"  # by place, like the View buttons


def _live_cell(store: Store, run_id: str, index: int, base: str) -> None:
    # One cell's own fragment: the poll reruns it alone when its cell changed, so the other
    # cells (and every finished image) are never sent to the browser again.
    drawn: _Drawn | None = st.session_state.get(_DRAWN, {}).get(run_id)
    if drawn is None or index >= len(drawn.view.cells):
        return
    cell = drawn.view.cells[index]
    _cell(
        store,
        cell,
        blind=False,
        label=cell.label,
        base=base,
        index=index,
        billed_ids=drawn.billed,
        unsaved=drawn.held.get(cell.id),
        thumb=drawn.thumbs.get(cell.id),
        where=drawn.where.get(cell.id),
        # The viewer is drawn with the whole grid: a View click reruns that, not the cell.
        rerun=LIVE_KEY,
    )


def _live_grid(store: Store, run_id: str, drawn: _Drawn, columns: int, live: bool) -> None:
    if not live:  # a finished run never changes: its cells need no fragments of their own
        run_grid(store, drawn.view, columns=columns, unsaved=drawn.held, where=drawn.where)
        return
    st.fragment(_live_box_css, key=CSS_KEY)(run_id)
    grid = _grid(columns)
    base = base_url()
    for i, cell in enumerate(drawn.view.cells):
        with grid.cell():
            if cell.ok:
                # A saved image never changes: drawn as it is, without a fragment (each one
                # costs Streamlit a copy of the page's layout when declared). Should it change
                # after all, the poll finds no fragment to rerun and redraws the whole grid.
                _live_cell(store, run_id, i, base)
            else:
                st.fragment(_live_cell, key=_cell_key(i))(store, run_id, i, base)
    viewer(store, drawn.view.cells, blind=False)


def live_run(
    store: Store,
    run_id: str,
    unsaved: Callable[[str], Mapping[str, str]] | None = None,
    where: Callable[[str], Mapping[str, str]] | None = None,
) -> RunView | None:
    """Header and grid of a run, refreshed from the store until every cell is finished.

    `unsaved(run_id)`: cells whose outcome the runner holds because the store refused it;
    `where(run_id)`: where the unfinished cells' jobs are ("in fal's queue, position 3").
    """
    try:
        first = store.run_view(run_id)
    except RunNotFoundError as exc:
        st.error(f"{exc}. Check the link, or open a run from the History page.")
        return None

    st.caption(f"Run of {local_time(first.created_at)} · prompt:")
    st.text(first.prompt)  # literal: a prompt is untrusted text, never Markdown or HTML

    def _watch() -> None:
        # The poll: while cells are unfinished it looks every WATCH_POLL_S; when the run
        # moved it reads it once and redraws only the cells whose drawing changed.
        runs = st.session_state.setdefault(_DRAWN, {})
        drawn: _Drawn = runs[run_id]
        moved = looked = False
        if drawn.fresh:
            drawn.fresh = False  # the grid read the run a moment ago
        else:
            looked = True
            version = store.run_version(run_id)
            held = dict(unsaved(run_id)) if unsaved else {}
            at = dict(where(run_id)) if where else {}
            if (version, held, at) != (drawn.version, drawn.held, drawn.where):
                new = _Drawn.read(store, run_id, unsaved, where, version)
                new.fresh, moved = False, True
                runs[run_id] = new
                changed = [
                    _cell_key(i)
                    for i, (old, now) in enumerate(zip(drawn.marks, new.marks, strict=False))
                    if old != now
                ]
                changed.append(HEADER_KEY)  # "n of N done", spent, failures
                if _box_shape(new.view) != _box_shape(drawn.view):
                    changed.append(CSS_KEY)
                # A cell more (a reroll) needs a new grid; any failure to queue, a full run.
                if len(new.marks) != len(drawn.marks) or not redraw(changed):
                    if not redraw([LIVE_KEY]):
                        st.rerun()
                drawn = new
        if drawn.view.complete and not first.complete and looked and not moved:
            # A full rerun re-declares the poll without run_every: polling stops. Not in the
            # tick that saw the last cells land: their own redraws go first, and show sooner.
            # Nor in the run that drew the grid: were that a full run (a click), a rerun
            # would discard what the click said; the next tick stops the polling.
            st.rerun()

    @st.fragment(key=LIVE_KEY)
    def _live() -> None:
        # Only the run on screen: a session that opens many runs keeps none of the others.
        runs = st.session_state[_DRAWN] = {run_id: _Drawn.read(store, run_id, unsaved, where)}
        bar, size = st.columns([3, 1], vertical_alignment="bottom")
        with bar:
            st.fragment(_live_header, key=HEADER_KEY)(run_id)
            st.fragment(_watch, run_every=None if first.complete else WATCH_POLL_S)()
        with size:
            columns = density_control()
        _live_grid(store, run_id, runs[run_id], columns, live=not first.complete)

    _live()
    # What the grid drew: newer than `first` when the run finished while the page was drawn,
    # so what the page shows under the grid (Retry, the progress line) agrees with it.
    drawn: _Drawn | None = st.session_state.get(_DRAWN, {}).get(run_id)
    return drawn.view if drawn is not None else first
