"""What a reader child needs to build a jail's matcher: plain data, sent as JSON.

The agent's reader children (files and journal) find the failures where they
read; each builds the same ``LineMatcher`` the agent would, from the filter's
name, mode and the jail's proxy settings, loading the filter from the same
library (the built-in filters and the local directory the agent uses).
"""

from __future__ import annotations

import _pickle  # pickle's own C implementation: pickle.py with its tables is 0.26 MB more
import base64
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from journalban.addresses import parse_network
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef
from journalban.matching.literals import parsed_pattern
from journalban.matching.regexopt import compile_parsed


@dataclass(frozen=True)
class MatcherSpec:
    """What a reader child builds the jail's matcher from (see the module)."""

    filter: str
    mode: str | None
    override_dir: str | None  # the library's directory of local filters
    trusted_proxies: Sequence[str] = ()
    real_ip_header: bool = False
    check_idents: bool = True  # a file line's syslog ident must be one of the filter's
    successes: bool = False  # also find accepted logins (the jail remembers known-good pairs)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MatcherSpec:
        return cls(**data)

    def compile(self, fdef: FilterDef) -> CompiledFilter:
        """The filter compiled for this jail (the agent's own, and each child's)."""
        return CompiledFilter(
            fdef,
            self.mode,
            trusted_proxies=[parse_network(n) for n in self.trusted_proxies],
            real_ip_header=self.real_ip_header,
            check_idents=self.check_idents,
            successes=self.successes,
        )

    def build(self, now: Callable[[], float]) -> LineMatcher:
        """The matcher, in a reader child, loading the filter itself. Raises: FilterError."""
        from journalban.matching.library import FilterLibrary  # YAML: not for a file child

        library = FilterLibrary(Path(self.override_dir) if self.override_dir else None)
        return LineMatcher(self.compile(library.load(self.filter)), now)


def pickle_filter(fdef: FilterDef) -> str:
    """The agent's FilterDef for a reader child (base64 of a pickle, in its JSON request):
    the child then neither reads the filter's YAML nor imports PyYAML (1 MB of its memory).
    Only the agent writes a child's request (its stdin)."""
    return base64.b64encode(_pickle.dumps(fdef)).decode()


class _Unpickler(_pickle.Unpickler):
    """Compiles the filter's regexes from the parses its analyses share (one parse each)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("re", "_compile"):
            return _compile_shared
        return super().find_class(module, name)


def _compile_shared(pattern: Any, flags: int) -> Any:
    # What unpickling a re.Pattern calls (re._compile), with the parse literals caches.
    if isinstance(pattern, str) and not flags & re.DEBUG:
        tree = parsed_pattern(pattern, flags)
        if tree is not None:
            try:
                return compile_parsed(pattern, flags, tree)
            except (TypeError, ValueError, AttributeError, RuntimeError):
                pass  # sre's internals differ (another Python): re.compile's own way
    return re.compile(pattern, flags)


def unpickle_filter(text: str) -> FilterDef:
    # the agent's own request (see above)
    fdef = _Unpickler(io.BytesIO(base64.b64decode(text))).load()
    if not isinstance(fdef, FilterDef):
        raise TypeError(f"not a filter definition: {type(fdef).__name__}")
    return fdef
