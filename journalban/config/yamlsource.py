"""YAML read with yaml.safe_load semantics, keeping the file and line of every value.

Errors anywhere in journalban's configuration must name the file and line;
``load_yaml`` returns plain data plus a ``Marks`` table from key paths to
``(file, line)``.
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from journalban.errors import ConfigError

if TYPE_CHECKING:
    import yaml

KeyPath = tuple[str | int, ...]


@dataclass
class Marks:
    """Where each value came from: key path -> (file, 1-based line)."""

    where: dict[KeyPath, tuple[str, int]] = field(default_factory=dict)

    def locate(self, path: KeyPath) -> tuple[str | None, int | None]:
        """The file and line of ``path``, or of its nearest known parent."""
        for n in range(len(path), -1, -1):
            found = self.where.get(path[:n])
            if found is not None:
                return found
        return None, None

    def error(self, path: KeyPath, message: str) -> ConfigError:
        file, line = self.locate(path)
        return ConfigError(message, file, line)

    def update(self, other: Marks) -> None:
        self.where.update(other.where)


# Set by ``unloadable_yaml``: PyYAML without libyaml's parser, which ``forget_yaml`` can
# take out of memory again.
_unloadable = False


@functools.cache
def _yaml() -> ModuleType:
    """PyYAML, imported when YAML is first read: a file reader child, which gets its
    filter already parsed, never imports it (1.2 MB of its memory)."""
    if _unloadable and "yaml" not in sys.modules:
        # libyaml's parser (``yaml._yaml``, a Cython module) is never unloaded, and it holds
        # the whole package: without it ``import yaml`` takes its Python parser.
        sys.modules["yaml._yaml"] = None  # type: ignore[assignment]
        try:
            import yaml
        finally:
            del sys.modules["yaml._yaml"]
        return yaml
    import yaml

    return yaml


def unloadable_yaml() -> None:
    """The texts the agent parses itself (``yamlapart``: those its child did not, a
    reload's) with PyYAML's Python parser from now on, so that ``forget_yaml`` frees it
    (it takes about ten times libyaml's time: 20-26 ms for a packaged file)."""
    global _unloadable
    _unloadable = True


def forget_yaml(generation: int = 2) -> None:
    """The child's parses dropped (``yamlapart``), and PyYAML out of ``sys.modules`` and
    collected unless libyaml's parser holds it; the next read imports it again.

    ``generation``: the collector's oldest generation walked (a reload's: 1, its modules
    are young, and a full pass would walk every ban made since the start's freeze)."""
    from journalban.config import yamlapart

    yamlapart.forget()
    _loader.cache_clear()
    _pure_loader.cache_clear()
    _yaml.cache_clear()
    if "yaml" not in sys.modules or "yaml._yaml" in sys.modules:
        return  # (never imported, or held for good)
    for name in [n for n in sys.modules if n == "yaml" or n.startswith("yaml.")]:
        del sys.modules[name]
    gc.collect(generation)


@functools.cache
def _loader() -> type[Any]:
    # libyaml's parser when PyYAML has it (Debian's does): the same nodes and marks,
    # several times faster than the Python one (the configuration loads ~60 filters).
    yaml = _yaml()
    if not hasattr(yaml, "CSafeLoader"):
        return _pure_loader()

    class _Loader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        pass

    return _Loader


@functools.cache
def _pure_loader() -> type[Any]:
    """PyYAML's Python parser: the one whose errors are given (``_parse``)."""

    class _PureLoader(_yaml().SafeLoader):  # type: ignore[misc]
        pass

    return _PureLoader


def _construct(node: yaml.Node, loader: Any, file: str, path: KeyPath, marks: Marks) -> Any:
    yaml = _yaml()
    marks.where[path] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                raise ConfigError(f"duplicate key {key!r}", file, key_node.start_mark.line + 1)
            sub = (*path, key)
            result[key] = _construct(value_node, loader, file, sub, marks)
            marks.where[sub] = (file, key_node.start_mark.line + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, loader, file, (*path, i), marks) for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def load_yaml_text(text: str, file: str) -> tuple[Any, Marks]:
    """Parse YAML text; the data and where each value came from.

    Raises:
        ConfigError: the text is not valid YAML (with the file and line).
    """
    from journalban.config import yamlapart  # (not in the reader children, which read none)

    found = yamlapart.given(text, file)
    if found is not None:
        return found[0], Marks(found[1])
    data, marks = _parse(text, file)
    yamlapart.keep(text, file, data, marks.where)
    return data, marks


def _parse(text: str, file: str) -> tuple[Any, Marks]:
    """With libyaml's parser when it is there; a text it refuses is parsed again with the
    Python parser, whose error is the one raised: the same file and line, and a message
    that names more (the tab or the character that cannot start a token, the undefined
    alias's name, what was expected and what was found), wherever the text is read
    (``check-config``, the start's fork, the agent's own parse). What only the Python
    parser takes is taken, as the agent's own parse takes it."""
    fast = _loader()
    try:
        return _parse_with(fast, text, file)
    except ConfigError:
        pure = _pure_loader()
        if fast is pure:
            raise
        return _parse_with(pure, text, file)


def _parse_with(loader_class: type[Any], text: str, file: str) -> tuple[Any, Marks]:
    marks = Marks()
    yaml = _yaml()
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks
        return _construct(node, loader, file, (), marks), marks
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", file, line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file) from None
    finally:
        loader.dispose()


def load_yaml(path: Path) -> tuple[Any, Marks]:
    """Read and parse a YAML file. Raises: ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", str(path)) from None
    return load_yaml_text(text, str(path))


def deep_merge(
    base: dict[str, Any],
    over: Mapping[str, Any],
    marks: Marks,
    over_marks: Marks,
    path: KeyPath = (),
) -> dict[str, Any]:
    """Merge ``over`` into ``base``: mappings merge, scalars and lists replace."""
    for key, value in over.items():
        sub = (*path, key)
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value, marks, over_marks, sub)
            marks.where[sub] = over_marks.where.get(sub, marks.where.get(sub, ("", 0)))
        else:
            base[key] = value
            for p in [p for p in marks.where if p[: len(sub)] == sub]:
                del marks.where[p]
            for p, loc in over_marks.where.items():
                if p[: len(sub)] == sub:
                    marks.where[p] = loc
    return base
