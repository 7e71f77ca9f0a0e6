"""Amounts as the pages write them: one module, one rule per use."""

import math

import pytest

from vibegen.money import amount, cents, exact


@pytest.mark.parametrize(
    ("usd", "text"),
    [(0.0, "$0.00"), (0.004, "<$0.01"), (0.041234, "$0.04"), (1204.0, "$1,204.00")],
)
def test_totals_read_to_the_cent(usd, text):
    assert cents(usd) == text


@pytest.mark.parametrize(
    ("usd", "text"),
    [(0.003, "$0.0030"), (0.0995, "$0.0995"), (0.25, "$0.25"), (1204.5, "$1,204.50")],
)
def test_prices_keep_tenths_of_a_cent_below_ten_cents(usd, text):
    assert amount(usd) == text


@pytest.mark.parametrize("missing", [None, math.nan])
def test_a_missing_amount_is_unknown_never_zero(missing):
    assert amount(missing) == "unknown"


def test_the_exact_figure_keeps_every_digit_a_total_rounds_away():
    assert exact(0.041234) == "$0.041234"
    assert exact(0.5) == "$0.5000"
