"""The README is a front page: short, its links resolve, and its test command is what CI runs."""

from __future__ import annotations

import json
import re

from .conftest import REPO


def test_readme_is_a_front_page_whose_links_resolve():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150 and max(len(line) for line in readme.splitlines()) <= 120
    local = [link for link in re.findall(r"\]\(([^)#]+)[^)]*\)", readme) if not link.startswith("http")]
    assert {"LICENSE", "docs/distributed.md", "docs/operations.md"} <= set(local)
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, missing
    for page in (REPO / "docs").glob("*.md"):
        for link, anchor in re.findall(r"\]\(([\w./-]+\.md)#([\w-]+)\)", page.read_text()):
            target = (page.parent / link).read_text().lower()
            assert any(
                re.sub(r"[^\w\- ]", "", heading).strip().replace(" ", "-") == anchor
                for heading in re.findall(r"^#+ (.*)$", target, re.M)
            ), (page.name, link, anchor)


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / "README.md").read_text()
    assert (REPO / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"


def test_the_notebook_is_valid_nbformat_without_normalising():
    """nbformat 4.5 notebooks give every cell an id (a missing one is a warning today, an error in later nbformat)."""
    notebook = json.loads((REPO / "notebooks" / "results.ipynb").read_text())
    assert (notebook["nbformat"], notebook["nbformat_minor"]) >= (4, 5)
    assert [cell.get("id") for cell in notebook["cells"] if not cell.get("id")] == []
