"""Review: rate a run's images through its shared link, optionally blind."""

import streamlit as st

from vibegen.errors import RunNotFoundError
from vibegen.markup import escape_markdown
from vibegen.review import reviewable
from vibegen.ui.review import (
    grid_review,
    guard_unsaved_ratings,
    pairwise_review,
    rater_identity,
    reveal,
)
from vibegen.ui.runtime import frame

ctx = frame("Review")
run_id = st.query_params.get("run", "")
blind_link = st.query_params.get("blind") == "1"
st.title("Review")
if not run_id:
    st.info("Open a run's review link (it looks like …/Review?run=<id>), or pick a run on "
            "the History page.")
    st.stop()
try:
    view = ctx.store.run_view(run_id)
except RunNotFoundError as exc:
    st.error(f"{exc}. Ask for the link again, or open a run from the History page.")
    st.stop()

rater = rater_identity()
guard_unsaved_ratings()
revealed = st.session_state.get(f"revealed:{run_id}", False)
blind = blind_link and not revealed
st.text(view.prompt)  # shown literally: a prompt is untrusted text
blind_note = (" · blind review: names, prices and times are hidden and the order is shuffled "
              "for you") if blind else ""
st.caption(f"Rating as {escape_markdown(rater)}{blind_note}")
if not reviewable(view.cells):
    st.info("This run has no finished images yet. Reload in a moment.")
    st.stop()

grid_tab, pair_tab = st.tabs(["Grid: best, reject, stars", "Pairwise: A / B"])
with grid_tab:
    grid_review(ctx.store, view, rater, blind)
with pair_tab:
    pairwise_review(ctx.store, view, rater, blind)

if blind_link and not revealed:
    if st.button("I'm done: reveal the models", key="reveal"):
        st.session_state[f"revealed:{run_id}"] = True
        st.rerun()
elif blind_link:
    reveal(view, rater)
