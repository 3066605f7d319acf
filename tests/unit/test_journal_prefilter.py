"""The journal reader child's own prefilter is the one the agent would send.

``journalban run`` tells the journal jail's request before it compiles the
jail's filter (``agent.earlysources``): the child then takes the prefilter of
its finder, compiled from the pickled filter definition. For every packaged
filter and mode, with and without success regexes, it is the agent's.
"""

from __future__ import annotations

import pytest

from journalban.agent.journalfinder import JailFinder
from journalban.matching.compiled import journal_prefilter
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter

LIBRARY = FilterLibrary()
CASES = [
    (name, mode, successes)
    for name in LIBRARY.names()
    for mode in LIBRARY.load(name).modes
    for successes in ((False, True) if LIBRARY.load(name).successregex else (False,))
]


@pytest.mark.parametrize(("name", "mode", "successes"), CASES)
def test_the_childs_prefilter_is_the_agents(name: str, mode: str, successes: bool) -> None:
    fdef = LIBRARY.load(name)
    spec = MatcherSpec(name, mode, None, successes=successes, check_idents=False)
    agents = journal_prefilter(spec.compile(fdef))
    child = JailFinder({**spec.to_json(), "filter_def": pickle_filter(fdef)}).prefilter
    assert sorted(child) == sorted(agents)
    if fdef.sessions is not None and fdef.sessions.literals is not None and agents:
        assert set(fdef.sessions.literals) <= set(child)  # session lines are let through
