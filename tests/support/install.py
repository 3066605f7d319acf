"""The files a journalban package installs, from the one list both recipes follow.

``docs/packaging/files.txt`` lists every file a package installs beside the
Python package; the PKGBUILD and the RPM spec are checked against it
(tests/real/test_packaging.py), and the booted-systemd tier and the
fresh-machine checks install journalban into a root file system from it::

    from support.install import install_into
    install_into(root)              # units, D-Bus, polkit, config, man pages ...

The Python package itself is not in the list: a wheel brings it (see
``build_wheel``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]
FILES_LIST: Final = REPO / "docs" / "packaging" / "files.txt"
KINDS: Final = frozenset({"file", "config", "dir", "doc", "license", "selinux"})
# What a package on a system without SELinux's targeted policy installs
# (Arch, Debian, the booted tier): everything but the built policy module.
NO_SELINUX: Final = KINDS - {"selinux"}


class FilesListError(ValueError):
    """docs/packaging/files.txt has a line that is not ``kind mode source path``."""


@dataclass(frozen=True)
class Entry:
    """One installed file or directory.

    ``source`` is relative to the checkout (None for a ``dir``); ``path`` is
    absolute on the installed system.
    """

    kind: str
    mode: int
    source: str | None
    path: str

    @property
    def relpath(self) -> str:
        """``path`` without its leading slash (relative to a root directory)."""
        return self.path.lstrip("/")


def parse(text: str, name: str = "files.txt") -> list[Entry]:
    """The entries of a files list; comments (#) and blank lines are skipped."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{name}:{number}"
        fields = line.split()
        if len(fields) != 4:
            raise FilesListError(f"{where}: want 'kind mode source path', got {line!r}")
        kind, mode_text, source, path = fields
        if kind not in KINDS:
            raise FilesListError(f"{where}: unknown kind {kind!r} (one of {sorted(KINDS)})")
        try:
            mode = int(mode_text, 8)
        except ValueError:
            raise FilesListError(f"{where}: mode {mode_text!r} is not octal") from None
        if not path.startswith("/") or ".." in path.split("/"):
            raise FilesListError(f"{where}: installed path {path!r} is not absolute and plain")
        if (source == "-") != (kind == "dir"):
            raise FilesListError(f"{where}: a dir has source '-', nothing else does")
        if path in seen:
            raise FilesListError(f"{where}: {path} is listed twice")
        seen.add(path)
        entries.append(Entry(kind, mode, None if source == "-" else source, path))
    return entries


def entries(kinds: Collection[str] = KINDS) -> list[Entry]:
    """The entries of docs/packaging/files.txt of the given kinds, in list order."""
    return [e for e in parse(FILES_LIST.read_text(), FILES_LIST.name) if e.kind in kinds]


def install_into(
    root: Path,
    *,
    kinds: Collection[str] = NO_SELINUX,
    source_root: Path = REPO,
    owner: tuple[int, int] | None = None,
) -> list[Entry]:
    """Install the listed files of ``kinds`` from ``source_root`` under ``root``.

    Parent directories are created 0755, files and listed directories get the
    listed mode (and ``owner`` uid/gid if given, else the caller's). Returns
    what was installed.
    """
    done = _chosen(kinds)
    for entry in done:
        target = root / entry.relpath
        _make_dirs(target.parent, root, owner)
        if entry.source is None:
            target.mkdir(exist_ok=True)
        else:
            shutil.copyfile(source_root / entry.source, target)
        os.chmod(target, entry.mode)
        if owner is not None:
            os.chown(target, *owner)
    return done


def build_wheel(outdir: Path) -> Path:
    """A wheel of the checkout (``pip wheel --no-deps``) in ``outdir``; its path.

    Built as the packages build it: the C module (setup.py) is required, so a
    failed compile fails here rather than installing a tree without it.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(outdir), str(REPO)],
        check=True,
        env={**os.environ, "JOURNALBAN_REQUIRE_NATIVE": "1"},
    )
    (wheel,) = outdir.glob("journalban-*.whl")
    return wheel


def _chosen(kinds: Iterable[str]) -> list[Entry]:
    wanted = set(kinds)
    unknown = wanted - KINDS
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}")
    return entries(wanted)


def _make_dirs(directory: Path, root: Path, owner: tuple[int, int] | None) -> None:
    missing: list[Path] = []
    while directory != root and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for made in reversed(missing):
        made.mkdir(mode=0o755)
        os.chmod(made, 0o755)  # noqa: S103 - directories of an installed tree are world-readable
        if owner is not None:
            os.chown(made, *owner)
