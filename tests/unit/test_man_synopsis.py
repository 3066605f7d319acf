"""journalban(8)'s synopsis names every command and every option the parser takes, and no other."""

from __future__ import annotations

import argparse
import re

from journalban.cli.main import build_parser
from support.real import REPO

MAN = REPO / "docs" / "man" / "journalban.8"


def _synopsis() -> dict[str, set[str]]:
    text = MAN.read_text()
    section = text.split(".SH SYNOPSIS", 1)[1].split(".SH ", 1)[0]
    found: dict[str, set[str]] = {}
    for block in section.split(".br"):
        words = block.replace("\\-", "-").split()
        if "journalban" not in words:
            continue
        command = words[words.index("journalban") + 1]
        found.setdefault(command, set()).update(re.findall(r"--[a-z][a-z-]*", " ".join(words)))
    return found


def _parser_options() -> dict[str, set[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {
            opt
            for action in command._actions
            for opt in action.option_strings
            if opt.startswith("--") and opt != "--help"
        }
        for name, command in sub.choices.items()
    }


def test_the_synopsis_matches_the_commands_and_their_options() -> None:
    assert _synopsis() == _parser_options()


def test_the_exit_statuses_are_the_ones_the_commands_use() -> None:
    from journalban.cli.busclient import EXIT_REFUSED, EXIT_UNREACHABLE

    section = MAN.read_text().split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
    documented = {int(n) for n in re.findall(r"^\.B (\d+)$", section, flags=re.M)}
    # 0 done, 2 argparse's usage error, 78 run's EX_CONFIG
    assert documented == {0, EXIT_REFUSED, 2, EXIT_UNREACHABLE, 78}
