"""asyncio without the ssl module until something imports ssl (the agent's memory, issue 19).

asyncio imports ``ssl`` when it is first imported, and with it OpenSSL, whose
set-up costs the agent about 1 MB of anonymous memory for its whole life; the
agent uses TLS only for a fleet link to a ``tls://`` server. ``defer_ssl()``
imports asyncio with ``ssl`` held back (asyncio's modules then hold
``ssl = None``, which they are written to accept) and puts a finder on
``sys.meta_path`` that watches for the first real ``import ssl`` (the fleet
link's, nats-py's, any library's): once ``ssl`` has run, asyncio's modules get
it, and ``sslproto`` the names it defines only with ssl present, as if asyncio
had imported it itself. A TLS connection through asyncio then works as before
(``tests/unit/test_lazy_ssl.py``, a real handshake on loopback).
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Loader

# asyncio's modules that import ssl at their top (Python 3.11).
ASYNCIO_SSL_USERS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")
# The Pythons whose asyncio that list was read from and a TLS round was tested on
# (tests/unit/test_lazy_ssl.py); any other imports ssl with asyncio, as it would.
CHECKED_ON = ((3, 11),)


def defer_ssl() -> None:
    """Import asyncio without ssl; ssl is given to it when first imported by anyone.

    Nothing is done when asyncio or ssl is already imported, or on a Python whose
    asyncio this was not checked against (``CHECKED_ON``).
    """
    if "asyncio" in sys.modules or "ssl" in sys.modules or sys.version_info[:2] not in CHECKED_ON:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # import ssl: ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
    sys.meta_path.insert(0, _SSLWatch())


def give_asyncio(ssl: ModuleType) -> None:
    """Hand ``ssl`` to asyncio's modules that were imported without it."""
    for name in ASYNCIO_SSL_USERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "ssl", None) is None:
            module.ssl = ssl  # type: ignore[attr-defined]
    sslproto = sys.modules.get("asyncio.sslproto")
    if sslproto is not None and not hasattr(sslproto, "SSLAgainErrors"):
        sslproto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)  # type: ignore[attr-defined]


class _SSLWatch:
    """Finds ``ssl`` as the path finder would, with a loader that hands it to asyncio.

    (Neither it nor its loader derives from ``importlib.abc``'s classes: importing that
    module costs more than ssl.)
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "ssl":
            return None
        sys.meta_path.remove(self)  # once
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _GivingLoader(spec.loader)  # type: ignore[assignment]
        return spec


class _GivingLoader:
    def __init__(self, inner: Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        give_asyncio(module)
