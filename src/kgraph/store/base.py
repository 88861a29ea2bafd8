"""The small interface every kgraph store engine implements.

Terms are pyoxigraph's term classes (``NamedNode``, ``BlankNode``, ``Literal``,
``Triple``, ``Quad``, ``DefaultGraph``): they are immutable, hashable and cheap,
and the default engine produces them natively. Another engine converts at its
edge, so the protocol layer never needs to know which engine answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol, runtime_checkable

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple

Term = NamedNode | BlankNode | Literal | Triple


class StoreError(Exception):
    """An engine failed for a reason that is not the caller's input."""


class SparqlSyntaxError(ValueError):
    """A query or update does not parse; the message carries line and column."""


class SparqlEvaluationError(ValueError):
    """A well-formed operation that cannot be evaluated (e.g. LOAD of a bad document)."""


class RdfSyntaxError(ValueError):
    """An RDF document does not parse; nothing from it was stored."""


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


QueryResult = SelectResult | AskResult | GraphResult


@runtime_checkable
class Store(Protocol):
    """What the rest of kgraph may ask of a store engine.

    Every write is atomic: it is applied whole or not at all.
    """

    def query(
        self, sparql: str, *, dataset: DatasetSpec | None = None, base_iri: str | None = None
    ) -> QueryResult: ...

    def update(self, sparql: str, *, base_iri: str | None = None) -> None: ...

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

    def replace_graph(self, graph: str | None, quads: Iterable[Quad]) -> None:
        """Atomically replace a graph's content (``None``: the default graph)."""
        ...

    def drop_graph(self, graph: str | None) -> bool:
        """Remove a graph; return whether it existed (the default graph is cleared)."""
        ...

    def triples(self, graph: str | None) -> Iterator[Triple]: ...

    def quads(self) -> Iterator[Quad]: ...

    def named_graphs(self) -> list[str]: ...

    def contains_graph(self, graph: str) -> bool: ...

    def count(self, graph: str | None = ..., /) -> int: ...

    def dump(self, output: IO[bytes], media_type: str) -> None: ...

    def close(self) -> None: ...
