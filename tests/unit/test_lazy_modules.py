"""dbus-fast's hashlib (OpenSSL, 0.5 MB) is imported only when used (journalban.lazymodules)."""

from __future__ import annotations

import sys

from journalban.lazymodules import Deferred, deferred
from support.imports import modules_after

_NODE = (
    '<node><interface name="org.example.I"><method name="M">'
    '<arg type="s" direction="in"/></method></interface></node>'
)


def test_the_bus_service_does_not_import_hashlib() -> None:
    loaded = modules_after("import journalban.bus.service, journalban.bus.writer")
    assert "dbus_fast.introspection" in loaded
    assert {"hashlib", "_hashlib"} & loaded == set()


def test_parsing_an_introspection_imports_it_then_and_gives_the_same_nodes() -> None:
    code = (
        "import sys, journalban.bus, dbus_fast.introspection as i; "
        f"n = i.Node.parse({_NODE!r}); "
        "assert '_hashlib' in sys.modules and i.hashlib.sha256 is sys.modules['hashlib'].sha256; "
        "assert [m.name for m in n.interfaces[0].methods] == ['M']"
    )
    loaded = modules_after(code)
    assert "_hashlib" in loaded


def test_a_stand_in_is_out_of_sys_modules_after_the_block_and_loads_on_first_use() -> None:
    name = "colorsys"  # a module nothing here imports
    sys.modules.pop(name, None)
    with deferred(name, "sys"):
        import colorsys as held

        assert isinstance(held, Deferred)
        assert sys.modules["sys"] is sys  # one already imported is left alone
    assert name not in sys.modules
    assert held.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    import colorsys

    assert colorsys is not held
    assert held.hsv_to_rgb is colorsys.hsv_to_rgb
    sys.modules.pop(name, None)


def test_the_bus_service_does_not_import_elementtree_or_expat() -> None:
    loaded = modules_after("import journalban.bus.service, journalban.bus.writer")
    assert {"dbus_fast.aio.proxy_object", "dbus_fast.message_bus"} <= loaded
    assert {
        "xml.etree.ElementTree",
        "xml.parsers.expat",
        "pyexpat",
        "_elementtree",
    } & loaded == set()


def test_writing_an_introspection_imports_elementtree_then() -> None:
    """What a peer's ``Introspect`` of the agent's objects runs (dbus-fast's ``Node.tostring``)."""
    code = (
        "import sys, journalban.bus.service, dbus_fast.introspection as i; "
        f"n = i.Node.parse({_NODE!r}); text = n.tostring(); "
        "assert '<method name=\"M\">' in text, text; "
        "import xml.etree.ElementTree as ET; "
        "assert i.ET.Element is ET.Element and sys.modules['xml.etree'].ElementTree is ET; "
        "assert i.Arg.to_xml.__annotations__['return'] == 'Element'"
    )
    assert {"xml.etree.ElementTree", "pyexpat"} <= modules_after(code)


def test_a_client_s_proxy_objects_see_the_real_element() -> None:
    """dbus-fast's proxies tell an introspection given as an element by ``ET.Element``."""
    code = (
        "import journalban.bus.service, dbus_fast.proxy_object as a, dbus_fast.aio.proxy_object as b; "
        "import xml.etree.ElementTree as ET; "
        "assert type(ET.fromstring('<node/>')) is a.ET.Element is b.ET.Element is ET.Element"
    )
    modules_after(code)  # (raises if it fails)


def test_annotation_names_answer_as_strings_in_the_block_only() -> None:
    name, package = "email.quoprimime", "email"  # a submodule nothing here imports
    sys.modules.pop(name, None)
    import email

    with deferred(name, annotations=("unquote",)):
        import email.quoprimime as held

        assert isinstance(held, Deferred)
        assert email.quoprimime is held
        assert held.unquote == "unquote"  # type: ignore[comparison-overlap]
        assert name in sys.modules
    assert name not in sys.modules
    assert not isinstance(getattr(email, "quoprimime", None), Deferred)
    assert held.unquote("=41") == "A"  # the real function, imported now
    assert sys.modules[name].unquote is held.unquote
    assert sys.modules[package] is email
    sys.modules.pop(name, None)
