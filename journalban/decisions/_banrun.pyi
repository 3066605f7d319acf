from collections.abc import Callable
from types import ModuleType

from journalban.addresses import IPNetwork
from journalban.decisions.plainban import PlainBans
from journalban.events import Ban

def setup(
    ban_type: type[Ban],
    address_type: type[object],
    host_type: type[IPNetwork],
    netmask: object,
    jail_bantime: float,
    line_chars: int,
    cut: Callable[[str], str],
    spent_lines: Callable[..., tuple[str, ...]],
    stored_network_text: Callable[[str], tuple[IPNetwork, str]],
) -> None: ...
def new_ban(
    jail: str,
    network: IPNetwork,
    banned_at: float,
    expires_at: float | None,
    ban_count: int,
    reason: str,
    failures: int,
    source: str,
    lines: tuple[str, ...],
    account: str,
) -> Ban: ...
def new_ban_pair(
    jail: str,
    network: IPNetwork,
    banned_at: float,
    expires_at: float | None,
    ban_count: int,
    reason: str,
    failures: int,
    source: str,
    lines: tuple[str, ...],
    account: str,
) -> tuple[Ban, Ban]: ...
def network_text(text: str) -> tuple[IPNetwork, str]: ...
def setup_64(v6keys: ModuleType | None) -> None: ...
def first_ban(
    plain: PlainBans,
    key: str,
    when: float,
    failures: int,
    source: str,
    now: float,
    reason: str,
    bantime: float | None,
    account: str | None,
) -> tuple[IPNetwork, str] | None: ...
def setup_verdicts(subnet: str, account: str) -> None: ...
def apply_verdicts(
    engine: object,
    rt: object,
    verdicts: object,
    when: float,
    source: str,
    commit: object,
    changes: object,
    now: float,
    banned: dict[str, Ban],
    virtual: dict[str, tuple[float, float]],
) -> list[str]: ...
def host_missing(hosts_type: type[object], memo: int) -> object: ...
