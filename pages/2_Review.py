"""Review: rate a run's images through its review link (or a brief's), optionally blind."""

import streamlit as st

from vibegen import raters
from vibegen.errors import RunNotFoundError
from vibegen.markup import escape_markdown
from vibegen.ratings import GRID_MODES
from vibegen.review import reviewable
from vibegen.ui.access import is_owner
from vibegen.ui.brief_review import brief_step
from vibegen.ui.review import (
    PAIR_TAB,
    TABS_KEY,
    Seat,
    grid_review,
    guard_unsaved_ratings,
    pairwise_review,
    rater_identity,
    reveal,
    saw_named,
)
from vibegen.ui.runtime import frame

ctx = frame("Review")
team = ctx.store.team
owner = is_owner(ctx)
token = st.query_params.get("link", "")
st.title("Review")
link = None
rater = None
if token:
    link = team.link(token)
    brief = team.brief(token) if link is None else None  # one link for a whole brief
    found = link or brief
    if found is None:
        st.error(
            "This review link does not exist: it may have been copied only in part. Ask "
            "the person who sent it for the link again."
        )
        st.stop()
    if not found.open:
        st.warning(
            f"This review link has been closed by the {'run' if link else 'brief'}'s owner: "
            "ratings through it are no longer taken. Thank you for looking."
        )
        st.stop()
    if brief is not None:
        # A brief link is a team link: the rater is known before the brief's progress is.
        rater = rater_identity(ctx.store, None, owner)
        link = brief_step(ctx.store, brief, rater)
    assert link is not None  # a run link, or the brief's link at the run on screen
    run_id, blind_link = link.run_id, link.blind
elif st.query_params.get("run"):
    # A run id alone is the owner's way in (History, the run page); a reviewer needs a link.
    if not owner:
        st.error(
            "This page needs a review link: ask the run's owner for one. A run id alone "
            "does not open a review."
        )
        st.stop()
    run_id, blind_link = st.query_params["run"], st.query_params.get("blind") == "1"
else:
    st.info(
        "Open a review link you were sent (it looks like …/Review?link=…), or pick a run "
        "on the History page."
    )
    st.stop()
try:
    view = ctx.store.run_view(run_id)
except RunNotFoundError as exc:
    st.error(f"{exc}. Ask for the link again, or open a run from the History page.")
    st.stop()

rater = rater or rater_identity(ctx.store, link, owner)
guard_unsaved_ratings()
revealed = team.sees_names(rater.id, run_id)
blind = blind_link and not revealed
if not blind:
    saw_named(ctx.store, run_id)
blind_note = (
    (" · blind review: names, prices and times are hidden and the order is shuffled for you")
    if blind
    else ""
)
# The prompt and who is rating share one row, so a pair and its vote buttons fit one screen.
head = st.container(horizontal=True, vertical_alignment="center", gap="medium")
head.text(view.prompt)  # shown literally: a prompt is untrusted text
head.caption(f"Rating as {escape_markdown(rater.display)}{blind_note}")
standing = team.standing(rater, run_id)
if standing.held:
    st.caption(
        "Your ratings are saved. They count on the team's leaderboard once the run's "
        "owner has accepted you."
    )
if not reviewable(view.cells) and view.complete:
    st.info("This run has no finished images to rate.")
    st.stop()

seat = Seat(run_id, rater, blind, link)
# The tabs report which is open (a switch reruns the page) so the vote keys are live only
# where the pair is in view: a key pressed on the grid must not vote on a pair not seen.
grid_tab, pair_tab = st.tabs(
    [f"Grid: {', '.join(m.value for m in GRID_MODES)}", PAIR_TAB],
    key=TABS_KEY,
    on_change="rerun",
)
with grid_tab:
    grid_review(ctx.store, seat)
with pair_tab:
    pairwise_review(ctx.store, seat, keys=bool(pair_tab.open))

if blind:
    if st.button("I'm done: reveal the models", key="reveal"):
        team.record(rater.id, raters.REVEAL, run_id)
        st.rerun()
elif blind_link:
    reveal(view, rater)
