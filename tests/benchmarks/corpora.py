"""The benchmark corpora: named, seeded, deterministic syslog files of different shapes.

    python tests/benchmarks/corpora.py NAME OUT [--lines N] [--seed S]
    python tests/benchmarks/corpora.py --list

Each corpus is a file of traditional syslog lines (``Mmm dd HH:MM:SS host
ident[pid]: message``) as rsyslog writes auth.log and mail.log on Debian, made
by a generator with a fixed seed: the same name, line count and seed always
give the same bytes. ``write_corpus(name, path, lines)`` writes one and says
how many of its lines the corpus's filter should count as failures in its
default mode (the generator marks each line as it writes it).

- ``sshd``: gen_sshd_corpus.py's auth.log (about 15% failures).
- ``sshd-near-miss``: most lines hold the sshd filter's literals but fail nothing.
- ``sshd-flood``: 50% failures from 200,000 distinct addresses, IPv4 and IPv6.
- ``authlog-mixed``: a mixed auth.log where sshd writes a third of the lines.
- ``dovecot``, ``postfix``: a mail server's mail.log, for those filters.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import corpora_mail
import corpora_sshd
import gen_sshd_corpus

Generator = Callable[[int, int], Iterator[tuple[str, bool]]]


@dataclass(frozen=True)
class CorpusSpec:
    """One corpus: how it is made and which filters read it."""

    name: str
    about: str
    generate: Generator  # (lines, seed) -> (line, a failure in the filter's default mode)
    filter: str  # journalban's shipped filter
    fail2ban_filter: str  # fail2ban's filter file (Debian's package)
    sshd: bool  # sshguard's parser reads it too
    seed: int = 20251121


CORPORA: dict[str, CorpusSpec] = {
    spec.name: spec
    for spec in (
        CorpusSpec("sshd", "gen_sshd_corpus.py's auth.log: about 15% failures, 46k addresses, "
                   "logins, sessions, scanners, CRON, sudo", gen_sshd_corpus.generate_flagged,
                   "sshd", "/etc/fail2ban/filter.d/sshd.conf", True),
        CorpusSpec("sshd-near-miss", "sshd lines holding the filter's literals that fail nothing: "
                   "keys that did not fit before an accepted login, pre-auth disconnects with and "
                   "without addresses, 'Connection closed by authenticating user'; about 5% failures",
                   corpora_sshd.near_misses, "sshd", "/etc/fail2ban/filter.d/sshd.conf", True),
        CorpusSpec("sshd-flood", "50% failures from 200,000 distinct addresses, a third IPv6",
                   corpora_sshd.flood, "sshd", "/etc/fail2ban/filter.d/sshd.conf", True),
        CorpusSpec("authlog-mixed", "auth.log where sshd writes a third of the lines; sudo, CRON, "
                   "su, login, systemd-logind, systemd-user, polkitd and their PAM lines the rest",
                   corpora_sshd.mixed_auth, "sshd", "/etc/fail2ban/filter.d/sshd.conf", True),
        CorpusSpec("dovecot", "mail.log of IMAP/POP3 logins, LMTP deliveries, password guessers "
                   "(auth_verbose), TLS probes, Postfix's delivery lines; about 12% failures",
                   corpora_mail.dovecot_lines, "dovecot", "/etc/fail2ban/filter.d/dovecot.conf", False),
        CorpusSpec("postfix", "mail.log of smtpd and postscreen: mail in and out, spam bots' "
                   "rejects, greylisting, DNSBL hits, SASL guessers, Dovecot's lines",
                   corpora_mail.postfix_lines, "postfix", "/etc/fail2ban/filter.d/postfix.conf", False),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Written:
    """What ``write_corpus`` wrote: lines, the failures among them, the file's SHA-256."""

    name: str
    path: Path
    lines: int
    failures: int
    sha256: str


def flagged_lines(name: str, lines: int, seed: int | None = None) -> Iterator[tuple[str, bool]]:
    """The corpus's lines, each with whether its filter's default mode counts it.

    Raises:
        KeyError: no corpus of that name.
    """
    spec = CORPORA[name]
    return spec.generate(lines, spec.seed if seed is None else seed)


def write_corpus(name: str, path: Path, lines: int, seed: int | None = None) -> Written:
    """Write ``lines`` lines of corpus ``name`` to ``path`` (each ending in a newline).

    Raises:
        KeyError: no corpus of that name.
    """
    failures = 0
    digest = hashlib.sha256()
    batch: list[str] = []
    with Path(path).open("wb") as out:
        for line, failure in flagged_lines(name, lines, seed):
            failures += failure
            batch.append(line)
            if len(batch) >= 10_000:
                _flush(batch, out, digest)
        _flush(batch, out, digest)
    return Written(name, Path(path), lines, failures, digest.hexdigest())


def _flush(batch: list[str], out: BinaryIO, digest: hashlib._Hash) -> None:
    if not batch:
        return
    data = ("\n".join(batch) + "\n").encode("utf-8")
    digest.update(data)
    out.write(data)
    batch.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", choices=sorted(CORPORA))
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--list", action="store_true", help="name and describe every corpus")
    args = parser.parse_args()
    if args.list or args.name is None or args.out is None:
        for spec in CORPORA.values():
            print(f"{spec.name:16} {spec.about}")
        return
    written = write_corpus(args.name, args.out, args.lines, args.seed)
    print(
        f"{written.name}: {written.lines} lines, {written.failures} failures, sha256 {written.sha256}"
    )


CORPUS_CACHE = Path("/var/tmp/journalban-bench/corpora")


def add_corpus_arguments(parser: argparse.ArgumentParser, corpora: str = ",".join(CORPORA)) -> None:
    """The agent benchmarks' shared options: --corpora (names, commas), --lines, --data."""
    parser.add_argument("--corpora", default=corpora)
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--data", type=Path, default=CORPUS_CACHE)


if __name__ == "__main__":
    main()
