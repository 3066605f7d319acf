"""Hints for what fail2ban users type, driven by the keys a section knows."""

from __future__ import annotations

from pathlib import Path

from journalban.config.hints import network_hint, similar, unknown_key

KNOWN = {"maxretry", "findtime", "bantime", "ignoreip", "port", "bantime_increment"}


def test_fail2ban_keys_point_at_their_journalban_spelling() -> None:
    assert "firewall.hook" in unknown_key("chain", KNOWN)
    assert "firewall.verdict" in unknown_key("blocktype", KNOWN)
    assert "bantime_increment: {enabled: true}" in unknown_key("bantime.increment", KNOWN)
    assert unknown_key("rndtime", KNOWN) == (
        "fail2ban's rndtime is not supported by journalban; remove it"
    )


def test_a_typo_gets_the_closest_known_key_whatever_the_schema_holds() -> None:
    assert unknown_key("max_retry", KNOWN) == "unknown key; did you mean maxretry?"
    assert similar("find-time", KNOWN) == "findtime"
    # keys another section adds later are found the same way
    assert similar("subnet_maxretyr", {*KNOWN, "subnet_maxretry"}) == "subnet_maxretry"
    assert unknown_key("zzz", {"a", "b"}) == "unknown key (known: a, b)"


def test_host_bits_are_named_with_the_prefix_meant() -> None:
    assert network_hint("127.0.0.1/8") == "127.0.0.1/8 has host bits set: write 127.0.0.0/8"
    assert network_hint("2001:db8::1/64") == (
        "2001:db8::1/64 has host bits set: write 2001:db8::/64"
    )
    assert network_hint("127.0.0.0/8") is None


def test_a_fail2ban_filter_name_gets_its_equivalent(tmp_path: Path) -> None:
    import pytest

    from journalban.config.loader import load_config
    from journalban.errors import ConfigError
    from journalban.matching.library import FilterLibrary

    main = tmp_path / "journalban.yaml"
    main.write_text("jails:\n  mail:\n    filter: postfix-sasl\n")
    with pytest.raises(ConfigError, match="filter: postfix with mode: auth here") as caught:
        load_config(main, check_filter=FilterLibrary().check)
    assert (caught.value.file, caught.value.line) == (str(main), 3)


def test_fail2ban_filter_options_are_spelt_as_keys() -> None:
    from journalban.config.hints import jail_filter_hint

    assert jail_filter_hint("sshd[mode=aggressive]") == (
        "fail2ban's sshd[mode=aggressive] is written filter: sshd and mode: aggressive here"
    )
    assert jail_filter_hint("sshd") is None


def test_filter_options_in_a_config_get_the_hint_at_the_filter_line(tmp_path: Path) -> None:
    import pytest

    from journalban.config.loader import load_config
    from journalban.errors import ConfigError
    from journalban.matching.library import FilterLibrary

    main = tmp_path / "journalban.yaml"
    main.write_text("jails:\n  sshd:\n    filter: sshd[mode=aggressive]\n")
    with pytest.raises(
        ConfigError, match=r"jails.sshd.filter: .*filter: sshd and mode: aggressive"
    ):
        load_config(main, check_filter=FilterLibrary().check)
