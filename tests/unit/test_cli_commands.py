"""`journalban COMMAND` imports the module of that command only (cli.main.MODULE_OF)."""

from __future__ import annotations

import argparse
import importlib
import shutil

import pytest

from journalban.cli.main import COMMAND_MODULES, MODULE_OF, build_parser, terminal_columns
from support.imports import modules_after


def _own_commands(name: str) -> list[str]:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(name).register(sub)
    return list(sub.choices)


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    registered = {cmd: name for name in COMMAND_MODULES for cmd in _own_commands(name)}
    assert registered == MODULE_OF


def test_a_command_alone_parses_as_in_the_whole_parser() -> None:
    whole = build_parser()
    for argv in (["run", "--dry-run", "--no-bus"], ["regex", "x", "sshd"], ["status"]):
        alone = vars(build_parser(argv[0]).parse_args(argv))
        full = vars(whole.parse_args(argv))
        # The same handler (some are built per parser: compare their code).
        assert getattr(alone.pop("func"), "__code__", None) is getattr(
            full.pop("func"), "__code__", None
        )
        assert alone == full


def test_run_imports_no_other_command() -> None:
    loaded = modules_after("from journalban.cli.main import build_parser; build_parser('run')")
    commands = {m for m in loaded if m.startswith("journalban.cli.")}
    assert commands == {"journalban.cli.main", "journalban.cli.run"}


def test_run_s_parser_imports_no_shutil() -> None:
    """argparse's own help formatter imports shutil (with bz2 and lzma) for the width."""
    loaded = modules_after("from journalban.cli.main import build_parser; build_parser('run')")
    assert {"shutil", "bz2", "lzma"} & loaded == set()


@pytest.mark.parametrize("columns", [None, "40", "132", "0", "wide"])
def test_help_is_what_argparse_s_own_formatter_writes(
    monkeypatch: pytest.MonkeyPatch, columns: str | None
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size().columns
    for command in (None, "run", "regex", "check-config"):
        parser = build_parser(command)
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for one in [parser, *sub.choices.values()]:
            ours = one.format_help()
            # argparse's own: the formatter finds the width itself (through shutil)
            vars(one)["_get_formatter"] = lambda one=one: one.formatter_class(prog=one.prog)
            assert ours == one.format_help()
