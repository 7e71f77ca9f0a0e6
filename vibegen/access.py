"""Who may do what: the owner (Jupyter's token model) and everyone else (review links only).

On the default loopback binding the person at the keyboard is the owner and nothing is asked.
Served to a network, the owner's pages and actions (generate, retry, history, briefs,
leaderboard, spend, models, exports) need the owner token: `VIBEGEN_OWNER_TOKEN`, or one made
at random when the process starts and printed to its log with a link, the way Jupyter does.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
from collections.abc import Mapping

log = logging.getLogger("vibegen.access")

COOKIE = "vibegen_owner"
QUERY = "token"
MIN_TOKEN_CHARS = 16

_lock = threading.Lock()
_generated: str | None = None


def is_loopback(address: str | None) -> bool:
    """Whether a bind address reaches only this machine (127.0.0.0/8, ::1, localhost)."""
    host = (address or "").strip().strip("[]").lower()
    if not host:
        return False  # Streamlit's default with no address binds every interface
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def owner_token(env: Mapping[str, str]) -> str:
    """The owner token: VIBEGEN_OWNER_TOKEN, else one random token for this process."""
    global _generated
    given = (env.get("VIBEGEN_OWNER_TOKEN") or "").strip()
    if given:
        return given
    with _lock:
        if _generated is None:
            _generated = secrets.token_urlsafe(24)
        return _generated


def token_problem(env: Mapping[str, str]) -> str | None:
    """Why a configured VIBEGEN_OWNER_TOKEN is unsafe to use, or None."""
    given = (env.get("VIBEGEN_OWNER_TOKEN") or "").strip()
    if given and len(given) < MIN_TOKEN_CHARS:
        return (
            f"VIBEGEN_OWNER_TOKEN is {len(given)} characters; use at least "
            f"{MIN_TOKEN_CHARS} (for example the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(24))"`)'
        )
    return None


def matches(given: object, expected: str) -> bool:
    """Constant-time comparison of a presented token with the owner token."""
    if not isinstance(given, str) or not given or not expected:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def announce(env: Mapping[str, str], root_url: str) -> str:
    """The line printed for the owner when the server is open to the network."""
    if (env.get("VIBEGEN_OWNER_TOKEN") or "").strip():
        return (
            f"VibeGen is open to the network at {root_url}: owner pages need "
            "VIBEGEN_OWNER_TOKEN (as set in the environment)"
        )
    return (
        f"VibeGen is open to the network. To open it as its owner, use:\n"
        f"    {root_url}/?{QUERY}={owner_token(env)}"
    )
