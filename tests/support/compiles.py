"""Which fused line regexes a matcher compiles, counted (matching.warmup's tests)."""

from __future__ import annotations

import re

import pytest

from journalban.matching.compiled import CompiledFilter


def fused_compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The regex masks ``CompiledFilter.fused`` compiles from now on, in order (the list
    grows as they are compiled; the patch ends with the test)."""
    seen: list[int] = []
    fused = CompiledFilter.fused

    def counted(self: CompiledFilter, head: re.Pattern[str], regexes: int = -1) -> object:
        seen.append(regexes)
        return fused(self, head, regexes)

    monkeypatch.setattr(CompiledFilter, "fused", counted)
    return seen
