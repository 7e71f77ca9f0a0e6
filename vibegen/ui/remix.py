"""Remix: an opened run's prompt, models and settings in the form; run again; re-roll a cell."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import streamlit as st

from vibegen.catalog import Catalog
from vibegen.errors import InputError, UnknownModelError
from vibegen.params import ASPECTS, QUALITIES, RESOLUTIONS, CommonParams
from vibegen.records import RunView
from vibegen.routers import router_status
from vibegen.ui.picker import pick_key

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from vibegen.runner import Runner

LOADED = "form_run"  # session key: the run whose settings the form was last set to
SETTINGS = ("aspect", "resolution", "quality", "seed", "images_per_model")


def run_models(view: RunView) -> list[str]:
    """The run's model keys in grid order, each once."""
    return list(dict.fromkeys(c.model_key for c in view.cells))


def run_overrides(view: RunView) -> dict[str, str]:
    """Model key → the prompt it was sent, for the models that got their own prompt."""
    first: dict[str, str] = {}
    for c in view.cells:
        first.setdefault(c.model_key, c.prompt)
    return {k: p for k, p in first.items() if p != view.prompt}


def run_params(view: RunView) -> CommonParams:
    """The run's common settings as chosen (the first image's count, not re-rolls)."""
    p = view.params
    return CommonParams(
        aspect=p.get("aspect", ASPECTS[0]),
        resolution=p.get("resolution", RESOLUTIONS[0]),
        quality=p.get("quality", QUALITIES[1]),
        seed=p.get("seed"),
        images_per_model=int(p.get("images_per_model") or 1),
    )


def form_values(view: RunView, catalog: Catalog, env: Mapping[str, str]) -> dict[str, Any]:
    """The widget values that make the form show this run (every checkbox set or cleared)."""
    models = set(run_models(view))
    params = run_params(view)
    overrides = run_overrides(view)
    values: dict[str, Any] = {
        "prompt": view.prompt,
        "aspect": params.aspect,
        "resolution": params.resolution,
        "quality": params.quality,
        "seed": "" if params.seed is None else str(params.seed),
        "images_per_model": params.images_per_model,
    }
    for m in catalog.models:
        # A model whose router is not set up here cannot be ticked: `unavailable` names it.
        values[pick_key(m.key)] = m.key in models and router_status(m.router, catalog, env).enabled
        values[f"override:{m.key}"] = overrides.get(m.key, "")
    return values


def unavailable(view: RunView, catalog: Catalog, env: Mapping[str, str]) -> list[str]:
    """The run's models this server cannot run now (unknown, or router not set up)."""
    known = {m.key: m for m in catalog.models}
    return [
        known[k].label if k in known else k
        for k in run_models(view)
        if k not in known or not router_status(known[k].router, catalog, env).enabled
    ]


def load_form(view: RunView, catalog: Catalog, env: Mapping[str, str]) -> None:
    """Put the run's prompt, models and settings into the form (before its widgets are drawn)."""
    st.session_state.update(form_values(view, catalog, env))
    st.session_state[LOADED] = view.id


def differences(view: RunView, catalog: Catalog, env: Mapping[str, str]) -> list[str]:
    """What the form holds now that the run does not: "the prompt", "the models", …"""
    want = form_values(view, catalog, env)
    get = st.session_state.get
    said = []
    if (get("prompt") or "").strip() != view.prompt:
        said.append("the prompt")
    picks = [k for k in want if k.startswith("pick:")]
    if any(bool(get(k)) != want[k] for k in picks):
        said.append("the models")
    if any(str(get(k) if get(k) is not None else "").strip() != str(want[k]) for k in SETTINGS):
        said.append("the settings")
    texts = [k for k in want if k.startswith("override:") and get(pick_key(k[9:]))]
    if any((get(k) or "").strip() != want[k] for k in texts):
        said.append("a per-model prompt")
    return said


def open_run(view: RunView, catalog: Catalog, env: Mapping[str, str]) -> None:
    """Load a newly opened run into the form once: a reload, a link or History all count.

    After that the form is the designer's to change; `differences` says what changed.
    """
    if st.session_state.get(LOADED) != view.id:
        load_form(view, catalog, env)


_REFUSED = "run_again_refused"  # session key: why the last "Run again" did not start


def _start_again(runner: Runner, view: RunView) -> None:
    # A callback, so the new run's id is in the address before the form is drawn: the form
    # then loads the new run, which has this run's settings whatever the form held.
    try:
        new = runner.start_run(view.prompt, run_models(view), run_params(view), run_overrides(view))
    except (InputError, UnknownModelError) as exc:
        st.session_state[_REFUSED] = str(exc)
    else:
        st.query_params["run"] = new


def run_again(where: DeltaGenerator, runner: Runner, view: RunView) -> str | None:
    """The "Run again" button (this run's prompt, models and settings, whatever the form
    says); why the last click did not start a run, if it did not."""
    where.button(
        "Run again",
        key="run_again",
        on_click=_start_again,
        args=(runner, view),
        help="A new run with this run's prompt, models and settings",
        width="stretch",
    )
    return st.session_state.pop(_REFUSED, None)


def reroll_picker(runner: Runner, view: RunView) -> None:
    """Pick one finished image of the run and make another of it with a new seed."""
    done = [c for c in view.cells if c.finished]
    if not done:
        return
    names = {c.id: f"{c.label} #{c.image_index + 1}" + ("" if c.ok else " (failed)") for c in done}
    pick, go = st.columns([3, 1], vertical_alignment="bottom")
    chosen = pick.selectbox(
        "Re-roll one image with a new seed",
        list(names),
        format_func=names.__getitem__,
        # Keyed per run: a value left from the run shown before is not among this run's cells.
        key=f"reroll_cell:{view.id}",
        help="Adds one more image of that model to this run; the first one stays",
    )
    if go.button("Re-roll", key="reroll", width="stretch"):
        try:
            runner.reroll(view.id, chosen)
        except (InputError, UnknownModelError) as exc:
            pick.error(f"No re-roll: {exc}.")
        else:
            st.rerun()  # the grid polls again for the new image
