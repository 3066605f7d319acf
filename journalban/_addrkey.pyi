from collections.abc import Callable, Sequence
from ipaddress import IPv6Network

def setup(
    blocks: Sequence[tuple[int, int]],
    python: Callable[[str, int], tuple[int, int, str] | None],
) -> None: ...
def ipv6_prefix_key(text: str, prefixlen: int) -> tuple[int, int, str] | None: ...
def setup_64(address_type: type[object], network_type: type[object], netmask: object,
             bits: int) -> None: ...  # fmt: skip
def network_64(text: str) -> IPv6Network | None: ...
