"""The guard of the reader children's stand-in for ``typing`` (``journalban.lazytyping``).

Each kind of child is started as ``agent.readerchild`` starts it (``python -I``, the
stand-ins placed, its modules imported), and made to work: the journal child compiles
its matcher's first regexes (``warm_up``), the file child reads a log of sshd lines and
writes its frames. The real ``typing`` must not have been loaded, nor a name the
stand-in does not hold asked for (the stand-in names the module that asked). The source
of every package module a child loaded is read too, for a use of ``typing`` at run time
that these runs did not reach: only the names the stand-in holds may be taken from it
outside annotations and ``if TYPE_CHECKING:`` blocks.
"""

from __future__ import annotations

import ast
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import journalban
from journalban.agent.filereader import FileJob
from journalban.lazytyping import stand_in
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter

LINES = [
    "Dec  7 06:00:01 host sshd[101]: Failed password for root from 192.0.2.7 port 22 ssh2",
    "Dec  7 06:00:02 host sshd[102]: Invalid user admin from 2001:db8::5 port 4022",
    "Dec  7 06:00:03 host sshd[103]: Accepted publickey for alice from 198.51.100.2 port 1 ssh2",
    "Dec  7 06:00:05 host sshd[105]: pam_unix(sshd:auth): authentication failure; logname= "
    "uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.4  user=root",
]

# A child's start as readerchild.main makes it, then its work; what it loaded and asked.
CHILD = r"""
import io, json, os, pickle, sys
from journalban.agent import readerchild
kind = sys.argv[1]
assert readerchild.prepared(kind) is not None
if kind == "journal":
    from journalban.agent.journalreader import warm_up
    warm_up()
    wrote = 0
else:
    from journalban.agent.filereader import serve
    job = pickle.loads(sys.stdin.buffer.read())
    read, write = os.pipe()
    os.close(write)  # the agent's end: the child reads what is there, then ends
    out = io.BytesIO()
    serve(job, read, out, lambda: True)
    wrote = len(out.getvalue())
from journalban import lazytyping
print(json.dumps({
    "stand_in": type(sys.modules["typing"]).__name__ == "_Typing",
    "real": "typing.io" in sys.modules,
    "asked": lazytyping.ASKED,
    "modules": sorted(sys.modules),
    "wrote": wrote,
}))
"""


def _child(kind: str, tmp_path: Path) -> dict[str, object]:
    job = b""
    if kind == "file":
        log = tmp_path / "auth.log"
        log.write_text("\n".join(LINES) + "\n")
        spec = MatcherSpec("sshd", None, None)
        # (findtime a year: the lines' dates, without a year, are read as this year's)
        job = pickle.dumps(FileJob("files:x", [str(log)], 366 * 86400.0, None, spec, (),
                                   pickle_filter(FilterLibrary(None).load("sshd"))))  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, kind], input=job, capture_output=True, check=False
    )
    assert out.returncode == 0, out.stderr.decode()
    assert b"lazytyping" not in out.stderr, out.stderr.decode()  # the stand-in's own message
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("kind", ["journal", "file"])
def test_a_reader_child_starts_and_works_without_the_real_typing(kind: str, tmp_path: Path) -> None:
    seen = _child(kind, tmp_path)
    assert seen["asked"] == [], f"names asked of the typing stand-in: {seen['asked']}"
    assert seen["stand_in"], "the real typing was loaded"
    assert not seen["real"], "the real typing was loaded"
    if kind == "file":
        assert isinstance(seen["wrote"], int)
        assert seen["wrote"] > 0  # (its frames: it read the lines)


SERVED = frozenset(n for n in vars(stand_in()) if not n.startswith("__"))
PACKAGE = Path(journalban.__file__).parent


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """The module's nodes that run: not in annotations (strings, by ``from __future__
    import annotations``), nor in ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns"):
                continue
            if isinstance(node, ast.If) and name == "body" and _is_type_checking(node.test):
                continue
            children = value if isinstance(value, list) else [value]
            todo.extend(c for c in children if isinstance(c, ast.AST))
    return found


def uses_beyond_the_stand_in(source: str) -> list[tuple[int, str]]:
    """(line, name) of each name taken from ``typing`` at run time that the stand-in
    does not hold."""
    tree = ast.parse(source)
    future = any(
        isinstance(n, ast.ImportFrom) and n.module == "__future__"
        and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    )  # fmt: skip
    nodes = _run_time_nodes(tree) if future else list(ast.walk(tree))
    aliases = {
        a.asname or a.name
        for n in nodes if isinstance(n, ast.Import)
        for a in n.names if a.name == "typing"
    }  # fmt: skip
    found: list[tuple[int, str]] = []
    for n in nodes:
        if isinstance(n, ast.ImportFrom) and n.module == "typing":
            found += [(n.lineno, a.name) for a in n.names if a.name not in SERVED]
        elif (
            isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
            and n.value.id in aliases and n.attr not in SERVED
        ):  # fmt: skip
            found.append((n.lineno, n.attr))
    return sorted(found)


def test_the_scan_finds_a_use_at_run_time_and_passes_annotations() -> None:
    source = (
        "from __future__ import annotations\n"
        "import typing\n"
        "from typing import TYPE_CHECKING, Any, cast\n"
        "if TYPE_CHECKING:\n"
        "    from typing import Iterator\n"
        "def f(x: typing.Sequence[Any]) -> typing.Iterator[int]:\n"
        "    from typing import get_args\n"
        "    return cast('Iterator[int]', typing.get_origin(x))\n"
    )
    assert uses_beyond_the_stand_in(source) == [(7, "get_args"), (8, "get_origin")]


@pytest.mark.parametrize("kind", ["journal", "file"])
def test_the_package_modules_a_child_loads_use_only_the_stand_in_s_names(
    kind: str, tmp_path: Path
) -> None:
    modules = _child(kind, tmp_path)["modules"]
    assert isinstance(modules, list)
    ours = [m for m in modules if m.startswith("journalban.")]
    assert "journalban.agent.readerchild" in ours
    offenders: list[str] = []
    for name in ours:
        path = PACKAGE.joinpath(*name.split(".")[1:])
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if not file.exists():  # (a C extension)
            continue
        offenders += [
            f"{name}:{line}: typing.{used}"
            for line, used in uses_beyond_the_stand_in(file.read_text())
        ]
    assert offenders == [], (
        "names taken from typing at run time in a reader child, which the stand-in "
        f"(journalban.lazytyping) does not hold: {offenders}"
    )
