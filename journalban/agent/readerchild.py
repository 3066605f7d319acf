"""The reader children's command: ``python -I -m journalban.agent.readerchild journal|file``.

``journal``: the journal reader child with the jail's matcher
(``journalreader``); ``file``: the file jail's reader child (``filereader``).
Before either is imported, ``inspect`` is made lazy (``journalban.lazyinspect``):
the child never uses it, and ``dataclasses`` would import it (0.9 MB of each
child's memory, issue 19); so is ``typing`` (``journalban.lazytyping``: the
children's modules use its names in annotations and interfaces only, 0.45 MB).
"""

from __future__ import annotations

import sys

from journalban.lazyinspect import lazy_inspect
from journalban.lazytyping import lazy_typing

# Not typing's: this module is imported before the stand-in is placed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def prepared(kind: str) -> Callable[[], int] | None:
    """The stand-ins in place and the ``kind`` of child's modules imported: its main (None:
    no such kind). The guard of the stand-ins runs the children's start through it
    (``tests/unit/test_reader_child_typing.py``)."""
    lazy_typing()
    lazy_inspect()
    if kind == "journal":
        from journalban.agent.journalreader import finder, warm_up
        from journalban.sources import journalworker

        return lambda: journalworker.main(finder, warm_up)
    if kind == "file":
        from journalban.agent import filereader

        def read_files() -> int:
            filereader.main()
            return 0

        return read_files
    return None


def main(argv: list[str]) -> int:
    run = prepared(argv[0]) if len(argv) == 1 else None
    if run is None:
        print("usage: python -I -m journalban.agent.readerchild journal|file", file=sys.stderr)
        return 2
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
