"""The team's rows on SQLite and PostgreSQL: links, identities, events, whose votes count.

The ballot-stuffing script is here: 1,000 identities made through one team link, each voting
for the most expensive model, must not move the leaderboard's default view.
"""

from __future__ import annotations

import sqlalchemy as sa

from vibegen import raters as R
from vibegen.leaderboard import build_leaderboard
from vibegen.migrations import MIGRATIONS
from vibegen.ratings import make_rating
from vibegen.records import CellSpec, new_id
from vibegen.store import Store

MODELS = [
    ("sandbox:prism", "Prism", 0.004),
    ("sandbox:halo", "Halo", 0.012),
    ("sandbox:tide", "Tide", 0.05),
]


def _run(store: Store, n_per_model: int = 2) -> str:
    """A finished run with `n_per_model` images of each model, made through the store."""
    from vibegen.costs import Cost

    specs = [
        CellSpec(
            model_key=key,
            router="sandbox",
            label=label,
            image_index=i,
            prompt="a fox",
            params={},
            notes={},
            cost=Cost(usd, "simulated", "sandbox price", "", ""),
        )
        for key, label, usd in MODELS
        for i in range(n_per_model)
    ]
    run_id = store.create_run("a fox", {}, specs)
    for cell in store.run_view(run_id).cells:
        store.save_success(cell.id, _png(), cost=cell.cost, wall_s=1.0)
    return run_id


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def _board(store: Store, **kw) -> dict[str, float]:
    lb = build_leaderboard(
        store.generations_frame(), store.ratings_frame(), include_sandbox=True, **kw
    )
    return dict(zip(lb.table["label"], lb.table["score"].round(6), strict=True))


def _cells(store: Store, run_id: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in store.run_view(run_id).cells:
        out.setdefault(c.label, []).append(c)
    return out


def test_a_team_link_is_a_token_and_an_invite_is_its_teammate(any_store):
    run_id = _run(any_store)
    team = any_store.team
    link = team.team_link(run_id, blind=False)
    assert R.is_token(link.token) and run_id not in link.token
    assert team.team_link(run_id, blind=False) == link  # made once, then found
    blind = team.team_link(run_id, blind=True)
    assert blind.token != link.token and blind.blind
    invite = team.create_link(run_id, blind=False, invite="Dana")
    dana = team.rater(invite.rater_id)
    assert dana.display == "Dana" and dana.origin == R.INVITED
    assert team.rater_by_secret(invite.token) == dana  # the invite is Dana's identity
    assert team.link("not a token") is None and team.link(R.new_token()) is None
    team.set_link_open(link.token, False)
    assert not team.link(link.token).open
    team.set_link_open(link.token, True)
    assert team.link(link.token).open
    assert [x.token for x in team.links(run_id)] == [link.token, blind.token, invite.token]


def test_the_same_name_in_another_browser_is_another_rater(any_store):
    run_id = _run(any_store)
    team = any_store.team
    dana = team.rater(team.create_link(run_id, blind=False, invite="Dana").rater_id)
    cells = _cells(any_store, run_id)
    any_store.rate(
        run_id,
        dana.display,
        make_rating("stars", cells["Prism"][0].id, 5),
        blind=False,
        rater_id=dana.id,
    )
    fake, secret = team.join("Dana", R.JOINED)
    look, _ = team.join("Dаna", R.JOINED)  # Cyrillic а
    assert (fake.display, look.display) == ("Dana (2)", "Dаna (3)")
    assert team.rater_by_secret(secret) == fake and fake.id != dana.id
    # The second "Dana" rates the same image: Dana's own rating is untouched.
    any_store.rate(
        run_id,
        fake.display,
        make_rating("stars", cells["Prism"][0].id, 1),
        blind=False,
        rater_id=fake.id,
    )
    mine = any_store.current_ratings(run_id, rater_id=dana.id)
    assert [(r["rater"], r["value"]) for r in mine] == [("Dana", "5")]
    people = {p["rater"].display: p for p in team.raters_of_run(run_id)}
    assert people["Dana (2)"]["rater"].looks_like == "Dana"
    assert people["Dana"]["rater"].looks_like is None and people["Dana"]["invited"]
    assert people["Dana (2)"]["standing"].held and people["Dana"]["standing"].counts
    assert (people["Dana"]["images"], people["Dana"]["ratings"]) == (1, 1)


def test_one_thousand_made_up_raters_cannot_move_the_default_board(any_store):
    """The reported attack: a script joins one team link 1,000 times and votes Tide up."""
    run_id = _run(any_store)
    team = any_store.team
    cells = _cells(any_store, run_id)
    # The team's honest view: two invited teammates prefer Prism.
    for name in ("Ana", "Bo"):
        who = team.rater(team.create_link(run_id, blind=True, invite=name).rater_id)
        for image in cells["Prism"]:
            any_store.rate(
                run_id, who.display, make_rating("stars", image.id, 5), blind=True, rater_id=who.id
            )
        for image in cells["Tide"] + cells["Halo"]:
            any_store.rate(
                run_id, who.display, make_rating("stars", image.id, 2), blind=True, rater_id=who.id
            )
    before = _board(any_store)
    assert max(before, key=before.get) == "Prism"

    link = team.team_link(run_id, blind=True)
    assert team.link(link.token).open
    bots = []
    for i in range(1000):  # what each page load of the script did: a name, then votes
        bot, _ = team.join(f"Rater {i}", R.JOINED)
        bots.append(bot)
        any_store.rate(
            run_id,
            bot.display,
            make_rating("best", cells["Tide"][0].id, 1),
            blind=True,
            rater_id=bot.id,
        )
        any_store.rate(
            run_id,
            bot.display,
            make_rating("pair", cells["Tide"][1].id, "a", cells["Prism"][0].id),
            blind=True,
            rater_id=bot.id,
        )
    assert _board(any_store) == before  # the default view did not move
    # The owner sees them, held; and the board with them would be different (so the test can
    # fail): counting them flips it to Tide.
    assert len(team.held()) == 1000
    people = team.raters_of_run(run_id)
    assert sum(p["standing"].held for p in people) == 1000
    with_held = _board(any_store, include_held=True)
    assert max(with_held, key=with_held.get) == "Tide"
    lb = build_leaderboard(
        any_store.generations_frame(), any_store.ratings_frame(), include_sandbox=True
    )
    assert set(lb.table["raters"]) == {2}  # distinct raters behind each model

    # Accepting all is one click (one transaction); dropping them restores the honest view.
    team.record([b.id for b in bots], R.ACCEPT)
    assert max(_board(any_store), key=_board(any_store).get) == "Tide"
    team.record([b.id for b in bots], R.DROP)
    assert _board(any_store) == before and team.held() == []


def test_excluding_a_rater_from_a_run_is_an_event_and_restores(any_store):
    run_id = _run(any_store)
    team = any_store.team
    cells = _cells(any_store, run_id)
    ana = team.rater(team.create_link(run_id, blind=False, invite="Ana").rater_id)
    bo = team.rater(team.create_link(run_id, blind=False, invite="Bo").rater_id)
    for who, best in ((ana, "Prism"), (bo, "Tide")):
        any_store.rate(
            run_id,
            who.display,
            make_rating("best", cells[best][0].id, 1),
            blind=False,
            rater_id=who.id,
        )
    both = _board(any_store)
    team.record(bo.id, R.EXCLUDE, run_id)
    assert team.standing(bo, run_id).excluded
    without_bo = _board(any_store)
    assert without_bo != both and max(without_bo, key=without_bo.get) == "Prism"
    team.record(bo.id, R.RESTORE, run_id)
    assert _board(any_store) == both


def test_reveal_is_stored_per_rater_and_run(any_store):
    run_id, other = _run(any_store), _run(any_store)
    team = any_store.team
    bo, _ = team.join("Bo", R.JOINED)
    ana, _ = team.join("Ana", R.JOINED)
    team.record(bo.id, R.REVEAL, run_id)
    assert team.sees_names(bo.id, run_id)
    assert not team.sees_names(bo.id, other) and not team.sees_names(ana.id, run_id)


def test_old_ratings_get_one_legacy_rater_per_name_and_keep_counting(tmp_path):
    """A database from before identities: migrating keeps every rating with its rater."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    book = sa.Table(
        "vibegen_migrations",
        sa.MetaData(),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    before = [m for m in MIGRATIONS if m[0] < "m006"]
    with engine.begin() as conn:
        book.create(conn)
        import datetime as dt

        for name, fn in before:
            fn(conn)
            conn.execute(book.insert().values(name=name, applied_at=dt.datetime.now(dt.UTC)))
        run_id = new_id()
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, created_at, prompt, params_json, n_cells) "
                "VALUES (:id, CURRENT_TIMESTAMP, 'p', '{}', 0)"
            ),
            {"id": run_id},
        )
        for i, name in enumerate(["Ana", "Bo", "Ana"]):
            conn.execute(
                sa.text(
                    "INSERT INTO ratings (run_id, rater, slot, mode, generation_id, value, blind, "
                    "created_at) VALUES (:r, :n, :s, 'stars', :g, '4', 0, CURRENT_TIMESTAMP)"
                ),
                {"r": run_id, "n": name, "s": f"stars:{i}", "g": f"{i:032x}"},
            )
    store = Store(engine)
    rows = store.current_ratings(run_id)
    assert len(rows) == 3 and all(r["rater_id"] for r in rows)
    by_name = {r["rater"]: r["rater_id"] for r in rows}
    assert len(set(by_name.values())) == 2
    assert store.team.rater(by_name["Ana"]).origin == R.LEGACY
    assert store.ratings_frame()["counts"].all()
    # A script that still rates by bare name lands on that same legacy rater.
    store.rate(run_id, "Ana", make_rating("stars", "f" * 32, 3), blind=False)
    assert {r["rater_id"] for r in store.current_ratings(run_id, rater="Ana")} == {by_name["Ana"]}


# ------------------------------------------------------------------ brief links
def _brief(store: Store, prompts=("a fox", "a hare")) -> tuple[str, list[str]]:
    """A saved brief and one finished run per prompt, made through the store."""
    from vibegen.costs import Cost

    set_id = store.save_prompt_set("Spring posters", list(prompts))
    runs = []
    for prompt in prompts:
        specs = [
            CellSpec(key, "sandbox", label, 0, prompt, {}, {}, Cost(usd, "simulated", "", "", ""))
            for key, label, usd in MODELS[:2]
        ]
        run_id = store.create_run(prompt, {}, specs, prompt_set_id=set_id)
        for cell in store.run_view(run_id).cells:
            store.save_success(cell.id, _png(), cost=cell.cost, wall_s=1.0)
        runs.append(run_id)
    return set_id, runs


def test_a_brief_has_one_team_link_and_one_blind_link(any_store):
    set_id, runs = _brief(any_store)
    team = any_store.team
    link = team.brief_link(set_id, blind=False)
    assert R.is_token(link.token) and link.prompt_set_id == set_id and not link.blind
    assert team.brief_link(set_id, blind=False) == link  # made once, the same for everyone
    blind = team.brief_link(set_id, blind=True)
    assert blind.blind and blind.token != link.token
    assert team.brief_link(set_id, blind=True) == blind
    assert team.brief(link.token) == link and team.brief(blind.token) == blind
    assert team.link(link.token) is None  # not a run's link
    assert all(set_id not in t and not any(r in t for r in runs) for t in (link.token, blind.token))
    with any_store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM brief_links")).scalar() == 2
    other, _ = _brief(any_store, ("a wren",))
    assert team.brief_link(other, blind=False).token not in (link.token, blind.token)
    # Seen at one of its runs, the brief's link is that run's team link with the same token.
    at_run = link.for_run(runs[1])
    assert (at_run.token, at_run.run_id, at_run.kind, at_run.blind) == (
        link.token,
        runs[1],
        R.TEAM,
        False,
    )


def test_a_brief_link_closes_and_reopens_and_unknown_briefs_are_refused(any_store):
    import pytest

    from vibegen.errors import InputError

    set_id, _ = _brief(any_store)
    team = any_store.team
    link = team.brief_link(set_id, blind=True)
    team.set_link_open(link.token, False)
    closed = team.brief(link.token)
    assert closed is not None and not closed.open
    assert team.brief_link(set_id, blind=True) == closed  # not silently replaced
    team.set_link_open(link.token, True)
    assert team.brief(link.token).open
    with pytest.raises(InputError, match="brief does not exist"):
        team.brief_link(new_id(), blind=False)
    assert team.brief("not a token") is None and team.brief("x" * 32) is None


def test_m009_adds_brief_links_to_a_database_that_has_review_links(any_store):
    names = [name for name, _ in MIGRATIONS]
    assert "m009_brief_review_links" in names
    assert names.index("m009_brief_review_links") > names.index("m007_model_listings")
    cols = {c["name"]: c for c in sa.inspect(any_store.engine).get_columns("brief_links")}
    assert set(cols) == {"token", "prompt_set_id", "kind", "blind", "created_at", "closed_at"}
    assert not cols["prompt_set_id"]["nullable"] and cols["closed_at"]["nullable"]
    runs = {c["name"]: c for c in sa.inspect(any_store.engine).get_columns("review_links")}
    assert not runs["run_id"]["nullable"]  # run links untouched
