"""The image viewer: one cell of a run large, inside the page, stepping through the run.

Clicking a cell's image (or its View button) opens a Streamlit dialog with the original image,
what made it and a download; ← and → (keys or buttons) step through the run's images, Esc
closes. Blind, it shows the image alone: no model, router, time, cost, seed or parameters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import streamlit as st

from vibegen.compare import BLIND_SIDE, router_text, time_text
from vibegen.images import square
from vibegen.markup import escape_markdown
from vibegen.records import Cell
from vibegen.ui.compare import compare_dialog, compare_with

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store

_AT = "viewer_at"  # session state: the index (in the grid's cells) the viewer shows
_OPEN = "viewer_open"  # set by a View click, cleared when the viewer is dismissed (Esc, ×)
IMAGE_KEY = "viewer-image"

# A click on a grid image clicks its cell's View button, so the picture itself opens the
# viewer (st.image has no click event). The dialog closes on Esc by itself only with the focus
# inside it, and a click leaves the focus on the page: then Esc presses its close button.
# Installed once per page.
_CLICK_TO_VIEW = """<script>
(() => {
  if (window.vibegenClickToView) return;
  window.vibegenClickToView = true;
  document.addEventListener("click", (e) => {
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    const img = e.target.closest("[data-testid=stGridCell] [data-testid=stImage]");
    const cell = img && img.closest("[data-testid=stGridCell]");
    const view = cell && cell.querySelector("[class*='st-key-view-'] button");
    if (view) { e.preventDefault(); view.click(); }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const d = document.querySelector("[role=dialog]");
    const close = d && !d.contains(document.activeElement)
      && d.querySelector("button[aria-label=Close]");
    if (close) close.click();
  });
})();
</script>"""


def _open(index: int, rerun: str | None = None) -> None:
    st.session_state[_AT] = index
    st.session_state[_OPEN] = True
    if rerun:
        st.rerun(rerun)  # the fragment that draws the viewer, when the button is not in it


def _close() -> None:
    st.session_state[_OPEN] = False


def view_button(index: int, rerun: str | None = None) -> None:
    """The cell's View button; `index` is the cell's place in the cells the grid shows;
    `rerun`: the key of the fragment that draws the viewer, when the button sits in another."""
    # Keyed by place, not by generation id: a blind page must carry nothing that names a cell.
    st.button("⤢ View", key=f"view-{index}", type="tertiary", on_click=_open, args=(index, rerun))


def _step(cells: Sequence[Cell], by: int) -> None:
    at = st.session_state.get(_AT, 0)
    for _ in range(len(cells)):  # to the next cell that has an image, wrapping round
        at = (at + by) % len(cells)
        if cells[at].ok:
            break
    st.session_state[_AT] = at


def _fields(cell: Cell) -> None:
    st.subheader(cell.label + (" · sandbox (simulated)" if cell.simulated else ""))
    rows = {
        "Model": f"{cell.label} ({cell.model_key})",
        "Router": router_text(cell),
        "Time": time_text(cell),
        "Cost": cell.cost.describe(),
        "Cost from": cell.cost.provenance() or "no provenance recorded",
        "Seed": cell.seed or "not reported",
        "Size": f"{cell.width}×{cell.height}" if cell.width and cell.height else "unknown",
    }
    st.markdown("\n".join(f"- **{k}:** {escape_markdown(v)}" for k, v in rows.items()))
    if cell.params:
        st.caption("Parameters")
        st.code(json.dumps(cell.params, indent=1, sort_keys=True, default=str), language="json")
    if cell.notes:
        st.caption("Not honoured: " + ", ".join(f"{k}: {v}" for k, v in cell.notes.items()))
    st.caption("Prompt")
    st.text(cell.prompt)  # literal: a prompt is untrusted text, never Markdown or HTML


def _body(store: Store, cells: Sequence[Cell], blind: bool) -> None:
    shown = [i for i, c in enumerate(cells) if c.ok]
    at = st.session_state.get(_AT, 0)
    if not shown:
        st.info("No image in this run yet.")
        return
    if at not in shown:
        at = shown[0]
        st.session_state[_AT] = at
    cell = cells[at]
    data = store.image(cell.id)
    if data is None:
        st.error("This image is no longer stored.")
        return
    if blind:
        # Squared as in the blind grid (an aspect ratio a model always uses would name it),
        # which also leaves behind the original's metadata.
        data = square(data, side=BLIND_SIDE)
    png = data[:4] == b"\x89PNG"
    number = shown.index(at) + 1
    back, place, down, forward = st.columns([1, 2, 1, 1], vertical_alignment="center")
    back.button("← Previous", key="viewer-prev", shortcut="Left", on_click=_step, args=(cells, -1))
    place.markdown(f"Image {number} of {len(shown)}")
    name = f"image-{number}" if blind else f"{cell.position + 1:02d}-{cell.model_key}"
    down.download_button(
        "Download",
        data,
        file_name=name.replace(":", "-") + (".png" if png else ".jpg"),
        mime="image/png" if png else "image/jpeg",
        key="viewer-download",
        on_click="ignore",
        icon="⬇️",
    )
    forward.button("Next →", key="viewer-next", shortcut="Right", on_click=_step, args=(cells, 1))
    compare_with(cells, at, blind, then=_close)
    # The picture fills its column but never the screen's height: a tall image stays in view.
    st.html(f"<style>.st-key-{IMAGE_KEY} img {{max-height: 72vh; object-fit: contain;}}</style>")
    picture, about = st.columns([3, 1]) if not blind else (st.container(), None)
    with picture, st.container(key=IMAGE_KEY):
        st.image(
            data,
            output_format="PNG" if png else "JPEG",
            width="stretch",
            alt=f"image {number}" if blind else f"{cell.label} image",
        )
    if about is not None:
        with about:
            _fields(cell)


def viewer(store: Store, cells: Sequence[Cell], blind: bool = False) -> None:
    """Open the viewer on the cell whose View was just clicked; install click-to-view.

    Call it after the grid, with the cells the grid showed, in its order.
    """
    st.html(_CLICK_TO_VIEW, unsafe_allow_javascript=True)
    # Open until dismissed: a full rerun meanwhile (the run completing, a click elsewhere)
    # draws it again where it was.
    if compare_dialog(store, cells, blind):  # one dialog at a time: Compare took the viewer's place
        return
    if st.session_state.get(_OPEN):
        st.dialog("Image", width="large", on_dismiss=_close)(_body)(store, list(cells), blind)
