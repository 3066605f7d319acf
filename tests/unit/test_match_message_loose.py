"""CompiledFilter.match_message tries its first messages one regex at a time and compiles
the alternation of its regexes only after ``LOOSE_MESSAGES``: the same outcome either way,
on every packaged filter and mode, with and without success regexes."""

from __future__ import annotations

import pytest

from journalban.matching import compiled
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from support.bare_messages import bare_messages
from support.filter_modes import every_filter_mode

MESSAGES = list(bare_messages())


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_one_regex_at_a_time_finds_what_the_alternation_finds(name: str, mode: str) -> None:
    fdef = FilterLibrary(None).load(name)
    for successes in (False, True):
        loose = CompiledFilter(fdef, mode, successes=successes)
        loose._loose = len(MESSAGES) + 1
        whole = CompiledFilter(fdef, mode, successes=successes)
        whole._loose = 0
        for i, message in enumerate(MESSAGES):
            assert loose.match_message(message, i, 5.0) == whole.match_message(message, i, 5.0)
        assert not loose._whole_compiled
        assert whole._whole_compiled


def test_the_alternation_is_compiled_after_the_loose_messages() -> None:
    f = CompiledFilter(FilterLibrary(None).load("sshd"), "normal")
    message = "Failed password for root from 192.0.2.7 port 22 ssh2"
    for _ in range(compiled.LOOSE_MESSAGES):
        assert f.match_message(message).host == "192.0.2.7"
    assert not f._whole_compiled
    assert f.match_message(message).host == "192.0.2.7"
    assert f._whole_compiled
    assert f._whole is not None
