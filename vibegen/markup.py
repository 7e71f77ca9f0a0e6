"""Showing untrusted text (prompts, rater names, router error messages) literally."""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: str) -> str:
    """`text` with Markdown and HTML made inert, so it renders exactly as typed."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False)).replace("\n", "  \n")


def escape_html(text: str) -> str:
    """`text` safe to place inside an HTML document (for standalone reports)."""
    return html.escape(str(text), quote=True)
