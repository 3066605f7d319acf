"""The reader children import no ``inspect`` (journalban.lazyinspect: 0.9 MB of each child),
and the stand-in gives the real module to whatever asks for it."""

from __future__ import annotations

import subprocess
import sys

from support.imports import modules_after

CHILD_IMPORTS = (
    "from journalban.lazyinspect import lazy_inspect; lazy_inspect(); "
    "import journalban.agent.readerchild, journalban.agent.journalreader as r; r.warm_up(); "
    "import journalban.sources.sdreader, journalban.agent.filereader, journalban.matching.library"
)


def test_the_children_s_imports_leave_inspect_unloaded() -> None:
    loaded = modules_after(CHILD_IMPORTS)
    assert {
        "journalban.agent.journalfinder",
        "journalban.agent.filereader",
        "dataclasses",
    } <= loaded
    assert {"ast", "dis"} & loaded == set()


def test_without_it_dataclasses_loads_inspect() -> None:
    """What the stand-in is for."""
    assert {"ast", "dis"} <= modules_after("import dataclasses")


def test_every_dataclass_the_children_import_has_a_docstring() -> None:
    """One without would load inspect at import (dataclasses makes its docstring from it)."""
    code = CHILD_IMPORTS + (
        "; import dataclasses, sys; print([f'{n}.{k}' for n, m in list(sys.modules.items()) "
        "if n.startswith('journalban') for k, v in vars(m).items() if isinstance(v, type) "
        "and dataclasses.is_dataclass(v) and v.__module__ == n and not v.__doc__])"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


STAND_IN = r"""
import sys
from journalban.lazyinspect import lazy_inspect
lazy_inspect()
import dataclasses
assert type(sys.modules["inspect"]).__name__ == "_Inspect" and "ast" not in sys.modules

@dataclasses.dataclass
class Undocumented:
    a: int
    b: str = "x"

assert Undocumented.__doc__ == "Undocumented(a: int, b: str = 'x')", Undocumented.__doc__
import inspect
assert type(inspect).__name__ == "module"  # the real one from now on
assert sys.modules["inspect"] is inspect
assert str(inspect.signature(lambda x, y=2: x)) == "(x, y=2)"
assert dataclasses.inspect.signature is inspect.signature  # the stand-in holds the real names
print("ok")
"""


def test_the_stand_in_loads_the_real_inspect_when_used() -> None:
    out = subprocess.run([sys.executable, "-I", "-c", STAND_IN], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_nothing_changes_once_inspect_is_imported() -> None:
    loaded = modules_after(
        "import inspect; from journalban.lazyinspect import lazy_inspect; lazy_inspect(); "
        "import sys; assert sys.modules['inspect'] is inspect"
    )
    assert "ast" in loaded
