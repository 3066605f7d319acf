"""Modules a library imports at its top and uses in one rarely called function (issue 19).

``deferred(names)`` around an import: while it runs, an ``import`` of one of
``names`` (not imported yet) binds a stand-in instead of the module, and once
the import is done the stand-in is out of ``sys.modules`` again, so that
anything imported later gets the real module as usual. The first attribute
asked of a stand-in imports the real module and copies its names into the
stand-in: the library's functions then call the real ones.

``annotations``: names the library reads at its import only in the annotations
of the functions it defines (``-> ET.Element``, evaluated as it defines them: no
``from __future__ import annotations``); while the block runs a stand-in answers
those with the name as a string (what such an annotation would be under
``annotations``) instead of importing. A stand-in of a submodule
(``xml.etree.ElementTree``) is also bound on its package, imported for it (the
packages' own ``__init__`` are empty), as ``import a.b.c as d`` reads it there.

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

    _annotations: frozenset[str] = frozenset()  # (set for the length of the block)

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # (the import system's probes: ``__path__``)
        if name in self._annotations:
            return name
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        vars(self).update(vars(real))
        return getattr(real, name)


@contextlib.contextmanager
def deferred(*names: str, annotations: tuple[str, ...] = ()) -> Iterator[None]:
    """Imports of ``names`` (those not imported yet) in the block get stand-ins."""
    placed = [name for name in names if name not in sys.modules]
    stand_ins = []
    for name in placed:
        stand_in = sys.modules[name] = Deferred(name)
        stand_in._annotations = frozenset(annotations)
        stand_ins.append(stand_in)
        package, _, last = name.rpartition(".")
        if package:
            setattr(importlib.import_module(package), last, stand_in)
    try:
        yield
    finally:
        for stand_in in stand_ins:
            stand_in._annotations = frozenset()
        for name in placed:
            if isinstance(sys.modules.get(name), Deferred):
                del sys.modules[name]
                package, _, last = name.rpartition(".")
                if package and isinstance(getattr(sys.modules[package], last, None), Deferred):
                    delattr(sys.modules[package], last)
