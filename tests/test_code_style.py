"""The code base is formatted and linted with ruff (configured in pyproject.toml), and only the dataset layers
name datasets."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from .conftest import REPO


def test_ruff_lint_and_format_are_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"ruff {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


DATASET_NAME = re.compile(r"market|pa100k|pa-100k|peta|upar|rapv2|night", re.IGNORECASE)
DATASET_LAYERS = ("formats/", "synthetic/")  # the library layers that know the datasets (and conf/)
ALLOWED = {  # (file, what the code says): a message, a format's name or a conf key, reviewed
    ("adapt.py", "a name like night_cam3"),
    ("pipelines/synthetic/nodes.py", "upar"),
    ("pipelines/synthetic/pipeline.py", "params:ingestion.upar"),
    ("pipelines/training/nodes.py", "read a UPAR release"),
    ("pipelines/training/nodes.py", "upar_release"),
    ("reports/figures.py", "UPAR ground truth"),
    ("sources.py", "source_set upar"),
}


STATEMENT_STARTS = (None, tokenize.INDENT, tokenize.NEWLINE, tokenize.DEDENT)  # a string here is a docstring


def _code_tokens(path: Path) -> list[str]:
    """The names and strings of a module, docstrings and comments left out."""
    tokens, previous = [], None
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        docstring = token.type == tokenize.STRING and previous in STATEMENT_STARTS
        if token.type in (tokenize.NAME, tokenize.STRING) and not docstring:
            tokens.append(token.string)
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token.type
    return tokens


def test_dataset_names_are_written_only_in_formats_synthetic_and_conf():
    source = REPO / "src" / "knowledge_assembly"
    found = {
        (str(path.relative_to(source)), token)
        for path in source.rglob("*.py")
        if not str(path.relative_to(source)).startswith(DATASET_LAYERS)
        for token in _code_tokens(path)
        if DATASET_NAME.search(token)
    }
    unexpected = sorted(
        (file, token) for file, token in found if not any(f == file and text in token for f, text in ALLOWED)
    )
    assert not unexpected, f"dataset names outside formats/ and synthetic/ (move them there or to conf): {unexpected}"
    stale = sorted((f, text) for f, text in ALLOWED if not any(f == file and text in t for file, t in found))
    assert not stale, f"allowed names no longer in the code (remove them from ALLOWED): {stale}"
