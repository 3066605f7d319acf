from collections.abc import Callable, Iterable, Sequence
from typing import Any

from journalban.jails.detector import Failure, Row, VerdictTuple
from journalban.jails.tracked import Tracked

def setup(
    verdict: type[object],
    subnet: str,
    note_distinct: Callable[[dict[str, float], str, float, float, int], bool],
    quoted: Callable[[str], str],
    tracked: type[object],
    ordered_dict: type[object],
) -> None: ...
def observe_all(
    subnet: Any, failures: Iterable[Failure]
) -> list[tuple[float, Sequence[VerdictTuple]]]: ...
def prefix_rows(tracked: Tracked[Any], text_of: Callable[[Any], str]) -> list[Row]: ...
def bucket_rows(tracked: Tracked[Any], text_of: Callable[[Any], str]) -> list[Row]: ...
