"""Every packaged filter with each of its modes: the cases of the tests that must hold
for all of them."""

from __future__ import annotations

from journalban.matching.library import FilterLibrary


def every_filter_mode() -> list[tuple[str, str]]:
    """(filter name, mode) for every packaged filter and each mode it declares."""
    library = FilterLibrary(None)
    return [(name, mode) for name in library.names() for mode in library.load(name).modes]
