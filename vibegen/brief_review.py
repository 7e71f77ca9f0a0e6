"""A brief reviewed through one link: its runs as steps, prompt by prompt, and what is done.

A brief link opens every run of the brief, looked up when it is opened, so a brief run again
brings its new runs in. The steps follow the brief's prompt order; a prompt run more than once
has a step per run. Ratings stay per run, as through a run link.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from vibegen.records import RunView


@dataclasses.dataclass(frozen=True)
class Step:
    """One run of the brief, as the reviewer steps through them."""

    run_id: str
    prompt: str
    number: int  # the prompt's place among the brief's prompts that have runs, from 1
    prompts: int  # how many prompts have runs
    run_no: int  # which run of this prompt, from 1 (a brief run again has several)
    runs: int  # how many runs this prompt has

    @property
    def title(self) -> str:
        """'Prompt 2 of 3', with the run when the prompt has several."""
        run = f" · run {self.run_no} of {self.runs}" if self.runs > 1 else ""
        return f"Prompt {self.number} of {self.prompts}{run}"


def brief_steps(prompts: Sequence[str], views: Iterable[RunView]) -> list[Step]:
    """The brief's runs in the brief's prompt order, each prompt's runs oldest first.

    A run whose prompt is not (or no longer) among the brief's comes after the others, so no
    run of the brief is ever out of reach. Prompts without a run yet have no step.
    """
    by_prompt: dict[str, list[RunView]] = {p: [] for p in prompts}
    for view in sorted(views, key=lambda v: (v.created_at, v.id)):
        by_prompt.setdefault(view.prompt, []).append(view)
    groups = [(p, runs) for p, runs in by_prompt.items() if runs]
    return [
        Step(view.id, prompt, number, len(groups), run_no, len(runs))
        for number, (prompt, runs) in enumerate(groups, 1)
        for run_no, view in enumerate(runs, 1)
    ]


def rated_images(ratings: Iterable[dict]) -> set[str]:
    """The images a rater's current ratings touch (a grid rating names one, a pair vote two)."""
    seen: set[str] = set()
    for row in ratings:
        seen |= {row["generation_id"], row.get("other_generation_id")} - {None}
    return seen


def run_finished(view: RunView, rated: set[str]) -> bool:
    """Whether a rater is done with a run: it is complete and every image of it is rated."""
    images = {c.id for c in view.cells if c.ok}
    return view.complete and bool(images) and images <= rated


def prompts_finished(
    steps: Sequence[Step], views: dict[str, RunView], ratings: Iterable[dict]
) -> set[int]:
    """The numbers of the prompts whose every run this rater has finished."""
    by_run: dict[str, list[dict]] = {}
    for row in ratings:
        by_run.setdefault(row["run_id"], []).append(row)
    done: dict[int, bool] = {}
    for step in steps:
        view = views.get(step.run_id)
        ok = view is not None and run_finished(view, rated_images(by_run.get(step.run_id, [])))
        done[step.number] = done.get(step.number, True) and ok
    return {n for n, ok in done.items() if ok}


def first_unfinished(steps: Sequence[Step], finished: set[int]) -> int:
    """Where a reviewer opening the link starts: the first step of a prompt not yet finished."""
    return next((i for i, s in enumerate(steps) if s.number not in finished), 0)
