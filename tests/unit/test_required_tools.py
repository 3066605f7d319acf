"""Every tool the tests run is in tests/support/tools.py, and need_tool accepts no other.

The fresh-machine check proves that scripts/setup --test installs each listed
tool; these tests keep the list complete, so that check cannot miss a tool.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from support import real, tools

TESTS = Path(__file__).resolve().parents[1]
# Benchmarks run on their own (never in scripts/check) and compare with tools
# such as fail2ban that no test needs.
SCANNED = [p for p in TESTS.rglob("*.py") if "benchmarks" not in p.parts]


def _is_tool(word: str) -> bool:
    """Whether ``word`` names an executable on this machine (a name on PATH or a path)."""
    if os.path.isabs(word):
        return os.path.isfile(word) and os.access(word, os.X_OK)
    return "/" not in word and " " not in word and shutil.which(word) is not None


def _command_lines(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, first word) of each list literal that reads as a command line.

    That is a list (not a tuple) of two or more elements, the first a string,
    the second no number (``["ssh", 2222]`` is a port list), passed to a call or
    bound to a name (``argv = [...]``).
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        candidates: list[ast.expr] = []
        if isinstance(node, ast.Call):
            candidates = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            candidates = [node.value]
        for value in candidates:
            if (
                isinstance(value, ast.List)
                and len(value.elts) > 1
                and isinstance(value.elts[0], ast.Constant)
                and isinstance(value.elts[0].value, str)
                and not (
                    isinstance(value.elts[1], ast.Constant) and isinstance(value.elts[1].value, int)
                )
            ):
                found.append((value.lineno, value.elts[0].value))
    return found


def _need_tool_arguments(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.args[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "need_tool"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def test_every_command_line_in_the_tests_starts_with_a_listed_tool() -> None:
    unlisted = []
    for path in SCANNED:
        tree = ast.parse(path.read_text(), str(path))
        for line, word in _command_lines(tree):
            if _is_tool(word) and not tools.is_listed(word):
                unlisted.append(f"{path.relative_to(TESTS)}:{line}: {word}")
    assert unlisted == []


def test_every_literal_need_tool_names_a_listed_tool() -> None:
    unlisted = []
    for path in SCANNED:
        for line, word in _need_tool_arguments(ast.parse(path.read_text(), str(path))):
            if not tools.is_listed(word):
                unlisted.append(f"{path.relative_to(TESTS)}:{line}: {word}")
    assert unlisted == []


def test_the_scan_sees_command_lines() -> None:
    tree = ast.parse('subprocess.run(["nft", "list", "ruleset"])\nargv = ["gdbus", "call"]\n')
    assert sorted(w for _, w in _command_lines(tree)) == ["gdbus", "nft"]


def test_a_standard_path_counts_as_the_listed_name() -> None:
    assert tools.is_listed("/bin/sh")
    assert tools.is_listed("/usr/sbin/nft")
    assert not tools.is_listed("/tmp/nft")


def test_need_tool_refuses_an_unlisted_tool() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"not in tests/support/tools\.py"):
        real.need_tool("cowsay")


def test_every_tool_names_its_debian_package() -> None:
    assert all(pkg and " " not in pkg for pkg in tools.REQUIRED_TOOLS.values())
    assert "makepkg" in tools.REQUIRED_TOOLS


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]


def test_every_dependency_and_test_extra_has_a_required_module() -> None:
    """The fresh-machine check imports REQUIRED_MODULES from the new venv: each of
    journalban's dependencies and test extras must be among them (stub-only
    packages such as types-PyYAML have no module)."""
    project = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    providers = importlib.metadata.packages_distributions()
    required_tops = {m.split(".")[0] for m in tools.REQUIRED_MODULES}
    uncovered = []
    for requirement in requirements:
        name = _requirement_name(requirement)
        if name.lower().startswith("types-"):
            continue
        wanted = re.sub(r"[-_.]+", "-", name).lower()
        tops = {
            top
            for top, dists in providers.items()
            if any(re.sub(r"[-_.]+", "-", d).lower() == wanted for d in dists)
        }
        assert tops, f"{name} is not installed in this venv"
        if not tops & required_tops:
            uncovered.append(f"{name} (modules {sorted(tops)})")
    assert uncovered == []
