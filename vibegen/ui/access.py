"""The owner gate every owner page passes first (see vibegen/access.py for the model)."""

from __future__ import annotations

import json
import sys
import threading

import streamlit as st

from vibegen import access
from vibegen.ui.runtime import Context

_announced = threading.Event()


def _bind_address() -> str:
    return str(st.get_option("server.address") or "")


def network_mode() -> bool:
    """Whether this server listens beyond loopback (then owner pages need the token)."""
    return not access.is_loopback(_bind_address())


def _announce(ctx: Context) -> None:
    # Printed once per process, where the owner started the server (Jupyter's habit).
    if _announced.is_set():
        return
    _announced.set()
    port = st.get_option("server.port")
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    root = f"http://<this machine's address>:{port}" + (f"/{base}" if base else "")
    line = access.announce(ctx.env, root)
    access.log.warning(line)
    print(line, file=sys.stderr, flush=True)


def is_owner(ctx: Context) -> bool:
    """Whether this browser session acts as the owner (always, on a loopback server)."""
    if not network_mode():
        return True
    _announce(ctx)
    if st.session_state.get("_vibegen_owner"):
        return True
    expected = access.owner_token(ctx.env)
    try:
        cookie = st.context.cookies.get(access.COOKIE)
    except Exception:  # noqa: BLE001 - no browser context (AppTest)
        cookie = None
    given = st.query_params.get(access.QUERY)
    if access.matches(given, expected) or access.matches(cookie, expected):
        st.session_state["_vibegen_owner"] = True
        if given:  # remember it in this browser, then take it out of the address bar
            _remember(expected)
            del st.query_params[access.QUERY]
        return True
    return False


def _remember(token: str) -> None:
    cookie = f"{access.COOKIE}={token}; path=/; max-age=2592000; SameSite=Strict"
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True
    )


def require_owner(ctx: Context) -> None:
    """Stop an owner page for anyone without the owner token, with a way to give it."""
    if is_owner(ctx):
        return
    problem = access.token_problem(ctx.env)
    st.title("This page is for the owner of this VibeGen")
    st.write(
        "This server is open to the network, so generating, history, the leaderboard, "
        "spend and exports need the owner token. Reviewers: open the review link you "
        "were sent."
    )
    if problem:
        st.error(problem)
    with st.form("owner_token"):
        typed = st.text_input(
            "Owner token",
            type="password",
            help="Printed in the server's log when it started, or the value of VIBEGEN_OWNER_TOKEN",
        )
        if st.form_submit_button("Open"):
            if access.matches(typed, access.owner_token(ctx.env)):
                st.session_state["_vibegen_owner"] = True
                _remember(access.owner_token(ctx.env))
                st.rerun()
            st.error("That is not the owner token.")
    st.stop()
