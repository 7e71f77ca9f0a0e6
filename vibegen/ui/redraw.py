"""Redrawing named fragments from inside another fragment's run: only what changed.

Streamlit reruns a fragment on its own timer or on a widget inside it, and `st.rerun(key)`
reruns named fragments only from a widget callback. The live grid's poll (one small
fragment) must redraw just the cells that changed, so it queues their reruns the way
Streamlit's own `st.rerun(key)` does: a fragment-only rerun request that waits for the
current run to finish (it never cuts one short), then redraws those fragments' blocks alone,
leaving every other element in the browser as it is.

`first_then` is the other half of drawing a polled fragment: the page's own run draws what
the page just read, and only the fragment's own reruns read again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def first_then(first: T, read: Callable[[], T]) -> Callable[[], T]:
    """A polled fragment's reader: `first` once (what the page's run just read), then `read()`.

    Read twice in the page's run, a run that finished in between would make the fragment call
    `st.rerun()` inside the run a click started, and drop what the click said (a brief saved,
    a run refused).
    """
    unread = [first]
    return lambda: unread.pop() if unread else read()


def redraw(keys: Sequence[str]) -> bool:
    """Queue reruns of the fragments keyed `keys` after this run; False when it cannot (no
    script run, a key not drawn yet, or a Streamlit without this request path)."""
    if not keys:
        return True
    try:
        # Streamlit's runtime, not its public API: the same request `st.rerun(key)` makes
        # from a callback. Any change there lands in the except below, and the caller
        # falls back to a full redraw: slower, never wrong.
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

        ctx = get_script_run_ctx()
        if ctx is None or ctx.script_requests is None:
            return False
        ids = ctx.fragment_storage.resolve_target(list(keys))
        return bool(
            ctx.script_requests.request_rerun(
                RerunData(
                    query_string=ctx.query_string,
                    page_script_hash=ctx.page_script_hash,
                    fragment_id_queue=ids,
                    cached_message_hashes=ctx.cached_message_hashes,
                    context_info=ctx.context_info,
                )
            )
        )
    except Exception:  # noqa: BLE001 - an unknown key or another Streamlit: redraw it all
        log.debug("cannot queue fragment reruns for %s", keys, exc_info=True)
        return False
