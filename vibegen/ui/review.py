"""Review widgets: who the rater is, grid ratings (best, reject, stars), pairwise votes.

Every click is written to the store in the widget's callback, at once: there is no submit
button to forget. The widgets live in fragments, so a rating click reruns only its fragment
and never interrupts anything else on the page.
"""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

import streamlit as st

from vibegen.errors import InputError
from vibegen.markup import escape_markdown
from vibegen.ratings import clean_rater, make_rating
from vibegen.review import next_pair, pairs_total, review_order, reviewable
from vibegen.share import image_url
from vibegen.store import Cell, RunView, Store
from vibegen.ui.grid import cost_text
from vibegen.ui.share import base_url

COOKIE = "vibegen_rater"
PAIR_LABELS = {"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both bad"}


def _remember(name: str) -> None:
    # A year-long cookie, so the name is asked once per browser and survives reloads.
    cookie = f"{COOKIE}={quote(name)}; path=/; max-age=31536000; SameSite=Lax"
    st.html(f"<script>document.cookie = {json.dumps(cookie)};</script>",
            unsafe_allow_javascript=True)


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


def _held_values(cells: list[Cell]) -> str:
    # The grid's stars and reject boxes as the server holds them, in the page's order and in
    # the guard's notation: "4r,0,3" = 4 stars and rejected, nothing, 3 stars.
    def one(cell: Cell) -> str:
        stars = st.session_state.get(f"stars:{cell.id}")
        reject = st.session_state.get(f"reject:{cell.id}")
        return f"{0 if stars is None else stars + 1}{'r' if reject else ''}"
    return ",".join(one(cell) for cell in cells)


def guard_unsaved_ratings() -> None:
    """Make the browser ask before the tab closes while a rating is still being saved."""
    st.html(_UNLOAD_GUARD, unsafe_allow_javascript=True)


def _cookie_name() -> str | None:
    try:
        raw = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser context (AppTest)
        return None
    try:
        return clean_rater(unquote(raw)) if raw else None
    except InputError:
        return None


def rater_identity() -> str:
    """The rater's name: remembered per browser, asked once; stops the page until given."""
    name = st.session_state.get("rater") or _cookie_name()
    if name:
        st.session_state["rater"] = name
        if _cookie_name() != name:
            _remember(name)
        return name
    st.subheader("Who is rating?")
    st.caption("No account needed: your name is stored with each rating so the team can see "
               "who rated what. This browser remembers it.")
    with st.form("who"):
        typed = st.text_input("Your name", key="rater_input", max_chars=80)
        submitted = st.form_submit_button("Start reviewing", type="primary")
    if submitted:
        try:
            st.session_state["rater"] = clean_rater(typed)
        except InputError as exc:
            st.error(str(exc))
        else:
            st.rerun()
    st.stop()


def progress(store: Store, view: RunView) -> None:
    """Who has rated this run, and how much of it (k of n images)."""
    n = len(reviewable(view.cells))
    done = store.review_progress(view.id)
    if not done:
        st.caption(f"No ratings yet · {n} images to rate")
        return
    st.caption("Reviews: " + " · ".join(f"{escape_markdown(rater)} rated {k} of {n}"
                                        for rater, k in done.items()))


def _save(store: Store, run_id: str, rater: str, blind: bool, mode: str, gen: str,
          value, other: str | None = None) -> None:
    store.rate(run_id, rater, make_rating(mode, gen, value, other), blind=blind)


def _on_stars(store, run_id, rater, blind, gen, key) -> None:
    value = st.session_state.get(key)
    _save(store, run_id, rater, blind, "stars", gen, None if value is None else value + 1)


def _on_reject(store, run_id, rater, blind, gen, key) -> None:
    _save(store, run_id, rater, blind, "reject", gen, "1" if st.session_state.get(key) else None)


def _caption(cell: Cell, index: int, blind: bool) -> str:
    if blind:
        return f"**Image {index + 1}**"
    tag = " :violet-badge[sandbox]" if cell.router == "sandbox" else ""
    return f"**{escape_markdown(cell.label)}**{tag}"


def grid_review(store: Store, view: RunView, rater: str, blind: bool) -> None:
    """Pick the best image, reject any, give stars; each click saved at once."""

    @st.fragment
    def _grid() -> None:
        mine = {r["slot"]: r for r in store.current_ratings(view.id, rater)}
        best = mine.get("best", {}).get("generation_id")
        cells = review_order(view.cells, view.id, rater, blind)
        rated = sum(any(s.endswith(c.id) for s in mine) or best == c.id for c in cells)
        left = len(cells) - rated
        # The team's progress sits in the fragment too, so a rating click refreshes it.
        progress(store, view)
        st.caption(f"You have rated {rated} of {len(cells)} images"
                   + (f" · {left} left" if left else " · all done"))
        grid = st.grid(4, min_column_width=220, border=True)
        base = base_url()
        for i, cell in enumerate(cells):
            with grid.cell():
                st.markdown(_caption(cell, i, blind))
                thumb = store.image(cell.id, thumb=True)
                st.image(thumb, output_format="JPEG", width="stretch",
                         link=image_url(base, cell.id, blind),
                         alt=f"image {i + 1}")
                if not blind:
                    st.caption(f"⏱️ {cell.wall_s:.1f} s · {cost_text(cell)}")
                is_best = best == cell.id
                st.button("★ Best pick" if is_best else "☆ Pick as best", key=f"best:{cell.id}",
                          type="primary" if is_best else "secondary", on_click=_save,
                          args=(store, view.id, rater, blind, "best", cell.id,
                                None if is_best else 1))
                rkey = f"reject:{cell.id}"
                st.checkbox("Reject", key=rkey, value=f"reject:{cell.id}" in mine,
                            on_change=_on_reject, args=(store, view.id, rater, blind, cell.id,
                                                        rkey))
                skey = f"stars:{cell.id}"
                saved = mine.get(skey)
                st.feedback("stars", key=skey,
                            default=int(saved["value"]) - 1 if saved else None,
                            on_change=_on_stars, args=(store, view.id, rater, blind, cell.id,
                                                       skey))
        _mark_run(grid=_held_values(cells))

    _grid()


def pairwise_review(store: Store, view: RunView, rater: str, blind: bool) -> None:
    """A/B votes on pairs drawn so every model meets the others evenly."""

    @st.fragment
    def _pairs() -> None:
        ratings = store.current_ratings(view.id)
        mine = [r for r in ratings if r["rater"] == rater and r["mode"] == "pair"]
        total = pairs_total(view.cells)
        st.caption(f"You have voted on {len(mine)} of {total} pairs")
        pair = next_pair(view.cells, view.id, rater, ratings)
        if pair is None:
            st.success("You have voted on every pair. Thank you!" if total else
                       "This run needs images of at least two models for pairwise votes.")
        else:
            a, b = pair
            left, right = st.columns(2)
            for col, cell, side in ((left, a, "A"), (right, b, "B")):
                with col:
                    title = f"**{side}**" if blind else f"**{side}: {escape_markdown(cell.label)}**"
                    st.markdown(title)
                    st.image(store.image(cell.id, thumb=True), output_format="JPEG",
                             width="stretch", alt=f"image {side}")
            cols = st.columns(4)
            for col, (value, label) in zip(cols, PAIR_LABELS.items(), strict=True):
                col.button(label, key=f"vote:{value}", width="stretch", on_click=_save,
                           args=(store, view.id, rater, blind, "pair", a.id, value, b.id))
        if mine:
            last = mine[-1]
            st.button("Undo my last vote", key="undo_pair", on_click=_save,
                      args=(store, view.id, rater, blind, "pair", last["generation_id"], None,
                            last["other_generation_id"]))
        _mark_run()

    _pairs()


def reveal(view: RunView, rater: str) -> None:
    """After a blind review: which image was which model (in this rater's order)."""
    cells = review_order(view.cells, view.id, rater, blind=True)
    st.markdown("**Revealed:** " + " · ".join(
        f"Image {i + 1} = {escape_markdown(c.label)} ({escape_markdown(c.router)}, "
        f"{c.wall_s:.1f} s, {cost_text(c)})" for i, c in enumerate(cells)))
