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


def main(argv: list[str]) -> int:
    lazy_typing()
    lazy_inspect()
    if argv == ["journal"]:
        from journalban.agent.journalreader import finder, warm_up
        from journalban.sources import journalworker

        return journalworker.main(finder, warm_up)
    if argv == ["file"]:
        from journalban.agent import filereader

        filereader.main()
        return 0
    print("usage: python -I -m journalban.agent.readerchild journal|file", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
