"""What a fresh interpreter has imported after running some code (``python -I``)."""

from __future__ import annotations

import subprocess
import sys


def modules_after(code: str) -> set[str]:
    """The names in ``sys.modules`` of a new isolated interpreter once ``code`` ran."""
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"{code}; import sys; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return set(out.split())
