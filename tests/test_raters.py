"""The rules of rater identity: look-alike names, "Dana (2)", standing events, the throttle."""

from __future__ import annotations

import pytest

from vibegen import raters as R


@pytest.mark.parametrize(
    "a, b",
    [
        ("Dana", "dana"),
        ("Dana", "DANA"),
        ("Dana", "Dаna"),  # Cyrillic а
        ("Dana", "Ｄａｎａ"),  # fullwidth
        ("Dana", "D a n a"),
        ("Dana", "Dana."),
        ("Olga", "0lga"),  # a zero reads as an o
        ("Ilse", "lIse"),  # I and l differ only by font
        ("Mia", "Rnia"),  # "rn" reads as "m"
        ("José", "Jose"),
    ],
)
def test_look_alike_names_share_a_key(a, b):
    assert R.name_key(a) == R.name_key(b)


@pytest.mark.parametrize(
    "a, b", [("Dana", "Dan"), ("Dana", "Diana"), ("Ana", "Anna"), ("Bo", "Bob")]
)
def test_different_names_keep_different_keys(a, b):
    assert R.name_key(a) != R.name_key(b)


def test_a_name_that_looks_taken_is_numbered():
    taken: list[tuple[str, str]] = []
    shown = []
    for typed in ("Dana", "dana", "Dаna", "Bo", "Dana"):
        name = R.display_name(typed, taken)
        taken.append((name, R.name_key(typed)))
        shown.append(name)
    assert shown == ["Dana", "dana (2)", "Dаna (3)", "Bo", "Dana (4)"]
    assert len({d for d, _ in taken}) == len(taken)  # every shown name is unique


def test_a_teammate_really_called_dana_2_is_not_confused():
    taken = [("Dana", "dana"), ("Dana (2)", R.name_key("Dana (2)"))]
    assert R.display_name("Dana", taken) == "Dana (3)"


def test_joined_raters_are_held_until_accepted_and_every_step_reverses():
    run, other = "a" * 32, "b" * 32
    assert R.standing(R.JOINED, [], run).held
    assert R.standing(R.INVITED, [], run).counts
    assert R.standing(R.OWNER, [], run).counts
    events = [(None, R.ACCEPT)]
    assert R.standing(R.JOINED, events, run).counts
    events.append((run, R.EXCLUDE))
    assert R.standing(R.JOINED, events, run).word == "excluded"
    assert R.standing(R.JOINED, events, other).counts  # exclusion is for one run
    events.append((run, R.RESTORE))
    assert R.standing(R.JOINED, events, run).counts
    events.append((None, R.DROP))
    assert R.standing(R.JOINED, events, other).word == "dropped"
    events.append((None, R.ACCEPT))
    assert R.standing(R.JOINED, events, other).counts


def test_reveal_and_named_views_are_per_run():
    run, other = "a" * 32, "b" * 32
    assert not R.sees_names([], run)
    assert R.sees_names([(run, R.REVEAL)], run)
    assert R.sees_names([(run, R.SAW_NAMED)], run)
    assert not R.sees_names([(other, R.REVEAL)], run)


def test_the_throttle_lets_a_person_through_and_stops_a_script():
    now = [0.0]
    throttle = R.RatingThrottle(per_minute=90, burst=12, clock=lambda: now[0])
    person = 0
    for _ in range(60):  # a click every 0.7 s for 42 s: all saved
        person += throttle.allow("person")
        now[0] += 0.7
    assert person == 60
    script = sum(throttle.allow("script") for _ in range(1000))  # 1,000 clicks at once
    assert script == 12
    assert throttle.wait_s("script") > 0
    now[0] += 3.0
    assert throttle.allow("script")  # a pause lets it go on, at a person's pace


def test_tokens_and_image_refs():
    token = R.new_token()
    assert R.is_token(token) and len(token) == 32
    assert not R.is_token("x" * 8) and not R.is_token("<script>" * 3) and not R.is_token(None)
    gen = "c" * 32
    ref = R.image_ref(token, gen)
    assert len(ref) == 20 and gen not in ref and ref != R.image_ref(R.new_token(), gen)
    assert R.token_hash(token) != token
