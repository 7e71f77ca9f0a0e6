"""Briefs: save a set of prompts and run the whole set on the same models."""

import streamlit as st

from vibegen.errors import InputError, UnknownModelError
from vibegen.markup import escape_markdown
from vibegen.share import review_url, run_url
from vibegen.ui.access import require_owner
from vibegen.ui.matrix import brief_matrix
from vibegen.ui.picker import common_params, model_picker
from vibegen.ui.runtime import frame
from vibegen.ui.share import base_url
from vibegen.ui.team import brief_share

ctx = frame("Briefs")
require_owner(ctx)  # served to a network, this page is the owner's
st.title("Briefs")
st.caption(
    "A brief is a saved set of prompts. Run it on a set of models to compare them on "
    "the kind of work you actually do; the leaderboard can be filtered by brief."
)

with st.sidebar:
    st.subheader("Models")
    picked = model_picker(ctx.catalog, ctx.env, shortlist=ctx.shortlist)

with st.expander("New brief", expanded=not ctx.store.prompt_sets()):
    name = st.text_input("Name", key="brief_name", placeholder="Spring campaign posters")
    prompts = st.text_area("Prompts, one per line", key="brief_prompts", height=140)
    if st.button("Save brief", key="save_brief"):
        try:
            ctx.store.save_prompt_set(name, prompts.splitlines())
        except InputError as exc:
            st.error(str(exc))
        else:
            st.success(f"Saved the brief {escape_markdown(name.strip())}.")

briefs = ctx.store.prompt_sets()
if not briefs:
    st.info("No briefs yet: write one above.")
    st.stop()
by_id = {b["id"]: b for b in briefs}
chosen = st.selectbox(
    "Brief",
    list(by_id),
    key="brief",
    format_func=lambda k: f"{by_id[k]['name']} ({len(by_id[k]['prompts'])} prompts)",
)
for prompt in by_id[chosen]["prompts"]:
    st.text(f"• {prompt}")
params = common_params()
st.caption(
    f"{len(by_id[chosen]['prompts'])} prompts × {len(picked)} models × "
    f"{params.images_per_model} images"
)
if st.button("Run the brief", type="primary", key="run_brief"):
    try:
        ctx.runner.start_prompt_set(chosen, picked, params)
    except (InputError, UnknownModelError) as exc:
        st.error(str(exc))

st.subheader("Review link for this brief")
brief_share(ctx.store, chosen)

runs = ctx.store.runs_of_prompt_set(chosen)
if runs:
    st.subheader("This brief, prompt by model")
    brief_matrix(ctx.store, runs)
    base = base_url()
    st.subheader("Runs of this brief")
    for run_id in runs:
        view = ctx.store.run_view(run_id)
        st.markdown(
            f"[{escape_markdown(view.prompt[:80])}]({run_url(base, run_id)}) · "
            f"{view.done} of {len(view.cells)} done · "
            f"[review]({review_url(base, run_id)})"
        )
