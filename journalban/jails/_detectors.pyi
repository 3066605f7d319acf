from collections.abc import Callable, Sequence

from journalban.jails.detector import Failure, VerdictTuple

def setup(
    verdict: type[object],
    bucket_add_at: Callable[[list[int], int], int],
    note_distinct: Callable[[dict[str, float], str, float, float, int], bool],
    account_key: Callable[[str], str],
    account_max: int,
    buckets: int,
    slow: str,
    account: str,
    attack_mode: str,
) -> None: ...

class Apart:
    def __init__(
        self,
        good_networks: Callable[[str], bool] | None,
        known_good: object | None,
        crowd: list[Failure] | None,
        observers: tuple[tuple[int, object], ...],
    ) -> None: ...
    def __call__(self, key: str, user: str | None, when: float) -> Sequence[VerdictTuple]: ...
