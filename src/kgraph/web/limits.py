"""Bounded work per process: a gate with a queue, and the size limits of a request.

At most ``settings.threads`` requests evaluate at once in one process; up to
``settings.max_queue`` more wait at most ``settings.queue_timeout_s`` for a
slot, and beyond that a request is answered ``503`` with ``Retry-After``
(:class:`StoreBusyError`, the same answer the store layer gives when its own
workers are all busy). A slot is held while the answer streams, because an
in-process answer is evaluated while it is written; a whole answer frees it
as soon as it is built.
"""

from __future__ import annotations

import threading

from flask import Response

from ..config import Settings
from ..sparql.protocol import ProtocolError
from ..store.base import StoreBusyError


class Slot:
    """One admitted request; :meth:`release` is idempotent."""

    __slots__ = ("_gate", "_held")

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate._sem.release()


class Gate:
    """A counting semaphore with a bounded, time-limited queue in front of it."""

    def __init__(self, slots: int, max_queue: int, timeout_s: float) -> None:
        self.slots = max(1, slots)
        self.max_queue = max(0, max_queue)
        self.timeout_s = max(0.0, timeout_s)
        self._sem = threading.Semaphore(self.slots)
        self._lock = threading.Lock()
        self.waiting = 0

    def enter(self) -> Slot:
        """A slot now, or after waiting in the queue; :class:`StoreBusyError` otherwise."""
        if self._sem.acquire(blocking=False):
            return Slot(self)
        with self._lock:
            if self.waiting >= self.max_queue:
                raise StoreBusyError(
                    f"the server is busy: {self.slots} requests are being evaluated and "
                    f"{self.waiting} are waiting; try again shortly")
            self.waiting += 1
        try:
            admitted = self._sem.acquire(timeout=self.timeout_s)
        finally:
            with self._lock:
                self.waiting -= 1
        if not admitted:
            raise StoreBusyError(
                f"the server is busy: no evaluation slot became free within "
                f"{self.timeout_s:g} s; try again shortly")
        return Slot(self)


def hold_until_sent(response: Response, slot: Slot, head: bool) -> Response:
    """Free ``slot`` once ``response`` has been sent (now, for a whole or a HEAD answer)."""
    if head or not response.is_streamed:
        slot.release()
        return response
    inner = response.response

    def body():  # type: ignore[no-untyped-def]
        try:
            yield from inner
        finally:
            slot.release()

    response.response = body()
    response.call_on_close(slot.release)  # a body never iterated (client gone)
    return response


def check_text_size(text: str, settings: Settings, what: str) -> None:
    """413 for a query or update longer than ``settings.max_query_bytes`` (UTF-8 bytes)."""
    limit = settings.max_query_bytes
    if limit and len(text) * 4 > limit:  # cheap bound first: at most 4 bytes a character
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise ProtocolError(413, f"the {what} is {size:,} bytes long; this endpoint accepts "
                                     f"at most {limit:,} bytes")


def check_declared_length(declared: int | None, limit: int, what: str) -> None:
    """413 before reading a body whose declared length is over ``limit``."""
    if limit and declared is not None and declared > limit:
        raise ProtocolError(413, f"the {what} is {declared:,} bytes long; this endpoint accepts "
                                 f"at most {limit:,} bytes")
