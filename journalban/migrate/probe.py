"""Child process: time converted regexes on crafted lines (``python -I -m journalban.migrate.probe``).

Reads a JSON list of patterns on stdin, matches each against lines built to make
a backtracking regex slow, and writes the index of each pattern when it is done.
The parent kills this process when a pattern takes too long: Python's ``re``
cannot be interrupted from inside.
"""

from __future__ import annotations

import json
import re
import sys

from journalban.matching.tags import expand

SIZE = 8192


def crafted(pattern: str) -> list[str]:
    """Long lines of the pattern's own literals, separators and address pieces."""
    words = re.findall(r"[A-Za-z][A-Za-z ]{2,}", pattern)[:8] or ["x"]
    pieces = [*words, " ", "  ", ": ", "[", "(", "'", '"', "=", "1.2.3.4 ", "::1 ", "from 1.2.3.4 "]
    lines = [(p * (SIZE // max(len(p), 1)))[:SIZE] for p in pieces]
    lines.append(("".join(words) + " ") * (SIZE // (len("".join(words)) + 1)))
    return lines


def main() -> int:
    patterns = json.load(sys.stdin)
    for i, pattern in enumerate(patterns):
        regex = re.compile(expand(pattern))
        for line in crafted(pattern):
            regex.match(line)
            regex.search(line)
        sys.stdout.write(f"{i}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
