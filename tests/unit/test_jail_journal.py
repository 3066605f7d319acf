"""A jail's own ``journal`` setting: a journald namespace for one jail."""

from __future__ import annotations

from pathlib import Path

import pytest

from journalban.agent.build import journal_position_key
from journalban.config.loader import load_config
from journalban.config.schema import Config, JournalConfig
from journalban.errors import ConfigError
from journalban.matching.library import FilterLibrary

CHECK = FilterLibrary().check


def _load(tmp_path: Path, text: str) -> Config:
    main = tmp_path / "journalban.yaml"
    main.write_text(text)
    return load_config(main, check_filter=CHECK)


def test_a_jail_reads_its_namespace_while_others_keep_the_global_journal(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        "journal: {namespace: global-ns}\n"
        "jails:\n"
        "  app:\n    filter: sshd\n    journal: {namespace: app}\n"
        "  other:\n    filter: sshd\n    journal: {}\n",
    )
    assert config.journal_of(config.jails["app"]) == JournalConfig(namespace="app")
    assert config.journal_of(config.jails["sshd"]) == JournalConfig(namespace="global-ns")
    # An empty mapping: the system journal, whatever the global one names.
    assert config.journal_of(config.jails["other"]) == JournalConfig()


def test_defaults_give_every_jail_the_namespace(tmp_path: Path) -> None:
    config = _load(tmp_path, "defaults:\n  journal: {namespace: shared}\n")
    assert config.jails["sshd"].journal == JournalConfig(namespace="shared")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("    journal: {namespace: ../etc}\n", "journald namespace name"),
        ("    journal: {namespace: 7}\n", "journald namespace name"),
        ("    journal: {directory: relative/dir}\n", "absolute path"),
        ("    journal: {namespace: a, directory: /x}\n", "not both"),
        ("    journal: {nmespace: a}\n", "unknown key"),
        ("    journal: app\n", "must be a mapping"),
    ],
)
def test_bad_jail_journal_settings_name_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        _load(tmp_path, "jails:\n  sshd:\n" + text)
    assert caught.value.line == 3


def test_each_journal_keeps_its_own_position_key() -> None:
    keys = {
        journal_position_key(JournalConfig(namespace="a")),
        journal_position_key(JournalConfig(namespace="b")),
        journal_position_key(JournalConfig(directory="/a")),
        journal_position_key(JournalConfig()),
    }
    assert len(keys) == 4
    assert "journal" not in keys  # the global journal's key, kept for existing state
