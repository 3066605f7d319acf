"""The agent's D-Bus API, ``org.jailban``, served with dbus-fast.

dbus-fast's ``introspection`` (imported by its ``message_bus``) imports
``hashlib`` for one use: the cache key of an introspection document it parses,
which a service never does (it writes its own). ``hashlib`` loads OpenSSL's
``libcrypto``: 0.5 MB of the agent's anonymous memory (issue 19). It is
imported when first used (``journalban.lazymodules``); a client that parses a
peer's introspection loads it then. So are ``xml.etree.ElementTree`` and
``xml.parsers.expat`` (with ``pyexpat``: 0.25 MB), which dbus-fast uses to parse a
peer's introspection and to write its own when a peer asks for it (``Introspect``);
at its import it reads only ``ET.Element``, in its functions' annotations.
"""

from journalban.lazymodules import deferred

with deferred("hashlib", "xml.etree.ElementTree", "xml.parsers.expat", annotations=("Element",)):
    import dbus_fast.aio  # (its proxy objects import ElementTree too)
    import dbus_fast.introspection  # noqa: F401
