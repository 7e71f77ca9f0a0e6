"""Compare two, in the page: "Compare with…" under the viewer's image, and the compare dialog.

The view itself (side by side, synced zoom and pan, overlay slider) is built by
vibegen/compare.py; this module only offers the choice and draws it in a dialog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import streamlit as st

from vibegen.compare import box, choice_label, choices, compare_html, pick, sides
from vibegen.errors import InputError
from vibegen.records import Cell

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.store import Store

_PAIR = "compare_pair"  # session state: the places (in the cells shown) of A and B, when open
_WITH = "compare_with"  # the "Compare with" choice
WIDTH = 1320  # px: at 1440 wide, two panes of about 630 px; a narrower window caps it


def _open(at: int, cells: Sequence[Cell], then: Callable[[], None]) -> None:
    others = choices(cells, at)
    chosen = st.session_state.get(_WITH)
    st.session_state[_PAIR] = (at, chosen if chosen in others else others[0])
    then()  # the viewer steps aside: one dialog at a time


def _close() -> None:
    st.session_state.pop(_PAIR, None)


def _swap() -> None:
    a, b = st.session_state[_PAIR]
    st.session_state[_PAIR] = (b, a)


def compare_with(cells: Sequence[Cell], at: int, blind: bool, then: Callable[[], None]) -> None:
    """Choose a second image of the run and open the two side by side (`then` closes the
    viewer)."""
    if _PAIR in st.session_state:
        # Compare was just clicked: a click in a dialog reruns only the dialog, so rerun the
        # page to draw the compare dialog in the viewer's place.
        st.rerun()
    others = choices(cells, at)
    if not others:
        return
    which, go = st.columns([3, 1], vertical_alignment="bottom")
    # Offered by place, never by id: a blind page must carry nothing that names a cell.
    which.selectbox(
        "Compare with",
        others,
        key=_WITH,
        format_func=lambda i: choice_label(cells, i, blind),
    )
    go.button(
        "Compare ⇆",
        key="viewer-compare",
        width="stretch",
        on_click=_open,
        args=(at, list(cells), then),
        help="This image (A) and the chosen one (B) side by side, zoom and pan together, "
        "or stacked with a slider.",
    )


def _body(store: Store, cells: Sequence[Cell], blind: bool) -> None:
    a, b = st.session_state[_PAIR]
    try:
        first, second = pick(cells, a, b)
    except InputError as exc:
        st.info(str(exc))
        return
    a_data, b_data = store.image(first.id), store.image(second.id)
    if a_data is None or b_data is None:
        st.error("One of these images is no longer stored.")
        return
    pair = sides(first, a_data, second, b_data, blind)
    st.html(compare_html(pair, box(first, second, blind)), unsafe_allow_javascript=True)
    st.button("⇄ Swap A and B", key="compare-swap", type="tertiary", on_click=_swap)


def compare_dialog(store: Store, cells: Sequence[Cell], blind: bool) -> bool:
    """Draw the compare dialog if two images are picked; whether it is open."""
    if _PAIR not in st.session_state:
        return False
    # Open until dismissed (Esc, ×): a rerun meanwhile (the grid refreshing) draws it again.
    st.dialog("Compare two images", width=WIDTH, on_dismiss=_close)(_body)(
        store, list(cells), blind
    )
    return True
