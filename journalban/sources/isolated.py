"""The one way the package starts a Python child: isolated, on the installed package only."""

from __future__ import annotations

import sys


def python_module(module: str) -> list[str]:
    """The command line that runs ``module`` of the installed package in a child.

    ``-I`` (isolated mode): neither the working directory nor the script's
    directory on ``sys.path``, no user site directory, no ``PYTHON*``
    variables. Without it ``python -m`` puts the working directory first, and
    an agent started as root from a directory a local user can write (``/tmp``)
    would import that user's ``journalban/__init__.py``; started from a source
    checkout, its children would import the checkout instead of the installed
    package. Every Python child of the package is started through this
    (``tests/unit/test_child_isolation.py`` checks that there is no other way).
    """
    return [sys.executable, "-I", "-m", module]
