"""The booted agent under the shipped unit with some of its shipped drop-ins.

Shared by tests/booted/test_hardening.py and test_dropins.py: each drop-in is
shown twice, its feature failing without it and working with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from support.container import BootedHost

UNIT = "journalban.service"
DROPIN_DIR = "/etc/systemd/system/journalban.service.d"
SHIPPED_DROPINS = "/usr/share/journalban/units/dropins"
JAIL_D = "/etc/journalban/jail.d"
CONFIG = f"{JAIL_D}/booted-hardening.yaml"


def shipped(host: BootedHost, name: str) -> str:
    """The text of a drop-in as the packages install it."""
    return (host.root / SHIPPED_DROPINS.lstrip("/") / name).read_text()


class Phases:
    """Puts the agent in one set-up after another: drop-ins, a jail.d file, a restart each."""

    def __init__(self, host: BootedHost) -> None:
        self.host = host
        self.installed: set[str] = set()

    def __call__(
        self,
        *,
        dropins: tuple[str, ...] = (),
        config: str | None = None,
        texts: dict[str, str] | None = None,
        check: bool = True,
    ) -> None:
        """Exactly these shipped ``dropins`` (``texts``: by name, edited as their
        comments tell the administrator to) and this jail.d ``config``, then a
        restart (which must succeed when ``check``)."""
        wanted = {name: shipped(self.host, name) for name in dropins} | (texts or {})
        for name in self.installed - set(wanted):
            self.host.remove(f"{DROPIN_DIR}/{name}")
        for name, text in wanted.items():
            self.host.write(f"{DROPIN_DIR}/{name}", text)
        self.installed = set(wanted)
        if config is None:
            self.host.remove(CONFIG)
        else:
            self.host.write(CONFIG, config)
        self.host.systemctl("daemon-reload")
        # A phase before may have left the unit failed, past its start limit.
        self.host.systemctl("reset-failed", UNIT, check=False)
        self.host.systemctl("restart", UNIT, check=check)


@contextlib.contextmanager
def phases(host: BootedHost) -> Iterator[Phases]:
    """A ``Phases`` for the test; at the end no drop-in, no jail.d file, a restart."""
    phase = Phases(host)
    try:
        yield phase
    finally:
        phase()


@contextlib.contextmanager
def configured(
    host: BootedHost,
    *,
    dropins: tuple[str, ...] = (),
    config: str | None = None,
    texts: dict[str, str] | None = None,
) -> Iterator[None]:
    """The agent restarted with shipped drop-ins and a jail.d file; all undone after."""
    with phases(host) as phase:
        phase(dropins=dropins, config=config, texts=texts)
        yield


def journal_since(host: BootedHost, since: str) -> str:
    return host.journal("-u", UNIT, "--since", since, "-o", "cat")


def now(host: BootedHost) -> str:
    return host.run("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
