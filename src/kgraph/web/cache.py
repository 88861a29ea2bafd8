"""The answer cache: repeated queries answered from memory, revalidated by ETag.

An answer is stored under the store's ``version()`` (which changes on every
write, before the write is acknowledged) and a digest of everything else that
decides its bytes: the store's identity, the query text, the dataset
parameters, the ``inference`` switch and the negotiated media types. A write
therefore makes every older entry unreachable at once; nothing has to be found
and deleted. The same pair is the answer's strong ``ETag``: a client that
revalidates with ``If-None-Match`` gets ``304`` while the store has not
changed, whether or not the answer is still in memory.

An answer computed while a write through this app was in flight is neither
kept nor given an ETag (see :class:`kgraph.web.KGraph`), because a store may
move its version before the write lands.

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


#: A cache key: the store's version and the request's digest.
Key = tuple[int, bytes]


def request_digest(
    store_id: str, query: str, default_graphs: tuple[str, ...], named_graphs: tuple[str, ...],
    inference: bool, media: tuple[str | None, str | None], base_iri: str | None = None,
) -> bytes:
    """A 128-bit digest of what decides an answer besides the store's state (the base
    IRI too: a relative IRI in the query reads differently under another base).

    A digest, so that an entry does not keep a (possibly megabyte) query text alive;
    ``repr`` of the tuple is unambiguous between fields.
    """
    material = repr((store_id, query, default_graphs, named_graphs, inference, media, base_iri))
    return hashlib.blake2b(material.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def versioned_key(version: int, digest: bytes) -> tuple[Key, str]:
    """``(cache key, strong ETag)`` of a request digest against one state of the store.

    Nothing in it is private to one process, so every HTTP worker of a server gives
    the same answer the same ETag (given the same ``store_id``).
    """
    return (version, digest), f'"v{version}-{digest.hex()}"'


def answer_key(
    store_id: str, version: int, query: str, default_graphs: tuple[str, ...],
    named_graphs: tuple[str, ...], inference: bool, media: tuple[str | None, str | None],
) -> tuple[Key, str]:
    """``(cache key, ETag)`` of one query against one state of one store."""
    digest = request_digest(store_id, query, default_graphs, named_graphs, inference, media)
    return versioned_key(version, digest)


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
        self._data: OrderedDict[Key, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.entries > 0 and self.max_bytes > 0

    def get(self, key: Key) -> CachedAnswer | None:
        with self._lock:
            answer = self._data.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return answer

    def peek(self, key: Key) -> CachedAnswer | None:
        """:meth:`get` that counts only hits (the caller falls back to a path that counts
        the miss)."""
        with self._lock:
            answer = self._data.get(key)
            if answer is not None:
                self._data.move_to_end(key)
                self.hits += 1
            return answer

    def put(self, key: Key, answer: CachedAnswer) -> bool:
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
