"""API keys: read from the environment (or Streamlit secrets merged in by the UI), never stored.

Keys live only in memory, in the router adapters that need them. Anything we write down —
error messages, logs — passes through `redact` first, as a second line of defence.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

from vibegen.catalog import Catalog, default_catalog


def secret_values(env: Mapping[str, str], catalog: Catalog) -> list[str]:
    """The key values present in `env` for every router in the catalog."""
    names = [r.key_env for r in catalog.routers.values() if r.key_env]
    names += [r.auth_env for r in catalog.routers.values() if r.auth_env]
    return [env[n] for n in names if env.get(n) and len(env[n]) >= 4]


def env_secrets(env: Mapping[str, str]) -> list[str]:
    """The API key values set in `env` (an entry point's settings) for every router."""
    return secret_values(env, default_catalog())


_ESCAPE = re.compile(r"%[0-9A-F]{2}")
# Shorter fragments would redact ordinary words.
MIN_SECRET_CHARS = 4


def _b64_forms(value: str) -> set[str]:
    raw = value.encode()
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode()
        forms |= {text, text.rstrip("=")}
    return forms


def _url_forms(value: str) -> set[str]:
    forms = {quote(value, safe=""), quote_plus(value, safe="")}
    # Percent-escapes may be written in either case (%3A or %3a).
    return forms | {_ESCAPE.sub(lambda m: m.group().lower(), f) for f in forms}


def secret_forms(secret: str) -> list[str]:
    """Every way `secret` can appear in text: as is, each half of `id:secret`, base64 (as in
    an HTTP Basic or echoed Authorization header), URL-encoded; longest first."""
    parts = {secret, *secret.split(":")}
    forms = set(parts)
    for part in parts:
        if len(part) >= MIN_SECRET_CHARS:
            forms |= _b64_forms(part) | _url_forms(part)
    return sorted((f for f in forms if len(f) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (each half of an `id:secret` pair, and their base64 and
    URL-encoded forms) replaced by ***.

    Run it before shortening a message: a cut can leave a key's head that no longer matches.
    """
    forms = sorted({f for s in secrets if s for f in secret_forms(s)}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, "***")
    return text


def merged_env(environ: Mapping[str, str], secrets: Mapping[str, object]) -> dict[str, str]:
    """Environment variables overlaid with top-level string secrets (environment wins)."""
    merged = {k: str(v) for k, v in secrets.items() if isinstance(v, str | int | float)}
    merged.update(environ)
    return merged
