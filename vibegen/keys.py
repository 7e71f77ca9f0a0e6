"""API keys: read from the environment (or Streamlit secrets merged in by the UI), never stored.

Keys live only in memory, in the router adapters that need them. Anything we write down —
error messages, logs — passes through `redact` first, as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vibegen.catalog import Catalog


def secret_values(env: Mapping[str, str], catalog: Catalog) -> list[str]:
    """The key values present in `env` for every router in the catalog."""
    names = [r.key_env for r in catalog.routers.values() if r.key_env]
    names += [r.auth_env for r in catalog.routers.values() if r.auth_env]
    return [env[n] for n in names if env.get(n) and len(env[n]) >= 4]


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and each half of a `id:secret` pair) replaced by ***."""
    for secret in secrets:
        for part in {secret, *secret.split(":")}:
            if len(part) >= 4:
                text = text.replace(part, "***")
    return text


def merged_env(environ: Mapping[str, str], secrets: Mapping[str, object]) -> dict[str, str]:
    """Environment variables overlaid with top-level string secrets (environment wins)."""
    merged = {k: str(v) for k, v in secrets.items() if isinstance(v, str | int | float)}
    merged.update(environ)
    return merged
