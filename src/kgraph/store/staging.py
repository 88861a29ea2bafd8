"""How a bulk load replaces a store directory: all at once, or not at all.

The load streams into a staging copy beside the store and swaps the two directories in
one atomic rename; a load killed half-way leaves the store as it was. Kept in the store
package (the embedded store's ``bulk_load`` does the swap) and used by ``kgraph load``.
"""

from __future__ import annotations

import ctypes
import errno
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO


class CountingReader(io.RawIOBase):
    """A binary file that reports bytes and newlines read, for a progress bar that
    costs nothing per triple (the engine parses; Python only sees buffers)."""

    def __init__(self, raw: IO[bytes], report: Callable[[int, int], None] | None) -> None:
        super().__init__()
        self._raw = raw
        self._report = report

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer) or 0
        if n and self._report is not None:
            self._report(n, bytes(memoryview(buffer)[:n]).count(b"\n"))
        return n


def staging_dirs(store_dir: Path) -> tuple[Path, Path]:
    """Where a bulk load stages its copy of ``store_dir``, and where the non-atomic
    fallback swap parks the old store: beside it, so hard links work."""
    parent, name = store_dir.parent, store_dir.name
    return parent / f".{name}.kgraph-load", parent / f".{name}.kgraph-old"


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_dirs(a: Path, b: Path) -> None:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Where the call or the file system does not support it, fall back to two renames
    with the old directory parked aside; :func:`recover_interrupted_load` finishes
    such a swap if the process dies between the two.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(b))
    _, parked = staging_dirs(b)
    if parked.exists():
        shutil.rmtree(parked)
    (a / ".kgraph-load-complete").touch()  # the commit record of the fallback swap
    os.rename(b, parked)
    os.rename(a, b)
    os.rename(parked, a)


def recover_interrupted_load(store_dir: Path) -> None:
    """Finish a fallback swap that a killed load left half-done (call before opening).

    The store directory is only ever missing between the two renames of
    :func:`exchange_dirs`'s fallback: the staged copy, complete by then, becomes
    the store.
    """
    staging, parked = staging_dirs(store_dir)
    if not store_dir.exists() and parked.exists():
        if (staging / ".kgraph-load-complete").exists():
            os.rename(staging, store_dir)
            shutil.rmtree(parked)
        else:
            os.rename(parked, store_dir)
    marker = store_dir / ".kgraph-load-complete"
    if marker.exists():
        marker.unlink()
