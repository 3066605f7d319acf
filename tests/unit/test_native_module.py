"""The C module journalban builds (setup.py) imports from the installed tree.

scripts/setup installs a C compiler and Python's headers (systemd-python needs
them too), so in a test run the optional extension is always built: its absence
here means the build step lost it.
"""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

import journalban.sources
from journalban.sources import _journalfile


def test_the_native_journal_reader_is_a_compiled_module_of_the_package() -> None:
    path = Path(_journalfile.__file__ or "")
    assert path.parent == Path(journalban.sources.__file__ or "").parent
    assert path.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), path.name
    assert _journalfile.__name__ == "journalban.sources._journalfile"


def test_the_native_journal_reader_answers_its_interface_version() -> None:
    assert _journalfile.abi() == 1
