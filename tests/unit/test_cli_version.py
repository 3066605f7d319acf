"""`journalban --version` says whether the native journal reader (the C module) is built."""

from __future__ import annotations

import sys

import pytest

import journalban
from journalban.cli.main import main

MODULE = "journalban.sources._journalfile"


def _version(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_version_names_the_release_and_the_built_native_reader(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The test venv is made by scripts/setup, which has a C compiler: the module is built.
    assert _version(capsys) == (
        f"journalban {journalban.__version__}\nnative journal reader: built\n"
    )


def test_version_says_when_the_native_reader_is_not_built(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, MODULE, None)  # as if no .so were installed
    assert _version(capsys).splitlines()[1] == (
        "native journal reader: not built (the journal is read through libsystemd)"
    )
