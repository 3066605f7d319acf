"""Which state database the client reads without the bus: the one written last."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from journalban.cli.offline import OfflineError, pick_database
from journalban.config.schema import Config


def test_the_database_written_last_is_read(tmp_path: Path) -> None:
    config = Config(state_dir=str(tmp_path))
    with pytest.raises(OfflineError, match="no state database in"):
        pick_database(config)
    real, dry = tmp_path / "state.sqlite", tmp_path / "state.dry-run.sqlite"
    real.write_bytes(b"x")
    assert pick_database(config) == real
    dry.write_bytes(b"x")
    os.utime(real, (1000, 1000))
    os.utime(dry, (2000, 2000))
    assert pick_database(config) == dry
    # an empty write-ahead log (a reader leaves one) is no sign of a write
    (tmp_path / "state.sqlite-wal").write_bytes(b"")
    assert pick_database(config) == dry
    (tmp_path / "state.sqlite-wal").write_bytes(b"frames")
    assert pick_database(config) == real
