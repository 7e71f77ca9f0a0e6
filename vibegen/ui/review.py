"""Review widgets: who the rater is, grid ratings (best, reject, stars), pairwise votes.

Every click is written to the store in the widget's callback, at once: there is no submit
button to forget. The widgets live in fragments, so a rating click reruns only its fragment
and never interrupts anything else on the page.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import streamlit as st

from vibegen import raters
from vibegen.errors import InputError, StoreError
from vibegen.images import square
from vibegen.markup import escape_markdown
from vibegen.raters import Rater, RatingThrottle, ReviewLink, image_ref
from vibegen.ratings import RatingMode, make_rating
from vibegen.records import Cell, RunView
from vibegen.review import blind_slots, next_pair, pairs_total, review_order, reviewable
from vibegen.share import blind_image_url, image_url
from vibegen.ui.grid import cost_text, thumbnails
from vibegen.ui.redraw import first_then
from vibegen.ui.share import base_url
from vibegen.ui.viewer import view_button, viewer

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store

COOKIE = "vibegen_identity"  # the secret of the rater this browser holds
BEST, REJECT, STARS, PAIR = RatingMode.BEST, RatingMode.REJECT, RatingMode.STARS, RatingMode.PAIR


def _remember(secret: str) -> None:
    # A year-long cookie, so the name is asked once per browser and survives reloads.
    cookie = f"{COOKIE}={quote(secret)}; path=/; max-age=31536000; SameSite=Lax"
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True
    )


# Streamlit drops a session's pending rerun when its websocket closes, so a rating clicked just
# before the tab closes would never reach its callback. The browser therefore asks first, as any
# page with unsaved changes does, while the page holds a rating the server has not seen:
# - stars and reject boxes: the grid's marker (`_mark_grid`) carries the values the server
#   holds; the page compares them with what its widgets show. Clicks folded into one rerun, or
#   undone before the server got them, need nothing more;
# - buttons (best pick, pair votes) hold no value: a click stays pending until a rating fragment
#   has run after it and a quiet moment with no run in progress has passed (a queued run
#   starts at once). The page's run state alone cannot tell: it says "notRunning" between the
#   click and the server starting the run, and React may batch a short run away entirely.
_UNLOAD_GUARD = """<script>
(() => {
  if (window.vibegenUnloadGuard) return;
  const guard = window.vibegenUnloadGuard = {pressed: false, since: 0, timer: 0, marks: ""};
  const QUIET_MS = 1000, GIVE_UP_MS = 60000;
  const marks = () => Array.from(document.querySelectorAll("[data-vibegen-run]"),
                                 (e) => e.dataset.vibegenRun).join();
  const busy = () => {
    const app = document.querySelector("[data-testid=stApp]");
    return ["running", "rerunRequested"].includes(app && app.dataset.testScriptState);
  };
  const shown = () => Array.from(document.querySelectorAll("[data-testid=stGridCell]"), (c) => {
    const star = c.querySelector('[data-testid=stFeedback] [aria-checked="true"]');
    const stars = star ? parseInt(star.getAttribute("aria-label"), 10) : 0;  // "4 out of 5
    const box = c.querySelector("[data-testid=stCheckbox] input");
    return `${stars}${box && box.checked ? "r" : ""}`;
  }).join(",");
  const unsaved = () => {
    const grid = document.querySelector("[data-vibegen-grid]");
    const pressed = guard.pressed && Date.now() - guard.since < GIVE_UP_MS;
    return pressed || (grid !== null && grid.dataset.vibegenGrid !== shown());
  };
  const settle = () => {
    if (busy()) guard.timer = setTimeout(settle, QUIET_MS);
    else guard.pressed = false;
  };
  const pressed = (event) => {
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
    if (!event.target.closest || !event.target.closest("[data-testid=stButton]")) return;
    Object.assign(guard, {pressed: true, since: Date.now(), marks: marks()});
    clearTimeout(guard.timer);
  };
  document.addEventListener("click", pressed, true);
  document.addEventListener("keydown", pressed, true);
  new MutationObserver(() => {
    if (!guard.pressed || marks() === guard.marks) return;
    guard.marks = marks();
    clearTimeout(guard.timer);
    guard.timer = setTimeout(settle, QUIET_MS);
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ["data-vibegen-run"]});
  window.addEventListener("beforeunload", (event) => {
    if (unsaved()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();
</script>"""


def _mark_run(grid: str | None = None) -> None:
    # A marker that changes on every run of a rating fragment, for the unload guard: proof the
    # server has been through the clicks made before it and, for the grid, the values it holds.
    n = st.session_state["vibegen_runs"] = st.session_state.get("vibegen_runs", 0) + 1
    held = "" if grid is None else f' data-vibegen-grid="{grid}"'
    st.html(f'<span data-vibegen-run="{n}"{held} hidden></span>')


def _held_values(keys: list[str]) -> str:
    # The grid's stars and reject boxes as the server holds them, in the page's order and in
    # the guard's notation: "4r,0,3" = 4 stars and rejected, nothing, 3 stars.
    def one(key: str) -> str:
        stars = st.session_state.get(STARS.slot(key))
        reject = st.session_state.get(REJECT.slot(key))
        return f"{0 if stars is None else stars + 1}{'r' if reject else ''}"

    return ",".join(one(key) for key in keys)


def guard_unsaved_ratings() -> None:
    """Make the browser ask before the tab closes while a rating is still being saved."""
    st.html(_UNLOAD_GUARD, unsafe_allow_javascript=True)


def _cookie() -> str | None:
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser context (AppTest)
        return None


def _hold(rater: Rater, secret: str | None) -> Rater:
    st.session_state["rater_id"] = rater.id
    if secret:
        st.session_state["rater_secret"] = secret
    held = st.session_state.get("rater_secret")
    if held and _cookie() != held:
        _remember(held)
    return rater


def current_rater(store: Store) -> Rater | None:
    """The rater this browser holds (session, then cookie), without asking; None if none."""
    team = store.team
    rid = st.session_state.get("rater_id")
    rater = team.rater(rid) if isinstance(rid, str) else None
    if rater is None:
        cookie = _cookie()
        rater = team.rater_by_secret(unquote(cookie)) if cookie else None
        if rater is not None:
            st.session_state["rater_id"] = rater.id
    return rater


def saw_named(store: Store, run_id: str) -> None:
    """Note that this browser has seen the run's models: its ratings of it are not blind."""
    seen = st.session_state.setdefault("named_runs", set())
    rater = current_rater(store)
    if run_id in seen and (rater is None or (rater.id, run_id) in seen):
        return
    try:
        if rater is not None and not store.team.sees_names(rater.id, run_id):
            store.team.record(rater.id, raters.SAW_NAMED, run_id)
    except StoreError:
        return  # not noted yet: the next page run tries again, and the rating waits on it
    seen.add(run_id)
    if rater is not None:
        seen.add((rater.id, run_id))


def rater_identity(store: Store, link: ReviewLink | None, owner: bool) -> Rater:
    """Who is rating: the invite's teammate, this browser's identity, or a name asked once.

    A typed name always makes a new identity held by this browser: typing a teammate's name
    elsewhere makes "Dana (2)", never Dana. Stops the page until a name is given.
    """
    team = store.team
    if link is not None and link.kind == raters.INVITE and link.rater_id:
        invited = team.rater(link.rater_id)
        if invited is not None:
            # The invite is the teammate's identity: this browser keeps it for other links.
            return _hold(invited, link.token)
    rater = current_rater(store)
    if rater is not None:
        return _hold(rater, None)
    st.subheader("Who is rating?")
    st.caption(
        "No account needed: your name is stored with each rating so the team can see "
        "who rated what. This browser remembers you."
    )
    with st.form("who"):
        typed = st.text_input("Your name", key="rater_input", max_chars=80)
        submitted = st.form_submit_button("Start reviewing", type="primary")
    if submitted:
        try:
            made, secret = team.join(typed, raters.OWNER if owner else raters.JOINED)
        except InputError as exc:
            st.error(str(exc))
        except StoreError as exc:
            st.error(f"Could not start reviewing: {exc}. Try again in a moment.")
        else:
            for seen in st.session_state.get("named_runs", set()):
                if isinstance(seen, str):
                    team.record(made.id, raters.SAW_NAMED, seen)
            _hold(made, secret)
            st.rerun()
    st.stop()


def progress(store: Store, view: RunView) -> None:
    """Who has rated this run, and how much of it (k of n images)."""
    n = len(reviewable(view.cells))
    done = store.review_progress(view.id)
    if not done:
        st.caption(f"No ratings yet · {n} images to rate")
        return
    st.caption(
        "Reviews: "
        + " · ".join(f"{escape_markdown(rater)} rated {k} of {n}" for rater, k in done.items())
    )


@dataclass(frozen=True)
class Seat:
    """One rater at one run: who, through which link, and whether they see the models."""

    run_id: str
    rater: Rater
    blind: bool
    link: ReviewLink | None = None

    def key(self, cell: Cell) -> str:
        """A widget key for a cell: opaque when blind, so the page names no image id."""
        return image_ref(self.link.token, cell.id) if self.blind and self.link else cell.id

    def image_link(self, base: str, cell: Cell) -> str:
        """Where a click on a thumbnail leads: the full image, blind through a blind link."""
        if self.blind and self.link:
            return blind_image_url(base, self.link.token, self.key(cell))
        return image_url(base, cell.id, self.blind)


THROTTLE = RatingThrottle()
_UNSAVED = "rating_unsaved"


def _save(
    store: Store,
    seat: Seat,
    mode: RatingMode,
    gen: str,
    value,
    other: str | None = None,
    widget: str | None = None,
    before=None,
) -> None:
    # Runs in the widget's callback. A click that cannot be saved is said so on the page, the
    # widget goes back to what is stored, and a Retry button holds the click.
    problem = None
    if not THROTTLE.allow(seat.rater.id):
        problem = (
            f"Not saved: that is faster than a person rates. Wait "
            f"{THROTTLE.wait_s(seat.rater.id):.0f} s, then retry."
        )
    else:
        try:
            store.rate(
                seat.run_id,
                seat.rater.display,
                make_rating(mode, gen, value, other),
                blind=seat.blind,
                rater_id=seat.rater.id,
            )
        except StoreError as exc:
            problem = f"Not saved: {exc}. Your click is kept here: retry in a moment."
    if problem is None:
        st.session_state.pop(_UNSAVED, None)
        return
    st.session_state[_UNSAVED] = {
        "message": problem,
        "args": (store, seat, mode, gen, value, other),
    }
    if widget is not None:
        st.session_state[widget] = before


def _unsaved_notice(where: str) -> None:
    # Shown in both tabs (a click on either may be the one held), each with its own button.
    pending = st.session_state.get(_UNSAVED)
    if not pending:
        return
    st.error(pending["message"], icon="⚠️")
    st.button("Retry saving", key=f"retry_rating:{where}", on_click=_save, args=pending["args"])


def _on_stars(store, seat, gen, key, before) -> None:
    value = st.session_state.get(key)
    _save(store, seat, STARS, gen, None if value is None else value + 1, widget=key, before=before)


def _on_reject(store, seat, gen, key, before) -> None:
    _save(
        store,
        seat,
        REJECT,
        gen,
        "1" if st.session_state.get(key) else None,
        widget=key,
        before=before,
    )


def _caption(cell: Cell, index: int, blind: bool) -> str:
    if blind:
        return f"**Image {index + 1}**"
    tag = " :violet-badge[sandbox]" if cell.simulated else ""
    return f"**{escape_markdown(cell.label)}**{tag}"


_SQUARES: OrderedDict[str, bytes] = OrderedDict()  # generation id -> its squared thumbnail
_SQUARES_LOCK = threading.Lock()
_SQUARES_KEPT = 4000


def _squared(generation_id: str, thumb: bytes) -> bytes:
    # A saved image never changes: square it once per process, not on every rating click
    # and every refresh of a blind grid (a JPEG decode and encode per cell).
    with _SQUARES_LOCK:
        if generation_id in _SQUARES:
            return _SQUARES[generation_id]
    made = square(thumb)
    with _SQUARES_LOCK:
        _SQUARES[generation_id] = made
        while len(_SQUARES) > _SQUARES_KEPT:
            _SQUARES.popitem(last=False)
    return made


def _thumbs(store: Store, cells: list[Cell], blind: bool) -> dict[str, bytes]:
    # One query for every thumbnail the page lacks (kept for the process after), squared for
    # a blind rater so no aspect ratio names a model.
    found = thumbnails(store, [c.id for c in cells])
    return {k: _squared(k, v) for k, v in found.items()} if blind else found


def grid_review(store: Store, seat: Seat) -> None:
    """Pick the best image, reject any, give stars; each click saved at once.

    While the run is still generating the grid refreshes itself; blind, every cell has its
    place from the start and an image fills it when ready.
    """
    first = store.run_view(seat.run_id)
    refresh = None if first.complete else 2.0
    run_now = first_then(first, lambda: store.run_view(seat.run_id))

    @st.fragment(run_every=refresh)
    def _grid() -> None:
        view = run_now()
        if refresh is not None and view.complete:
            st.rerun()  # a full run draws the fragment again without its timer: polling stops
        blind = seat.blind
        mine = {r["slot"]: r for r in store.current_ratings(view.id, rater_id=seat.rater.id)}
        best = mine.get(BEST.slot(), {}).get("generation_id")
        slots = (
            blind_slots(view.cells, view.id, seat.rater.id)
            if blind
            else review_order(view.cells, view.id, seat.rater.id, blind)
        )
        cells = [c for c in slots if c.ok]
        rated = sum(any(s.endswith(c.id) for s in mine) or best == c.id for c in cells)
        left = len(cells) - rated
        # The team's progress sits in the fragment too, so a rating click refreshes it.
        progress(store, view)
        waiting = len(slots) - len(cells)
        st.caption(
            f"You have rated {rated} of {len(cells)} images"
            + (f" · {left} left" if left else " · all done")
            + (f" · {waiting} still being made" if waiting else "")
        )
        _unsaved_notice("grid")
        grid = st.grid(4, min_column_width=220, border=True)
        base = base_url()
        thumbs = _thumbs(store, cells, blind)
        for i, cell in enumerate(slots):
            with grid.cell():
                st.markdown(_caption(cell, i, blind))
                if not cell.ok:
                    st.caption("⏳ still being made")
                    continue
                key = seat.key(cell)
                st.image(
                    thumbs[cell.id],  # saved with the image, in the transaction that made it ok
                    output_format="JPEG",
                    width="stretch",
                    link=seat.image_link(base, cell),
                    alt=f"image {i + 1}",
                )
                view_button(i)  # keyed by place: a blind page names no cell
                if not blind:
                    st.caption(f"⏱️ {cell.wall_s:.1f} s · {cost_text(cell)}")
                is_best = best == cell.id
                st.button(
                    f"★ {BEST.label}" if is_best else "☆ Pick as best",
                    key=f"{BEST}:{key}",
                    type="primary" if is_best else "secondary",
                    on_click=_save,
                    args=(store, seat, BEST, cell.id, None if is_best else 1),
                )
                rkey = REJECT.slot(key)  # a widget per slot, named by the seat's key
                was_rejected = REJECT.slot(cell.id) in mine
                st.checkbox(
                    REJECT.label,
                    key=rkey,
                    value=was_rejected,
                    on_change=_on_reject,
                    args=(store, seat, cell.id, rkey, was_rejected),
                )
                skey = STARS.slot(key)
                saved = mine.get(STARS.slot(cell.id))
                before = int(saved["value"]) - 1 if saved else None
                st.feedback(
                    "stars",
                    key=skey,
                    default=before,
                    on_change=_on_stars,
                    args=(store, seat, cell.id, skey, before),
                )
        viewer(store, slots, blind=blind)
        _mark_run(grid=_held_values([seat.key(c) for c in slots if c.ok]))

    _grid()


_SHORTCUTS = {"a": "A", "b": "B", "tie": "T", "both_bad": "X"}  # vote value -> its key
UNDO_KEY = "U"
PAIR_TAB = f"{PAIR.label}: A / B"  # the Review page's pairwise tab
TABS_KEY = "review_tab"  # the page's tabs: session state holds the open one's label
PAIR_IMAGE_PX = 360  # A and B with the vote buttons under them fit a 1440x900 screen
_PAIR_SHOWN = "pair_shown"  # (run, rater) -> the pair on screen, kept while the run fills
_PAIR_LAST = "pair_last"  # the last pair voted on here, sides as shown
_PAIR_SAVED = "pair_saved"  # what the rater's last vote click did, said next to the buttons


def _shown_pair(seat: Seat, view: RunView, ratings: list[dict]) -> tuple[Cell, Cell] | None:
    # The pair the rater is looking at stays put while the run fills: a new image changes
    # the draw, and a pair swapped under the pointer would take a vote meant for another.
    shown = st.session_state.setdefault(_PAIR_SHOWN, {})
    where = (seat.run_id, seat.rater.id)
    ok = {c.id: c for c in view.cells if c.ok}
    mine = {r["slot"] for r in ratings if r["mode"] == PAIR and r.get("rater_id") == seat.rater.id}
    held = shown.get(where)
    if held and all(i in ok for i in held) and PAIR.slot(*sorted(held)) not in mine:
        return ok[held[0]], ok[held[1]]
    pair = next_pair(view.cells, view.id, seat.rater.id, ratings, seat.blind)
    shown[where] = None if pair is None else (pair[0].id, pair[1].id)
    return pair


def _vote(store: Store, seat: Seat, a: str, value: str | None, b: str) -> None:
    # A vote (or its undo) saved, then said so next to the buttons; after an undo the pair
    # voted on comes back, sides as they were, to be voted on again.
    _save(store, seat, PAIR, a, value, b)
    if st.session_state.get(_UNSAVED):
        st.session_state.pop(_PAIR_SAVED, None)
        return
    st.session_state[_PAIR_SAVED] = "saved" if value is not None else "undone"
    if value is not None:
        st.session_state[_PAIR_LAST] = (a, b)
        return
    # The store keeps a vote's images in id order: the sides come from the vote's own click.
    last = st.session_state.get(_PAIR_LAST)
    sides = last if last and set(last) == {a, b} else (a, b)
    st.session_state.setdefault(_PAIR_SHOWN, {})[(seat.run_id, seat.rater.id)] = sides


def _pair_note(mine: int) -> str:
    said = st.session_state.get(_PAIR_SAVED)
    if said == "saved":
        return f":green[✓ Vote {mine} saved]"
    if said == "undone":
        return f":green[↩ Vote {mine + 1} withdrawn]"
    return ""


def pairwise_review(store: Store, seat: Seat, keys: bool = True) -> None:
    """A/B votes on pairs drawn so every model meets the others evenly.

    While the run is still generating the pairs refresh themselves, so new images join the
    draw without a reload; the pair on screen stays until it is voted on. With `keys` (the
    pair is in view) A, B, T, X vote and U undoes.
    """
    first = store.run_view(seat.run_id)
    refresh = None if first.complete else 2.0
    run_now = first_then(first, lambda: store.run_view(seat.run_id))

    @st.fragment(run_every=refresh)
    def _pairs() -> None:
        view = run_now()
        if refresh is not None and view.complete:
            st.rerun()  # a full run draws the fragment again without its timer: polling stops
        blind = seat.blind
        ratings = store.current_ratings(view.id)
        mine = [r for r in ratings if r["rater_id"] == seat.rater.id and r["mode"] == PAIR]
        total = pairs_total(view.cells, blind)
        waiting = sum(c.in_flight for c in view.cells)
        st.caption(
            f"You have voted on {len(mine)} of {total} pairs"
            + (
                f" · {waiting} image{'' if waiting == 1 else 's'} still being made, "
                "more pairs to come"
                if waiting
                else ""
            )
            + (" · keys: A, B, T tie, X both bad, U undo" if keys else "")
        )
        _unsaved_notice("pairs")
        pair = _shown_pair(seat, view, ratings)
        if pair is None:
            if waiting:
                st.info("More pairs come here as the run's images finish.")
            else:
                st.success(
                    "You have voted on every pair. Thank you!"
                    if total
                    else "This run needs images of at least two models for pairwise votes."
                )
        else:
            a, b = pair
            # Squared, so A and B are the same size: neither side wins by taking more room.
            thumbs = _thumbs(store, [a, b], blind=True)
            # wrap=False: A and B stay side by side on a phone too (columns stack at 640 px).
            left, right = st.columns(2, wrap=False)
            for col, cell, side in ((left, a, "A"), (right, b, "B")):
                with col:
                    title = f"**{side}**" if blind else f"**{side}: {escape_markdown(cell.label)}**"
                    st.markdown(title)
                    st.image(
                        thumbs[cell.id],
                        output_format="JPEG",
                        width=PAIR_IMAGE_PX,  # narrower on a small screen; fits 900 px high
                        alt=f"image {side}",
                    )
            cols = st.columns(4)  # one row, stacked on a phone: none scrolled out of sight
            for col, (value, label) in zip(cols, PAIR.choices.items(), strict=True):
                col.button(
                    label,
                    key=f"vote:{value}",
                    width="stretch",
                    shortcut=_SHORTCUTS[value] if keys else None,
                    on_click=_vote,
                    args=(store, seat, a.id, value, b.id),
                )
        row = st.container(horizontal=True, vertical_alignment="center")
        if mine:
            last = mine[-1]
            row.button(
                "Undo my last vote",
                key="undo_pair",
                shortcut=UNDO_KEY if keys else None,
                on_click=_vote,
                args=(store, seat, last["generation_id"], None, last["other_generation_id"]),
            )
        note = _pair_note(len(mine))
        if note:
            row.markdown(note)
        _mark_run()

    _pairs()


def reveal(view: RunView, rater: Rater) -> None:
    """After a blind review: which image was which model (in this rater's order)."""
    cells = [c for c in blind_slots(view.cells, view.id, rater.id) if c.ok]
    st.markdown(
        "**Revealed:** "
        + " · ".join(
            f"Image {i + 1} = {escape_markdown(c.label)} ({escape_markdown(c.router)}, "
            f"{c.wall_s:.1f} s, {cost_text(c)})"
            for i, c in enumerate(cells)
        )
    )
