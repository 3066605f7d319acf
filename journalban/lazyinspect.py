"""``inspect`` loaded when first used, in the reader children (their memory, issue 19).

``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis`` and their
tables: 0.9 MB of a reader child's 9 MB) for one use: the docstring of a
dataclass written without one, made from its signature. Every dataclass the
children import has its own docstring, so a child that calls ``lazy_inspect()``
before importing anything else never loads it (``tests/unit/test_lazy_inspect.py``).

``sys.modules["inspect"]`` is then a stand-in: the first attribute asked of it
imports the real module and copies the real module's names into the stand-in,
so that a module that imported the stand-in (``dataclasses``) sees the real
functions from then on. ``importlib.util.LazyLoader`` cannot do this: the next
``import inspect`` statement reads the module's ``__spec__``, which loads it.
Only the reader children use it (single-threaded); the agent's asyncio uses
``inspect`` itself.
"""

from __future__ import annotations

import sys
import types


class _Inspect(types.ModuleType):
    """Stands in for ``inspect`` until one of its names is asked for."""

    def __getattr__(self, name: str) -> object:
        if sys.modules.get("inspect") is self:
            del sys.modules["inspect"]
        import inspect  # the real module, now in sys.modules

        vars(self).update(vars(inspect))
        return getattr(inspect, name)


def lazy_inspect() -> None:
    """Put the stand-in in place, unless ``inspect`` is already imported."""
    if "inspect" not in sys.modules:
        sys.modules["inspect"] = _Inspect("inspect")
