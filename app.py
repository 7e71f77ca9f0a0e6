"""Generate: one prompt, many models, a live grid."""

import streamlit as st

from vibegen.errors import InputError, UnknownModelError
from vibegen.runner import plan_run
from vibegen.ui.access import require_owner
from vibegen.ui.exports import run_downloads
from vibegen.ui.grid import live_run
from vibegen.ui.picker import common_params, model_picker
from vibegen.ui.review import progress
from vibegen.ui.runtime import frame
from vibegen.ui.share import share_links

ctx = frame("Generate")
require_owner(ctx)  # served to a network, this page is the owner's
st.title("🎨 VibeGen")
st.caption("One prompt, many image models: compare quality, cost and speed on your own data.")

prompt = st.text_area("Prompt", key="prompt", height=90,
                      placeholder="A poster of a lighthouse at dusk, flat colours")
with st.sidebar:
    st.subheader("Models")
    picked = model_picker(ctx.catalog, ctx.env)
params = common_params()
overrides: dict[str, str] = {}
if picked:
    with st.expander("Per-model prompt (optional)"):
        st.caption("Some models want a different prompt style. Leave empty to use the prompt "
                   "above.")
        for key in picked:
            text = st.text_input(ctx.catalog.model(key).label, key=f"override:{key}")
            if text.strip():
                overrides[key] = text

plan = None
try:
    plan = plan_run(prompt or "-", picked, params, ctx.catalog, ctx.env, overrides)
except (InputError, UnknownModelError) as exc:
    if picked:
        st.warning(str(exc))
if plan:
    unknown = f" + unknown for {', '.join(plan.unknown_cost_models)}" \
        if plan.unknown_cost_models else ""
    st.info(f"**{len(plan.cells)} images** from {len(set(picked))} models · estimated cost "
            f"**${plan.estimated_usd:.4f}**{unknown}")
    cannot = {ctx.catalog.model(k).label: n for k, n in plan.notes.items() if n}
    if cannot:
        st.caption("Not every model can honour every choice: " + "; ".join(
            f"{label}: " + ", ".join(f"{k} {v}" for k, v in n.items())
            for label, n in cannot.items()))

if st.button("Generate", type="primary", key="generate"):
    try:
        run_id = ctx.runner.start_run(prompt, picked, params, overrides)
    except (InputError, UnknownModelError) as exc:
        st.error(str(exc))
    else:
        st.query_params["run"] = run_id

run_id = st.query_params.get("run")
if run_id:
    view = live_run(ctx.store, run_id)
    if view is not None:
        if view.complete and view.failures:
            follow, again = view.retry_plan()
            if follow:
                st.caption(f"{follow} of them still have a paid job at the router: retry "
                           "follows it, it does not buy the image again.")
            if again:
                st.warning(f"{again} of them were already billed without an image: retrying "
                           "them pays again.", icon="💲")
            if st.button(f"Retry failed cells ({view.failures})", key="retry"):
                ctx.runner.retry_failed(run_id)
                st.rerun()
        progress(ctx.store, view)
        share_links(run_id)
        run_downloads(ctx.store, run_id)
