"""The request-rate limiter counts calls as the router does: by when they could have arrived."""

from __future__ import annotations

import threading
import time

from vibegen.routers.limits import RateLimiter, held


def test_a_slow_call_holds_its_slot_until_a_window_after_its_answer():
    limiter = RateLimiter(2, 0.2)
    started: list[float] = []

    def call(seconds: float) -> None:
        with limiter.slot():
            started.append(time.monotonic())
            time.sleep(seconds)

    slow = [threading.Thread(target=call, args=(0.3,)) for _ in range(2)]
    t0 = time.monotonic()
    for t in slow:
        t.start()
    time.sleep(0.05)
    call(0.0)  # the third call waits for an answer, then for a window after it
    for t in slow:
        t.join()
    # Counted at departure, the third call would have gone at 0.2 s, while both slow calls
    # were still on their way to the router, which could then see three in one window.
    assert started[-1] - t0 >= 0.3 + limiter.hold_s


def test_no_window_of_the_answers_holds_more_than_the_limit():
    limiter = RateLimiter(5, 0.2)
    answered: list[float] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        with limiter.slot():
            time.sleep(0.01 * (i % 4))  # calls of different lengths overlap
            with lock:
                answered.append(time.monotonic())

    threads = [threading.Thread(target=call, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered.sort()
    assert len(answered) == 30
    assert max(sum(1 for u in answered if t <= u < t + 0.2) for t in answered) <= 5


def test_at_the_deadline_the_call_goes_without_a_slot_and_frees_nothing():
    limiter = RateLimiter(1, 10.0)
    limiter.acquire()
    t0 = time.monotonic()
    with held(limiter, t0 + 0.1) as waited:
        assert 0.05 <= waited < 5
    assert limiter._in_flight == 0  # nothing was held, so nothing was released
    with held(None, None) as waited:  # a router without this limit
        assert waited == 0.0
