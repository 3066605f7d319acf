"""fail2ban's INI files, read the way fail2ban reads them.

For a base name such as ``jail`` or ``filter.d/sshd`` the files are
``NAME.conf``, ``NAME.d/*.conf``, ``NAME.local``, ``NAME.d/*.local``; each
file pulls in the files named by its ``[INCLUDES] before``/``after`` (each
with its ``.local``), before and after itself. Later files override earlier
ones option by option; the value a later file replaced stays reachable as
``%(known/NAME)s``. Values are substituted with ``%(name)s`` (the section,
then ``[DEFAULT]``; ``%(section/name)s``, ``%(default/name)s``,
``%(__name__)s``) and, for filters, ``<name>`` tags naming other options.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from journalban.errors import ConfigError

_NO_DEFAULT = "\x00no default section"
_REF = re.compile(r"%\(([^)]*)\)s|%%|%")
_TAG = re.compile(r"<([^ <>]+)>")
_MAX_DEPTH = 40


@dataclass
class IniFiles:
    """The merged sections of one fail2ban configuration resource."""

    root: Path
    defaults: dict[str, str] = field(default_factory=dict)
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    known: dict[str, dict[str, str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def has(self, section: str, option: str) -> bool:
        return option in self.sections.get(section, {}) or option in self.defaults

    def own_options(self, section: str) -> list[str]:
        return list(self.sections.get(section, {}))

    def raw(self, section: str, option: str, extra: Mapping[str, str] | None = None) -> str:
        """The value before substitution. Raises: KeyError."""
        if extra and option in extra:
            return extra[option]
        if option in self.sections.get(section, {}):
            return self.sections[section][option]
        return self.defaults[option]

    def get(
        self, section: str, option: str, extra: Mapping[str, str] | None = None, _depth: int = 0
    ) -> str:
        """``option`` of ``section`` with every ``%(name)s`` substituted.

        ``extra`` holds values that win over the files (a jail's ``name[k=v]``).

        Raises:
            ConfigError: a reference to an option that does not exist, or a loop.
        """
        try:
            value = self.raw(section, option, extra)
        except KeyError:
            raise ConfigError(f"[{section}] has no option {option!r}") from None
        return self.substitute(section, value, extra, _depth)

    def substitute(
        self, section: str, value: str, extra: Mapping[str, str] | None = None, depth: int = 0
    ) -> str:
        if depth > _MAX_DEPTH:
            raise ConfigError(f"[{section}]: %(...)s references nest too deep (a loop?)")

        def one(m: re.Match[str]) -> str:
            text = m.group(0)
            if text == "%%":
                return "%"
            if text == "%":
                return "%"
            name = m.group(1).lower()
            return self._lookup(section, name, extra, depth + 1)

        return _REF.sub(one, value)

    def _lookup(self, section: str, name: str, extra: Mapping[str, str] | None, depth: int) -> str:
        if name == "__name__":
            return section
        if "/" in name:
            where, _, option = name.partition("/")
            if where == "known":
                known = self.known.get(section, {})
                if option in known:
                    return self.substitute(section, known[option], extra, depth)
                if option in self.defaults:
                    return self.substitute(section, self.defaults[option], extra, depth)
                raise ConfigError(f"[{section}]: %({name})s: nothing known before")
            if where == "default":
                if option in self.defaults:
                    return self.substitute(section, self.defaults[option], extra, depth)
                raise ConfigError(f"[{section}]: %({name})s: no such option in [DEFAULT]")
            for sec in (where, where.capitalize(), where.upper()):
                if sec in self.sections and option in self.sections[sec]:
                    return self.substitute(sec, self.sections[sec][option], extra, depth)
            raise ConfigError(f"[{section}]: %({name})s: no such option")
        try:
            value = self.raw(section, name, extra)
        except KeyError:
            raise ConfigError(f"[{section}]: %({name})s refers to an undefined option") from None
        return self.substitute(section, value, extra, depth)

    def section_value(self, name: str) -> str | None:
        """``section/option`` as a tag names it, or None."""
        where, _, option = name.partition("/")
        sec = self.sections.get(where)
        if sec is None or option not in sec:
            return None
        return self.substitute(where, sec[option])


def substitute_tags(
    values: Mapping[str, str], resolve: Mapping[str, str], ini: IniFiles
) -> dict[str, str]:
    """Replace ``<name>`` tags that name an option, innermost first, until none is left.

    Tags naming nothing (``<HOST>``, ``<F-USER>``) stay as they are.

    Raises:
        ConfigError: the tags refer to each other in a loop.
    """
    out: dict[str, str] = {}
    for key, value in values.items():
        out[key] = _tags_in(value, resolve, ini, key)
    return out


def _tags_in(value: str, resolve: Mapping[str, str], ini: IniFiles, key: str) -> str:
    for _ in range(_MAX_DEPTH):
        changed = False

        def one(m: re.Match[str]) -> str:
            nonlocal changed
            name = m.group(1)
            found = resolve.get(name.lower()) if name.lower() != key else None
            if found is None and "/" in name:
                found = ini.section_value(name)
            if found is None:
                return m.group(0)
            changed = True
            return found

        value = _TAG.sub(one, value)
        if not changed:
            return value
    raise ConfigError(f"option {key!r}: <tag> references loop")


def _parse(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(
        default_section=_NO_DEFAULT,
        strict=False,
        inline_comment_prefixes=(";",),
        interpolation=None,
    )
    try:
        parser.read_string(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except configparser.Error as exc:
        raise ConfigError(f"cannot parse: {str(exc).splitlines()[0]}", str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", str(path)) from None
    return parser


def _with_local(files: list[Path]) -> list[Path]:
    out: list[Path] = []
    for f in files:
        out.append(f)
        local = f.with_suffix(".local")
        if f.suffix == ".conf" and local not in files and local.is_file():
            out.append(local)
    return out


class IniReader:
    """Reads resources under one fail2ban configuration directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._parsed: dict[Path, configparser.RawConfigParser] = {}

    def _parsed_file(self, path: Path) -> configparser.RawConfigParser:
        if path not in self._parsed:
            self._parsed[path] = _parse(path)
        return self._parsed[path]

    def _ordered(self, files: list[Path], seen: tuple[Path, ...]) -> list[Path]:
        out: list[Path] = []
        for f in _with_local(files):
            if not f.is_file():
                continue
            parser = self._parsed_file(f)
            before: list[Path] = []
            after: list[Path] = []
            for key, into in (("before", before), ("after", after)):
                if parser.has_option("INCLUDES", key):
                    for name in parser.get("INCLUDES", key).split("\n"):
                        name = name.strip()
                        if not name:
                            continue
                        inc = Path(name) if Path(name).is_absolute() else f.parent / name
                        if inc in seen or inc == f:
                            continue
                        into.extend(self._ordered([inc], (*seen, f)))
            out.extend([*before, f, *after])
        return out

    def read(self, base: str) -> IniFiles:
        """The merged files of ``base`` (``jail``, ``filter.d/sshd``, ``fail2ban``).

        Raises:
            ConfigError: no file of that name, or one that cannot be parsed.
        """
        stem = self.root / base
        dropins = stem.parent / f"{stem.name}.d"
        files = [stem.parent / f"{stem.name}.conf"]
        files += sorted(dropins.glob("*.conf")) if dropins.is_dir() else []
        files.append(stem.parent / f"{stem.name}.local")
        files += sorted(dropins.glob("*.local")) if dropins.is_dir() else []
        existing = [f for f in files if f.is_file()]
        if not existing:
            raise ConfigError(f"no {stem.name}.conf or {stem.name}.local", str(stem.parent))
        merged = IniFiles(self.root)
        for path in self._ordered(existing, ()):
            parser = self._parsed_file(path)
            merged.files.append(path)
            for name in parser.sections():
                values = {k: v for k, v in parser.items(name, raw=True)}
                if name == "DEFAULT":
                    merged.defaults.update(values)
                    continue
                old = merged.sections.get(name)
                if old is None:
                    merged.sections[name] = dict(values)
                    continue
                known = merged.known.setdefault(name, {})
                known.update({k: old[k] for k in values if k in old})
                old.update(values)
        return merged
