"""Helpers for the adapter tests that go through the runner: one model, one run, to the end."""

from __future__ import annotations

from collections.abc import Sequence

from vibegen.catalog import Catalog
from vibegen.params import CommonParams
from vibegen.runner import Runner


def with_deadline(catalog: Catalog, model_key: str, deadline_s: float) -> Catalog:
    """A copy of `catalog` in which one model has a (short) per-model deadline."""
    models = [
        m.model_copy(update={"deadline_s": deadline_s}) if m.key == model_key else m
        for m in catalog.models
    ]
    return catalog.model_copy(update={"models": models})


def finish_run(
    runner: Runner, prompt: str, models: Sequence[str], params: CommonParams, timeout: float = 10
) -> str:
    """Start a run, wait until every cell is done, close the runner; return the run id."""
    try:
        run_id = runner.start_run(prompt, list(models), params)
        assert runner.wait(run_id, timeout), f"run not finished in {timeout} s"
    finally:
        runner.close()
    return run_id
