"""`journalban --version`: the version, and whether the native journal reader is built.

The reader (journalban.sources._journalfile, issue 19) is the agent's one C
module: optional for a pip install, where the journal is then read through
libsystemd alone; the distribution packages always have it. Imported only when
asked (cli.main's --version action), so no other command pays for it.
"""

from __future__ import annotations

import importlib

from journalban import __version__

NATIVE_MODULE = "journalban.sources._journalfile"


def native_reader_status() -> str:
    """``built``, or why the native journal reader cannot be used here."""
    try:
        importlib.import_module(NATIVE_MODULE)
    except ModuleNotFoundError:
        return "not built (the journal is read through libsystemd)"
    except ImportError as exc:
        return f"not loadable: {exc} (the journal is read through libsystemd)"
    return "built"


def version_text() -> str:
    return f"journalban {__version__}\nnative journal reader: {native_reader_status()}"
