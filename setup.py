"""The one C module journalban builds: the native reader of journal files (issue 19).

Everything else is in pyproject.toml; this file exists because an extension's
``optional`` flag must follow the build's purpose, which pyproject.toml cannot
say: a pip install from source still installs the pure-Python package when no
C compiler or Python headers are at hand (the agent then reads the journal
through libsystemd alone), while the distribution packages set
JOURNALBAN_REQUIRE_NATIVE=1 so a failed compile fails their build.
"""

from __future__ import annotations

import os

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "journalban.sources._journalfile",
            sources=["journalban/sources/_journalfile.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=os.environ.get("JOURNALBAN_REQUIRE_NATIVE") != "1",
        ),
        Extension(
            "journalban.matching._linescan",
            sources=["journalban/matching/_linescan.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=os.environ.get("JOURNALBAN_REQUIRE_NATIVE") != "1",
        ),
    ]
)
