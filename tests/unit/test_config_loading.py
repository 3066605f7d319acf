"""The configuration: durations, merge order, errors with file and line, the packaged default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from journalban.config.durations import format_duration, parse_duration
from journalban.config.loader import load_config, packaged_default_text
from journalban.errors import ConfigError
from journalban.matching.library import FilterLibrary

CHECK = FilterLibrary(override_dir=None).check


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("600", 600), (90, 90), ("90s", 90), ("10m", 600), ("1h", 3600), ("1d12h30m", 131400),
     ("1w", 604800)],
)  # fmt: skip
def test_durations_in_admin_forms(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_permanent_only_where_allowed() -> None:
    assert parse_duration("permanent", allow_permanent=True) is None
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("permanent")
    assert format_duration(5400) == "1h30m"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_packaged_default_validates_with_the_filter_library() -> None:
    config = load_config(None, check_filter=CHECK)
    assert [j.name for j in config.enabled_jails] == ["sshd"]
    sshd = config.jails["sshd"]
    assert (sshd.source, sshd.maxretry, sshd.findtime, sshd.bantime) == ("journal", 3, 600, 600)
    assert config.firewall.backend == "nftables"


def test_every_shipped_filter_has_a_jail_in_the_default_config() -> None:
    jails = yaml.safe_load(packaged_default_text())["jails"]
    used = {settings.get("filter", name) for name, settings in jails.items()}
    missing = set(FilterLibrary(override_dir=None).names()) - used
    assert not missing, f"add a (disabled) jail to journalban/data/default.yaml for {missing}"


def test_merge_order_is_packaged_then_main_then_dropins_in_lexical_order(tmp_path: Path) -> None:
    main = _write(
        tmp_path / "journalban.yaml", "defaults: {bantime: 1h}\njails: {sshd: {maxretry: 4}}\n"
    )
    _write(tmp_path / "jail.d" / "20-b.yaml", "jails: {sshd: {maxretry: 7}}\n")
    _write(tmp_path / "jail.d" / "10-a.yaml", "jails: {sshd: {maxretry: 6, findtime: 1h}}\n")
    config = load_config(main, check_filter=CHECK)
    sshd = config.jails["sshd"]
    assert sshd.maxretry == 7  # 20-b.yaml is read last
    assert sshd.findtime == 3600  # from 10-a.yaml, merged deeply
    assert sshd.bantime == 3600  # the main file's defaults
    assert sshd.port == "ssh"  # the packaged default's
    assert config.files[1:] == (str(main), str(tmp_path / "jail.d/10-a.yaml"),
                                str(tmp_path / "jail.d/20-b.yaml"))  # fmt: skip


def test_a_later_list_replaces_the_earlier_one(tmp_path: Path) -> None:
    main = _write(tmp_path / "journalban.yaml", "defaults: {ignoreip: [192.0.2.0/24]}\n")
    assert load_config(main, check_filter=CHECK).jails["sshd"].ignoreip == ("192.0.2.0/24",)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("jails:\n  sshd:\n    bantime: soon\n", 3, "not a duration"),
        ("jails:\n  sshd:\n    maxretries: 3\n", 3, "unknown key"),
        ("state_dir: /x\njails: [unclosed\n", 3, "invalid YAML"),
        ("jails:\n  sshd:\n    maxretry: 3\n    maxretry: 4\n", 4, "duplicate key"),
        ("jails:\n  web:\n    filter: no-such-filter\n", 3, "no such filter"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    dropin = _write(tmp_path / "jail.d" / "50-x.yaml", text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(_write(tmp_path / "journalban.yaml", "{}\n"), check_filter=CHECK)
    assert (caught.value.file, caught.value.line) == (str(dropin), line)


def test_bad_action_settings_are_errors_with_file_and_line(tmp_path: Path) -> None:
    from journalban.agent.build import check_jail_actions
    from journalban.config.loader import load_config
    from journalban.errors import ConfigError

    main = tmp_path / "journalban.yaml"
    main.write_text(
        "jails:\n"
        "  sshd:\n"
        "    actions:\n"
        "      - type: command\n"
        "        ban: [/bin/echo, '{adress}']\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(main, check_actions=check_jail_actions)
    assert info.value.file == str(main)
    assert info.value.line == 3
    assert "adress" in str(info.value)
