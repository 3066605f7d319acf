def ends_by_find(
    text: str,
    word: str,
    literals: tuple[str, ...],
    offsets: tuple[int, ...],
    pos: int,
    pivot: int = -1,
) -> list[int] | None: ...
def join_lines(text: str, ends: list[int]) -> str | None: ...
def pick_lines(text: str, ends: list[int], found: list[int]) -> list[int]: ...
def find(text: str, word: str, pos: int, pivot: int = -1) -> int | None: ...
def after_lines(
    text: str,
    word: str,
    literals: tuple[str, ...],
    offsets: tuple[int, ...],
    pos: int,
    pivot: int,
    tail: str,
    rests: tuple[str, ...],
    reach: int,
) -> list[int] | None: ...
