"""A function of the process's own C library, looked up when first needed.

``ctypes`` is imported at the first look, not with this module: a journal reader
child that never asks keeps it out of its memory (0.2 MB, issue 19).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctypes import _NamedFuncPointer


def libc_function(name: str) -> _NamedFuncPointer | None:
    """The C library's function ``name``, or None: the library has none (not glibc)."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(None), name)  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None
