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
