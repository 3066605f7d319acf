"""docs/filters.md shows the filters and corpus scores as they are now."""

from __future__ import annotations

import pytest

from support.corpus import corpus_available
from support.filters_table import DOC, current_section, generated


@pytest.mark.skipif(not corpus_available(), reason="../shared/corpus is absent")
def test_filters_doc_tables_are_current() -> None:
    assert current_section(DOC.read_text()) == generated(), (
        "docs/filters.md is stale: run .venv/bin/python tests/support/filters_table.py"
    )
