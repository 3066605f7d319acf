"""Which journal jails ask their reader child to probe before splitting a catch-up.

A jail with detectors (the agent's deciding may bound its catch-up) asks for
the probe (``journalprobe``); a jail without them splits by size alone.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from journalban.agent.build import build_jails, build_sources
from journalban.clock import SystemClock
from journalban.config.loader import load_config
from journalban.matching.library import FilterLibrary
from journalban.sources.journal import JournalSource
from journalban.sources.journalsplit import SPLIT_MOST_HITS


def test_only_a_jail_with_detectors_probes_before_it_splits(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    path = tmp_path / "journalban.yaml"
    path.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"), "journal": {"directory": str(journal)},
        "jails": {"sshd": {}, "dovecot": {"enabled": True}},
    }))  # fmt: skip
    config = load_config(path)
    library = FilterLibrary(None)
    parts = build_jails(config, library, SystemClock(), [], {})
    assert parts["sshd"].config.detectors.any, "the packaged sshd jail turns detectors on"
    assert not parts["dovecot"].config.detectors.any
    found = {}
    for name in ("sshd", "dovecot"):
        (source,) = build_sources(parts[name], config, SystemClock(), {})
        assert isinstance(source, JournalSource)
        found[name] = source._request().split_most_hits
    assert found == {"sshd": SPLIT_MOST_HITS, "dovecot": None}
