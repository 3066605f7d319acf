"""The `journalban` command: one entry point, a subcommand per job."""

from __future__ import annotations

import importlib
import sys

# Not typing's: `journalban pam-check` runs once per login, and typing costs
# more than the check itself (it imports re, collections, functools).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

# Each module has ``register(subparsers)`` adding its subcommands; a subcommand
# sets ``func`` (argparse.Namespace -> exit code) as its default.
COMMAND_MODULES = (
    "journalban.cli.regex",
    "journalban.cli.replay",
    "journalban.cli.checkconfig",
    "journalban.cli.run",
    "journalban.cli.client",
    "journalban.cli.detectioncmd",
    "journalban.cli.fleetcmd",
    "journalban.cli.fleetadmin",
    "journalban.cli.importf2b",
    "journalban.cli.pamcmd",
    "journalban.cli.watch",
)
# The module of each command: `journalban run` imports the agent's module alone, not
# regex's, replay's and check-config's before it (the agent's memory: issue 19).
# tests/unit/test_cli_commands.py checks it against every module's own commands.
MODULE_OF = {
    "regex": "journalban.cli.regex",
    "replay": "journalban.cli.replay",
    "check-config": "journalban.cli.checkconfig",
    "run": "journalban.cli.run",
    **dict.fromkeys(
        ("status", "ban", "unban", "banned", "stats", "reload"), "journalban.cli.client"
    ),
    "known-good": "journalban.cli.detectioncmd",
    "under-attack": "journalban.cli.detectioncmd",
    "fleet": "journalban.cli.fleetcmd",
    "fleet-dropin": "journalban.cli.fleetadmin",
    "fleet-purge": "journalban.cli.fleetadmin",
    "import-fail2ban": "journalban.cli.importf2b",
    "pam-check": "journalban.cli.pamcmd",
    "watch": "journalban.cli.watch",
}


def terminal_columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it (``COLUMNS``, stdout's
    terminal, else 80), without importing shutil (and with it bz2 and lzma: 0.3 MB of the
    agent's memory for its whole life, issue 19)."""
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
            columns = 0
    return columns or 80


def _parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    class Parser(argparse.ArgumentParser):
        """An ArgumentParser whose help formatters are given the width: argparse's own
        would import shutil for it, and builds one for every argument added. Subcommands'
        parsers are of this class too (``add_subparsers`` takes the parent's)."""

        def _get_formatter(self) -> argparse.HelpFormatter:
            # Every formatter class of argparse takes the width (its protocol names prog alone).
            width = terminal_columns() - 2
            return self.formatter_class(prog=self.prog, width=width)  # type: ignore[call-arg]

    return Parser


def _version_action() -> type[argparse.Action]:
    import argparse

    class Version(argparse.Action):
        """``--version``: journalban.cli.version's text (imported only when asked), then exit."""

        def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
            super().__init__(
                option_strings, argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS, help=help
            )

        def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
            from journalban.cli.version import version_text

            print(version_text())
            parser.exit()

    return Version


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only the module that defines it.

    `journalban regex` must not pay for importing the agent's firewall and bus stacks,
    nor `journalban pam-check` for argparse.
    """
    parser = _parser_class()(
        prog="journalban",
        description="Ban the addresses behind authentication failures (journald, files, nftables).",
    )
    parser.add_argument(
        "--version",
        action=_version_action(),
        help="show the version and whether the native journal reader is built, and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    own = MODULE_OF.get(command) if command is not None else None
    for name in COMMAND_MODULES if own is None else (own,):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command family not built yet
        module.register(sub)
        if command is not None and command in sub.choices:
            break
    return parser


def forget_parser(args: argparse.Namespace, before: set[str]) -> argparse.Namespace:
    """``args`` as a plain namespace, and argparse and gettext out of memory (``journalban
    run``: the agent reads its few arguments once, and the parser's modules were 0.32 MB of
    its memory for its whole life, issue 19). Collected now, while the heap is small: the
    agent's start freezes what is alive then (``gc.freeze``), cycles among it for good."""
    import gc
    import types

    plain: argparse.Namespace = types.SimpleNamespace(**vars(args))  # type: ignore[assignment]
    del args
    for name in ("argparse", "gettext"):
        if name not in before:
            sys.modules.pop(name, None)
    gc.collect()
    return plain


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    if command == "pam-check":  # once per login, from pam_exec: no parser, nothing more imported
        from journalban.pamcheck import main as pam_check

        return pam_check(argv[1:])
    if command == "run" and not {"-h", "--help"} & set(argv):
        from journalban.lazyssl import defer_ssl

        defer_ssl()  # OpenSSL's 1 MB only if a fleet link over TLS needs it
        from journalban.cli.run import start_reader_ahead

        start_reader_ahead()  # its start-up overlaps the agent's
    before = set(sys.modules)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if command == "run":
        del parser
        args = forget_parser(args, before)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
