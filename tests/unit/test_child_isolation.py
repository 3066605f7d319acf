"""Every Python child of the package starts isolated (``python -I``), through one function.

A child started any other way (``[sys.executable, "-m", ...]``, a ``python3``
on the PATH) would put the working directory on ``sys.path``: see
``journalban.sources.isolated`` and ``tests/real/test_hostile_cwd.py``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

from journalban.agent import fileworker, journalreader
from journalban.sources import journal
from journalban.sources.isolated import python_module

PACKAGE = Path(journal.__file__).resolve().parents[1]
ONE_WAY = PACKAGE / "sources" / "isolated.py"


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != ONE_WAY)


def _names_the_interpreter(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in ("executable", "_base_executable")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.fullmatch(r"(/usr/bin/)?python3?(\.\d+)?", node.value) is not None
    return False


def test_no_module_but_the_one_names_the_interpreter() -> None:
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if _names_the_interpreter(node):
                offenders.append(f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 0)}")
    assert offenders == []


def test_no_package_module_is_started_with_dash_m_by_hand() -> None:
    offenders = []
    for path in _sources():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""["']-m["']\s*,\s*["']journalban""", line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{lineno}")
    assert offenders == []


def test_every_reader_child_command_is_isolated() -> None:
    for argv in (journal.WORKER, journalreader.WORKER, fileworker.WORKER):
        assert argv[1:3] == ["-I", "-m"], argv
        assert argv[3].startswith("journalban.")


def test_isolated_child_sees_neither_cwd_nor_pythonpath(tmp_path: Path) -> None:
    argv = python_module("journalban.sources.isolated")
    probe = [*argv[:2], "-c", "import sys, json; print(json.dumps([sys.flags.isolated, sys.path]))"]
    out = subprocess.run(
        probe, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)}, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    isolated, path = json.loads(out)
    assert isolated == 1
    assert "" not in path
    assert str(tmp_path) not in path
