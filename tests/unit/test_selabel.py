"""A replaced shared file keeps its SELinux label.

This machine runs no SELinux, but the kernel still stores a security.selinux
attribute that root writes, and refuses a file-creation context (EINVAL): the
tests use the real attribute, and a plain file standing in for
/proc/thread-self/attr/fscreate to see what would be asked of the kernel.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from journalban.firewall import selabel
from journalban.firewall.filestate import replace_file

LABEL = b"system_u:object_r:journalban_hosts_deny_t:s0\x00"


def _labelled(path: Path) -> Path:
    path.write_text("old\n")
    try:
        os.setxattr(path, selabel.LABEL_ATTRIBUTE, LABEL)
    except OSError as exc:  # pragma: no cover - depends on the file system
        pytest.skip(f"cannot set {selabel.LABEL_ATTRIBUTE} here: {exc}")
    return path


def test_a_file_without_label_has_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert selabel.label_of(plain) is None
    assert selabel.label_of(tmp_path / "missing") is None


def test_creation_context_is_the_replaced_files_label_and_is_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _labelled(tmp_path / "hosts.deny")
    fscreate = tmp_path / "fscreate"
    fscreate.write_bytes(b"")
    writes: list[bytes] = []
    real_write = os.write

    def spy(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    with selabel.creating_like(target, fscreate):
        inside = list(writes)
    # Set to the label for what the block creates, reset (an empty write) after.
    assert inside == [LABEL]
    assert writes == [LABEL, b""]


def test_no_label_asks_nothing_of_the_kernel(tmp_path: Path) -> None:
    target = tmp_path / "hosts.deny"
    target.write_text("old\n")
    fscreate = tmp_path / "fscreate"
    fscreate.write_bytes(b"untouched")
    with selabel.creating_like(target, fscreate):
        pass
    assert fscreate.read_bytes() == b"untouched"


def test_a_kernel_without_selinux_refuses_the_context_and_the_write_goes_on(
    tmp_path: Path,
) -> None:
    # The real fscreate of this machine answers EINVAL: the file is written anyway.
    target = _labelled(tmp_path / "hosts.deny")
    replace_file(target, "ALL: 192.0.2.1\n", shared=True)
    assert target.read_text() == "ALL: 192.0.2.1\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hosts.deny.")]


def test_a_missing_shared_file_is_created_under_its_own_name_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "nginx-deny.conf"
    created: list[bool] = []
    real = selabel.ensure_labelled

    def spy(path: Path) -> None:
        real(path)
        created.append(path.exists() and path.read_text() == "")

    monkeypatch.setattr("journalban.firewall.filestate.ensure_labelled", spy)
    replace_file(target, "deny 192.0.2.1;\n", shared=True)
    assert created == [True]
    assert target.read_text() == "deny 192.0.2.1;\n"


def test_a_private_state_file_is_never_created_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr("journalban.firewall.filestate.ensure_labelled", calls.append)
    replace_file(tmp_path / "bans.json", "[]\n")
    assert calls == []
