"""The owner's review panel on a run: the links to send, invites, and whose votes count."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import streamlit as st

from vibegen import raters
from vibegen.errors import InputError, StoreError
from vibegen.markup import escape_markdown
from vibegen.raters import BriefLink, ReviewLink
from vibegen.review import reviewable
from vibegen.share import link_url
from vibegen.ui.share import base_url, public_url_problem

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store

SHOWN_HELD = 20  # beyond this, held raters are summed up, not listed


def _act(store: Store, rater_id: str | list[str], action: str, run_id: str | None) -> None:
    try:
        store.team.record(rater_id, action, run_id)
    except StoreError as exc:
        st.session_state["team_problem"] = f"Not saved: {exc}. Try again in a moment."


def _set_open(store: Store, token: str, is_open: bool) -> None:
    try:
        store.team.set_link_open(token, is_open)
    except StoreError as exc:
        st.session_state["team_problem"] = f"Not saved: {exc}. Try again in a moment."


def _invite(store: Store, run_id: str) -> None:
    name = st.session_state.get("invite_name", "")
    blind = bool(st.session_state.get("invite_blind"))
    try:
        store.team.create_link(run_id, blind=blind, invite=name)
    except InputError as exc:
        st.session_state["invite_problem"] = f"{exc}."
    except StoreError as exc:
        st.session_state["invite_problem"] = f"Not saved: {exc}. Try again in a moment."
    else:
        st.session_state.pop("invite_problem", None)
        st.session_state["invite_name"] = ""


def _link_title(link: ReviewLink, names: dict[str, str]) -> str:
    who = (
        f"invite for {escape_markdown(names.get(link.rater_id or '', '?'))}"
        if link.kind == raters.INVITE
        else "team link"
    )
    title = f"Blind {who}" if link.blind else who[0].upper() + who[1:]
    return title + ("" if link.open else " · closed")


def team_links(
    base: str, make: Callable[[bool], ReviewLink | BriefLink]
) -> list[ReviewLink | BriefLink]:
    """The two team links to send, named and blind, each as an absolute link to copy.

    `make(blind)` finds or makes the link (a run's or a brief's); returns the links shown.
    """
    shown = []
    for blind, title in ((False, "Review link"), (True, "Blind review link")):
        try:
            shared = make(blind)
        except StoreError as exc:
            st.error(f"The {title.lower()} cannot be made now: {exc}. Reload in a moment.")
            continue
        st.caption(title + ("" if shared.open else " · closed: reopen it below"))
        st.code(link_url(base, shared.token), language=None)
        shown.append(shared)
    url_problem = public_url_problem()
    if url_problem:
        st.warning(url_problem)
    return shown


def open_close(store: Store, link: ReviewLink | BriefLink, key: str) -> None:
    """The Close / Reopen button of a link."""
    st.button(
        "Close" if link.open else "Reopen",
        key=key,
        on_click=_set_open,
        args=(store, link.token, not link.open),
        help="A closed link takes no more ratings; reopen it at any time.",
    )


def team_panel(store: Store, run_id: str) -> None:
    """Links to send (team, blind, per-teammate invites) and the raters with their standing."""
    team = store.team
    base = base_url()
    with st.expander("🔗 Share this run for review", expanded=False):
        st.caption(
            "Teammates open a link, say who they are once, and rate. Blind review "
            "hides model names, prices and times and shuffles the order. Someone who "
            "joins through a team link is held until you accept them here; an invite "
            "counts at once."
        )
        problem = st.session_state.pop("team_problem", None)
        if problem:
            st.error(problem)
        team_links(base, lambda blind: team.team_link(run_id, blind=blind))

        st.markdown("**Invite a teammate by name**")
        left, mid, right = st.columns([3, 1, 1], vertical_alignment="bottom")
        left.text_input("Teammate's name", key="invite_name", max_chars=80)
        mid.checkbox("Blind", key="invite_blind")
        right.button("Make invite link", key="invite", on_click=_invite, args=(store, run_id))
        invite_problem = st.session_state.pop("invite_problem", None)
        if invite_problem:
            st.error(invite_problem)

        links = team.links(run_id)
        people = team.raters_of_run(run_id)
        names = {p["rater"].id: p["rater"].display for p in people}
        if links:
            st.markdown("**Links**")
        for link in links:
            a, b = st.columns([5, 1], vertical_alignment="center")
            with a:
                st.caption(_link_title(link, names))
                if link.kind == raters.INVITE:
                    st.code(link_url(base, link.token), language=None)
            with b:
                open_close(store, link, f"link:{link.token[:12]}")
        _raters(store, run_id, people)


def _raters(store: Store, run_id: str, people: list[dict]) -> None:
    n = len(reviewable(store.run_view(run_id).cells))
    if not people:
        st.caption("No one has rated this run yet.")
        return
    st.markdown("**Raters**")
    held = [p for p in people if p["standing"].held and not p["standing"].dropped]
    others = [p for p in people if p not in held]
    for p in others + held[:SHOWN_HELD]:
        r, standing = p["rater"], p["standing"]
        a, b, c = st.columns([4, 1, 1], vertical_alignment="center")
        origin = {
            raters.INVITED: "invited",
            raters.OWNER: "you",
            raters.JOINED: "joined by team link",
            raters.LEGACY: "named",
        }[r.origin]
        look = f" · ⚠️ looks like {r.looks_like}, is someone else" if r.looks_like else ""
        a.markdown(
            f"{escape_markdown(r.display)} · {origin} · rated {p['images']} of {n} "
            f"images · **{standing.word}**{escape_markdown(look)}"
        )
        if standing.held or standing.dropped:
            b.button(
                "Accept",
                key=f"accept:{r.id}",
                on_click=_act,
                args=(store, r.id, raters.ACCEPT, None),
                help="Count this rater's votes on every run",
            )
        if standing.held and not standing.dropped:
            c.button(
                "Drop",
                key=f"drop:{r.id}",
                on_click=_act,
                args=(store, r.id, raters.DROP, None),
                help="Never count this rater's votes (reversible)",
            )
        elif not standing.held and not standing.dropped:
            excluded = standing.excluded
            c.button(
                "Restore" if excluded else "Exclude",
                key=f"exclude:{r.id}",
                on_click=_act,
                args=(store, r.id, raters.RESTORE if excluded else raters.EXCLUDE, run_id),
                help="Leave this rater's votes on this run out of the leaderboard (reversible)",
            )
    if len(held) > SHOWN_HELD:
        st.caption(f"… and {len(held) - SHOWN_HELD} more held raters.")
    if len(held) > 1:
        a, b = st.columns(2)
        ids = [p["rater"].id for p in held]
        a.button(
            f"Accept all {len(held)} held",
            key="accept_all",
            on_click=_act,
            args=(store, ids, raters.ACCEPT, None),
        )
        b.button(
            f"Drop all {len(held)} held",
            key="drop_all",
            on_click=_act,
            args=(store, ids, raters.DROP, None),
        )


def brief_share(store: Store, set_id: str) -> None:
    """The brief's one review link (and its blind twin): every run of the brief, prompt by
    prompt, through one link; closing it closes the whole brief's review."""
    st.caption(
        "One link for the whole brief: teammates step through its prompts and rate each "
        "one's images. Runs you add by running the brief again appear in it too."
    )
    problem = st.session_state.pop("team_problem", None)
    if problem:
        st.error(problem)
    shown = team_links(base_url(), lambda blind: store.team.brief_link(set_id, blind=blind))
    if shown:
        row = st.container(horizontal=True, vertical_alignment="center")
        for link in shown:
            with row:
                st.caption("Blind review link" if link.blind else "Review link")
                open_close(store, link, f"brief_link:{link.token[:12]}")
