"""The C modules journalban builds (issue 19): the native reader of journal files
(``journalban.sources._journalfile``), the literal scan (``journalban.matching._linescan``),
the ban rows' columns of a commit (``journalban.state._rowvalues``), a
network's first ban (``journalban.decisions._banrun``) and a run of decided bans'
signals, log lines and firewall entries (``journalban._announce``), a jail's detectors'
per-failure work (``journalban.jails._detectors``), the deciding's per-failure loop
(``journalban.decisions._hitloop``), an IPv6 text's keys (``journalban._addrkey``) and
a commit's statements stepped in C (``journalban.state._commitext``, also a SQLite loadable
extension: built against sqlite3ext.h), each an accelerator of
what the package also does in pure Python.

Everything else is in pyproject.toml; this file exists because an extension's
``optional`` flag must follow the build's purpose, which pyproject.toml cannot
say: a pip install from source still installs the pure-Python package when no
C compiler or Python headers are at hand (the agent then reads the journal
through libsystemd and scans in Python, with the same results), while the
distribution packages set JOURNALBAN_REQUIRE_NATIVE=1 so a failed compile fails
their build.
"""

from __future__ import annotations

import os

from setuptools import Extension, setup

MODULES = {
    "journalban.sources._journalfile": "journalban/sources/_journalfile.c",
    "journalban.matching._linescan": "journalban/matching/_linescan.c",
    "journalban.matching._texthits": "journalban/matching/_texthits.c",
    "journalban.state._rowvalues": "journalban/state/_rowvalues.c",
    "journalban._announce": "journalban/_announce.c",
    "journalban.decisions._banrun": "journalban/decisions/_banrun.c",
    "journalban.jails._detectors": "journalban/jails/_detectors.c",
    "journalban.decisions._hitloop": "journalban/decisions/_hitloop.c",
    "journalban._addrkey": "journalban/_addrkey.c",
    "journalban.jails._crowd": "journalban/jails/_crowd.c",
    # Also a SQLite loadable extension, loaded by the store into its own connection
    # (state.nativecommit); it needs sqlite3ext.h (libsqlite3-dev), not libsqlite3 itself.
    "journalban.state._commitext": "journalban/state/_commitext.c",
}

setup(
    ext_modules=[
        Extension(
            name,
            sources=[source],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=os.environ.get("JOURNALBAN_REQUIRE_NATIVE") != "1",
        )
        for name, source in MODULES.items()
    ]
)
