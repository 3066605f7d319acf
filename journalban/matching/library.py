"""Where filters come from: the packaged ones, overridden by /etc/journalban/filters.d/."""

from __future__ import annotations

import functools
import importlib.resources
import re
from pathlib import Path

from journalban.matching.aliases import ALIASES, alias_filter
from journalban.matching.filterdef import FilterDef, load_filter_file, load_filter_text

OVERRIDE_DIR = Path("/etc/journalban/filters.d")
FILTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def filters_dir_for(main: Path | None) -> Path:
    """The local filters of a configuration: ``filters.d/`` beside its main file."""
    return OVERRIDE_DIR if main is None else main.parent / "filters.d"


class FilterLibrary:
    """Finds filters by name; a file in the override directory wins over a packaged one."""

    def __init__(self, override_dir: Path | None = OVERRIDE_DIR) -> None:
        self.override_dir = override_dir

    def names(self) -> list[str]:
        """Every filter name, aliases left out."""
        names = {p.name[:-5] for p in _packaged().iterdir() if p.name.endswith(".yaml")}
        if self.override_dir is not None and self.override_dir.is_dir():
            names.update(p.stem for p in self.override_dir.glob("*.yaml"))
        return sorted(names)

    def load(self, name: str) -> FilterDef:
        """The filter called ``name``.

        Raises:
            KeyError: no such filter.
            FilterError: the filter file is invalid.
        """
        if not FILTER_NAME.fullmatch(name):
            raise KeyError(name)
        if self.override_dir is not None:
            local = self.override_dir / f"{name}.yaml"
            if local.is_file():
                return load_filter_file(local, name)
        if name in ALIASES:
            target, mode = ALIASES[name]
            return alias_filter(name, self.load(target), mode)
        return _load_packaged(name)

    def check(self, name: str, mode: str) -> None:
        """Raises ValueError when the filter or its mode does not exist (for config checks)."""
        try:
            fdef = self.load(name)
        except KeyError:
            raise ValueError(f"no such filter {name!r}") from None
        if mode not in fdef.modes:
            raise ValueError(
                f"filter {name!r} has no mode {mode!r} (modes: {', '.join(fdef.modes)})"
            )


def _packaged() -> importlib.resources.abc.Traversable:
    return importlib.resources.files("journalban._filters")


@functools.lru_cache(maxsize=128)
def _load_packaged(name: str) -> FilterDef:
    resource = _packaged().joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise KeyError(name)
    return load_filter_text(resource.read_text("utf-8"), name, f"filters/{name}.yaml")
