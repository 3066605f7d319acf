"""A reader of journal files by their on-disk format against libsystemd's: same entries, instructions.

    .venv/bin/python tests/benchmarks/journalfile_cg.py CORPUS --check [--copy DIR]
    .venv/bin/python tests/benchmarks/journalfile_cg.py CORPUS --cachegrind [--copy DIR]
    valgrind --tool=cachegrind --cache-sim=no .venv/bin/python \
        tests/benchmarks/journalfile_cg.py CORPUS --reader proto --reads N [--copy DIR]

The raw read of the journal reader child, ``_next()`` and ``_get("MESSAGE")`` for
every entry the corpus's jail selects, over the corpus's whole journal directory, by
one of four readers:

- **sd**: systemd-python's reader (libsystemd), with the jail's matches as the child
  adds them (``sdreader.add_groups``);
- **proto**: ``journalfile_proto.FileReader``, exact (the same entries, order, values
  and cursors as sd: ``--check``);
- **loose**: the prototype taking MESSAGE as each entry's last item, with no check
  that no item before it holds one (not exact: a bound of what a reader in Python could
  save by trusting the writer's layout);
- **floor**: the prototype's selection, checks and the two Python calls per entry,
  reading no value (a bound of a drop-in reader in Python).

``--cachegrind`` runs each (or those of ``--kinds``) under cachegrind (``--cache-sim=no``) with 1 and 2 reads
in one process; the difference is one read, start-up and imports aside, printed per
jail entry. ``--check`` compares ``--reader`` (proto, or **native**: the C reader of
journalban.sources.journalnative) with sd entry by entry (MESSAGE, _PID, realtime,
cursor), each file alone and the whole directory. ``--copy`` reads copies
of the files taken once in DIR (journal_child_cg.py), so that every run reads the
same files while the benchmark's cache is rewritten hourly.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent_corpora import jail_for, raw_entries
from corpora import add_corpus_arguments
from journal_child_cg import corpus
from journalfile_proto import OBJECT_HEAD, FileReader

from journalban.sources.journalnative import open_native
from journalban.sources.sdreader import Reader, add_groups, open_reader

READERS = ("sd", "proto", "loose", "floor", "native")


class LooseReader(FileReader):
    """MESSAGE taken as the entry's last item, unchecked (a bound, not a reader)."""

    def _get(self, field: str) -> bytes:
        index = self.index
        mm, start = self.map, self.payload_at
        data = self.unpack[index](mm, self.offsets[index] + 64)[-1]
        if mm[data + start : data + start + 8] != b"MESSAGE=":
            raise KeyError(field)
        return mm[data + start + 8 : data + OBJECT_HEAD.unpack_from(mm, data)[2]]


class FloorReader(FileReader):
    """Selection, checks and the calls, no value read (a bound, not a reader)."""

    def _get(self, field: str) -> bytes:
        return b""


def jail_groups(name: str) -> list[dict[str, str]]:
    return [dict(match.split("=", 1) for match in group) for group in jail_for(name).matches]


def journal_paths(directory: Path) -> list[str]:
    return sorted(str(p) for p in directory.iterdir() if p.name.endswith(".journal"))


def open_sd(paths: Sequence[str], groups: Sequence[Mapping[str, str]]) -> Reader:
    reader = open_reader(files=list(paths))
    add_groups(reader, groups)
    reader.seek_head()
    return reader


def open_c(paths: Sequence[str], groups: Sequence[Mapping[str, str]]) -> object:
    """The native reader (journalban.sources.journalnative), placed at its head."""
    reader = open_native(paths, groups)
    if reader is None:
        raise RuntimeError("the native reader is not built, or does not read these files")
    reader.seek_head()
    return reader


def opener(kind: str) -> Callable[[Sequence[str], Sequence[Mapping[str, str]]], object]:
    return {
        "sd": open_sd,
        "proto": FileReader,
        "loose": LooseReader,
        "floor": FloorReader,
        "native": open_c,
    }[kind]


def raw(reader: object) -> int:
    """``_next()`` and ``_get("MESSAGE")`` to the end, as the minimal reader does."""
    entries = raw_entries(reader)
    reader.close()  # type: ignore[attr-defined]
    return entries


def digest(reader: object) -> tuple[int, str]:
    """Entries and a hash of each one's MESSAGE, _PID, realtime and cursor, in order."""
    found = hashlib.sha256()
    entries = 0
    while reader._next():  # type: ignore[attr-defined]
        entries += 1
        for field in ("MESSAGE", "_PID"):
            try:
                found.update(reader._get(field) + b"\0")  # type: ignore[attr-defined]
            except KeyError:
                found.update(b"-\0")
        found.update(f"{reader._get_realtime()};{reader._get_cursor()}\n".encode())  # type: ignore[attr-defined]
    reader.close()  # type: ignore[attr-defined]
    return entries, found.hexdigest()[:16]


def check(paths: list[str], groups: list[dict[str, str]], kind: str) -> bool:
    same = True
    for files in [[p] for p in paths] + [paths]:
        expected = digest(open_sd(files, groups))
        got = digest(opener(kind)(files, groups))
        same = same and got == expected
        name = "directory" if len(files) > 1 else Path(files[0]).name[:40]
        verdict = "same" if got == expected else "DIFFERENT"
        print(f"{name}: sd {expected}, {kind} {got}: {verdict}")
    return same


def instructions(argv: list[str]) -> int:
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    done = subprocess.run([*command, sys.executable, *argv], capture_output=True, text=True)
    for line in done.stderr.splitlines():
        if "I   refs:" in line or "I    refs:" in line:
            return int(line.rsplit(":", 1)[1].replace(",", ""))
    raise RuntimeError(done.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--reader", choices=READERS, default="proto")
    parser.add_argument("--reads", type=int, default=1)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--cachegrind", action="store_true")
    parser.add_argument("--copy", type=Path, default=None)
    parser.add_argument("--kinds", default=",".join(READERS), help="--cachegrind's readers")
    add_corpus_arguments(parser)
    args = parser.parse_args()
    files = corpus(args.data / args.corpus / str(args.lines), args.corpus, args.lines, args.copy)
    paths, groups = journal_paths(files.journal), jail_groups(args.corpus)
    if args.check:
        sys.exit(0 if check(paths, groups, args.reader) else 1)
    if args.cachegrind:
        base = [__file__, args.corpus, "--lines", str(args.lines), "--data", str(args.data)]
        base += ["--copy", str(args.copy)] if args.copy is not None else []
        entries = raw(open_sd(paths, groups))
        for kind in args.kinds.split(","):
            one, two = (instructions([*base, "--reader", kind, "--reads", n]) for n in "12")
            print(f"{args.corpus} {kind}: {(two - one) / entries:,.0f} instructions per entry")
        return
    entries = 0
    for _ in range(args.reads):
        entries = raw(opener(args.reader)(paths, groups))
    print(f"{args.corpus} {args.reader}: {entries} jail entries")


if __name__ == "__main__":
    main()
