"""The Generate page (the first page) loads only what it uses: no leaderboard, SciPy, report."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "scipy",
    "altair",
    "pandas",
    "vibegen.leaderboard",
    "vibegen.report",
    "vibegen.exports",
    "vibegen.bradley_terry",
    "vibegen.charts",
)


def test_generate_page_imports_no_leaderboard_or_report_stack():
    """Every module app.py imports, imported in a fresh interpreter, leaves these unloaded."""
    tree = ast.parse((ROOT / "app.py").read_text())
    imports = [
        ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert any("vibegen.ui.exports" in line for line in imports)  # the buttons are offered
    code = "\n".join(
        [
            *imports,
            "import json, sys",
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
