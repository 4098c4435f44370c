"""An undo journal for in-place appends to an episode file.

HDF5 (without SWMR) rewrites some of a file's metadata in place when an object is added (the
group's link heap and B-tree, object headers, the superblock), in an order of its own, so a
writer killed while it flushes can leave a file whose older, committed objects no longer
read ("Link iteration failed"). The journal makes an append all or nothing: the append's
writes over the file's old bytes are held back until the end; then the old pages they cover
go to the journal beside the file and reach the disk, and only then are they overwritten.
Writes past the old end need no copy (undoing them is a truncation). Deleting the journal
is the commit point. An append cut short leaves the journal: the next writer puts the old
pages back and truncates the file to its old length (`roll_back`), and until then readers
see the file as it was before the append (`RolledBackView`). Cost per append: two fsyncs
and the pages HDF5 rewrites in place, not the file's size.
"""
from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

PAGE = 4096
MAGIC = b"RLJ1"
RECORD = struct.Struct("<QII")  # page offset, length, crc32 of the old bytes


def journal_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.journal")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(journal: Path) -> tuple[dict, dict[int, bytes]]:
    """(header, {offset: old bytes}); a record cut short by a crash is dropped (the page it
    saved was not overwritten yet: a page is written only after its record is on disk)."""
    raw = journal.read_bytes()
    pages: dict[int, bytes] = {}
    if raw[:4] != MAGIC or len(raw) < 8:
        return {}, pages  # the header itself was cut short: the file was not touched
    size = struct.unpack_from("<I", raw, 4)[0]
    try:
        header = json.loads(raw[8:8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}, pages
    at = 8 + size
    while at + RECORD.size <= len(raw):
        offset, length, crc = RECORD.unpack_from(raw, at)
        old = raw[at + RECORD.size:at + RECORD.size + length]
        if len(old) != length or zlib.crc32(old) != crc:
            break
        pages[offset] = old
        at += RECORD.size + length
    return header, pages


def roll_back(path: Path) -> str | None:
    """Undo an append the journal says was cut short; returns the name it was writing
    (None when there was no journal). Call with the writer lock held."""
    journal = journal_path(path)
    if not journal.exists():
        return None
    header, pages = read_journal(journal)
    if header:
        with open(path, "r+b") as f:
            for offset, old in pages.items():
                f.seek(offset)
                f.write(old)
            f.truncate(header["length"])
            f.flush()
            os.fsync(f.fileno())
    journal.unlink()
    _fsync_dir(path)
    return header.get("name")


def _overlay(view: memoryview, at: int, n: int, segments: Iterable[tuple[int, bytes]]) -> None:
    """Put over `view` (the n bytes read from offset `at`) the parts of `segments` (offset,
    bytes) it covers, in order."""
    for offset, data in segments:
        lo, hi = max(offset, at), min(offset + len(data), at + n)
        if lo < hi:
            view[lo - at:hi - at] = data[lo - offset:hi - offset]


class JournaledFile(io.RawIOBase):
    """`path` opened for update (a file object for `h5py.File`). Writes past the file's old
    length go to the file; writes over its old bytes are held back (reads see them) until
    `commit`, which journals the old pages they cover, fsyncs once, and only then applies them:
    two fsyncs an append, however many pages HDF5 rewrites. Until then the file on disk is the
    file as it was, plus bytes past its end that nothing points to."""

    def __init__(self, path: Path, name: str):
        self.path, self.journal_file = path, journal_path(path)
        self.fd = os.open(path, os.O_RDWR)
        self.length, self.pos = os.fstat(self.fd).st_size, 0
        self.held: list[tuple[int, bytes]] = []  # writes over the old bytes, in order
        self.journal = open(self.journal_file, "xb")
        header = json.dumps({"length": self.length, "name": name}).encode()
        self.journal.write(MAGIC + struct.pack("<I", len(header)) + header)
        self._sync_journal()
        _fsync_dir(path)

    def _sync_journal(self) -> None:
        self.journal.flush()
        os.fsync(self.journal.fileno())

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer).cast("B")
        data = os.pread(self.fd, len(view), self.pos)
        n = len(data)
        view[:n] = data
        _overlay(view, self.pos, n, self.held)  # later writes over earlier ones
        self.pos += n
        return n

    def write(self, data: bytes | bytearray | memoryview) -> int:
        data = bytes(data)
        split = max(0, min(len(data), self.length - self.pos))  # the part over the old bytes
        if split:
            self.held.append((self.pos, data[:split]))
        if split < len(data):
            os.pwrite(self.fd, data[split:], self.pos + split)
        self.pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: os.fstat(self.fd).st_size}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def truncate(self, size: int | None = None) -> int:
        size = self.pos if size is None else size
        if size < self.length:  # HDF5 does not shrink a file it appends to
            raise OSError(f"{self.path}: an append would cut the file below its old length")
        os.ftruncate(self.fd, size)
        return size

    def commit(self) -> None:
        """The append is final: the old pages the held writes cover journaled and on disk,
        the writes applied and on disk, then the journal gone."""
        pages = sorted({page for offset, held in self.held
                        for page in range(offset // PAGE * PAGE, offset + len(held), PAGE)})
        for page in pages:
            old = os.pread(self.fd, min(PAGE, self.length - page), page)
            self.journal.write(RECORD.pack(page, len(old), zlib.crc32(old)) + old)
        self._sync_journal()
        for offset, held in self.held:
            os.pwrite(self.fd, held, offset)
        os.fsync(self.fd)
        self.journal.close()
        self.journal_file.unlink()
        _fsync_dir(self.path)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if not self.journal.closed:
            self.journal.close()
        os.close(self.fd)


class RolledBackView(io.RawIOBase):
    """A read-only view of `path` as it was before the append its journal records (old pages
    in place, nothing past the old length): what readers see until a writer rolls it back."""

    def __init__(self, path: Path, header: dict, pages: dict[int, bytes]):
        self.file = open(path, "rb")
        self.length, self.pages, self.at = header["length"], pages, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self.length - self.at))
        self.file.seek(self.at)
        got = self.file.readinto(view[:n]) or 0
        _overlay(view, self.at, got, self.pages.items())
        self.at += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.at, io.SEEK_END: self.length}[whence]
        self.at = base + offset
        return self.at

    def tell(self) -> int:
        return self.at

    def close(self) -> None:
        super().close()
        self.file.close()
