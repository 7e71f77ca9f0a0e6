"""Share links for runs: the run id is the capability, so links carry nothing else secret."""

from __future__ import annotations

from vibegen.store import check_run_id


def review_path(run_id: str, blind: bool = False) -> str:
    """The path of a run's review page, relative to the app's root."""
    check_run_id(run_id)
    return f"/Review?run={run_id}" + ("&blind=1" if blind else "")


def run_path(run_id: str) -> str:
    """The path of a run on the Generate page."""
    check_run_id(run_id)
    return f"/?run={run_id}"
