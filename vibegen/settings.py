"""VibeGen's settings, read once where a process starts and passed in from there.

The entry points (the Streamlit app through `vibegen.ui.runtime`, the `vibegen` command line,
a runner started with no environment) call `load_settings`; nothing below them reads the
process environment. This module is the one place that does.

The known settings are typed fields (pydantic-settings parses and validates them, so
`VIBEGEN_SANDBOX_SPEED=fast` is one clear error); router keys are not fields, because their
variable names come from the catalog's router declarations: `environ` keeps the whole
mapping for those (and for the spending caps, whose names the budget derives).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from vibegen.errors import ConfigError

PUBLIC_URL_ENV = "VIBEGEN_PUBLIC_URL"


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ
    (the UI's merge of the environment with Streamlit secrets, or a test's dict)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # As the library treats os.environ: names case-insensitive, empty values unset.
        return {
            (k if self.case_sensitive else k.lower()): v
            for k, v in self._given.items()
            if not (self.env_ignore_empty and v == "")
        }


def _switch(value: Any) -> bool:
    # The simulation's switches are on unless set to "off" (as they always were).
    return value if isinstance(value, bool) else str(value).strip().lower() != "off"


class Settings(BaseSettings):
    """The typed settings of one process, plus the environment mapping router keys come from."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)

    # Where the SQLite store, the user's catalog file and exports live (default ~/.vibegen).
    home: Path | None = Field(default=None, validation_alias="VIBEGEN_HOME")
    # A database server for a team (PostgreSQL); empty: the SQLite file in `home`.
    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    # The app's public address for links sent to the team; empty: as the browser opened it.
    public_url: str = Field(default="", validation_alias=PUBLIC_URL_ENV)
    # The sandbox's simulation (tests and benchmarks speed it up or make it predictable).
    sandbox_speed: float = Field(default=1.0, validation_alias="VIBEGEN_SANDBOX_SPEED", ge=0)
    sandbox_failures: bool = Field(default=True, validation_alias="VIBEGEN_SANDBOX_FAILURES")
    sandbox_jitter: bool = Field(default=True, validation_alias="VIBEGEN_SANDBOX_JITTER")
    # Team mode (PostgreSQL): the app runs queued cells too, unless set to "off" (then only
    # `vibegen worker` processes do).
    embedded_worker: bool = Field(default=True, validation_alias="VIBEGEN_EMBEDDED_WORKER")
    # Cells one worker process runs at once (threads that mostly wait on routers).
    worker_slots: int = Field(default=64, validation_alias="VIBEGEN_WORKER_SLOTS", ge=2, le=1024)
    # A worker silent this long is taken for dead: its cells go to another worker.
    worker_heartbeat_s: float = Field(
        default=10.0, validation_alias="VIBEGEN_WORKER_HEARTBEAT_S", ge=1.0, le=600.0
    )
    # How long a stopping worker (SIGTERM) lets its cells finish before handing them back.
    worker_grace_s: float = Field(
        default=30.0, validation_alias="VIBEGEN_WORKER_GRACE_S", ge=0.0, le=3600.0
    )
    # Everything the settings were read from: router keys, URLs and caps are looked up here.
    environ: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    _switches = field_validator(
        "sandbox_failures", "sandbox_jitter", "embedded_worker", mode="before"
    )(classmethod(lambda cls, v: _switch(v)))

    @field_validator("database_url", "public_url", mode="after")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read the fields from the `environ` given at construction, never from os.environ."""
        given = getattr(init_settings, "init_kwargs", {}).get("environ") or {}
        return (init_settings, _MappingSource(settings_cls, given))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Settings parsed from `environ`; ConfigError naming the variable when one is bad."""
        try:
            return cls(environ=dict(environ))
        except ValidationError as exc:
            raise ConfigError(
                "; ".join(_describe(cls.model_fields, err) for err in exc.errors())
            ) from exc

    @property
    def data_dir(self) -> Path:
        """Where VibeGen keeps its data: VIBEGEN_HOME, else ~/.vibegen."""
        return (self.home or Path.home() / ".vibegen").expanduser()

    @property
    def store_url(self) -> str:
        """DATABASE_URL if set, else the SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'vibegen.db'}"


def _describe(fields: Mapping[str, FieldInfo], err: Any) -> str:
    name = str(err["loc"][0]) if err.get("loc") else ""
    alias = fields[name].validation_alias if name in fields else None
    return f"{alias or name}: {err['msg']}"


def load_settings(secrets: Mapping[str, object] | None = None) -> Settings:
    """The process's settings: its environment, over `secrets` (Streamlit's, in the UI)."""
    from vibegen.keys import merged_env  # keys imports the catalog; settings stays light

    return Settings.from_environ(merged_env(os.environ, secrets or {}))
