"""A prototype reader of journal files by their documented on-disk format (measured, not used).

Issue 19 asked whether the journal reader child's catch-up could read closed
journal files itself, cheaper than libsystemd's ``_next()`` + ``_get("MESSAGE")``
(docs/benchmarks.md, "A reader of journal files by their on-disk format"). This is
the prototype that answered no: exact, but not cheaper in Python. It is kept to
measure (journalfile_cg.py) and as a reference of what a reader must do.

The format is systemd's docs/JOURNAL_FILE_FORMAT.md: a header, then DATA objects
(one per distinct ``FIELD=value``, found through a hash table, each listing the
entries holding it in chained entry arrays) and ENTRY objects (seqnum, realtime,
monotonic time, boot id, xor hash, the offsets of their DATA objects, sorted).
A jail's entries are each group's intersection of its values' entries, the
groups' union, in the file's order (by offset, as sd-journal reads one file);
files follow one another by seqnum. Per entry it finds a field as
sd_journal_get_data does: the first item, in the entry's order, whose payload
starts ``FIELD=``. Anything it does not follow exactly raises ``Unsupported``
(an unknown incompatible flag, a compressed value, an offset out of bounds or
not of the type expected, seqnums going back). Standard library only; the two
hashes were written from their published descriptions.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from operator import add, lt

SIGNATURE = b"LPKSHHRH"
KEYED_HASH = 1 << 2
COMPRESSED = (1 << 0) | (1 << 1) | (1 << 3)  # xz, lz4, zstd: only compressed objects need them
COMPACT = 1 << 4
KNOWN_INCOMPATIBLE = KEYED_HASH | COMPRESSED | COMPACT
OBJECT_COMPRESSED = 7  # an object's flags: xz, lz4, zstd

OBJECT_DATA = 1
OBJECT_ENTRY = 3
OBJECT_ENTRY_ARRAY = 6

HEADER = struct.Struct("<8sIIB7x16s16s16s16sQQQQ")  # up to the data hash table's size
OBJECT_HEAD = struct.Struct("<BB6xQ")  # type, flags, size
DATA_LINKS = struct.Struct("<QQQQQQ")  # hash, next hash, next field, entry, entry array, n entries
ENTRY_HEAD = struct.Struct("<B7xQQ")  # type, size, seqnum
ENTRY_STAMP = struct.Struct("<QQQ16sQ")  # seqnum, realtime, monotonic, boot id, xor hash
HASH_ITEM = struct.Struct("<QQ")
U64 = struct.Struct("<Q")
MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
PLAIN_MOST = 1 << 14  # data objects remembered not to hold a field, at most


class Unsupported(Exception):
    """Something this reader does not follow exactly (libsystemd would have to read it)."""


def _rotl64(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & MASK64


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & MASK64
    v1 = _rotl64(v1, 13) ^ v0
    v0 = _rotl64(v0, 32)
    v2 = (v2 + v3) & MASK64
    v3 = _rotl64(v3, 16) ^ v2
    v0 = (v0 + v3) & MASK64
    v3 = _rotl64(v3, 21) ^ v0
    v2 = (v2 + v1) & MASK64
    v1 = _rotl64(v1, 17) ^ v2
    return v0, v1, _rotl64(v2, 32), v3


def siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4 of ``data`` under the 16-byte ``key`` (a file id), 64 bits: the hash of
    files with the keyed-hash flag (systemd 246 on)."""
    k0, k1 = struct.unpack("<QQ", key)
    v = (k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261,
         k1 ^ 0x7465646279746573)  # fmt: skip
    whole = len(data) - len(data) % 8
    last = (len(data) & 0xFF) << 56 | int.from_bytes(data[whole:], "little")
    for word in [w for (w,) in struct.iter_unpack("<Q", data[:whole])] + [last]:
        v0, v1, v2, v3 = v[0], v[1], v[2], v[3] ^ word
        v0, v1, v2, v3 = _sipround(*_sipround(v0, v1, v2, v3))
        v = (v0 ^ word, v1, v2, v3)
    v = (v[0], v[1], v[2] ^ 0xFF, v[3])
    for _ in range(4):
        v = _sipround(*v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def _rot32(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & MASK32


def jenkins64(data: bytes) -> int:
    """lookup3's ``hashlittle2`` of ``data`` from zero seeds, its first result the high half:
    the hash of files without the keyed-hash flag."""
    a = b = c = (0xDEADBEEF + len(data)) & MASK32
    rest = data
    while len(rest) > 12:
        x, y, z = struct.unpack_from("<III", rest)
        a, b, c = (a + x) & MASK32, (b + y) & MASK32, (c + z) & MASK32
        a = ((a - c) & MASK32) ^ _rot32(c, 4)
        c = (c + b) & MASK32
        b = ((b - a) & MASK32) ^ _rot32(a, 6)
        a = (a + c) & MASK32
        c = ((c - b) & MASK32) ^ _rot32(b, 8)
        b = (b + a) & MASK32
        a = ((a - c) & MASK32) ^ _rot32(c, 16)
        c = (c + b) & MASK32
        b = ((b - a) & MASK32) ^ _rot32(a, 19)
        a = (a + c) & MASK32
        c = ((c - b) & MASK32) ^ _rot32(b, 4)
        b = (b + a) & MASK32
        rest = rest[12:]
    if not rest:
        return c << 32 | b
    x, y, z = struct.unpack("<III", rest.ljust(12, b"\0"))
    a, b, c = (a + x) & MASK32, (b + y) & MASK32, (c + z) & MASK32
    c = ((c ^ b) - _rot32(b, 14)) & MASK32
    a = ((a ^ c) - _rot32(c, 11)) & MASK32
    b = ((b ^ a) - _rot32(a, 25)) & MASK32
    c = ((c ^ b) - _rot32(b, 16)) & MASK32
    a = ((a ^ c) - _rot32(c, 4)) & MASK32
    b = ((b ^ a) - _rot32(a, 14)) & MASK32
    c = ((c ^ b) - _rot32(b, 24)) & MASK32
    return int(c << 32 | b)


class JournalFile:
    """One journal file, mapped read-only, with its header's layout facts."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if size < HEADER.size:
                raise Unsupported(f"{path}: shorter than a header")
            self.map = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        (signature, _compatible, incompatible, _state, file_id, _machine, _tail_boot, seqnum_id,
         header_size, arena_size, table_offset, table_size) = HEADER.unpack_from(self.map, 0)  # fmt: skip
        if signature != SIGNATURE or incompatible & ~KNOWN_INCOMPATIBLE:
            self.map.close()
            raise Unsupported(f"{path}: not a journal file this reader knows")
        self.path = path
        self.compact = bool(incompatible & COMPACT)
        self.keyed = bool(incompatible & KEYED_HASH)
        self.compressed = bool(incompatible & COMPRESSED)
        self.file_id = file_id
        self.seqnum_id = seqnum_id.hex()
        self.start = header_size
        self.end = min(size, header_size + arena_size)
        self.table_offset, self.buckets = table_offset, table_size // HASH_ITEM.size
        if table_offset + table_size > self.end or not self.buckets:
            self.map.close()
            raise Unsupported(f"{path}: data hash table out of bounds")
        self.payload_at = 72 if self.compact else 64  # a DATA object's payload
        self.item_size = 4 if self.compact else 16  # an ENTRY object's item
        self.array_item = 4 if self.compact else 8  # an ENTRY_ARRAY object's item

    def close(self) -> None:
        self.map.close()

    def object_head(self, offset: int, kind: int) -> tuple[int, int]:
        """(flags, size) of the object of type ``kind`` at ``offset``, checked to lie in the file."""
        if offset < self.start or offset % 8 or offset + 16 > self.end:
            raise Unsupported(f"{self.path}: object offset {offset} out of bounds")
        found, flags, size = OBJECT_HEAD.unpack_from(self.map, offset)
        if found != kind or size < 16 or offset + size > self.end:
            raise Unsupported(f"{self.path}: no object of type {kind} at {offset}")
        return flags, size

    def find_data(self, payload: bytes) -> int | None:
        """The offset of the DATA object holding ``payload``; None: no entry holds it."""
        digest = siphash24(self.file_id, payload) if self.keyed else jenkins64(payload)
        offset: int = U64.unpack_from(self.map, self.table_offset + digest % self.buckets * 16)[0]
        while offset:
            flags, size = self.object_head(offset, OBJECT_DATA)
            found, following = DATA_LINKS.unpack_from(self.map, offset + 16)[:2]
            if found == digest:
                if flags & OBJECT_COMPRESSED:
                    raise Unsupported(f"{self.path}: a compressed match value")
                if self.map[offset + self.payload_at : offset + size] == payload:
                    return offset
            if following and following <= offset:  # a chain only grows at its end
                raise Unsupported(f"{self.path}: a hash chain going back")
            offset = following
        return None

    def entries_of(self, data: int) -> list[int]:
        """The offsets of the entries holding the DATA object at ``data``, in the file's order."""
        self.object_head(data, OBJECT_DATA)
        _hash, _next, _field, first, array, count = DATA_LINKS.unpack_from(self.map, data + 16)
        if not count:
            return []
        found = [first]
        left = count - 1
        code = "I" if self.compact else "Q"
        while left > 0 and array:
            _flags, size = self.object_head(array, OBJECT_ENTRY_ARRAY)
            following = U64.unpack_from(self.map, array + 16)[0]
            take = min((size - 24) // self.array_item, left)
            items = struct.unpack_from(f"<{take}{code}", self.map, array + 24)
            if 0 in items:  # not written yet: the chain ends there
                found.extend(items[: items.index(0)])
                break
            found.extend(items)
            left -= take
            if following and following <= array:
                raise Unsupported(f"{self.path}: an entry array chain going back")
            array = following
        return found

    def select(self, groups: Sequence[Mapping[str, str]]) -> list[int]:
        """The offsets of the entries the match groups select (each group's fields all hold,
        any group), in the file's order."""
        chosen: set[int] = set()
        for group in groups:
            datas: list[int] = []
            for name, value in group.items():
                data = self.find_data(f"{name}={value}".encode())
                if data is None:
                    break
                datas.append(data)
            else:
                if datas:
                    lists = sorted(map(self.entries_of, datas), key=len)
                    chosen |= set(lists[0]).intersection(*lists[1:])
        return sorted(chosen)


class FileReader:
    """The reader child's calls (``_next``, ``_get``, ``_get_realtime``, ``_get_cursor``)
    over journal files whose seqnum ranges follow one another (one group of a catch-up).

    A file's selected entries are checked at once when it is reached (C-level ``map``
    passes: each an entry object inside the file, offsets and seqnums rising), so that
    ``_next`` only steps. ``_get`` looks from the entry's last item back (MESSAGE is
    usually new with its entry, so last), then makes sure no item before it holds the
    field: data objects remembered not to hold it are skipped, the others looked at.
    """

    def __init__(self, paths: Sequence[str], groups: Sequence[Mapping[str, str]]) -> None:
        self.files = [JournalFile(path) for path in paths]
        chosen = [(f, f.select(groups)) for f in self.files]
        chosen = [c for c in chosen if c[1]]
        chosen.sort(key=lambda c: self._seqnum(c[0], c[1][0]))
        self.queue = chosen
        self.seqnum = 0  # the last one checked
        self.seqnum_id = ""
        self.offsets: list[int] = []
        self.count = 0
        self.index = -1
        self.prefixes: dict[str, bytes] = {}
        self.plain: dict[bytes, set[int]] = {}
        self.items: tuple[int, ...] = ()
        self.items_index = -1

    @staticmethod
    def _seqnum(f: JournalFile, offset: int) -> int:
        f.object_head(offset, OBJECT_ENTRY)
        return int(U64.unpack_from(f.map, offset + 16)[0])

    def close(self) -> None:
        for f in self.files:
            f.close()

    def _next(self) -> bool:
        index = self.index + 1
        if index < self.count:
            self.index = index
            return True
        return self._open_next()

    def _open_next(self) -> bool:
        """Go on to the next file's entries; False after the last."""
        if not self.queue:
            self.count, self.index = 0, -1
            return False
        f, offsets = self.queue.pop(0)
        if self.seqnum_id and f.seqnum_id != self.seqnum_id:
            raise Unsupported("files of several seqnum sources")
        if offsets[0] < f.start or offsets[-1] + 64 > f.end:
            raise Unsupported(f"{f.path}: entries out of bounds")
        heads = list(map(ENTRY_HEAD.unpack_from, repeat(f.map), offsets))
        kinds, sizes, seqnums = zip(*heads, strict=True)
        if (
            set(kinds) != {OBJECT_ENTRY}
            or max(map(add, offsets, sizes)) > f.end
            or not all(map(lt, offsets, offsets[1:]))
            or seqnums[0] <= self.seqnum
            or not all(map(lt, seqnums, seqnums[1:]))
        ):
            raise Unsupported(f"{f.path}: entries out of bounds or out of order")
        code = "I" if f.compact else "Q8x"
        unpackers: dict[int, Callable[..., tuple[int, ...]]] = {}
        for size in set(sizes):
            if size < 64 or (size - 64) % f.item_size:
                raise Unsupported(f"{f.path}: an entry of {size} bytes")
            unpackers[size] = struct.Struct("<" + code * ((size - 64) // f.item_size)).unpack_from
        self.unpack = list(map(unpackers.__getitem__, sizes))
        self.seqnum, self.seqnum_id = seqnums[-1], f.seqnum_id
        self.map, self.end, self.payload_at = f.map, f.end, f.payload_at
        self.compressed = f.compressed
        self.offsets, self.count, self.index = offsets, len(offsets), 0
        self.items_index = -1
        self.plain = {prefix: set() for prefix in self.plain}  # offsets of another file
        return True

    def _get(self, field: str) -> bytes:
        """The value of the entry's first ``field`` item.

        Raises:
            KeyError: the entry holds no such field.
            Unsupported: the value is compressed, or its object is cut.
        """
        index = self.index
        if self.items_index == index:
            items = self.items
        else:
            items = self.items = self.unpack[index](self.map, self.offsets[index] + 64)
            self.items_index = index
        prefix = self.prefixes.get(field)
        if prefix is None:
            prefix = self.prefixes[field] = field.encode() + b"="
            self.plain[prefix] = set()
        mm = self.map
        start = self.payload_at
        stop = start + len(prefix)
        for data in reversed(items):
            if mm[data + start : data + stop] == prefix:
                break
        else:
            if self.compressed and any(map(mm.__getitem__, map(add, items, repeat(1)))):
                raise Unsupported(f"compressed items: {field} may be one of them")
            raise KeyError(field)
        if data != items[0]:
            plain = self.plain[prefix]
            unknown = set(items[: items.index(data)]).difference(plain)
            if unknown:
                data = self._first(prefix, data, unknown, plain)
        kind, flags, size = OBJECT_HEAD.unpack_from(mm, data)
        if (
            kind != OBJECT_DATA
            or flags & OBJECT_COMPRESSED
            or data + size > self.end
            or size < stop
        ):
            raise Unsupported(f"a compressed or cut {field}")
        return mm[data + stop : data + size]

    def _first(self, prefix: bytes, data: int, unknown: set[int], plain: set[int]) -> int:
        """The first of ``unknown`` (items before ``data``) holding ``prefix``, else ``data``;
        those that do not hold it are remembered."""
        mm, start = self.map, self.payload_at
        stop = start + len(prefix)
        if len(plain) > PLAIN_MOST:
            plain.clear()
        for other in sorted(unknown):
            if other + stop > self.end:
                raise Unsupported(f"a data object at {other} out of bounds")
            if mm[other + start : other + stop] == prefix:
                return other
            if mm[other + 1] & OBJECT_COMPRESSED:
                raise Unsupported(f"a compressed item before {prefix!r}")
            plain.add(other)
        return data

    def _get_realtime(self) -> int:
        return int(U64.unpack_from(self.map, self.offsets[self.index] + 24)[0])

    def _get_cursor(self) -> str:
        """The cursor as sd_journal_get_cursor writes it (libsystemd can seek to it)."""
        offset = self.offsets[self.index]
        seqnum, realtime, monotonic, boot, xor = ENTRY_STAMP.unpack_from(self.map, offset + 16)
        return (
            f"s={self.seqnum_id};i={seqnum:x};b={boot.hex()};m={monotonic:x};t={realtime:x};"
            f"x={xor:x}"
        )
