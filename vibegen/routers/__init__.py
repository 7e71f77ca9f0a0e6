"""The router registry: every router VibeGen can call, looked up by name.

Adapters are listed explicitly (no discovery) and imported lazily, so the `openai` SDK is only
imported when someone uses OpenAI. Tests add fake routers through `register`, never by patching.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from vibegen.catalog import Catalog
from vibegen.errors import UnknownRouterError
from vibegen.routers.base import GenerationRequest, GenerationResult, Router

__all__ = ["GenerationRequest", "GenerationResult", "Router", "RouterStatus", "build_router",
           "register", "router_class", "router_names", "router_status"]

_REGISTRY: dict[str, str | type[Router]] = {
    "sandbox": "vibegen.routers.sandbox_router:SandboxRouter",
    "fal": "vibegen.routers.fal_router:FalRouter",
    "kie": "vibegen.routers.kie_router:KieRouter",
    "openai": "vibegen.routers.openai_router:OpenAIRouter",
    "sd": "vibegen.routers.sd_router:SDRouter",
}


def register(cls: type[Router]) -> type[Router]:
    """Add (or replace) a router class under its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def router_names() -> list[str]:
    """Registered router names, in registration order."""
    return list(_REGISTRY)


def router_class(name: str) -> type[Router]:
    """The router class registered under `name`."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UnknownRouterError(name) from None
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
        _REGISTRY[name] = target
    return target


@dataclass(frozen=True)
class RouterStatus:
    """Whether a router can be called now, and if not, what the user must do."""

    name: str
    label: str
    enabled: bool
    reason: str = ""


def router_status(name: str, catalog: Catalog, env: Mapping[str, str]) -> RouterStatus:
    """Enabled when its key (or URL) is set; otherwise the sentence that tells how to enable it."""
    info = catalog.routers[name]
    if info.key_env and not env.get(info.key_env):
        return RouterStatus(name, info.label, False, f"add {info.key_env} to enable")
    if info.url_env and not info.base_url and not env.get(info.url_env):
        return RouterStatus(name, info.label, False, f"set {info.url_env} to enable")
    return RouterStatus(name, info.label, True)


def build_router(name: str, catalog: Catalog, env: Mapping[str, str], **kwargs) -> Router:
    """An adapter for `name`, configured from the environment (keys are never stored)."""
    cls = router_class(name)
    info = catalog.routers[name]
    key = env.get(info.key_env) if info.key_env else None
    base_url = env.get(info.url_env) if info.url_env else None
    if info.auth_env and env.get(info.auth_env):
        kwargs.setdefault("auth", env[info.auth_env])
    return cls(catalog=catalog, key=key, base_url=base_url or None, **kwargs)
