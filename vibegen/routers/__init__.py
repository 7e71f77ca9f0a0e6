"""The router registry: every router VibeGen can call, looked up by name.

A router is declared once, in the catalog's `[routers.X]` entry (`vibegen.catalog.RouterSpec`):
its adapter class, key, URL, limits, cost reporting and the sentence that says how to enable
it. The adapter named there is imported lazily, so the `openai` SDK is only imported when
someone uses OpenAI. Tests add fake routers through `register`, never by patching.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from vibegen.catalog import Catalog
from vibegen.errors import ConfigError, UnknownRouterError
from vibegen.routers.base import GenerationRequest, GenerationResult, Router
from vibegen.settings import Settings

__all__ = [
    "GenerationRequest",
    "GenerationResult",
    "Router",
    "RouterStatus",
    "build_router",
    "register",
    "router_class",
    "router_status",
]

# Adapters registered in code (test routers) and those already imported from their spec.
_CLASSES: dict[str, type[Router]] = {}


def register(cls: type[Router]) -> type[Router]:
    """Add (or replace) a router class under its `name`, ahead of the catalog's `adapter`."""
    _CLASSES[cls.name] = cls
    return cls


def router_class(name: str, catalog: Catalog) -> type[Router]:
    """The adapter class for router `name`: a registered one, else the spec's `adapter`."""
    if name in _CLASSES:
        return _CLASSES[name]
    spec = catalog.routers.get(name)
    if spec is None or not spec.adapter:
        raise UnknownRouterError(name)
    module, _, attr = spec.adapter.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"router {name!r}, field 'adapter': cannot import {spec.adapter!r}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Router)):
        raise ConfigError(f"router {name!r}, field 'adapter': {spec.adapter!r} is not a Router")
    return cls


@dataclass(frozen=True)
class RouterStatus:
    """Whether a router can be called now, and if not, what the user must do."""

    name: str
    label: str
    enabled: bool
    reason: str = ""


def router_status(name: str, catalog: Catalog, env: Mapping[str, str]) -> RouterStatus:
    """Enabled when its key (or URL) is set; otherwise the sentence that tells how to enable it."""
    spec = catalog.routers[name]
    reason = spec.enable_message(env)
    return RouterStatus(name, spec.label, not reason, reason)


def build_router(name: str, catalog: Catalog, env: Mapping[str, str], **kwargs) -> Router:
    """An adapter for `name`, configured from `env` (keys are never stored)."""
    cls = router_class(name, catalog)
    spec = catalog.routers[name]
    for option, value in cls.options(spec, Settings.from_environ(env)).items():
        kwargs.setdefault(option, value)
    base_url = env.get(spec.url_env) if spec.url_env else None
    return cls(catalog=catalog, key=spec.key(env), base_url=base_url or None, **kwargs)
