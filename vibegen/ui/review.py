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
from vibegen.store import Cell, RunView, Store
from vibegen.ui.grid import cost_text

COOKIE = "vibegen_rater"
PAIR_LABELS = {"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both bad"}


def _remember(name: str) -> None:
    # A year-long cookie, so the name is asked once per browser and survives reloads.
    cookie = f"{COOKIE}={quote(name)}; path=/; max-age=31536000; SameSite=Lax"
    st.html(f"<script>document.cookie = {json.dumps(cookie)};</script>",
            unsafe_allow_javascript=True)


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
        st.caption(f"You have rated {rated} of {len(cells)} images"
                   + (f" · {left} left" if left else " · all done"))
        grid = st.grid(4, min_column_width=220, border=True)
        for i, cell in enumerate(cells):
            with grid.cell():
                st.markdown(_caption(cell, i, blind))
                thumb = store.image(cell.id, thumb=True)
                st.image(thumb, output_format="JPEG", width="stretch",
                         link=f"./Image?gen={cell.id}" + ("&blind=1" if blind else ""),
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

    _pairs()


def reveal(view: RunView, rater: str) -> None:
    """After a blind review: which image was which model (in this rater's order)."""
    cells = review_order(view.cells, view.id, rater, blind=True)
    st.markdown("**Revealed:** " + " · ".join(
        f"Image {i + 1} = {escape_markdown(c.label)} ({escape_markdown(c.router)}, "
        f"{c.wall_s:.1f} s, {cost_text(c)})" for i, c in enumerate(cells)))
