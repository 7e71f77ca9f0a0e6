"""One review link for a whole brief: its steps, and the Review page opened through it (AppTest).

The page's ratings are the run link's, so these tests check what is new: the brief's prompts
one at a time, where a vote goes, a closed link, blind pages, and a brief run again.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vibegen.brief_review import brief_steps, first_unfinished, prompts_finished
from vibegen.params import CommonParams
from vibegen.records import RunView
from vibegen.runner import Runner
from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["sandbox:prism", "sandbox:halo"]
NAMES = ["Prism", "Halo", "sandbox", "Sandbox"]
PROMPTS = ["a fox in the snow", "a lighthouse at dusk", "a teapot, woodcut"]


# --------------------------------------------------------------------- the steps
def _view(run_id: str, prompt: str, minute: int) -> RunView:
    return RunView(run_id, dt.datetime(2026, 12, 2, 10, minute, tzinfo=dt.UTC), prompt, {})


def test_steps_follow_the_brief_and_a_brief_run_again_adds_runs_to_its_prompts():
    views = [
        _view("c" * 32, "b", 1),
        _view("a" * 32, "a", 2),
        _view("d" * 32, "a", 9),  # the brief run again: prompt a's second run
        _view("e" * 32, "gone", 3),  # a prompt no longer in the brief is still reachable
    ]
    steps = brief_steps(["a", "b", "never run"], views)
    assert [(s.run_id[0], s.title) for s in steps] == [
        ("a", "Prompt 1 of 3 · run 1 of 2"),
        ("d", "Prompt 1 of 3 · run 2 of 2"),
        ("c", "Prompt 2 of 3"),
        ("e", "Prompt 3 of 3"),
    ]
    assert brief_steps(["a"], []) == []


def test_a_prompt_is_rated_when_every_image_of_every_run_of_it_is(store, fast_sandbox):
    set_id, runs = _brief(store, prompts=PROMPTS[:2])
    views = {v.id: v for v in store.runs_bulk(runs)}
    steps = brief_steps(PROMPTS[:2], views.values())
    first, second = (views[r].cells for r in runs)
    rows = [
        {"run_id": runs[0], "generation_id": first[0].id, "other_generation_id": None},
        {"run_id": runs[1], "generation_id": second[0].id, "other_generation_id": second[1].id},
    ]
    assert prompts_finished(steps, views, rows) == {2}  # a pair vote rates both its images
    assert first_unfinished(steps, {2}) == 0 and first_unfinished(steps, {1}) == 1
    rows.append({"run_id": runs[0], "generation_id": first[1].id, "other_generation_id": None})
    assert prompts_finished(steps, views, rows) == {1, 2}


# ---------------------------------------------------------------------- the page
def _brief(store, prompts=PROMPTS, models=MODELS) -> tuple[str, list[str]]:
    """A brief run on the sandbox models, finished; its id and runs in prompt order."""
    set_id = store.save_prompt_set("Spring posters", prompts)
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        runs = runner.start_prompt_set(set_id, models, CommonParams())
        assert all(runner.wait(r, 30) for r in runs)
    finally:
        runner.close()
    return set_id, runs


@pytest.fixture
def brief(store, fast_sandbox) -> tuple[str, list[str]]:
    """A three-prompt brief run on two sandbox models."""
    return _brief(store)


def _through(token: str, rater_id: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "2_Review.py"), default_timeout=30)
    at.query_params["link"] = token
    if rater_id:
        at.session_state["rater_id"] = rater_id
    return at.run()


def _start(at: AppTest, name: str) -> AppTest:
    at.text_input(key="rater_input").input(name)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.text] + [e.label for e in at.button]
    parts += list(at.selectbox(key="brief_jump").options)
    return "\n".join(parts)


def _dump(node) -> str:
    """Every element's protobuf text, recursively: what the browser receives."""
    parts = [str(getattr(node, "proto", "") or "")]
    for child in getattr(node, "children", {}).values():
        parts.append(_dump(child))
    return "\n".join(parts)


def _prompt_shown(at: AppTest) -> str:
    return next(t.value for t in at.text if t.value in PROMPTS)


def test_a_brief_link_steps_through_its_prompts_and_votes_go_to_each_run(networked, brief, store):
    set_id, runs = brief
    link = store.team.brief_link(set_id, blind=False)
    at = _start(_through(link.token), "Ana")
    text = _texts(at)
    assert "Brief: Spring posters" in text and "Prompt 1 of 3" in text
    assert "0 of 3 prompts rated" in text and _prompt_shown(at) == PROMPTS[0]
    assert at.button(key="brief_prev").disabled and not at.button(key="brief_next").disabled
    first = store.run_view(runs[0]).cells
    at.get("feedback")[0].set_value(3).run()
    at.get("feedback")[1].set_value(1).run()
    assert {(r["generation_id"], r["value"]) for r in store.current_ratings(runs[0])} == {
        (first[0].id, "4"),
        (first[1].id, "2"),
    }

    at.button(key="brief_next").click().run()
    assert _prompt_shown(at) == PROMPTS[1] and "Prompt 2 of 3" in _texts(at)
    assert "1 of 3 prompts rated" in _texts(at)  # every image of the first prompt rated
    assert "✓ Prompt 1 of 3: a fox in the snow" in at.selectbox(key="brief_jump").options
    at.button(key="vote:a").click().run()
    (vote,) = store.current_ratings(runs[1])
    second = {c.id for c in store.run_view(runs[1]).cells}
    assert {vote["generation_id"], vote["other_generation_id"]} == second
    assert vote["rater"] == "Ana" and not vote["blind"]
    assert len(store.current_ratings(runs[0])) == 2  # the first prompt's ratings untouched

    at.selectbox(key="brief_jump").select_index(2).run()
    assert _prompt_shown(at) == PROMPTS[2] and at.button(key="brief_next").disabled
    assert store.current_ratings(runs[2]) == []
    at.button(key="brief_prev").click().run()
    assert _prompt_shown(at) == PROMPTS[1]
    # Opened again (a new session of the same rater), the link starts at the first prompt
    # not finished, and what was rated is said.
    again = _through(link.token, vote["rater_id"])
    assert _prompt_shown(again) == PROMPTS[2] and "2 of 3 prompts rated" in _texts(again)
    # A vote changed through the brief's link replaces the earlier one, as through a run link.
    again.button(key="brief_prev").click().run()
    again.button(key="undo_pair").click().run()
    again.button(key="vote:b").click().run()
    (changed,) = store.current_ratings(runs[1])
    assert changed["value"] == "b" and changed["rater_id"] == vote["rater_id"]


def test_the_same_person_is_one_rater_on_every_run_of_the_brief(networked, brief, store):
    set_id, runs = brief
    link = store.team.brief_link(set_id, blind=False)
    at = _start(_through(link.token), "Dana")
    at.button(key="vote:tie").click().run()
    at.button(key="brief_next").click().run()
    at.button(key="vote:tie").click().run()
    raters = {r["rater_id"] for run in runs[:2] for r in store.current_ratings(run)}
    assert len(raters) == 1
    who = store.team.rater(raters.pop())
    assert who.display == "Dana" and store.team.standing(who, runs[0]).held  # joined: held
    assert any("once the run's owner has accepted you" in c.value for c in at.caption)


def test_a_closed_brief_link_is_refused_like_a_run_link(networked, brief, store):
    set_id, _ = brief
    link = store.team.brief_link(set_id, blind=False)
    store.team.set_link_open(link.token, False)
    at = _through(link.token)
    assert any("closed by the brief's owner" in w.value for w in at.warning)
    assert len(at.image) == 0 and len(at.text_input) == 0
    store.team.set_link_open(link.token, True)
    assert at.run().text_input(key="rater_input") is not None


def test_a_blind_brief_link_names_no_run_image_or_model(networked, brief, store):
    from vibegen.raters import image_ref

    set_id, runs = brief
    link = store.team.brief_link(set_id, blind=True)
    at = _start(_through(link.token), "Bo")
    ids = list(runs) + [c.id for r in runs for c in store.run_view(r).cells]
    for step in range(3):
        page = _dump(at._tree)
        assert [i for i in ids if i in page] == [], step
        assert not [n for n in NAMES if n in page], step
        assert "blind review" in _texts(at)
        links = [i.proto.link for i in at.image if i.proto.link]
        refs = {image_ref(link.token, c.id) for c in store.run_view(runs[step]).cells}
        assert {x.rsplit("img=", 1)[1] for x in links} == refs
        at.get("feedback")[0].set_value(4).run()
        if step < 2:
            at.button(key="brief_next").click().run()
    rows = [r for run in runs for r in store.current_ratings(run)]
    assert len(rows) == 3 and all(r["blind"] and r["value"] == "5" for r in rows)

    # The blind image page opens the brief's images by reference, on any of its runs.
    cell = store.run_view(runs[2]).cells[0]
    img = AppTest.from_file(str(ROOT / "pages" / "6_Image.py"), default_timeout=30)
    img.query_params["link"] = link.token
    img.query_params["img"] = image_ref(link.token, cell.id)
    img.run()
    assert not img.exception and len(img.image) == 1 and not img.error
    assert not [n for n in NAMES if n in _dump(img._tree)]


def test_a_brief_run_again_brings_its_new_runs_into_the_same_link(networked, brief, store):
    set_id, runs = brief
    link = store.team.brief_link(set_id, blind=False)
    at = _start(_through(link.token), "Cy")
    assert len(at.selectbox(key="brief_jump").options) == 3
    _, more = _brief_again(store, set_id)
    at.run()
    options = at.selectbox(key="brief_jump").options
    assert len(options) == 6 and "Prompt 1 of 3 · run 2 of 2: a fox in the snow" in options
    at.selectbox(key="brief_jump").select_index(1).run()
    at.button(key="vote:b").click().run()
    assert len(store.current_ratings(more[0])) == 1 and store.current_ratings(runs[0]) == []
    assert store.team.brief_link(set_id, blind=False) == link


def _brief_again(store, set_id: str) -> tuple[str, list[str]]:
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        more = runner.start_prompt_set(set_id, ["sandbox:mosaic", "sandbox:tide"], CommonParams())
        assert all(runner.wait(r, 30) for r in more)
    finally:
        runner.close()
    return set_id, more


def test_a_brief_not_run_yet_says_so(networked, store):
    set_id = store.save_prompt_set("Later", ["a kite"])
    link = store.team.brief_link(set_id, blind=False)
    at = _start(_through(link.token), "Eve")
    assert any("has not been run yet" in i.value for i in at.info) and not at.exception


def test_the_briefs_page_shows_the_brief_link_to_copy(brief, store):
    set_id, _ = brief
    at = AppTest.from_file(str(ROOT / "pages" / "3_Briefs.py"), default_timeout=30)
    at.context = {"url": "http://127.0.0.1:8611/vg/Briefs"}
    at.run()
    assert not at.exception
    assert any(s.value == "Review link for this brief" for s in at.subheader)
    named, blind = (store.team.brief_link(set_id, blind=b).token for b in (False, True))
    codes = [c.value for c in at.code]
    assert codes[:2] == [
        f"http://127.0.0.1:8611/vg/Review?link={named}",
        f"http://127.0.0.1:8611/vg/Review?link={blind}",
    ]
    at.button(key=f"brief_link:{named[:12]}").click().run()
    assert not store.team.brief(named).open and store.team.brief(blind).open
    assert any("closed: reopen it below" in c.value for c in at.caption)
    at.button(key=f"brief_link:{named[:12]}").click().run()
    assert store.team.brief(named).open
