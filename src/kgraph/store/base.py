"""The small interface every kgraph store engine implements.

Terms are pyoxigraph's term classes (``NamedNode``, ``BlankNode``, ``Literal``,
``Triple``, ``Quad``, ``DefaultGraph``): they are immutable, hashable and cheap,
and the default engine produces them natively. Another engine converts at its
edge, so the protocol layer never needs to know which engine answered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple

from ..errors import (  # noqa: F401 (re-exported: the Store interface's errors)
    EngineCrashError,
    QueryTimeoutError,
    RdfSyntaxError,
    SparqlEvaluationError,
    SparqlSyntaxError,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
)

Term = NamedNode | BlankNode | Literal | Triple


@dataclass(frozen=True)
class DatasetSpec:
    """Which graphs a query sees.

    ``default_graphs`` of ``None`` means the engine's configured default (for
    kgraph: the union of all graphs); an explicit list builds the default graph
    as the merge of those graphs (``None`` entries stand for the store's own
    default graph). ``named_graphs`` of ``None`` makes every named graph
    available to ``GRAPH``.
    """

    default_graphs: Sequence[str | None] | None = None
    named_graphs: Sequence[str] | None = None


@dataclass
class SelectResult:
    """Solutions of a SELECT query: the projected variables and the rows."""

    variables: list[str]
    rows: Iterable[Sequence[Term | None]]


@dataclass
class AskResult:
    """The answer to an ASK query."""

    value: bool


@dataclass
class GraphResult:
    """Triples of a CONSTRUCT or DESCRIBE query."""

    triples: Iterable[Triple]
    prefixes: dict[str, str] = field(default_factory=dict)


@dataclass
class SerializedResult:
    """A query answer already written in a media type (by a worker process or a
    remote engine): ``kind`` is ``solutions``, ``boolean`` or ``graph``."""

    kind: str
    media_type: str
    chunks: Iterable[bytes]


QueryResult = SelectResult | AskResult | GraphResult

#: Anything in a pattern position: a term, or ``None`` for "any".
Pattern = NamedNode | BlankNode | Literal | Triple | None


@runtime_checkable
class Store(Protocol):
    """What the rest of kgraph may ask of a store engine.

    Every write is atomic: it is applied whole or not at all. A store opened
    read-only raises :class:`StoreReadOnlyError` on every write. ``timeout_s``
    bounds an operation; a store that can stop the engine's work (worker
    processes, a remote engine) does so, and raises :class:`QueryTimeoutError`.
    """

    #: Engine name, for logs and /health (``oxigraph``, ``sparql``, ...).
    name: str
    #: Whether every write is refused (:class:`StoreReadOnlyError`).
    read_only: bool

    def version(self) -> int:
        """A number that grows with every write made through this store (cache keys)."""
        ...

    def query(
        self,
        sparql: str,
        *,
        dataset: DatasetSpec | None = None,
        base_iri: str | None = None,
        timeout_s: float | None = None,
    ) -> QueryResult: ...

    def update(
        self, sparql: str, *, base_iri: str | None = None, timeout_s: float | None = None
    ) -> None: ...

    def load(
        self,
        data: bytes | IO[bytes],
        media_type: str,
        *,
        graph: str | None = None,
        base_iri: str | None = None,
    ) -> int:
        """Parse ``data`` and add it; into ``graph`` when given (triples formats).

        Returns the number of quads added. Raises :class:`RdfSyntaxError` and
        stores nothing when the document does not parse.
        """
        ...

    def add_quads(self, quads: Iterable[Quad]) -> None: ...

    def bulk_load(
        self,
        paths: Sequence[Path],
        *,
        graph: str | None = None,
        progress: Callable[..., None] | None = None,
    ) -> int:
        """Load RDF files by the engine's fastest route, with bounded memory, all or nothing.

        Returns the number of quads loaded. ``progress`` is called as it goes, with
        ``(bytes_read, lines_read)`` by a store that reads the files itself and with
        ``(statements_sent,)`` by one that sends statements (see kgraph.loader).
        Optional: kgraph.loader falls back to :meth:`load` when a store lacks it.
        """
        ...

    def replace_graph(self, graph: str | None, quads: Iterable[Quad]) -> None:
        """Atomically replace a graph's content (``None``: the default graph)."""
        ...

    def drop_graph(self, graph: str | None) -> bool:
        """Remove a graph; return whether it existed (the default graph is cleared)."""
        ...

    def match(
        self,
        subject: Pattern = None,
        predicate: Pattern = None,
        object: Pattern = None,  # noqa: A002 - the RDF name
        graph: str | None | type[...] = ...,
    ) -> Iterator[Quad]:
        """Quads matching a pattern; ``graph=...`` (the default) is any graph,
        ``None`` the default graph, a string one named graph."""
        ...

    def triples(self, graph: str | None) -> Iterator[Triple]: ...

    def quads(self) -> Iterator[Quad]: ...

    def named_graphs(self) -> list[str]: ...

    def contains_graph(self, graph: str) -> bool: ...

    def count(self, graph: str | None = ..., /) -> int: ...

    def dump(self, output: IO[bytes], media_type: str) -> None: ...

    def close(self) -> None: ...
