"""What the docs owe a fail2ban admin: the tags, the defaults, and no leftovers."""

from __future__ import annotations

from support.real import REPO

DOCS = REPO / "docs"


def test_addr_is_documented_beside_host() -> None:
    for doc in (DOCS / "filter-writing.md", DOCS / "man" / "journalban-filters.5"):
        text = doc.read_text()
        assert "<ADDR>" in text, doc
        assert "<HOST>" in text, doc


def test_docs_hold_no_notes_to_ourselves_or_paths_outside_the_project() -> None:
    for doc in [*DOCS.rglob("*.md"), *DOCS.rglob("*.[58]"), REPO / "README.md"]:
        text = doc.read_text()
        for leftover in ("../shared", "/work/", "The integrator"):
            assert leftover not in text, (doc, leftover)


def test_the_enabled_default_is_stated_as_it_behaves() -> None:
    assert (
        "a jail you add is on unless it says `enabled: false`"
        in (DOCS / "configuration.md").read_text()
    )
    assert "a jail you add runs unless it says" in (DOCS / "man" / "journalban.yaml.5").read_text()


def test_the_bus_name_is_explained() -> None:
    assert "Why `org.jailban` and not `org.journalban`" in (DOCS / "dbus-api.md").read_text()
