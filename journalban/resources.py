"""Files shipped inside the package (default.yaml, the filters), read without
importlib.resources where the package is a directory on disk.

importlib.resources' reader for a package on disk imports zipfile, shutil, bz2
and lzma: 0.7 MB that the agent kept for its whole life only to read two files
at start (issue 19). A package that is not a plain directory (a zip import)
still goes through importlib.resources.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def package_files(package: str) -> Traversable:
    """The package's directory, as ``importlib.resources.files(package)`` gives it."""
    module = import_module(package)
    init = getattr(module, "__file__", None)
    if init is not None:
        folder = Path(init).parent
        if folder.is_dir():
            return folder
    import importlib.resources

    return importlib.resources.files(package)
