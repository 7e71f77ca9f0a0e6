"""The Review page opened through a brief's link: the brief's name, its prompts one at a time.

Which run is on screen is kept in the session, never in the address: the link a reviewer
holds carries its token alone, and a blind page names no run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from vibegen.brief_review import Step, brief_steps, first_unfinished, prompts_finished
from vibegen.markup import escape_markdown
from vibegen.raters import BriefLink, Rater, ReviewLink

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store

JUMP_KEY = "brief_jump"  # the prompt selector: the place of the step on screen
PROMPT_CHARS = 70  # of a prompt in the selector; the page shows it whole


def _shown_key(brief: BriefLink) -> str:
    return f"brief_run:{brief.token}"


def _go(key: str, run_id: str) -> None:
    st.session_state[key] = run_id


def _jump(key: str, run_ids: list[str]) -> None:
    place = st.session_state.get(JUMP_KEY)
    if isinstance(place, int) and 0 <= place < len(run_ids):
        st.session_state[key] = run_ids[place]


def _label(step: Step, finished: set[int]) -> str:
    prompt = step.prompt if len(step.prompt) <= PROMPT_CHARS else step.prompt[:PROMPT_CHARS] + "…"
    return f"{'✓ ' if step.number in finished else ''}{step.title}: {prompt}"


def brief_step(store: Store, brief: BriefLink, rater: Rater) -> ReviewLink:
    """Draw the brief's name, where the rater is in it and how to step; return the link as
    seen at the run on screen. Stops the page while the brief has no run to rate."""
    info = store.prompt_set(brief.prompt_set_id)
    if info is None:
        st.error("This brief no longer exists. Ask the person who sent the link for a new one.")
        st.stop()
    views = store.runs_bulk(store.runs_of_prompt_set(brief.prompt_set_id))
    steps = brief_steps(info["prompts"], views)
    name = f"**Brief: {escape_markdown(info['name'])}**"
    if not steps:
        st.markdown(name)
        st.info("This brief has not been run yet: its images appear here once it is.")
        st.stop()
    ids = [s.run_id for s in steps]
    mine = [r for r in store.current_ratings(rater_id=rater.id) if r["run_id"] in set(ids)]
    finished = prompts_finished(steps, {v.id: v for v in views}, mine)
    key = _shown_key(brief)
    if st.session_state.get(key) not in ids:  # first visit (or a run gone): the first not done
        st.session_state[key] = ids[first_unfinished(steps, finished)]
    place = ids.index(st.session_state[key])
    step = steps[place]
    # One line over the stepping row: the pair and its vote buttons still fit a 1440x900 screen.
    st.markdown(f"{name} · {step.title}" + (" · ✓ rated" if step.number in finished else ""))
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.button(
        "← Previous prompt",
        key="brief_prev",
        disabled=place == 0,
        on_click=_go,
        args=(key, ids[max(place - 1, 0)]),
    )
    st.session_state[JUMP_KEY] = place  # set before the widget is drawn: it follows the buttons
    with row:
        st.selectbox(
            "Jump to a prompt",
            range(len(steps)),
            key=JUMP_KEY,
            format_func=lambda i: _label(steps[i], finished),
            on_change=_jump,
            args=(key, ids),
            label_visibility="collapsed",
            width=520,
        )
    row.button(
        "Next prompt →",
        key="brief_next",
        disabled=place == len(steps) - 1,
        on_click=_go,
        args=(key, ids[min(place + 1, len(ids) - 1)]),
    )
    row.caption(f"{len(finished)} of {step.prompts} prompts rated")
    return brief.for_run(step.run_id)
