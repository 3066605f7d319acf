from types import ModuleType

def setup(
    trace: ModuleType,
    count_hits_python: object,
    counter_add: object,
    recent_add: object,
    line_chars: int,
) -> None: ...
def count_hits(*args: object) -> tuple[int, float]: ...
