"""The answer cache: repeated queries answered from memory, revalidated by ETag.

An answer is stored under a digest of everything that decides its bytes: the
store (its identity and ``version()``, which changes on every write, plus the
app's own write epoch, bumped when a write through this app ends), the query
text, the dataset parameters, the ``inference`` switch and the negotiated
media types. A write therefore makes every older entry unreachable at once;
nothing has to be found and deleted. The same digest is the answer's strong
``ETag``: a client that revalidates with ``If-None-Match`` gets ``304`` while
the store has not changed, whether or not the answer is still in memory.

Only whole answers of at most ``cache_max_bytes`` are kept (an answer that
streams past that size is not), at most ``cache_entries`` of them, least
recently used first out. Errors are never cached.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete answer: its Content-Type and bytes."""

    content_type: str
    body: bytes


def answer_key(
    store_id: str, version: int, epoch: int, query: str, default_graphs: tuple[str, ...],
    named_graphs: tuple[str, ...], inference: bool, media: tuple[str | None, str | None],
) -> tuple[bytes, str]:
    """``(cache key, ETag)`` of one query against one state of one store.

    The key is a 128-bit digest, so an entry does not keep a (possibly megabyte)
    query text alive; ``repr`` of the tuple is unambiguous between fields.
    """
    material = repr((store_id, version, epoch, query, default_graphs, named_graphs, inference,
                     media)).encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(material, digest_size=16).digest()
    return digest, f'"v{version}.{epoch}-{digest.hex()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag``; weak forms count (RFC 9110 compares
    weakly for If-None-Match). ``*`` is not taken as a match: whether a query has an answer at
    all is only known by running it."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


class AnswerCache:
    """A thread-safe LRU of :class:`CachedAnswer` by key, bounded in entries and entry size."""

    def __init__(self, entries: int, max_bytes: int) -> None:
        self.entries = max(0, entries)
        self.max_bytes = max(0, max_bytes)
        self._data: OrderedDict[bytes, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.entries > 0 and self.max_bytes > 0

    def get(self, key: bytes) -> CachedAnswer | None:
        with self._lock:
            answer = self._data.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return answer

    def peek(self, key: bytes) -> CachedAnswer | None:
        """:meth:`get` that counts only hits (the caller falls back to a path that counts
        the miss)."""
        with self._lock:
            answer = self._data.get(key)
            if answer is not None:
                self._data.move_to_end(key)
                self.hits += 1
            return answer

    def put(self, key: bytes, answer: CachedAnswer) -> bool:
        """Keep ``answer`` unless it is too large; return whether it was kept."""
        if not self.enabled or len(answer.body) > self.max_bytes:
            return False
        with self._lock:
            self._data[key] = answer
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)
        return True

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
