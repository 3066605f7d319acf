"""What the agent imports at start that it does not use costs memory for its whole life
(issue 19): the journal reader's systemd.journal stays in the reader child."""

from __future__ import annotations

from pathlib import Path

import pytest

from journalban.config.loader import load_config
from journalban.errors import ConfigErrors
from journalban.sources import journalworker
from support.imports import modules_after


def test_the_agent_side_of_a_journal_source_does_not_import_the_reader() -> None:
    loaded = modules_after(
        "import journalban.cli.run, journalban.agent.runtime, journalban.sources.journal, "
        "journalban.agent.journalreader, journalban.agent.build"
    )
    assert "journalban.sources.journalwire" in loaded  # its constants and Request
    assert {
        "systemd.journal",
        "uuid",
        "platform",
        "journalban.sources.journalworker",
    } & loaded == set()


def test_the_invalidate_constant_is_sd_journal_s() -> None:
    from systemd import journal

    assert journalworker._INVALIDATE == journal.INVALIDATE


def test_reading_the_default_configuration_and_a_filter_imports_no_zipfile() -> None:
    loaded = modules_after(
        "import journalban.cli.run, journalban.agent.runtime; "
        "from journalban.config.loader import packaged_default_text; packaged_default_text(); "
        "from journalban.matching.library import FilterLibrary; FilterLibrary().load('sshd')"
    )
    assert {"zipfile", "importlib.resources", "difflib", "tempfile", "shutil"} & loaded == set()


def test_package_files_are_importlib_resources_files() -> None:
    import importlib.resources

    from journalban.resources import package_files

    for package in ("journalban.data", "journalban._filters"):
        ours, theirs = package_files(package), importlib.resources.files(package)
        names = sorted(p.name for p in ours.iterdir() if p.name.endswith(".yaml"))
        assert names == sorted(p.name for p in theirs.iterdir() if p.name.endswith(".yaml"))
        assert names
        for name in names:
            assert ours.joinpath(name).read_text("utf-8") == theirs.joinpath(name).read_text(
                "utf-8"
            )


def test_the_filter_travels_to_the_children_without_pickle_py() -> None:
    """pickle.py (0.26 MB with its tables) is not imported: its C implementation does it."""
    loaded = modules_after(
        "import journalban.cli.run, journalban.agent.runtime, journalban.agent.build; "
        "import journalban.agent.journalreader as r; r.warm_up(); "
        "import journalban.agent.filereader, journalban.sources.sdreader"
    )
    assert "_pickle" in loaded
    assert "pickle" not in loaded


def test_a_journal_only_agent_does_not_import_the_file_reader_child() -> None:
    loaded = modules_after(
        "import journalban.cli.run, journalban.agent.runtime, journalban.agent.build, "
        "journalban.sources.journal"
    )
    assert {"journalban.agent.filereader", "journalban.agent.filesplit"} & loaded == set()


# The agent's modules and its default configuration loaded, as `journalban run` does.
DEFAULT_RUN = (
    "from journalban.lazyssl import defer_ssl; defer_ssl(); "
    "import journalban.cli.run, journalban.agent.runtime, journalban.agent.build, "
    "journalban.bus.service; "
    "from journalban.agent.build import check_jail_actions; "
    "from journalban.config.loader import load_config; "
    "from journalban.matching.library import FilterLibrary; lib = FilterLibrary(None); "
    "cfg = load_config(CONFIG, check_filter=lib.check, check_actions=check_jail_actions); "
    "from journalban.agent import metricslink; assert metricslink.take_socket() is None"
)
OFF_BY_DEFAULT = {
    "journalban.config.fleet",
    "journalban.decisions.remote",
    "journalban.config.enforcement",
    "journalban.metrics",
    "journalban.metrics.sdsocket",
}


def test_a_default_run_does_not_import_the_fleet_enforcement_or_metrics() -> None:
    loaded = modules_after(DEFAULT_RUN.replace("CONFIG", "None"))
    assert "journalban.agent.fleetlink" in loaded  # (Agent's part: its imports are in calls)
    assert OFF_BY_DEFAULT & loaded == set()


def test_a_configuration_with_them_imports_their_sections_and_names_their_lines(
    tmp_path: Path,
) -> None:
    """A reload that turns them on reads them with the same modules then."""
    path = tmp_path / "journalban.yaml"
    path.write_text(
        "jails:\n  postfix: {enabled: true}\n"
        "fleet: {servers: ['nats://n1:4222'], name: prod}\n"
        "enforcement:\n  postfix: {listen: 'unix:/run/x.sock', jails: [postfix]}\n"
    )
    loaded = modules_after(
        DEFAULT_RUN.replace("CONFIG", f"__import__('pathlib').Path({str(path)!r})")
        + "; assert cfg.fleet.name == 'prod' and cfg.enforcement.postfix.listen.path == "
        "'/run/x.sock'"
    )
    assert {"journalban.config.fleet", "journalban.config.enforcement"} <= loaded
    path.write_text(path.read_text().replace("jails: [postfix]}", "jails: [nosuch]}"))
    with pytest.raises(ConfigErrors) as caught:
        load_config(path)
    assert any(
        e.file == str(path) and e.line == 5 and "no such jail" in str(e)
        for e in caught.value.errors
    ), caught.value.errors


def test_journalban_run_keeps_neither_argparse_nor_gettext() -> None:
    """The agent's arguments are read once: ``forget_parser`` leaves a plain namespace."""
    loaded = modules_after(
        "import sys; from journalban.cli.main import build_parser, forget_parser; "
        "before = set(sys.modules); parser = build_parser('run'); "
        "args = parser.parse_args(['run', '--dry-run', '--config', '/x.yaml']); del parser; "
        "args = forget_parser(args, before); "
        "assert args.dry_run and not args.no_bus and str(args.config) == '/x.yaml'; "
        "assert args.func.__module__ == 'journalban.cli.run'; "
        "import gc; assert not [o for o in gc.get_objects() if type(o).__module__ == 'argparse']"
    )
    assert {"journalban.cli.run", "journalban.cli.main"} <= loaded
    assert {"argparse", "gettext"} & loaded == set()
