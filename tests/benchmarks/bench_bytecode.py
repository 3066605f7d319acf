"""journalban's modules compiled to byte code before a benchmark times the agent.

An installed journalban (a distribution package, ``pip install``) has its byte
code compiled at install, as fail2ban from Debian's package has. A checkout run
with ``PYTHONDONTWRITEBYTECODE`` set (some containers; the development machine)
never writes it: each start of the agent, its reader children or ``journalban
regex`` would compile again every module changed since ``scripts/setup`` ran,
in the timed start-ups (restore, regex) and, for a module imported lazily, in
the timed runs. ``compileall`` writes it whatever that variable says.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import journalban


def compile_package() -> bool:
    """Compile every module of the journalban package imported here; False if one failed."""
    return bool(compileall.compile_dir(str(Path(journalban.__file__).parent), quiet=1))
