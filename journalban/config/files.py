"""Which files make up the configuration, and the packaged default's text (imported
without the validation's modules: ``journalban run`` reads them in a fork of its own
before it imports them, ``config.yamlapart``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

ETC_DIR = Path("/etc/journalban")
MAIN_FILE = ETC_DIR / "journalban.yaml"
PACKAGED_NAME = "<packaged default>"
# The local filters, which override the packaged ones of the same name.
OVERRIDE_DIR = ETC_DIR / "filters.d"
# A filter's name as a jail gives it (``filter:``), and so its file's.
FILTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def packaged_default_text() -> str:
    from journalban.resources import package_files  # (not in a reader child)

    return package_files("journalban.data").joinpath("default.yaml").read_text("utf-8")


def filters_dir_for(main: Path | None) -> Path:
    """The local filters of a configuration: ``filters.d/`` beside its main file."""
    return OVERRIDE_DIR if main is None else main.parent / "filters.d"


def packaged_filters() -> Traversable:
    """The packaged filters' directory (``NAME.yaml`` each)."""
    from journalban.resources import package_files  # (not in a reader child)

    return package_files("journalban._filters")


def packaged_filter_file(name: str) -> str:
    """The file name a packaged filter's text is read as (in its errors)."""
    return f"filters/{name}.yaml"


def config_files(main: Path | None = None) -> list[Path]:
    """The files that make up the configuration, in merge order (packaged default aside)."""
    main = main or MAIN_FILE
    files = [main] if main.exists() else []
    dropins = main.parent / "jail.d"
    if dropins.is_dir():
        files.extend(sorted(p for p in dropins.glob("*.yaml") if p.is_file()))
    return files
