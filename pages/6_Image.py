"""Image: one generated image at full size."""

import streamlit as st

from vibegen.images import strip_metadata
from vibegen.raters import image_ref
from vibegen.share import run_url
from vibegen.ui.access import is_owner
from vibegen.ui.grid import cost_text
from vibegen.ui.review import saw_named
from vibegen.ui.runtime import frame
from vibegen.ui.share import base_url

ctx = frame("Image")
gen_id = st.query_params.get("gen", "")
token = st.query_params.get("link", "")
cell = None
if token:
    # Through a review link the image is named by an opaque reference, never by its id, and a
    # blind link's image stays blind whatever else the address says.
    team = ctx.store.team
    link = team.link(token)
    brief = team.brief(token) if link is None else None
    ref = st.query_params.get("img", "")
    runs: list[str] = []
    if link is not None and link.open:
        runs = [link.run_id]
    elif brief is not None and brief.open:  # a brief's link names images of all its runs
        runs = ctx.store.runs_of_prompt_set(brief.prompt_set_id)
    cells = (c for view in ctx.store.runs_bulk(runs) for c in view.cells)
    cell = next((c for c in cells if image_ref(token, c.id) == ref), None)
    blind = True
elif gen_id:
    # Anyone but the owner of a networked server sees the image alone: a reviewer reaches this
    # page from a review grid, and nothing here may name the model, its price or its time.
    blind = st.query_params.get("blind") == "1" or not is_owner(ctx)
    cell = ctx.store.generation(gen_id)
else:
    st.info("Open an image from a run's grid: click any image to see it here at full size.")
    st.stop()
data = ctx.store.image(cell.id) if cell else None
if cell is None or data is None:
    st.error("No image here: the link is incomplete, closed, or the image does not exist.")
    st.stop()
if blind:
    st.image(strip_metadata(data), output_format="PNG")
else:
    saw_named(ctx.store, cell.run_id)
    st.subheader(cell.label)
    st.image(data, output_format="PNG" if data[:4] == b"\x89PNG" else "JPEG")
    st.caption(
        f"{cell.width}×{cell.height} · ⏱️ {cell.wall_s:.1f} s · {cost_text(cell)}"
        + (f" · seed {cell.seed}" if cell.seed else "")
    )
    st.markdown(f"[Back to the run]({run_url(base_url(), cell.run_id)})")
