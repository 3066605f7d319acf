"""``subnet``: many distinct failing networks inside one prefix ban the prefix.

Per prefix (``prefix4`` / ``prefix6``) the networks that failed in it within
``findtime``, at most ``addresses`` of them (reaching that many calls for the
ban). The decisions stage narrows the prefix with the split rule so that it
never covers a protected or known-good network. Known-good failures do not
count. Bounded: at most ``max_tracked`` networks over all prefixes.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from math import isfinite

from journalban.addresses import ipv6_prefix_key
from journalban.config.detectors import SubnetConfig
from journalban.jails import nativecrowd
from journalban.jails.detector import SUBNET, Failure, Row, Verdict, VerdictTuple
from journalban.jails.distinct import note_distinct
from journalban.jails.rowtext import quoted, time_text, times_text
from journalban.jails.rowvalues import json_value, network_times
from journalban.jails.tracked import Tracked
from journalban.jails.v6text import prefix_of_v6_64

_PREFIX_MEMO = 65536
_INF = float("inf")

# A prefix's networks: a prefix where one network failed (most of them) keeps
# (network, time), a dict only from the second: a dict of one is 184 bytes, the pair 56.
Networks = dict[str, float] | tuple[str, float]


def networks_text(networks: Networks) -> str:
    """The state row's text: the dict's JSON whichever form is kept."""
    if isinstance(networks, tuple):  # (time_text, inline: a flood's every new prefix)
        key, when = networks
        if isfinite(when):
            return f"{{{quoted(key)}: {when!r}}}"
        return time_text(key, when)
    return times_text(networks)


def _row_text(value: Networks) -> str:
    """``changes``' text of a value (not None): a prefix of one network at a finite time
    written out (a flood's every new prefix), any other by ``networks_text``; jails._crowd
    makes the first shape's in C and calls this for the others."""
    if type(value) is tuple and isfinite(value[1]):
        return f"{{{quoted(value[0])}: {value[1]!r}}}"
    return networks_text(value)


class SubnetCrowd:
    name = "subnet"

    def __init__(self, config: SubnetConfig, max_tracked: int) -> None:
        self.config = config
        self.prefixes: Tracked[Networks] = Tracked(
            max(1, max_tracked // config.addresses), text=networks_text
        )
        self._prefix_of: dict[str, str] = {}  # IPv6 and the other forms (IPv4: cut as text)
        # An octet-aligned IPv4 prefix is the address's first octets: (how many, the tail).
        octets = config.prefix4 // 8 if config.prefix4 in (8, 16, 24) else 0
        self._v4_cut = (octets, ".0" * (4 - octets) + f"/{config.prefix4}")
        # A group-aligned IPv6 prefix of a /64 key: its first groups as text (v6text).
        self._v6_groups = config.prefix6 // 16 if config.prefix6 in (16, 32, 48, 64) else 0
        self._v6_tail = f"::/{config.prefix6}"
        # ``observe_all`` in C (jails.nativecrowd) unless ``prefix_of`` is another's or the
        # map is not a Tracked (a test's): the C cuts keys as ``prefix_of`` does.
        self._plain = type(self).prefix_of is _PYTHON_PREFIX_OF and type(self.prefixes) is Tracked

    @property
    def tracked(self) -> int:
        return len(self.prefixes)

    def prefix_of(self, key: str) -> str:
        """The text of the configured prefix holding network ``key``."""
        if key.endswith("/32"):
            octets, tail = self._v4_cut
            if octets == 3:  # the default /24: all but the last octet
                return key[: key.rfind(".")] + tail
            if octets:
                # The agent's IPv4 keys are canonical dotted quads (inet_ntop, str()):
                # the prefix is their first octets as text, no memo (a flood's distinct
                # addresses filled it: 65536 entries, about 8 MB, mostly used once).
                return ".".join(key[:-3].split(".", octets)[:octets]) + tail
        if self._v6_groups and key.endswith("::/64"):  # the agent's IPv6 keys (ipv6_prefix 64)
            cut = prefix_of_v6_64(key, self._v6_groups)
            if cut is not None:  # (no memo: a flood's /64s are mostly distinct)
                return cut + self._v6_tail
        found = self._prefix_of.get(key)
        if found is None and key.endswith("/32"):
            # IPv4 in integers: building an ipaddress network costs ~10 µs a key.
            length = self.config.prefix4
            value = int.from_bytes(socket.inet_aton(key[:-3]), "big")
            mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
            found = f"{socket.inet_ntoa((value & mask).to_bytes(4, 'big'))}/{length}"
        if found is None and ":" in key:
            # IPv6 in integers too (inet_pton/inet_ntop; see ipv6_prefix_key).
            address, _, plen = key.partition("/")
            if plen.isdigit() and int(plen) <= 128:
                six = ipv6_prefix_key(address, min(int(plen), self.config.prefix6))
                found = None if six is None else six[2]
        if found is None:
            net = ipaddress.ip_network(key, strict=False)
            length = self.config.prefix4 if net.version == 4 else self.config.prefix6
            if net.prefixlen > length:
                net = net.supernet(new_prefix=length)
            found = str(net)
        if len(self._prefix_of) >= _PREFIX_MEMO:
            self._prefix_of.clear()
        self._prefix_of[key] = found
        return found

    def observe(self, seen: Failure) -> Sequence[VerdictTuple]:
        found = self.observe_all((seen,))
        return found[0][1] if found else ()

    def observe_all(
        self, failures: Iterable[Failure]
    ) -> list[tuple[float, Sequence[VerdictTuple]]]:
        """``observe`` of each failure in turn; (its time, its verdicts) of each that calls
        for a ban. The engine hands a step's failures at once (``JailDetection.crowd_verdicts``):
        one frame of Python for them all, the configuration read once, not a call each. In C
        where jails._crowd is built (jails.nativecrowd: the same steps, the same objects)."""
        if (native := nativecrowd.NATIVE) is not None and self._plain:
            return native.observe_all(self, failures)
        cfg = self.config
        octets, tail = self._v4_cut
        v4_24 = octets == 3
        many, findtime, needed = cfg.addresses > 1, cfg.findtime, cfg.addresses
        prefixes = self.prefixes  # (its ``take`` read each time: a full map rebinds it)
        found: list[tuple[float, Sequence[VerdictTuple]]] = []
        for key, _, when, known_good in failures:
            if known_good:
                continue
            if v4_24 and key.endswith("/32"):  # (prefix_of's first answer, without its call)
                prefix = key[: key.rfind(".")] + tail
            else:
                prefix = self.prefix_of(key)
            kept = prefixes.take(prefix, None)  # (put back below, or left out at a verdict)
            if kept is None:
                if many:  # (always, as configured) one network is not a crowd
                    if len(held := prefixes.kept) < prefixes.cap:  # (``add`` written out)
                        held[prefix] = prefixes.dirty[prefix] = (key, when)
                    else:
                        prefixes.add(prefix, (key, when))
                    continue
                networks: dict[str, float] = {}
            elif isinstance(kept, tuple):
                if kept[0] == key and many:  # the prefix's one network again
                    # (``put_back`` written out: no frame of Python)
                    again = (key, when if when > kept[1] else kept[1])
                    prefixes.kept[prefix] = prefixes.dirty[prefix] = again
                    continue
                networks = {kept[0]: kept[1]}
            else:
                networks = kept
            if not note_distinct(networks, key, when, findtime, needed):
                value = next(iter(networks.items())) if len(networks) == 1 else networks
                if kept is None:
                    prefixes.add(prefix, value)
                else:
                    prefixes.kept[prefix] = prefixes.dirty[prefix] = value  # (put_back)
                continue
            if kept is not None:
                prefixes.taken_out(prefix)
            found.append(
                (
                    when,
                    (Verdict(SUBNET, prefix, len(networks), cfg.bantime, None, tuple(networks)),),
                )
            )
        return found

    def banned(self, key: str) -> None:
        pass

    def discard_changes(self) -> None:
        self.prefixes.discard()

    def changes(self) -> list[Row]:
        if (native := nativecrowd.NATIVE) is not None:  # (the same rows, made in C)
            return native.prefix_rows(self.prefixes, _row_text)
        return [
            (key, None if value is None else _row_text(value))
            for key, value in self.prefixes.changed().items()
        ]

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        """Keep the networks within ``findtime`` of the newest stored (at most ``now``): the
        lines read on from the committed position are as old as those (a backlog), and
        ``note_distinct`` counts by the lines' times, however old by the clock."""
        findtime = self.config.findtime
        newest, since = -_INF, -_INF  # (so far: a row left behind then is left for good)
        keys: list[str] = []
        found: list[dict[str, float]] = []
        for key, value in rows:
            data = json_value(value)
            last = max(data.values(), default=-_INF)
            if last > newest:
                newest = last
                since = (last if last < now else now) - findtime
            if last > since:  # (most of a flood's prefixes are past findtime: dropped unchecked)
                keys.append(key)
                found.append(data)
        for key, data in zip(keys, found, strict=True):
            networks = {k: t for k, t in data.items() if t > since}
            if networks:
                # jails.rowvalues: networks no ban can be made of, or times that are not
                # finite, make the row skipped and counted. A key that is no prefix is never
                # reached by a failure's prefix: it is left to the cap.
                self.prefixes.load(key, network_times(networks))


_PYTHON_PREFIX_OF = SubnetCrowd.prefix_of
