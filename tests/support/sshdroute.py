"""The journal route of the packaged sshd jail's finder, as a reader child builds it."""

from __future__ import annotations

from journalban.agent.journalfinder import JailFinder
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter
from journalban.sources.journalroute import Route, route_for


def sshd_route(mode: str | None = None) -> tuple[JailFinder, Route]:
    """sshd's finder (in ``mode``; None: the filter's default) and the route of its starts."""
    fdef = FilterLibrary().load("sshd")
    spec = MatcherSpec("sshd", mode, None, check_idents=False, successes=True)
    finder = JailFinder({**spec.to_json(), "filter_def": pickle_filter(fdef)})
    assert finder.gate is not None
    assert finder.gate.prefixes is not None
    assert finder.start_classes is not None
    route = route_for(finder.gate.prefixes, finder.gate.teach_prefixes, finder.start_classes)
    assert route is not None
    return finder, route
