"""A network's first ban in C (``journalban.decisions._banrun``), the Python path beside it.

``first_ban(plain, key, ...)`` is ``network, text = stored_network_text(key)`` and then
``plain.ban(key, network, text, ...)`` (decisions.plainban): None when the ban was decided
there, else ``(network, text)`` for ``BanDeciding._ban_generally``. The C module does the
same steps on the same objects (the ``PlainBans``' slots, its dicts, the ``FirstBans``
run): an IPv4 /32 key's network is built as netobjects' maker builds it, an IPv6 /64 key's
by ``v6keys.network_64`` as ``stored_network_text`` asks it, any other key is handed to
``stored_network_text``; its ``Ban`` objects are filled slot by slot at their
member descriptors' offsets. What it builds is checked here at import against the Python
path (``_checked``); where it differs, where the module is not built (a pip install
without a compiler), or with JOURNALBAN_NATIVE_BANS=0, the Python path is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

from journalban import v6keys
from journalban.addresses import IPNetwork, stored_network_text
from journalban.config.detectors import JAIL_BANTIME
from journalban.decisions import banmaker, pointverdict
from journalban.decisions.plainban import PlainBans, spent_lines
from journalban.decisions.recentlines import LINE_CHARS, cut
from journalban.events import Ban, lineless
from journalban.jails.detector import ACCOUNT, SUBNET
from journalban.netobjects import HOST_V4_TYPE, host_v4_network, v6_prefix

ENV = "JOURNALBAN_NATIVE_BANS"
# (engine, rt, verdicts, when, source, commit, changes, now, banned, virtual) -> spent
ApplyVerdicts = Callable[..., list[str]]

FirstBan = Callable[
    [PlainBans, str, float, int, str, float, str, "float | None", "str | None"],
    "tuple[IPNetwork, str] | None",
]


def first_ban_python(
    plain: PlainBans,
    key: str,
    when: float,
    failures: int,
    source: str,
    now: float,
    reason: str,
    bantime: float | None,
    account: str | None,
) -> tuple[IPNetwork, str] | None:
    """The Python path: ``PlainBans.ban`` of ``key``'s network, or its (network, text)."""
    network, text = stored_network_text(key)
    if plain.ban(key, network, text, when, failures, source, now, reason, bantime, account):
        return None
    return network, text


_SAMPLE_TEXTS = ("0.0.0.0/32", "192.0.2.1/32", "10.20.30.40/32", "255.255.255.255/32",
                 "2001:db8::/64", "192.0.2.0/24")  # fmt: skip


def _same_network(ours: IPNetwork, theirs: IPNetwork) -> bool:
    """The same network in every way the agent reads it: class, attributes (in order;
    a plain /32's ``hosts``, a closure of its own, by name), address, hash, texts,
    equality both ways."""
    mine, real = vars(ours), vars(theirs)
    return (
        type(ours) is type(theirs)
        and list(mine) == list(real)
        and all(mine[k] == real[k] for k in real if k != "hosts")  # (a lambda of each /32)
        and type(ours.network_address) is type(theirs.network_address)
        and ours.network_address._ip == theirs.network_address._ip  # type: ignore[union-attr]
        and ours == theirs
        and theirs == ours
        and hash(ours) == hash(theirs)
        and str(ours) == str(theirs)
        and repr(ours) == repr(theirs)
        and ours.netmask is theirs.netmask
    )


def _checked(module: ModuleType) -> bool:
    """Whether the C module builds what the Python path builds, on sample values."""
    samples = (
        ("sshd", host_v4_network(1), 1.5, 2.5, 1, "failures", 5, "files:x", ("a",), ""),
        ("web", stored_network_text("2001:db8::/64")[0], 0.0, None, 3, "account", 0, "", (),
         "root"),
    )  # fmt: skip
    for args in samples:
        made, (ban, bare) = module.new_ban(*args), module.new_ban_pair(*args)
        if not (
            banmaker._alike(made, Ban(*args))
            and banmaker._alike(ban, Ban(*args))
            and banmaker._alike(bare, lineless(Ban(*args)))
        ):
            return False
    for text in _SAMPLE_TEXTS:
        ours, theirs = module.network_text(text), stored_network_text(text)
        if ours[1] != theirs[1] or getattr(ours[0], "_text", None) != text:
            return False
        if not _same_network(ours[0], theirs[0]):
            return False
    return True


def _native() -> tuple[FirstBan, ApplyVerdicts] | None:
    """The C ``first_ban``, set up and checked; None where it is not to be used."""
    if os.environ.get(ENV, "1") == "0" or HOST_V4_TYPE is not type(host_v4_network(0)):
        return None
    try:
        from journalban.decisions import _banrun
    except ImportError:
        return None
    probe = host_v4_network(0)
    try:
        _banrun.setup(Ban, type(probe.network_address), HOST_V4_TYPE, probe.netmask,
                      JAIL_BANTIME, LINE_CHARS, cut, spent_lines, stored_network_text)  # fmt: skip
        _banrun.setup_verdicts(SUBNET, ACCOUNT)
        # (an IPv6 /64 key: v6keys.network_64, as stored_network_text calls it, without its
        # frame; a module built before setup_64 was hands those keys to stored_network_text)
        if hasattr(_banrun, "setup_64"):
            _banrun.setup_64(v6keys if v6_prefix is not None else None)
        if not _checked(_banrun):
            return None
    except (AttributeError, TypeError, ValueError):
        return None
    return _banrun.first_ban, _banrun.apply_verdicts


_NATIVES = _native()
NATIVE: FirstBan | None = None if _NATIVES is None else _NATIVES[0]
# What ``BanDeciding`` calls (read at each call: tests switch them with ``use``).
first_ban: FirstBan = first_ban_python if NATIVE is None else NATIVE
# ``BanDeciding._apply_verdicts`` in C, its engine first (a subnet's verdict: the method).
apply_verdicts: ApplyVerdicts | None = None if _NATIVES is None else _NATIVES[1]


def use(native: bool) -> bool:
    """Decide first bans (and ``HostVerdicts``' misses: decisions.pointverdict) in C (if
    built and checked) or in Python; whether C is in use."""
    global first_ban, apply_verdicts
    pointverdict.use_native(native)
    on = native and _NATIVES is not None
    first_ban = _NATIVES[0] if on and _NATIVES is not None else first_ban_python
    apply_verdicts = _NATIVES[1] if on and _NATIVES is not None else None
    return on
