"""Which files make up the configuration, and the packaged default's text (imported
without the validation's modules: ``journalban run`` reads them in a fork of its own
before it imports them, ``config.yamlapart``)."""

from __future__ import annotations

from pathlib import Path

from journalban.resources import package_files

ETC_DIR = Path("/etc/journalban")
MAIN_FILE = ETC_DIR / "journalban.yaml"
PACKAGED_NAME = "<packaged default>"


def packaged_default_text() -> str:
    return package_files("journalban.data").joinpath("default.yaml").read_text("utf-8")


def config_files(main: Path | None = None) -> list[Path]:
    """The files that make up the configuration, in merge order (packaged default aside)."""
    main = main or MAIN_FILE
    files = [main] if main.exists() else []
    dropins = main.parent / "jail.d"
    if dropins.is_dir():
        files.extend(sorted(p for p in dropins.glob("*.yaml") if p.is_file()))
    return files
