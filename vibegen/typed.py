"""Text a person typed (prompts, brief names, searches): what no field may hold.

Control characters other than tab and line breaks are never meant: they come from a paste of
terminal output or a mangled link. PostgreSQL cannot store NUL at all, so a prompt with one
would work on the SQLite file and fail on a team server; refusing them everywhere, in words,
keeps both engines the same.
"""

from __future__ import annotations

import unicodedata

from vibegen.errors import InputError

_ALLOWED = frozenset("\t\n\r")


def control_character(text: str) -> str | None:
    """The first control character in `text` as 'U+0000', or None if it has none."""
    for ch in text or "":
        if ch not in _ALLOWED and unicodedata.category(ch) == "Cc":
            return f"U+{ord(ch):04X}"
    return None


def check_text(text: str, what: str) -> str:
    """`text` if it holds no control character; InputError naming `what` and the character."""
    found = control_character(text)
    if found:
        raise InputError(
            f"{what} contains a control character ({found}), which cannot be "
            "saved: delete it, or retype the text instead of pasting it"
        )
    return text
