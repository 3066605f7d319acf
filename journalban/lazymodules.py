"""Modules a library imports at its top and uses in one rarely called function (issue 19).

``deferred(names)`` around an import: while it runs, an ``import`` of one of
``names`` (not imported yet) binds a stand-in instead of the module, and once
the import is done the stand-in is out of ``sys.modules`` again, so that
anything imported later gets the real module as usual. The first attribute
asked of a stand-in imports the real module and copies its names into the
stand-in: the library's functions then call the real ones.

Unlike ``lazyinspect`` (a reader child's, single-threaded, for its whole life),
the stand-ins are placed only for the length of one import, and a stand-in
asked from two threads at once imports under the import lock and copies the
same names twice. Unlike ``importlib.util.LazyLoader`` it does not build the
module's spec and loader, nor need ``importlib.util``.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator


class Deferred(types.ModuleType):
    """Stands in for a module until one of its names is asked for."""

    def __getattr__(self, name: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        vars(self).update(vars(real))
        return getattr(real, name)


@contextlib.contextmanager
def deferred(*names: str) -> Iterator[None]:
    """Imports of ``names`` (those not imported yet) in the block get stand-ins."""
    placed = [name for name in names if name not in sys.modules]
    for name in placed:
        sys.modules[name] = Deferred(name)
    try:
        yield
    finally:
        for name in placed:
            if isinstance(sys.modules.get(name), Deferred):
                del sys.modules[name]
