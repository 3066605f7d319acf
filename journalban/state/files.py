"""Which state database a run uses: a dry run keeps its own, apart from the real one.

A dry run (``journalban run --dry-run`` or ``firewall.backend: dry-run``)
decides bans that never reached a firewall. Were they written to the real
state, the next real run would restore them into the firewall, and the ban
history behind recidive and ``bantime_increment`` would count them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

STATE_FILE: Final = "state.sqlite"
DRY_RUN_STATE_FILE: Final = "state.dry-run.sqlite"


def state_path(state_dir: Path | str, *, dry_run: bool) -> Path:
    """The state database of a real run, or of a dry run."""
    return Path(state_dir) / (DRY_RUN_STATE_FILE if dry_run else STATE_FILE)
