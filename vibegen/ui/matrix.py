"""A brief's runs as one grid: its prompts as rows, the models as columns, filling live."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from vibegen.records import Cell, RunView
from vibegen.share import run_url
from vibegen.ui.grid import POLL_S, thumbnails
from vibegen.ui.redraw import first_then
from vibegen.ui.share import base_url

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store


def model_columns(views: list[RunView]) -> list[tuple[str, str]]:
    """(model key, label) of every model in the runs, in the order they first appear."""
    seen: dict[str, str] = {}
    for view in views:
        for cell in view.cells:
            seen.setdefault(cell.model_key, cell.label)
    return list(seen.items())


def _first_cell(view: RunView, model_key: str) -> Cell | None:
    # One image per prompt and model in the matrix: the run page shows the others.
    return next((c for c in view.cells if c.model_key == model_key), None)


def _draw(store: Store, views: list[RunView]) -> None:
    models = model_columns(views)
    done = sum(v.done for v in views)
    total = sum(len(v.cells) for v in views)
    st.caption(f"{done} of {total} images done across {len(views)} prompts")
    firsts = {(v.id, key): _first_cell(v, key) for v in views for key, _ in models}
    thumbs = thumbnails(store, [c.id for c in firsts.values() if c is not None and c.ok])
    widths = [2] + [3] * len(models)
    # wrap=False: on a narrow window the rows stay rows (a matrix that wraps is no matrix).
    head = st.columns(widths, wrap=False)
    head[0].markdown("**Prompt**")
    for col, (_, label) in zip(head[1:], models, strict=True):
        col.markdown(f"**{label}**")
    base = base_url()
    for view in views:
        row = st.columns(widths, wrap=False)
        with row[0]:
            st.text(view.prompt)  # literal: a prompt is untrusted text, never Markdown
            st.caption(f"[open the run]({run_url(base, view.id)})")
        for col, (key, label) in zip(row[1:], models, strict=True):
            cell = firsts[(view.id, key)]
            with col:
                if cell is None:
                    st.caption("not in this run")
                elif cell.ok and cell.id in thumbs:
                    st.image(thumbs[cell.id], width="stretch", alt=f"{label} image")
                elif cell.finished:
                    st.caption(f"failed: {cell.error_message or cell.status}")
                else:
                    st.caption(f"{cell.status}…")


def brief_matrix(store: Store, run_ids: list[str]) -> None:
    """The brief's runs as one grid, refreshed from the store until every cell is finished."""
    if not run_ids:
        return
    first = [store.run_view(r) for r in run_ids]

    views_now = first_then(first, lambda: [store.run_view(r) for r in run_ids])

    @st.fragment(run_every=None if all(v.complete for v in first) else POLL_S * 2)
    def _live() -> None:
        views = views_now()
        _draw(store, views)
        if all(v.complete for v in views) and not all(v.complete for v in first):
            st.rerun()  # a full rerun re-declares the fragment without run_every

    _live()
