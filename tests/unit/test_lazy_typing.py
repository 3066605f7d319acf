"""The reader children run without the real ``typing`` (journalban.lazytyping: 0.45 MB of
each child), match as with it, and the stand-in gives the real module to whatever asks."""

from __future__ import annotations

import pickle
import subprocess
import sys

from journalban.matching.compiled import CompiledFilter
from journalban.matching.engine import LineMatcher
from journalban.matching.library import FilterLibrary
from support.imports import modules_after

IMPORTS = (
    "from journalban.lazyinspect import lazy_inspect; lazy_inspect(); "
    "import journalban.agent.readerchild, journalban.agent.journalreader as r; r.warm_up(); "
    "import journalban.sources.journalworker, journalban.sources.sdreader, "
    "journalban.agent.filereader, journalban.matching.engine, journalban.matching.compiled"
)
CHILDREN = (
    "from journalban.lazytyping import lazy_typing; lazy_typing(); "
    + IMPORTS
    + "; import sys; assert type(sys.modules['typing']).__name__ == '_Typing'"
)

LINES = [
    "Dec  7 06:00:01 host sshd[101]: Failed password for root from 192.0.2.7 port 22 ssh2",
    "Dec  7 06:00:02 host sshd[102]: Invalid user admin from 2001:db8::5 port 4022",
    "Dec  7 06:00:03 host sshd[103]: Accepted publickey for alice from 198.51.100.2 port 1 ssh2",
    "Dec  7 06:00:04 host sshd[104]: Connection closed by authenticating user root 192.0.2.9 "
    "port 5 [preauth]",
    "Dec  7 06:00:05 host sshd[105]: pam_unix(sshd:auth): authentication failure; logname= "
    "uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.4  user=root",
    "Dec  7 06:00:06 host CRON[106]: pam_unix(cron:session): session opened for user root",
]

# The child's side: a FilterDef unpickled (as the request brings it), its matcher built
# and run, all with the stand-in; typing must still be the stand-in at the end.
MATCH = r"""
import pickle, sys
from journalban.lazytyping import lazy_typing
lazy_typing()
from journalban.lazyinspect import lazy_inspect
lazy_inspect()
from journalban.matching.compiled import CompiledFilter
from journalban.matching.engine import LineMatcher
fdef, lines = pickle.loads(sys.stdin.buffer.read())
matcher = LineMatcher(CompiledFilter(fdef), lambda: 1.0)
out = [repr(matcher.match_line(line)) for line in lines]
assert type(sys.modules["typing"]).__name__ == "_Typing", "the real typing was loaded"
sys.stdout.write("\n".join(out))
"""


def test_the_children_s_imports_leave_the_real_typing_out() -> None:
    loaded = modules_after(CHILDREN)
    assert {"journalban.agent.journalfinder", "journalban.agent.filereader"} <= loaded
    assert {"typing.io", "typing.re"} & loaded == set()  # (the real module registers them)


def test_without_it_the_children_s_imports_load_typing() -> None:
    """What the stand-in is for."""
    assert "typing.io" in modules_after(IMPORTS)


def test_a_matcher_under_the_stand_in_matches_as_with_typing() -> None:
    fdef = FilterLibrary(None).load("sshd")
    matcher = LineMatcher(CompiledFilter(fdef), lambda: 1.0)
    expected = [repr(matcher.match_line(line)) for line in LINES]
    out = subprocess.run(
        [sys.executable, "-I", "-c", MATCH],
        input=pickle.dumps((fdef, LINES)), capture_output=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split("\n") == expected
    assert any("192.0.2.7" in text for text in expected)  # (the lines do match)


STAND_IN = r"""
import sys
from journalban.lazytyping import lazy_typing
lazy_typing()
import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol, cast, overload
assert type(sys.modules["typing"]).__name__ == "_Typing" and not TYPE_CHECKING

class Shape(Protocol):
    def area(self) -> float: ...

class Square(Shape):
    def __init__(self, side: float) -> None:
        self.side = side
    def area(self) -> float:
        return self.side ** 2

assert Square(3).area() == 9 and Protocol[int] is Protocol
assert cast("int", "x") == "x"

@overload
def twice(x: int) -> int: ...
@overload
def twice(x: str) -> str: ...
def twice(x: Any) -> Any:
    return x * 2

assert twice(2) == 4 and twice("a") == "aa"

@dataclasses.dataclass
class Row:
    "A row."
    kept: ClassVar[int] = 3
    a: int = 1
    b: Final[str] = "x"

assert [f.name for f in dataclasses.fields(Row)] == ["a", "b"], dataclasses.fields(Row)
assert type(sys.modules["typing"]).__name__ == "_Typing"
import typing
assert typing.get_origin(list[int]) is list  # a name it does not hold: the real module
assert type(sys.modules["typing"]).__name__ == "module"
import typing as again
assert again is sys.modules["typing"] and again.Generic is typing.Generic
print("ok")
"""


def test_the_stand_in_holds_what_the_children_use_and_loads_the_rest() -> None:
    out = subprocess.run([sys.executable, "-I", "-c", STAND_IN], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_nothing_changes_once_typing_is_imported() -> None:
    loaded = modules_after(
        "import typing; from journalban.lazytyping import lazy_typing; lazy_typing(); "
        "import sys; assert sys.modules['typing'] is typing"
    )
    assert "typing.io" in loaded
