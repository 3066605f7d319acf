"""The metrics' config section, reason classes and the systemd socket lookup."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from journalban.config.loader import load_config
from journalban.errors import ConfigError
from journalban.events import Ban
from journalban.metrics import tally
from journalban.metrics.sdsocket import systemd_socket


def _ban(reason: str, source: str) -> Ban:
    return Ban("sshd", ipaddress.ip_network("203.0.113.5/32"), 0.0, None, reason=reason,
               source=source)  # fmt: skip


def test_reason_labels_are_fixed_classes_never_comments_or_hosts() -> None:
    assert tally.reason_class(_ban("failures", "journal")) == "failures"
    assert tally.reason_class(_ban("ticket 4711: alice's box", "manual")) == "manual"
    assert tally.reason_class(_ban("fleet web1: failures", "fleet:web1")) == "fleet"
    assert tally.reason_class(_ban("made up", "journal")) == "other"


def test_metrics_section(tmp_path: Path) -> None:
    path = tmp_path / "journalban.yaml"
    path.write_text(
        "metrics:\n  textfile: /var/lib/node/journalban.prom\n  textfile_interval: 1m\n"
    )
    config = load_config(path)
    assert (config.metrics.textfile, config.metrics.textfile_interval) == (
        "/var/lib/node/journalban.prom",
        60.0,
    )
    path.write_text("metrics:\n  textfile: relative.txt\n")
    with pytest.raises(ConfigError, match=r"\.prom"):
        load_config(path)


def test_socket_is_taken_only_when_systemd_meant_this_process_and_named_it() -> None:
    # Both refused before any descriptor is touched.
    env = {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "metrics", "LISTEN_PID": str(os.getpid() + 1)}
    assert systemd_socket(env) is None
    other = {**env, "LISTEN_FDNAMES": "other", "LISTEN_PID": str(os.getpid())}
    assert systemd_socket(other) is None
    assert systemd_socket({}) is None
