"""The C module journalban builds (setup.py) imports from the installed tree.

scripts/setup installs a C compiler and Python's headers (systemd-python needs
them too), so in a test run the optional extension is always built: its absence
here means the build step lost it.
"""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

import pytest

import journalban.sources
from journalban.sources import _journalfile


def test_the_native_journal_reader_is_a_compiled_module_of_the_package() -> None:
    path = Path(_journalfile.__file__ or "")
    assert path.parent == Path(journalban.sources.__file__ or "").parent
    assert path.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), path.name
    assert _journalfile.__name__ == "journalban.sources._journalfile"


def test_the_native_journal_reader_answers_its_interface_version() -> None:
    assert _journalfile.abi() == 2  # 2: Reader's on_damaged (a file shrunk while read)


def test_an_in_place_build_is_not_older_than_its_source() -> None:
    """`pip install -e .` builds the module into the checkout, and nothing rebuilds it
    when git changes the .c (a pull, a rebase): the old module would load, or none.
    scripts/setup (which scripts/check runs first) rebuilds it."""
    built = Path(_journalfile.__file__ or "")
    source = Path(journalban.sources.__file__ or "").with_name("_journalfile.c")
    if not source.is_file():
        pytest.skip("an installed tree, not a checkout: its module was built from its sdist")
    assert built.stat().st_mtime >= source.stat().st_mtime, (
        f"{built.name} is older than {source.name}: run `.venv/bin/python -m pip install -e .`"
    )
