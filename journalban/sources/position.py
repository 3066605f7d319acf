"""Where a file source stands: per file device, inode, offset and a hash of its first line.

The position of a ``FileSource`` batch is this, as JSON, for every file the
source follows, so one saved text resumes all of them.
"""

from __future__ import annotations

import json
import os

# hashlib.blake2b is this one; hashlib itself loads OpenSSL (0.6 MB in each reader child).
from _blake2 import blake2b
from dataclasses import dataclass

# The first line identifies a file's generation (its date differs from the
# previous generation's); this much of it is enough.
HEAD_BYTES = 256
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class FileMark:
    """One file's place: the bytes before ``offset`` are handled.

    ``head`` is the hash of the file's first line (``None`` while it has no
    complete first line); ``skipping`` says the bytes up to the next newline
    are the rest of an overlong line already cut and handed out.
    """

    path: str
    device: int
    inode: int
    offset: int
    head: str | None
    skipping: bool = False


def head_hash(fd: int) -> str | None:
    """Hash of the first line (at most HEAD_BYTES of it) of an open file."""
    start = os.pread(fd, HEAD_BYTES, 0)
    newline = start.find(b"\n")
    if newline >= 0:
        start = start[: newline + 1]
    elif len(start) < HEAD_BYTES:
        return None  # the first line is still being written
    return blake2b(start, digest_size=8).hexdigest()


def encode_marks(marks: list[FileMark], current: str | None = None) -> str:
    """The position text; ``current`` names the file the batch came from."""
    files = [
        {
            "path": m.path,
            "dev": m.device,
            "ino": m.inode,
            "off": m.offset,
            "head": m.head,
            **({"skip": True} if m.skipping else {}),
        }
        for m in marks
    ]
    document: dict[str, object] = {"v": FORMAT_VERSION, "files": files}
    if current is not None:
        document["file"] = current
    return json.dumps(document, separators=(",", ":"))


def decode_marks(position: str) -> list[FileMark]:
    """The marks in a position text.

    Raises:
        ValueError: the text is not a file position this version wrote.
    """
    try:
        document = json.loads(position)
        if document.get("v") != FORMAT_VERSION:
            raise ValueError(f"unknown file position version: {document.get('v')!r}")
        return [
            FileMark(
                path=str(item["path"]),
                device=int(item["dev"]),
                inode=int(item["ino"]),
                offset=int(item["off"]),
                head=None if item.get("head") is None else str(item["head"]),
                skipping=bool(item.get("skip", False)),
            )
            for item in document["files"]
        ]
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a file position: {position[:80]!r}") from exc
