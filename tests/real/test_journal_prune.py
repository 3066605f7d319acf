"""The catch-up's readers of archived files leave out the match groups that select nothing there
(sources.journalprune), on real files from journal-remote.

sshd's jail matches ``ssh.service`` or ``sshd.service`` (each with ``_UID=0``);
here the rotated files hold only ``ssh.service`` (and a local user's lines in
``sshd.service``, which the jail never reads), and ``sshd.service`` logs as
root only in the file still written to: the archived files are read with one
group, the live one with both, and every entry of the jail is handed out once,
in order, as with every group everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_journal_child import small_fs, wait_entries
from test_journal_source import SSHD_GROUPS

from journalban.sources import journalworker
from journalban.sources.journalfiles import archived, journal_files
from journalban.sources.journalprune import groups_in
from journalban.sources.journalwire import DATA, Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import run_child, turns

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

TOTAL = 6000


def write_corpus(directory: Path) -> None:
    """ssh.service's lines, every third one a local user's in sshd.service (never the jail's);
    then, in the file still written to, sshd.service as root."""
    with JournalWriter(directory) as writer:
        writer.write(
            [
                sshd_fields(f"user {i}", unit="sshd.service", uid=1000)
                if i % 3 == 2
                else sshd_fields(f"line {i}")
                for i in range(TOTAL)
            ]
        )
        writer.write([sshd_fields("live 0"), sshd_fields("live 1", unit="sshd.service")])
        wait_entries(directory, TOTAL + 2)


def expected() -> list[str]:
    return [f"line {i}" for i in range(TOTAL) if i % 3 != 2] + ["live 0", "live 1"]


def files_of(directory: Path) -> tuple[list[str], list[str]]:
    paths = journal_files(str(directory))
    assert paths is not None
    done = sorted(p for p in paths if archived(p))
    return done, sorted(set(paths) - set(done))


def test_a_group_selecting_nothing_in_archived_files_is_left_out(small_fs: Path) -> None:
    write_corpus(small_fs)
    done, live = files_of(small_fs)
    assert len(done) >= 2
    assert live
    assert groups_in(done, SSHD_GROUPS) == SSHD_GROUPS[:1]
    # A file still written to keeps every group: sshd.service may log there later.
    assert groups_in(live, SSHD_GROUPS) == SSHD_GROUPS
    assert groups_in([*done, *live], SSHD_GROUPS) == SSHD_GROUPS
    # No group selects anything: one is kept (it selects nothing either).
    nobody = [{"_SYSTEMD_UNIT": "x.service"}, {"_SYSTEMD_UNIT": "y.service"}]
    assert groups_in(done, nobody) == nobody[:1]
    # Both select something: both kept, in order.
    both = [{"_SYSTEMD_UNIT": "sshd.service"}, {"_SYSTEMD_UNIT": "ssh.service"}]
    assert groups_in(done, both) == both


@pytest.mark.parametrize("split_at", [10**9, 1], ids=["one child", "split with a helper"])
def test_the_catch_up_hands_out_the_same_entries_with_groups_left_out(
    small_fs: Path, split_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(small_fs)
    request = Request(
        matches=SSHD_GROUPS, directory=str(small_fs), batch_size=300, reopen_every=1000,
        split_at=split_at,
    )  # fmt: skip
    pruned: list[int] = []

    def counting(files: list[str], groups: list[dict[str, str]]) -> list[dict[str, str]]:
        kept = groups_in(files, groups)
        pruned.append(len(groups) - len(kept))
        return kept  # type: ignore[return-value]

    monkeypatch.setattr(journalworker, "groups_in", counting)
    # The pruning serves libsystemd's readers: the native reader (journalnative) costs a
    # group selecting nothing one lookup at open, and is given every group.
    monkeypatch.setenv("JOURNALBAN_NATIVE_JOURNAL", "0")
    run = run_child(request, small_fs.parent / "frames")
    messages = [m for _, f in turns(run.mine, run.theirs) if f.kind == DATA for m in f.messages]
    assert messages == expected()
    assert pruned
    assert all(n == 1 for n in pruned)  # every archived part read with one group

    monkeypatch.setattr(journalworker, "groups_in", lambda files, groups: list(groups))
    again = run_child(request, small_fs.parent / "frames-all")
    taken = [m for _, f in turns(again.mine, again.theirs) if f.kind == DATA for m in f.messages]
    assert taken == expected()
    assert [f.cursor for f in run.mine] == [f.cursor for f in again.mine]
