"""Generate: one prompt, many models, a live grid."""

import streamlit as st

from vibegen.errors import InputError, RunNotFoundError, UnknownModelError
from vibegen.money import cents, exact
from vibegen.runner import plan_run
from vibegen.ui.access import require_owner
from vibegen.ui.exports import run_downloads
from vibegen.ui.grid import live_run
from vibegen.ui.picker import common_params, model_picker, settings_summary
from vibegen.ui.remix import LOADED, differences, load_form, open_run, reroll_picker, run_again
from vibegen.ui.review import progress, saw_named
from vibegen.ui.runtime import frame
from vibegen.ui.sandbox import sandbox_banner
from vibegen.ui.team import team_panel
from vibegen.words import sentence

ctx = frame("Generate")
require_owner(ctx)  # served to a network, this page is the owner's
opened = None
if st.query_params.get("run"):
    try:
        opened = ctx.store.run_view(st.query_params["run"])
    except RunNotFoundError:
        pass  # said where the grid would be
    else:
        open_run(opened, ctx.catalog, ctx.env)  # its prompt, models and settings in the form
# The pictures are what a designer came for: one compact prompt bar, settings folded away,
# and the run's grid right below it on the first screen.
st.markdown("##### 🎨 VibeGen · many image models, side by side")
with st.sidebar:
    st.subheader("Models")
    models_note = st.empty()  # why Generate is off, when the models are the reason
    picked = model_picker(ctx.catalog, ctx.env, shortlist=ctx.shortlist)
    if any(ctx.catalog.model(k).sandbox for k in picked):
        # In the sidebar, not above the grid: the results keep the first screen.
        sandbox_banner(ctx.catalog)
bar, go, *again = st.columns([7, 1, 1] if opened else [8, 1], vertical_alignment="bottom")
prompt = bar.text_area(
    "Prompt", key="prompt", height=68, placeholder="A poster of a lighthouse at dusk, flat colours"
)
if opened and (refused := run_again(again[0], ctx.runner, opened)):
    bar.error(f"Run again did not start: {sentence(refused)}")
# A fixed title: an expander whose label changes is a new expander, and would fold shut (hiding
# the field just typed in, and its message) on every change. What is chosen is said below.
with st.expander("Settings", expanded=False):
    params = common_params()
    overrides: dict[str, str] = {}
    if picked:
        st.caption(
            "Per-model prompt (optional): some models want a different prompt style. "
            "Leave empty to use the prompt above."
        )
        for key in picked:
            text = st.text_input(ctx.catalog.model(key).label, key=f"override:{key}")
            if text.strip():
                overrides[key] = text

plan = blocked = None
try:
    # An empty prompt does not turn Generate off: a text area sends what was typed only when
    # it loses focus, so a button still off from before would swallow that first click.
    plan = plan_run(prompt or "-", picked, params, ctx.catalog, ctx.env, overrides)
except (InputError, UnknownModelError) as exc:
    blocked = sentence(str(exc))
    # Said next to what it is about: a model's prompt under the prompt, the rest by the models.
    (bar if "prompt" in blocked else models_note).warning(blocked)
generate = go.button(
    "Generate",
    type="primary",
    key="generate",
    width="stretch",
    disabled=blocked is not None,
    help=f"Nothing can run yet: {blocked}" if blocked else None,
)
if plan:
    unknown = (
        f" + unknown for {', '.join(plan.unknown_cost_models)}" if plan.unknown_cost_models else ""
    )
    simulated = all(c.simulated for c in plan.cells)
    total = cents(plan.estimated_usd)  # to the cent; the exact figure is on hover
    cost = f"simulated {total} (sandbox: nothing is billed)" if simulated else f"estimated {total}"
    line = (
        f"**{len(plan.cells)} images** from {len(set(picked))} models · {cost}{unknown}"
        f" · {settings_summary()}"
    )
    cannot = {ctx.catalog.model(k).label: n for k, n in plan.notes.items() if n}
    if cannot:
        line += " · not every model can honour every choice: " + "; ".join(
            f"{label}: " + ", ".join(f"{k} {v}" for k, v in n.items())
            for label, n in cannot.items()
        )
    st.caption(line, help=f"Estimated cost, exactly: {exact(plan.estimated_usd)}")

if generate:
    try:
        run_id = ctx.runner.start_run(prompt, picked, params, overrides)
    except (InputError, UnknownModelError) as exc:
        bar.error(sentence(str(exc)))  # under the prompt, by the button that was pressed
    else:
        st.query_params["run"] = run_id
        st.session_state[LOADED] = run_id  # the form is what this run was made from
        opened = None
# Always drawn, empty or not: an element that comes and goes above the grid would shift
# everything below it, and the browser would redraw (and fold shut) the expanders there.
changes = st.container()
if opened and (changed := differences(opened, ctx.catalog, ctx.env)):
    # The form and the grid below disagree: say so, and offer the way back.
    note, back = changes.columns([8, 2], vertical_alignment="center")
    note.info(
        f"You changed {' and '.join(changed)}. Generate runs the form as it is now; "
        "the grid below is still the run it was opened from."
    )
    back.button(
        "Back to this run's settings",
        key="reset_form",
        on_click=load_form,
        args=(opened, ctx.catalog, ctx.env),
        width="stretch",
    )

run_id = st.query_params.get("run")
if run_id:
    view = live_run(ctx.store, run_id, ctx.runner.unsaved, ctx.runner.where)
    if view is not None:
        with st.container():  # always there (see above): it fills once images are in
            reroll_picker(ctx.runner, view)
        if view.complete and view.failures:
            follow, again = view.retry_plan()
            if follow:
                st.caption(
                    f"{follow} of them still have a paid job at the router: retry "
                    "follows it, it does not buy the image again."
                )
            if again:
                st.warning(
                    f"{again} of them were already billed without an image: retrying "
                    "them pays again.",
                    icon="💲",
                )
            if st.button(f"Retry failed cells ({view.failures})", key="retry"):
                ctx.runner.retry_failed(run_id)
                st.rerun()
        progress(ctx.store, view)
        team_panel(ctx.store, run_id)
        saw_named(ctx.store, run_id)
        run_downloads(ctx.store, run_id)
