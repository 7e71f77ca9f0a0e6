"""Messages as sentences: what the code raises ("the prompt is empty: …") as a page says it."""

from __future__ import annotations


def sentence(text: str) -> str:
    """'the prompt is empty' → 'The prompt is empty.' (a capital, and a full stop if none)."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."
