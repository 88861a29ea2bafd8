"""Snapshot publication: how the writer tells every query process what to read.

RocksDB admits one writing process, and a read-only handle on a database that
another process writes is undefined behaviour. So the writer never shares its
database: after every write it takes a RocksDB checkpoint (hard links, about a
millisecond) into ``<store>/kgraph-snapshots/<version>/`` and only then
publishes ``version``. Query processes open the newest checkpoint read-only; a
checkpoint never changes once published, so readers need no lock.

The published version lives in two places:

* ``version``: a little-endian 8-byte counter (stored twice, see
  :class:`VersionCounter`) that every process maps into memory, so checking "am I behind?" before each query costs well under a
  microsecond. The file is created once and never replaced (a replaced file
  would leave old mappings on the old inode).
* ``current``: the same number as text, replaced atomically (``os.replace``),
  for people and scripts.

A version is published only after its checkpoint is complete, so a reader that
sees version *v* always finds a whole ``<v>/``.
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
import time
from pathlib import Path

#: Folder inside the primary store directory (RocksDB tolerates it there).
SNAPSHOTS = "kgraph-snapshots"
_COUNTER = struct.Struct("<QQ")
_ONE = struct.Struct("<Q")


class VersionCounter:
    """The shared, memory-mapped version counter (read by every process).

    The number is stored twice and written by slice assignment, one copy after the
    other; a reader accepts a value only when both copies agree. (``struct.pack_into``
    must not be used here: it zeroes its target before writing, so a reader in another
    process sees 0 now and then - measured - and an 8-byte copy is not guaranteed to be
    one store either.)
    """

    def __init__(self, root: Path, *, writable: bool = False) -> None:
        self.path = root / "version"
        if writable and not self.path.exists():
            tmp = root / "version.tmp"
            tmp.write_bytes(bytes(_COUNTER.size))
            os.replace(tmp, self.path)  # created once, whole, never replaced afterwards
        fd = os.open(self.path, os.O_RDWR if writable else os.O_RDONLY)
        try:
            if writable and os.fstat(fd).st_size < _COUNTER.size:  # an older 8-byte counter
                old = os.pread(fd, 8, 0).ljust(8, b"\0")
                os.pwrite(fd, old + old, 0)
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            self._map = mmap.mmap(fd, _COUNTER.size, access=access)
        finally:
            os.close(fd)

    def read(self) -> int:
        """The published version (never a torn value: both copies must agree)."""
        while True:
            first, second = _COUNTER.unpack_from(self._map, 0)
            if first == second:
                return first
            time.sleep(0)  # the writer is between its two stores

    def write(self, version: int) -> None:
        data = _ONE.pack(version)
        self._map[0:8] = data
        self._map[8:16] = data

    def close(self) -> None:
        self._map.close()


def snapshots_root(store_dir: Path) -> Path:
    """Where the snapshots of the store in ``store_dir`` live."""
    return store_dir / SNAPSHOTS


def snapshot_path(root: Path, version: int) -> Path:
    return root / str(version)


def published_versions(root: Path) -> list[int]:
    """Versions that have a snapshot folder (complete or not), oldest first."""
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and p.is_dir())


class Publisher:
    """The writer's side: take checkpoints, publish versions, delete old checkpoints.

    ``grace_s`` is how long an unpublished-over checkpoint is kept: a query
    never outlives its time limit (its executor is killed at the limit), so
    ``query_timeout_s`` plus a margin is enough.
    """

    #: Newest checkpoints kept whatever their age.
    KEEP = 3

    def __init__(self, store_dir: Path, grace_s: float) -> None:
        self.root = snapshots_root(store_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.counter = VersionCounter(self.root, writable=True)
        self.grace_s = grace_s
        now = time.monotonic()
        # Folders from before this process: treat them as superseded just now.
        self._superseded: dict[int, float] = {v: now for v in published_versions(self.root)}
        self.version = max([self.counter.read(), *self._superseded], default=0)

    def publish(self, backup: object) -> int:
        """Checkpoint the store with ``backup(path)`` and publish it as the next version."""
        version = self.version + 1
        target = snapshot_path(self.root, version)
        if target.exists():  # a half-made checkpoint of a killed writer
            shutil.rmtree(target, ignore_errors=True)
        backup(target)  # type: ignore[operator]
        self.counter.write(version)
        tmp = self.root / "current.tmp"
        tmp.write_text(f"{version}\n", encoding="ascii")
        os.replace(tmp, self.root / "current")
        if self.version:
            self._superseded[self.version] = time.monotonic()
        self.version = version
        self.collect()
        return version

    def collect(self) -> None:
        """Delete checkpoints no query can still be reading."""
        now = time.monotonic()
        keep = set(published_versions(self.root)[-self.KEEP:]) | {self.version}
        for version, since in list(self._superseded.items()):
            if version in keep or now - since < self.grace_s:
                continue
            shutil.rmtree(snapshot_path(self.root, version), ignore_errors=True)
            del self._superseded[version]

    def close(self) -> None:
        self.counter.close()
