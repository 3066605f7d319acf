"""The configuration's YAML errors are the same with libyaml's parser and the Python one.

``yamlsource`` parses with libyaml when PyYAML has it (``check-config``, the start's
fork) and with PyYAML's Python parser in the agent's own parse (a reload: PyYAML is let
go again after it). libyaml's messages name less (a tab is "character", an undefined
alias has no name): a text it refuses is parsed again with the Python parser, whose
error is raised. Both ways give the same file, line and message, and a valid text the
same data and marks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from journalban.config import yamlsource
from journalban.config.files import PACKAGED_NAME, packaged_default_text
from journalban.config.loader import load_config
from journalban.errors import ConfigError, all_errors

BROKEN = [
    ("a: 1\nb: c: d\n", "f.yaml:2: invalid YAML: mapping values are not allowed here"),
    ("a:\n  b: 1\n c: 2\n",
     "f.yaml:3: invalid YAML: expected <block end>, but found '<block mapping start>'"),
    ("a: [1, 2\nb: 3\n", "f.yaml:2: invalid YAML: expected ',' or ']', but got ':'"),
    ("a:\n\tb: 1\n", "f.yaml:2: invalid YAML: found character '\\t' that cannot start any token"),
    ("a: 1\na: 2\n", "f.yaml:2: duplicate key 'a'"),
    ("a: 'x\nb: 2\n", "f.yaml:3: invalid YAML: found unexpected end of stream"),
    ("a: *nope\n", "f.yaml:1: invalid YAML: found undefined alias 'nope'"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2: invalid YAML: but found another document"),
    ("a: !!python/object:os.system x\n", "f.yaml:1: invalid YAML: could not determine a "
     "constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"),
]  # fmt: skip


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The parse with libyaml's parser first (skipped where PyYAML lacks it), or with the
    Python parser alone (as the agent's own parse); no parse kept from another test."""
    yamlsource.forget_yaml()
    if request.param == "libyaml":
        if not hasattr(yaml, "CSafeLoader"):
            pytest.skip("PyYAML is built without libyaml")
        assert issubclass(yamlsource._loader(), yaml.CSafeLoader)
    else:
        monkeypatch.setattr(yamlsource, "_loader", yamlsource._pure_loader)
    yield request.param
    yamlsource.forget_yaml()


@pytest.mark.parametrize(("text", "error"), BROKEN)
def test_an_invalid_text_gives_the_same_file_line_and_message(
    parser: str, text: str, error: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        yamlsource.load_yaml_text(text, "f.yaml")
    assert str(caught.value) == error


def test_libyaml_alone_names_less_so_its_errors_are_not_the_ones_given() -> None:
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML is built without libyaml")
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        yaml.load("a:\n\tb: 1\n", Loader=yaml.CSafeLoader)
    assert "'\\t'" not in str(caught.value.problem)


def test_a_valid_text_gives_the_same_data_and_marks(parser: str) -> None:
    data, marks = yamlsource.load_yaml_text(packaged_default_text(), PACKAGED_NAME)
    assert data["jails"]["sshd"]["maxretry"] == 3
    assert marks.locate(("jails", "sshd", "maxretry")) == (PACKAGED_NAME, _line_of("maxretry: 3"))


def _line_of(needle: str) -> int:
    return next(n for n, line in enumerate(packaged_default_text().splitlines(), 1)
                if needle in line)  # fmt: skip


def test_a_broken_configuration_file_names_its_file_and_line(parser: str, tmp_path: Path) -> None:
    path = tmp_path / "journalban.yaml"
    path.write_text("state_dir: /var/lib/x\njails:\n  sshd:\n\tmaxretry: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [str(e) for e in all_errors(caught.value)] == [
        f"{path}:4: invalid YAML: found character '\\t' that cannot start any token"
    ]
