"""The elements of one of the agent's nftables sets, in a network namespace of the test's own.

``nft -j list set inet journalban NAME`` run in the namespace of ``pid`` (``nsenter``),
each element as text: an address, or a prefix as ``ADDR/LEN``; an element with a
timeout is unwrapped from its ``elem`` object.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any


def set_elements(pid: int, name: str, *, missing_ok: bool = False) -> set[str]:
    """The set's elements as text.

    ``missing_ok``: a set (or table) that does not exist (yet) has none; otherwise
    nft's failure raises ``subprocess.CalledProcessError``.
    """
    done = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "nft", "-j", "list", "set", "inet", "journalban", name],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        if missing_ok:
            return set()
        done.check_returncode()
    found: set[str] = set()
    for item in json.loads(done.stdout)["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            value: Any = elem["elem"]["val"] if isinstance(elem, dict) and "elem" in elem else elem
            if isinstance(value, dict) and "prefix" in value:
                value = f"{value['prefix']['addr']}/{value['prefix']['len']}"
            found.add(str(value))
    return found
