"""``typing`` loaded when first used, in the reader children (their memory, issue 19).

The children's modules import from ``typing`` only names they never need at run
time: annotations (``Any``, ``Final``, ``IO``: strings, by ``from __future__ import
annotations``), ``TYPE_CHECKING``, ``cast``, ``overload`` and ``Protocol`` as the
base of a class that only describes an interface. The real module is 0.45 MB of
each child's 7-10 MB (and of a journal child's forked helper), and nothing else a
child imports needs it.

``lazy_typing()`` puts a stand-in in ``sys.modules`` that holds those names
(``Protocol`` a plain base class, ``cast`` and ``overload`` doing what they do at
run time: nothing) and the two ``dataclasses`` reads of every field
(``ClassVar``, ``_GenericAlias``: a field annotated ``ClassVar[...]`` is still
told from the stand-in's own ``ClassVar``). Any other name asked of it imports
the real module and copies its names into the stand-in, as ``lazyinspect`` does,
so a later user of ``typing`` gets the real one. Called before anything else is
imported (``agent.readerchild``); the agent itself imports the real module.

A name asked that the stand-in does not hold is told on stderr (the child's goes to
the agent's log) with the module that asked, and kept in ``ASKED``: the child still
works, with the real module's 0.45 MB more. ``tests/unit/test_reader_child_typing.py``
fails on it, for every kind of child: its imports, its reading, and every use of
``typing`` in the source of the package modules it loads.
"""

from __future__ import annotations

import sys
import types

# (name, the module that asked for it) of each name the stand-in did not hold.
ASKED: list[tuple[str, str]] = []


def _asker() -> str:
    """The module whose code asked the stand-in for a name (the first frame outside this
    module and the import system)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = str(frame.f_globals.get("__name__", "?"))
        if name != __name__ and not name.startswith("importlib"):
            return name
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


class _Typing(types.ModuleType):
    """Stands in for ``typing`` until a name it does not hold is asked for."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name.endswith("__"):
            # The import system's probes (``__path__`` for a ``from typing import``):
            # answered as a module without them, not by loading the real one.
            raise AttributeError(name)
        asker = _asker()
        ASKED.append((name, asker))
        sys.stderr.write(
            f"journalban.lazytyping: {asker} asked for typing.{name}, which the reader "
            "children's stand-in for typing does not hold: the real module is loaded (0.45 MB "
            "more in this child). Use the name in annotations only (or under TYPE_CHECKING), "
            "or give the stand-in it.\n"
        )
        if sys.modules.get("typing") is self:
            del sys.modules["typing"]
        import typing  # the real module, now in sys.modules

        vars(self).update(vars(typing))
        return getattr(typing, name)


class _Protocol:
    """A class's base where the class describes an interface (``typing.Protocol``)."""

    __slots__ = ()

    def __class_getitem__(cls, item: object) -> type:
        return cls


class _Alias:
    """``typing._GenericAlias`` for ``dataclasses``' test of a ``ClassVar[...]`` annotation."""


def _cast(typ: object, value: object) -> object:
    return value


def _overload(func: object) -> object:
    return func


class _Annotation:
    """A name used in annotations (strings, by ``from __future__ import annotations``; one
    evaluated all the same, ``ClassVar[int]``, is the name itself)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getitem__(self, item: object) -> _Annotation:
        return self

    def __repr__(self) -> str:
        return f"typing.{self.name} (stand-in)"


def stand_in() -> types.ModuleType:
    """A new stand-in (not placed)."""
    module = _Typing("typing")
    held: dict[str, object] = {
        "TYPE_CHECKING": False,
        "Protocol": _Protocol,
        "cast": _cast,
        "overload": _overload,
        "_GenericAlias": _Alias,
    }
    held.update((name, _Annotation(name)) for name in ("Any", "Final", "IO", "ClassVar"))
    vars(module).update(held)
    return module


def lazy_typing() -> None:
    """Put the stand-in in place, unless ``typing`` is already imported."""
    if "typing" not in sys.modules:
        sys.modules["typing"] = stand_in()
