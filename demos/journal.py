"""An undo journal for in-place appends to an episode file.

HDF5 (without SWMR) rewrites some of a file's metadata in place when an object is added (the
group's link heap and B-tree, object headers, the superblock), in an order of its own, so a
writer killed while it flushes can leave a file whose older, committed objects no longer
read ("Link iteration failed"). The journal makes an append all or nothing: before any page
of the file as it was is overwritten for the first time, that page's old bytes go to the
journal beside the file and reach the disk; writes past the old end need no copy (undoing
them is a truncation). Deleting the journal is the commit point. An append cut short leaves
the journal: the next writer puts the old pages back and truncates the file to its old
length (`roll_back`), and until then readers see the file as it was before the append
(`RolledBackView`). Cost per append: the pages HDF5 rewrites in place, not the file's size.
"""
from __future__ import annotations

import io
import json
import os
import struct
import zlib
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


class JournaledFile(io.RawIOBase):
    """`path` opened for update (a file object for `h5py.File`): a write over the file's old
    bytes first saves the pages it touches in the journal; `commit` makes the append final."""

    def __init__(self, path: Path, name: str):
        self.path, self.journal_file = path, journal_path(path)
        self.file = open(path, "r+b")
        self.length = os.fstat(self.file.fileno()).st_size
        self.saved: set[int] = set()
        self.journal = open(self.journal_file, "xb")
        header = json.dumps({"length": self.length, "name": name}).encode()
        self.journal.write(MAGIC + struct.pack("<I", len(header)) + header)
        self._sync_journal()
        _fsync_dir(path)

    def _sync_journal(self) -> None:
        self.journal.flush()
        os.fsync(self.journal.fileno())

    def _save(self, start: int, end: int) -> None:
        """Journal the old pages of [start, end) below the old length not saved yet."""
        end = min(end, self.length)
        pages = [p for p in range(start // PAGE * PAGE, end, PAGE) if p not in self.saved]
        if not pages:
            return
        at = self.file.tell()
        for page in pages:
            self.file.seek(page)
            old = self.file.read(min(PAGE, self.length - page))
            self.journal.write(RECORD.pack(page, len(old), zlib.crc32(old)) + old)
            self.saved.add(page)
        self._sync_journal()  # the old bytes are on disk before the new ones replace them
        self.file.seek(at)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        return self.file.readinto(buffer)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        at = self.file.tell()
        self._save(at, at + len(data))
        return self.file.write(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def truncate(self, size: int | None = None) -> int:
        size = self.file.tell() if size is None else size
        self._save(size, self.length)
        return self.file.truncate(size)

    def flush(self) -> None:
        self.file.flush()

    def fsync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())

    def commit(self) -> None:
        """The append is final: the file's new bytes on disk, then the journal gone."""
        self.fsync()
        self.journal.close()
        self.journal_file.unlink()
        _fsync_dir(self.path)

    def close(self) -> None:
        if self.closed:
            return
        super().close()  # flushes through `flush`, so before the file goes
        if not self.journal.closed:
            self.journal.close()
        self.file.close()


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
        for offset, old in self.pages.items():  # the journaled pages it overlaps
            lo, hi = max(offset, self.at), min(offset + len(old), self.at + got)
            if lo < hi:
                view[lo - self.at:hi - self.at] = old[lo - offset:hi - offset]
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
