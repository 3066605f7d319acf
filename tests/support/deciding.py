"""A decision engine with one sshd jail, fed one failure at a time (the unit tests of
the failure path's memos and verdicts)."""

from __future__ import annotations

from pathlib import Path

from journalban.addresses import parse_address
from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.runtime import Changes
from journalban.events import LineBatch
from journalban.matching.engine import MATCHED, Outcome
from journalban.state.store import StateStore

NOW = 1_800_000_000.0


def jail_engine(path: Path, cfg: JailConfig, ignore: IgnoreList | None = None) -> DecisionEngine:
    """An engine at ``NOW`` (recidive off) on the state file ``path``, with the one jail
    ``cfg`` (ignoring ``ignore``, by default the jail's own ignoreip)."""
    engine = DecisionEngine(StateStore(path), FakeClock(NOW), RecidiveConfig(enabled=False))
    engine.configure({cfg.name: cfg}, {cfg.name: ignore or IgnoreList(cfg.ignoreip)})
    return engine


def sshd_engine(tmp_path: Path, ignore: IgnoreList) -> DecisionEngine:
    """An engine at ``NOW`` (recidive off) whose jail sshd bans at 2 failures."""
    return jail_engine(tmp_path / "state.sqlite", JailConfig(name="sshd", maxretry=2), ignore)


def failure(engine: DecisionEngine, address: str, line: str | None = None) -> Changes:
    """One failure of ``address`` at ``NOW`` in jail sshd, decided, not committed."""
    outcome = Outcome(MATCHED, 0, parse_address(address), address, None, NOW, 0)
    batch = LineBatch("journal", [line or f"fail from {address}"], "cursor", prefixed=False)
    return engine.process("sshd", batch, [outcome])


def fail(engine: DecisionEngine, address: str) -> list[str]:
    """``failure``, committed; the addresses it banned."""
    changes = failure(engine, address)
    engine.store.commit(changes.commits)
    return [b.address for b in changes.bans]
