"""Amounts as a person reads them: totals to the cent, the exact figure kept for a tooltip."""

from __future__ import annotations

import math


def cents(usd: float) -> str:
    """'$0.04', '$12.30', '$1,204.00'; an amount above zero but under half a cent is '<$0.01'."""
    if 0 < usd < 0.005:
        return "<$0.01"
    return f"${usd:,.2f}"


def exact(usd: float) -> str:
    """The exact figure for a tooltip: '$0.041234' (trailing zeros kept to four places)."""
    text = f"{usd:,.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(4, '0')}"


def amount(usd: float | None) -> str:
    """A price or a ledger line: '$0.0040' below ten cents, '$0.25' and '$1,204.00' above;
    'unknown' for a missing amount (never '$0')."""
    if usd is None or (isinstance(usd, float) and math.isnan(usd)):
        return "unknown"
    # Per-image prices live in tenths of a cent: two places would show most of them as $0.00.
    return f"${usd:.4f}" if abs(usd) < 0.1 else f"${usd:,.2f}"
