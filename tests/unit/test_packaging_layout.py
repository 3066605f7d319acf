"""pyproject.toml lists packages by hand (filters/ is mapped in): none may be missing."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "journalban").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    found.add("journalban._filters")
    assert found == listed


def test_stage_packages_show_the_flow() -> None:
    stages = {
        "sources",
        "matching",
        "jails",
        "decisions",
        "firewall",
        "bus",
        "config",
        "state",
        "cli",
    }
    assert stages <= {p.name for p in (REPO / "journalban").iterdir() if p.is_dir()}
