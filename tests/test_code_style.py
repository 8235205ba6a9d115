"""The code base is formatted and linted with ruff (configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def test_ruff_lint_and_format_are_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"ruff {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
