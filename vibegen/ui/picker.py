"""The model picker: every router listed, those without a key disabled with what to do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import streamlit as st

from vibegen.catalog import Catalog, Model
from vibegen.errors import InputError
from vibegen.model_search import Filter, hint, shortlist_first
from vibegen.params import (
    ASPECTS,
    MAX_IMAGES_PER_MODEL,
    QUALITIES,
    RESOLUTIONS,
    CommonParams,
    parse_seed,
)
from vibegen.routers import router_status

DEFAULT_PICKS = ("sandbox:prism", "sandbox:halo", "sandbox:mosaic", "sandbox:tide")
STATUS_NOTE = {
    "deprecated": "deprecated",
    "verify": "verify: may be discontinued",
    "unverified": "unverified",
}


def pick_key(model_key: str) -> str:
    """The widget key of a model's checkbox."""
    return f"pick:{model_key}"


def model_picker(
    catalog: Catalog,
    env: Mapping[str, str],
    today: dt.date | None = None,
    shortlist: Sequence[str] = (),
) -> list[str]:
    """A search box, the shortlist first, then checkboxes grouped by router; the picked keys.

    A picked model stays on screen whatever the search says, so a filter never drops a pick.
    """
    picked: list[str] = []
    offered = catalog.offered(today or dt.date.today())
    find = Filter(
        text=st.text_input(
            "Find a model", key="pick_search", placeholder="name, router or endpoint id"
        )
    )
    keep = {m.key for m in offered if st.session_state.get(pick_key(m.key))}
    shown = [m for m in offered if m.key in keep or find.matches(m, catalog)]
    short = [m for m in shortlist_first(shown, shortlist) if m.key in set(shortlist)]
    if short:
        with st.expander(f"Shortlist · {len(short)} models", expanded=True):
            picked += _checkboxes(short, catalog, env)
    for name, info in catalog.routers.items():
        models = [m for m in shown if m.router == name and m.key not in set(shortlist)]
        if not models:
            continue
        status = router_status(name, catalog, env)
        title = f"{info.label} · {len(models)} models"
        if not status.enabled:
            title += f" — {status.reason}"
        with st.expander(title, expanded=info.simulated):
            if not status.enabled:
                st.caption(
                    f"{info.label} is not set up: {status.reason}."
                    + (f" Get a key at {info.key_url}." if info.key_url else "")
                )
            elif info.note:
                st.caption(info.note)
            picked += _checkboxes(models, catalog, env)
    return picked


def _checkboxes(models: Sequence[Model], catalog: Catalog, env: Mapping[str, str]) -> list[str]:
    picked = []
    for m in models:
        enabled = router_status(m.router, catalog, env).enabled
        label = m.label
        if m.status in STATUS_NOTE:
            label += f" ({STATUS_NOTE[m.status]})"
        if m.shutdown:
            label += f" · shuts down {m.shutdown}"
        # Price and typical time under the name, not in it: the label stays the model's name.
        # Not beside it either: the sidebar's column is too narrow for both, and the price
        # broke mid-word over four lines.
        box = beside = st.container(gap=None)
        # The default through session state, not value=: an opened run sets the same keys
        # (vibegen.ui.remix), and a widget may not get both.
        st.session_state.setdefault(pick_key(m.key), m.key in DEFAULT_PICKS and enabled)
        if box.checkbox(label, key=pick_key(m.key), disabled=not enabled, help=m.note or None):
            picked.append(m.key)
        beside.caption(hint(m, catalog))
    return picked


def common_params() -> CommonParams:
    """Aspect ratio, resolution, quality, seed and images per model, chosen once."""
    a, b, c, d, e = st.columns(5)
    aspect = a.selectbox("Aspect ratio", ASPECTS, key="aspect")
    resolution = b.selectbox("Resolution", RESOLUTIONS, key="resolution")
    st.session_state.setdefault("quality", QUALITIES[1])  # medium, unless a run set another
    quality = c.selectbox("Quality", QUALITIES, key="quality")
    seed_text = d.text_input("Seed (optional)", key="seed", placeholder="random")
    n = e.number_input("Images per model", 1, MAX_IMAGES_PER_MODEL, key="images_per_model")
    try:
        seed = parse_seed(seed_text)
    except InputError as exc:  # said under the field; the run waits for a valid seed
        d.error(f"{exc}. It is ignored until it is one.")
        seed = None
    return CommonParams(
        aspect=aspect, resolution=resolution, quality=quality, seed=seed, images_per_model=int(n)
    )


def settings_summary() -> str:
    """What the folded settings hold now ("1:1 · 1K · medium quality · random seed · …")."""
    get = st.session_state.get
    try:
        chosen = parse_seed(str(get("seed") or ""))
    except InputError:
        chosen = None  # said under the field; the run uses a random seed until it is fixed
    seed = f"seed {chosen}" if chosen is not None else "random seed"
    n = int(get("images_per_model") or 1)
    return (
        f"{get('aspect') or ASPECTS[0]} · {get('resolution') or RESOLUTIONS[0]}"
        f" · {get('quality') or QUALITIES[1]} quality · {seed}"
        f" · {n} image{'s' * (n != 1)} per model"
    )
