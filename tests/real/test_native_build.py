"""The C module's build: optional for a pip install, required by the packages.

A wheel is built for real (``python -m build --wheel --no-isolation``, this
venv's setuptools) from a copy of the checkout's build inputs: with the C
compiler it holds the module; with no compiler (CC naming a program that does
not exist) it still holds the whole pure-Python package; and with
JOURNALBAN_REQUIRE_NATIVE=1, as the Fedora spec and the PKGBUILD build it, no
compiler fails the build instead of shipping a package without the module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support.real import REPO

pytestmark = [pytest.mark.real, pytest.mark.slow]

MODULE_DIR = "journalban/sources/"
NO_COMPILER = "/nonexistent/journalban-test-cc"


def _tree(tmp_path: Path) -> Path:
    """What a wheel is built from (the package, the filters, the build files)."""
    tree = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.so", "*.py[cod]")
    shutil.copytree(REPO / "journalban", tree / "journalban", ignore=skip)
    shutil.copytree(REPO / "filters", tree / "filters", ignore=skip)
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(REPO / name, tree / name)
    return tree


def _build_wheel(tree: Path, **env: str) -> subprocess.CompletedProcess[str]:
    out = tree.parent / "dist"
    return subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        cwd=tree,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def _wheel_names(tree: Path) -> set[str]:
    (wheel,) = (tree.parent / "dist").glob("journalban-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _modules(names: set[str]) -> set[str]:
    return {n for n in names if n.startswith(MODULE_DIR + "_journalfile.") and n.endswith(".so")}


def test_a_wheel_built_with_a_compiler_holds_the_module(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    result = _build_wheel(tree)
    assert result.returncode == 0, result.stderr[-3000:]
    assert " -O2 -Wall -Wextra" in result.stdout
    assert "_journalfile.c" in result.stdout
    # Warnings are on (-Wall -Wextra) to be heeded: the module compiles without one.
    warnings = [ln for ln in result.stderr.splitlines() if "_journalfile.c:" in ln]
    assert warnings == [], "\n".join(warnings)
    names = _wheel_names(tree)
    assert len(_modules(names)) == 1, sorted(n for n in names if n.startswith(MODULE_DIR))
    assert MODULE_DIR + "_journalfile.pyi" in names
    assert MODULE_DIR + "_journalfile.c" not in names


def test_a_wheel_built_without_a_compiler_is_the_pure_python_package(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    result = _build_wheel(tree, CC=NO_COMPILER)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        'building extension "journalban.sources._journalfile" failed'
        in result.stdout + result.stderr
    )
    names = _wheel_names(tree)
    assert not _modules(names)
    python = {str(p.relative_to(tree)) for p in (tree / "journalban").rglob("*.py") if p.is_file()}
    assert python <= names


def test_a_required_module_without_a_compiler_fails_the_build(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    result = _build_wheel(tree, CC=NO_COMPILER, JOURNALBAN_REQUIRE_NATIVE="1")
    assert result.returncode != 0
    assert NO_COMPILER in result.stdout + result.stderr
    assert not list((tree.parent / "dist").glob("journalban-*.whl"))
