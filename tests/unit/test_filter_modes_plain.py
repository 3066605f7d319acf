"""A packaged filter's modes read from its plain ``modes: [a, b]`` line, as YAML reads them.

Checking a configuration reads the modes of every packaged jail's filter (69);
parsing each file's YAML for them cost 15.6 ms of every start. ``plain_modes``
reads the one line where the file writes them plainly, and leaves every other
spelling to the YAML parse.
"""

from __future__ import annotations

import pytest
import yaml

from journalban.matching.library import FilterLibrary, _packaged, plain_modes


def _yaml_modes(text: str) -> tuple[str, ...]:
    data = yaml.safe_load(text)
    return tuple(data.get("modes", ["normal"]))


@pytest.mark.parametrize("name", FilterLibrary().names())
def test_every_packaged_filters_modes_are_read_plainly_and_as_yaml_reads_them(name: str) -> None:
    text = _packaged().joinpath(f"{name}.yaml").read_text("utf-8")
    assert plain_modes(text) == _yaml_modes(text)


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nmodes:\n  - normal\n  - extra\n",  # a block sequence
        "modes: [normal, yes]\n",  # a boolean in YAML 1.1
        "modes: [normal, 'extra']\n",  # quoted
        '"modes": [normal]\n',  # a quoted key
        "modes: [normal]\nmodes: [extra]\n",  # twice: YAML keeps the last
        "{modes: [normal, extra]}\n",  # a flow mapping
        "modes: &m [normal]\n",  # an anchor
        "---\nmodes: [normal]\n---\nmodes: [extra]\n",  # documents
        "modes: [normal, 2]\n",  # a number
    ],
)
def test_other_spellings_are_left_to_the_yaml_parse(text: str) -> None:
    assert plain_modes(text) is None


def test_no_modes_line_is_normal_whatever_is_nested() -> None:
    text = "name: x\nsessions:\n  modes: [other]\nnotes: >-\n  modes: [text]\n"
    assert plain_modes(text) == ("normal",) == _yaml_modes(text)


def test_a_plain_line_with_a_comment_and_spaces() -> None:
    text = "modes: [ normal , more-1 ]  \n# modes: [commented]\n"
    assert plain_modes(text) == ("normal", "more-1") == _yaml_modes(text)
