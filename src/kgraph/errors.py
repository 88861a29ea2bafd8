"""The exceptions kgraph's layers raise to each other, each with the status it answers.

They live below every package (nothing here imports kgraph), so the RDF parsers,
the store engines, the SPARQL protocol and the web layer can all raise and catch
them without importing each other; :mod:`kgraph.store.base` and
:mod:`kgraph.sparql.protocol` re-export them under their historical names.
"""

from __future__ import annotations

from collections.abc import Mapping


class StoreError(Exception):
    """An engine failed for a reason that is not the caller's input."""


class SparqlSyntaxError(ValueError):
    """A query or update does not parse; the message carries line and column."""


class SparqlEvaluationError(ValueError):
    """A well-formed operation that cannot be evaluated (e.g. LOAD of a bad document)."""


class RdfSyntaxError(ValueError):
    """An RDF document does not parse; nothing from it was stored."""


class StoreReadOnlyError(StoreError):
    """A write was asked of a store opened read-only (HTTP 403); nothing changed."""


class QueryTimeoutError(RuntimeError):
    """An operation ran past its time limit; the engine's work on it was stopped
    where the store can stop it (HTTP 503)."""


class StoreBusyError(StoreError):
    """Every worker is busy and the queue is full or the wait too long (HTTP 503 with
    Retry-After); nothing was done."""


class EngineCrashError(StoreError):
    """The process evaluating one request died (e.g. a parser overflowed its stack).

    Only that request is lost; the store and every other request are unaffected.
    ``killed`` tells a process killed from outside (not the request's doing: 503) from
    one that crashed on the request (400).
    """

    killed = False


class ProtocolError(Exception):
    """A request the protocol rejects; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
