"""Find, read and merge the configuration files.

The packaged default comes first, then ``/etc/journalban/journalban.yaml``
(optional), then ``jail.d/*.yaml`` beside it in lexical order: mappings merge
deeply, a later scalar or list replaces the earlier one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from journalban.config.files import ETC_DIR as ETC_DIR
from journalban.config.files import MAIN_FILE as MAIN_FILE
from journalban.config.files import PACKAGED_NAME as PACKAGED_NAME
from journalban.config.files import config_files as config_files
from journalban.config.files import packaged_default_text as packaged_default_text
from journalban.config.schema import Config
from journalban.config.validate import ActionsCheck, FilterCheck, build_config
from journalban.config.yamlsource import Marks, deep_merge, load_yaml, load_yaml_text
from journalban.errors import ConfigError, ConfigErrors


def _as_mapping(data: Any, file: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys", file, 1)
    return data


def load_config(
    main: Path | None = None,
    *,
    check_filter: FilterCheck | None = None,
    check_actions: ActionsCheck | None = None,
    packaged: bool = True,
) -> Config:
    """The validated configuration.

    ``main`` replaces ``/etc/journalban/journalban.yaml`` (its ``jail.d/`` is read too).

    Raises:
        ConfigError: with the file and line of the problem; ``ConfigErrors``
            (a ConfigError) lists every problem found, in file and line order.
    """
    data: dict[str, Any] = {}
    marks = Marks()
    read: list[str] = []
    if packaged:
        data, marks = load_yaml_text(packaged_default_text(), PACKAGED_NAME)
        data = _as_mapping(data, PACKAGED_NAME)
        read.append(PACKAGED_NAME)
    if main is not None:
        try:
            main.stat()
        except FileNotFoundError:
            raise ConfigError("no such file", str(main)) from None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", str(main)) from None
    # A file that cannot be read is reported with the problems of the others.
    errors: list[ConfigError] = []
    for path in config_files(main):
        try:
            more, more_marks = load_yaml(path)
            deep_merge(data, _as_mapping(more, str(path)), marks, more_marks)
        except ConfigError as exc:
            errors.append(exc)
        read.append(str(path))
    try:
        config = build_config(data, marks, check_filter, check_actions, errors)
    except ConfigErrors as exc:
        order = {name: i for i, name in enumerate(read)}
        raise ConfigErrors(
            sorted(exc.errors, key=lambda e: (order.get(e.file or "", len(order)), e.line or 0))
        ) from None
    object.__setattr__(config, "files", tuple(read))
    return config
