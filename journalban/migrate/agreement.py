"""A converted filter against fail2ban's own, on fail2ban's test log for that filter.

fail2ban ships a test log per filter (Debian: in its Python package, under
``fail2ban/tests/files/logs/``), each line annotated with what must match.
When that log and ``fail2ban-regex`` are on the machine, the importer runs the
admin's fail2ban filter over it (``--usedns=no``: addresses only, as journalban)
beside the converted filter, line by line: a line agrees when both miss it or
both report the same address. The figure goes into the report.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from journalban.addresses import parse_address
from journalban.matching.engine import MATCHED, MISSED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef

# Where fail2ban's test logs are installed (Debian, Fedora, Arch, pip).
TEST_LOG_DIRS = tuple(
    sorted(Path("/usr/lib").glob("python3*/*-packages/fail2ban/tests/files/logs"))
) + tuple(sorted(Path("/usr/local/lib").glob("python3*/*-packages/fail2ban/tests/files/logs")))
TIMEOUT = 60.0


@dataclass
class Agreement:
    name: str
    lines: int = 0
    agree: int = 0
    differ: list[str] = field(default_factory=list)
    other_address: list[str] = field(default_factory=list)  # both matched, not the same
    unbannable: int = 0  # lines whose address journalban never bans (counted as found)

    @property
    def percent(self) -> float:
        return 100.0 * self.agree / self.lines if self.lines else 100.0


def find_test_log(name: str, dirs: Sequence[Path] = TEST_LOG_DIRS) -> Path | None:
    for d in dirs:
        if (d / name).is_file():
            return d / name
    return None


def log_lines(path: Path) -> list[str]:
    """The log lines of a fail2ban test log (comments and blank lines left out)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def fail2ban_results(
    fail2ban_regex: str, filter_spec: str, log: Path, timeout: float = TIMEOUT
) -> dict[str, str]:
    """Each line fail2ban's filter matched, with the address it names.

    Raises:
        subprocess.TimeoutExpired: fail2ban-regex ran past ``timeout``.
    """
    proc = subprocess.run(
        [fail2ban_regex, "--usedns=no", "-o", "<ip>\t<msg>", str(log), filter_spec],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    found: dict[str, str] = {}
    for row in proc.stdout.splitlines():
        ip, sep, msg = row.partition("\t")
        if sep:
            # Several lines of one multi-line failure are joined by "\n"; a single line
            # may hold those two characters itself ("Got error 'Primary script unknown\n'").
            for part in (msg, *msg.split("\\n")):
                found[part] = ip
    return found


def compare(
    fdef: FilterDef,
    theirs: dict[str, str],
    lines: list[str],
    now: Callable[[], float] = time.time,
) -> Agreement:
    """Line by line: ``fdef`` (default mode) against fail2ban's matches ``theirs``."""
    result = Agreement(fdef.name)
    matcher = LineMatcher(CompiledFilter(fdef), now)
    for line in lines:
        result.lines += 1
        outcome = matcher.match_line(line)
        ours = str(outcome.address) if outcome.kind == MATCHED and outcome.address else None
        if outcome.kind == MISSED and outcome.reason.startswith("never a peer"):
            # The regex found an address journalban never bans (0.0.0.0, multicast):
            # the filter agrees when fail2ban found that same address.
            ours = str(parse_address(outcome.host))
            result.unbannable += 1
        their_text = theirs.get(line)
        their_addr = parse_address(their_text) if their_text else None
        want = str(their_addr) if their_addr is not None else None
        if ours == want:
            result.agree += 1
            continue
        result.differ.append(f"journalban {ours}, fail2ban {want}: {line}")
        if ours is not None and want is not None:
            result.other_address.append(f"journalban {ours}, fail2ban {want}: {line}")
    return result


def check_against_fail2ban(
    fdef: FilterDef, filter_conf: Path, params: dict[str, str], name: str
) -> Agreement | None:
    """The agreement on fail2ban's test log for ``name``, or None without log or tool."""
    log = find_test_log(name)
    tool = shutil.which("fail2ban-regex")
    if log is None or tool is None:
        return None
    spec = str(filter_conf)
    if params:
        spec += "[" + ", ".join(f'{k}="{v}"' for k, v in sorted(params.items())) + "]"
    try:
        theirs = fail2ban_results(tool, spec, log)
    except subprocess.TimeoutExpired:
        return None
    return compare(fdef, theirs, log_lines(log))
