"""``subnet``'s step and the ``subnet`` and ``slow`` rows in C (``journalban.jails._crowd``),
or None.

On a flood every failure goes through ``SubnetCrowd.observe_all`` (a new prefix each: the
map's oldest out for it once full) and changes a row of ``subnet`` and of ``slow``, each
written at the next commit by a comprehension. The C module does the same steps on the same
objects in the same order (the map's keys, changed keys and evictions, the verdicts and the
rows are the Python path's); ``prefix_of``'s general path, ``note_distinct``, ``Tracked.add``
but for a full map's one key out for one in, and any row of an unusual shape call back the
Python. jails.subnet and jails.slow use it where their classes and the prefix map are the
original ones; the Python methods stay the reference and are used where the module is not
built or with ``JOURNALBAN_NATIVE_DETECT=0`` (jails.nativedetect's switch). ``NATIVE`` is
looked up at each call, so a test sets it to None to make the Python path.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from journalban.jails.detector import SUBNET, Failure, Row, Verdict, VerdictTuple
from journalban.jails.distinct import note_distinct
from journalban.jails.rowtext import quoted
from journalban.jails.tracked import Tracked

ENV = "JOURNALBAN_NATIVE_DETECT"  # (the one switch of the detectors' C: nativedetect.ENV)


class Native(Protocol):
    """``journalban.jails._crowd`` (its ``.pyi`` has it too)."""

    def observe_all(
        self, subnet: Any, failures: Iterable[Failure]
    ) -> list[tuple[float, Sequence[VerdictTuple]]]: ...

    def prefix_rows(self, tracked: Tracked[Any], text_of: Callable[[Any], str]) -> list[Row]: ...

    def bucket_rows(self, tracked: Tracked[Any], text_of: Callable[[Any], str]) -> list[Row]: ...


def _load() -> Native | None:
    if os.environ.get(ENV, "1") == "0":
        return None
    try:
        from journalban.jails import _crowd
    except ImportError:
        return None
    _crowd.setup(Verdict, SUBNET, note_distinct, quoted, Tracked, OrderedDict)
    return _crowd


NATIVE: Native | None = _load()
