"""Settings are read once, at the entry points, into one typed object; nothing below them reads
the process environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vibegen.catalog import default_catalog
from vibegen.errors import ConfigError
from vibegen.routers import build_router
from vibegen.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
READS_ENVIRONMENT = re.compile(
    r"\bos\.(environ|getenv|putenv)\b|\bfrom os import\b[^\n]*\b"
    r"(environ|getenv)\b"
)


def test_only_the_settings_module_reads_the_environment():
    readers = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "vibegen").rglob("*.py")
        if READS_ENVIRONMENT.search(p.read_text(encoding="utf-8"))
    )
    assert readers == ["vibegen/settings.py"]


def test_the_known_settings_are_typed():
    s = Settings.from_environ(
        {
            "VIBEGEN_HOME": "/srv/vibegen",
            "VIBEGEN_SANDBOX_SPEED": "0.25",
            "VIBEGEN_SANDBOX_FAILURES": "off",
            "FAL_KEY": "abcd",
            "VIBEGEN_PUBLIC_URL": " https://team.example/ ",
        }
    )
    assert (s.data_dir, s.store_url) == (Path("/srv/vibegen"), "sqlite:////srv/vibegen/vibegen.db")
    assert (s.sandbox_speed, s.sandbox_failures, s.sandbox_jitter) == (0.25, False, True)
    assert s.public_url == "https://team.example/"
    assert s.environ["FAL_KEY"] == "abcd"  # router keys: named by the catalog, kept as given
    assert "abcd" not in repr(s)


def test_a_given_mapping_is_all_that_is_read(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("HOME", "/home/not-a-setting")
    s = Settings.from_environ({})
    assert s.database_url == "" and s.home is None
    assert load_settings().database_url == "postgresql://elsewhere/db"  # the entry point's


def test_secrets_are_under_the_environment(monkeypatch):
    monkeypatch.setenv("VIBEGEN_PUBLIC_URL", "https://from-env.example")
    s = load_settings(
        {"VIBEGEN_PUBLIC_URL": "https://from-secrets.example", "KIE_API_KEY": "kie-secret"}
    )
    assert s.public_url == "https://from-env.example"
    assert s.environ["KIE_API_KEY"] == "kie-secret"


def test_a_bad_setting_is_one_sentence_naming_the_variable():
    with pytest.raises(ConfigError, match="^VIBEGEN_SANDBOX_SPEED: .*number"):
        Settings.from_environ({"VIBEGEN_SANDBOX_SPEED": "fast"})


def test_the_sandbox_takes_its_simulation_from_the_settings():
    cat = default_catalog()
    quick = build_router(
        "sandbox", cat, {"VIBEGEN_SANDBOX_SPEED": "0", "VIBEGEN_SANDBOX_JITTER": "off"}
    )
    assert (quick.speed, quick.failures, quick.jitter) == (0.0, True, False)
    plain = build_router("sandbox", cat, {})
    assert (plain.speed, plain.failures, plain.jitter) == (1.0, True, True)
