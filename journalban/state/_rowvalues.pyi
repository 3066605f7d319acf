from collections.abc import Callable, Mapping, Sequence
from types import NotImplementedType

from journalban.events import Ban

def ban_values(
    bans: Sequence[Ban],
    lines_of: dict[int, tuple[str, ...]] | None,
    text_attr: str,
    network_text: Callable[..., str],
) -> list[object]: ...
def lines_text(lines: Sequence[str]) -> str: ...
def shared_params(part: list[object]) -> tuple[int, list[object]]: ...
def packed(changes: Mapping[str, str | None], head: str, sep: str, gone: str) -> str | None: ...
def unstored_rows(
    history: Sequence[tuple[Ban, bool]],
    bans: Sequence[Ban],
    text_attr: str,
    network_text: Callable[..., str],
) -> list[tuple[str, str, float, float | None, int]] | NotImplementedType | None: ...
