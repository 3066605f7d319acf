"""Running the real agent (`journalban run`) as a process, for tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from journalban.state.files import DRY_RUN_STATE_FILE, state_path

if TYPE_CHECKING:
    from support.bus import PrivateBus

# A jail's settings turning off the detectors the packaged sshd jail turns on:
# for tests and benchmarks of the per-address count alone.
PER_ADDRESS_ONLY: dict[str, object] = {
    key: {"enabled": False} for key in ("slow", "subnet", "account", "attack_mode")
}

VENV_BIN = Path(sys.executable).parent
JOURNALBAN = str(VENV_BIN / "journalban")


def write_config(
    path: Path, state: Path, *, journal_dir: Path | None = None, **extra: object
) -> Path:
    data: dict[str, object] = {"state_dir": str(state), "bus": False}
    if journal_dir is not None:
        data["journal"] = {"directory": str(journal_dir)}
    data.update(extra)
    path.write_text(yaml.safe_dump(data))
    return path


def auth_log_config(tmp_path: Path, **jail: object) -> Path:
    """A dry-run agent, recidive off, whose sshd jail reads ``tmp_path/auth.log``, made
    empty (the in-process agent tests'); ``jail``: more of the jail's settings."""
    log = tmp_path / "auth.log"
    log.write_text("")
    return write_config(
        tmp_path / "journalban.yaml", tmp_path / "state", recidive={"enabled": False},
        firewall={"backend": "dry-run"},
        jails={"sshd": {"source": "files", "files": [str(log)], **jail}},
    )  # fmt: skip


def file_jail_config(tmp_path: Path, log: Path, maxretry: int) -> Path:
    """A dry-run agent whose one jail, ``ssh-files``, reads sshd's ``log`` (findtime
    1d): the file reader child's real tests."""
    return write_config(
        tmp_path / "journalban.yaml",
        tmp_path / "state",
        firewall={"backend": "dry-run"},
        jails={
            "sshd": {"enabled": False},
            "ssh-files": {
                "filter": "sshd", "source": "files", "files": [str(log)],
                "maxretry": maxretry, "findtime": "1d",
            },
        },
    )  # fmt: skip


def metrics_config(tmp_path: Path, journal_dir: Path, maxretry: int) -> tuple[Path, Path]:
    """A dry run reading ``journal_dir`` whose sshd jail counts per address alone (findtime
    and bantime 1h, ``maxretry``), its metrics in a text file written each second: the
    config and that file (``unreadable_lines`` reads it)."""
    textfile = tmp_path / "journalban.prom"
    cfg = write_config(tmp_path / "c.yaml", tmp_path / "state", journal_dir=journal_dir,
                       firewall={"backend": "dry-run"},
                       defaults={"findtime": "1h", "bantime": "1h", "maxretry": maxretry},
                       jails={"sshd": PER_ADDRESS_ONLY},
                       metrics={"textfile": str(textfile), "textfile_interval": "1s"})  # fmt: skip
    return cfg, textfile


def unreadable_lines(textfile: Path) -> int:
    """The lines counted unreadable, all jails', in the metrics' text file; -1 before it is
    written (or without the counter)."""
    try:
        text = textfile.read_text()
    except OSError:
        return -1
    found = re.findall(r"^journalban_lines_unreadable_total\{[^}]*\} (\S+)$", text, re.M)
    return int(sum(float(n) for n in found)) if found else -1


_started: list[AgentProcess] = []


def started() -> frozenset[int]:
    """The agents started so far (ids), to spare them in ``stop_leftovers``."""
    return frozenset(id(agent) for agent in _started)


def stop_leftovers(spare: frozenset[int] = frozenset()) -> None:
    """Kill agents a failed test left running and close their logs (tests/conftest.py).

    ``spare``: agents started before the test, by fixtures of a wider scope (a
    module's agent serves its next tests; its fixture stops it).
    """
    kept = [agent for agent in _started if id(agent) in spare and agent.proc.poll() is None]
    for agent in [agent for agent in _started if id(agent) not in spare]:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()
        agent._log.close()
    _started[:] = kept


class AgentProcess:
    """`journalban run` in a child process (optionally wrapped, e.g. in unshare -n).

    An agent a test leaves running (an assertion failed before its ``stop()``)
    is killed after the test, so it never outlives it.
    """

    def __init__(
        self,
        config: Path,
        *,
        dry_run: bool = True,
        wrapper: Sequence[str] = (),
        bus_address: str | None = None,
        cwd: Path | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        argv = [*wrapper, JOURNALBAN, "run", "--config", str(config)]
        env = dict(os.environ)
        if bus_address is None:
            argv.append("--no-bus")
        else:
            env["DBUS_SYSTEM_BUS_ADDRESS"] = bus_address
        if dry_run:
            argv.append("--dry-run")
        self.log_path = config.with_suffix(f".{time.monotonic_ns()}.log")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd, pass_fds=pass_fds
        )
        _started.append(self)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}:\n{self.log}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged in {timeout}s:\n{self.log}")

    def wait_serving(self, bus: PrivateBus) -> None:
        """Until the agent runs and owns ``org.jailban`` on ``bus``."""
        self.wait_for_log("running:")
        assert bus.wait_for_name("org.jailban"), self.log

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@contextlib.contextmanager
def running(
    config: Path, *, kill9: bool = False, dry_run: bool = True, wrapper: Sequence[str] = ()
) -> Iterator[AgentProcess]:
    """The agent on ``config`` (``AgentProcess``'s options) once it logged "running:";
    stopped (SIGTERM) when the block ends, a failed one too, or killed with SIGKILL
    (``kill9``: a crash, to start again)."""
    agent = AgentProcess(config, dry_run=dry_run, wrapper=wrapper)
    try:
        agent.wait_for_log("running:")
        yield agent
    finally:
        if kill9:
            agent.kill9()
        else:
            agent.stop()


class StateReader:
    """Reads the agent's SQLite state from outside (WAL readers do not block it)."""

    def __init__(self, state_dir: Path, *, dry_run: bool | None = None) -> None:
        self.state_dir = state_dir
        self.dry_run = dry_run

    @property
    def path(self) -> Path:
        """The real run's database, or the dry run's (by default whichever exists)."""
        dry = self.dry_run
        if dry is None:
            dry = (self.state_dir / DRY_RUN_STATE_FILE).exists()
        return state_path(self.state_dir, dry_run=dry)

    def _query(self, sql: str) -> list[tuple[object, ...]]:
        if not self.path.exists():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()

    def bans(self) -> set[tuple[str, str]]:
        return {(str(j), str(n)) for j, n in self._query("SELECT jail, network FROM bans")}

    def position(self, jail: str) -> str | None:
        rows = self._query(f"SELECT position FROM positions WHERE jail = '{jail}'")  # noqa: S608
        return str(rows[0][0]) if rows else None

    def history(self) -> list[tuple[str, str]]:
        return [(str(n), str(j)) for n, j in self._query("SELECT network, jail FROM history")]

    def total_failed(self, jail: str) -> int:
        rows = self._query(f"SELECT total_failed FROM counters WHERE jail = '{jail}'")  # noqa: S608
        return int(str(rows[0][0])) if rows else 0

    def wait(self, predicate: object, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate():
                return
            time.sleep(0.05)
        raise AssertionError("state did not reach the expected condition")


def killed_mid_backlog(
    cfg: Path, state: Path, log: Path, lines: list[str], jail: str, total: int
) -> tuple[AgentProcess, AgentProcess]:
    """A real agent handed ``lines`` appended to ``log`` at once, killed with SIGKILL while
    it reads them (checked: some of the ``total`` failures of ``jail`` were committed, not
    all), started again, and stopped once it has counted each failure exactly once.
    Returns both agents, stopped (their logs)."""
    agent = AgentProcess(cfg, dry_run=False)
    reader = StateReader(state)
    try:
        agent.wait_for_log("running:")
        with log.open("a") as f:
            f.writelines(lines)
        reader.wait(lambda: reader.total_failed(jail) > 0)
    finally:
        agent.kill9()
    counted = reader.total_failed(jail)
    assert 0 < counted < total, "killed while the backlog was being read"
    restarted = AgentProcess(cfg, dry_run=False)
    try:
        restarted.wait_for_log("running:")
        reader.wait(lambda: reader.total_failed(jail) >= total, timeout=60)
        time.sleep(0.5)
        assert reader.total_failed(jail) == total
    finally:
        assert restarted.stop() == 0
    return agent, restarted


def last_cursor(journal_dir: Path) -> str:
    from systemd import journal

    reader = journal.Reader(path=str(journal_dir))
    reader.seek_tail()
    reader.get_previous()
    cursor = reader._get_cursor()
    reader.close()
    return cursor


def env_without_notify() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
