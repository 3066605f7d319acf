"""What the agent imports at start that it does not use costs memory for its whole life
(issue 19): the journal reader's systemd.journal stays in the reader child."""

from __future__ import annotations

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
