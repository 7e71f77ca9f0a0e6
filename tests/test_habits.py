"""The code habits CI keeps: lint clean, formatted, and type-checked, run by the test command.

They run here rather than as separate CI steps so that the README's one test command is the
whole gate: a change that passes it locally passes CI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "check",
    [("ruff", "check", "."), ("ruff", "format", "--check", ".")],
    ids=["ruff check", "ruff format --check"],
)
def test_ruff(check):
    done = _run(*check)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean_on_vibegen():
    # Files and options come from [tool.mypy] in pyproject.toml.
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
