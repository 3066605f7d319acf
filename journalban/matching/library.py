"""Where filters come from: the packaged ones, overridden by /etc/journalban/filters.d/."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from journalban.config.files import FILTER_NAME as FILTER_NAME
from journalban.config.files import OVERRIDE_DIR as OVERRIDE_DIR
from journalban.config.files import filters_dir_for as filters_dir_for
from journalban.config.files import packaged_filter_file, packaged_filters
from journalban.matching.aliases import ALIASES, alias_filter
from journalban.matching.filterdef import FilterDef, load_filter_file, load_filter_text

if TYPE_CHECKING:
    import importlib.resources.abc


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
        """Raises ValueError when the filter or its mode does not exist (for config checks).

        A packaged filter is checked against the modes its file declares: its
        regexes are compiled when a jail uses it (compiling all 69 to check a
        configuration whose jails are mostly disabled cost 0.08 s of every start).
        """
        try:
            modes = self._modes(name)
        except KeyError:
            raise ValueError(f"no such filter {name!r}") from None
        if mode not in modes:
            raise ValueError(f"filter {name!r} has no mode {mode!r} (modes: {', '.join(modes)})")

    def _modes(self, name: str) -> tuple[str, ...]:
        if not FILTER_NAME.fullmatch(name):
            raise KeyError(name)
        local = None if self.override_dir is None else self.override_dir / f"{name}.yaml"
        if name in ALIASES or (local is not None and local.is_file()):
            return self.load(name).modes
        return _packaged_modes(name)


def _packaged() -> importlib.resources.abc.Traversable:
    return packaged_filters()


@functools.lru_cache(maxsize=128)
def _load_packaged(name: str) -> FilterDef:
    resource = _packaged().joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise KeyError(name)
    return load_filter_text(resource.read_text("utf-8"), name, packaged_filter_file(name))


@functools.lru_cache(maxsize=128)
def _packaged_modes(name: str) -> tuple[str, ...]:
    """A packaged filter's declared modes, from its YAML alone (``modes``, default normal)."""
    resource = _packaged().joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise KeyError(name)
    text = resource.read_text("utf-8")
    plain = plain_modes(text)
    if plain is not None:
        return plain
    import yaml

    # libyaml's safe loader when PyYAML has it (safe_load is the pure-Python one).
    safe = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(text, Loader=safe)  # noqa: S506 (a safe loader)
    modes = data.get("modes", ["normal"]) if isinstance(data, dict) else None
    if not isinstance(modes, list) or not modes or not all(isinstance(m, str) for m in modes):
        return _load_packaged(name).modes  # the full parse says what is wrong
    return tuple(modes)


# The one spelling of a filter's modes the packaged files use: ``modes: [normal, ddos]``.
_MODES_KEY = re.compile(r"^[\"']?modes\b.*$", re.MULTILINE)
_MODES_LINE = re.compile(r"modes:[ \t]*\[([A-Za-z0-9_, \t-]*)\][ \t]*")
# Where a top-level key could hide from a line's start: flow mappings, complex keys,
# anchors, aliases, tags, directives, several documents.
_UNUSUAL = re.compile(r"^(?:[{\[?&*!%]|---|\.\.\.)", re.MULTILINE)
_MODE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Plain words YAML 1.1 (PyYAML) reads as booleans or null, not as strings.
_NOT_STRINGS = frozenset(
    w for word in ("yes", "no", "true", "false", "on", "off", "null")
    for w in (word, word.capitalize(), word.upper())
)  # fmt: skip


def plain_modes(text: str) -> tuple[str, ...] | None:
    """The modes a filter's YAML declares where it is written plainly: no top-level
    ``modes`` line (normal), or one ``modes: [a, b]`` of plain words; None: the YAML
    parse decides. Checking a configuration's 69 packaged jails parsed every filter's
    YAML for its modes: 15.6 ms of each start before the journal reader child could be
    told its request (issue 19, jread2)."""
    if _UNUSUAL.search(text):
        return None
    lines = _MODES_KEY.findall(text)
    if not lines:
        return ("normal",)
    found = _MODES_LINE.fullmatch(lines[0]) if len(lines) == 1 else None
    if found is None:
        return None
    modes = tuple(mode.strip() for mode in found.group(1).split(","))
    if not all(_MODE.fullmatch(mode) and mode not in _NOT_STRINGS for mode in modes):
        return None
    return modes
