"""RDF documents in and out: media types, parsing and serialization.

Parsing belongs to kgraph, not to an engine: every store (embedded or remote)
receives quads that kgraph parsed and checked, so a hostile document is
refused the same way whichever engine holds the data (see
:mod:`kgraph.rdfguard`), and a failed parse stores nothing anywhere.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO

from pyoxigraph import DefaultGraph, NamedNode, Quad, RdfFormat, parse

from .errors import RdfSyntaxError
from .rdfguard import check_rdf

#: RDF media types by file suffix (the files ``kgraph load`` and the bootstrap read).
EXTENSIONS = {
    ".ttl": "text/turtle",
    ".nt": "application/n-triples",
    ".nq": "application/n-quads",
    ".trig": "application/trig",
    ".rdf": "application/rdf+xml",
    ".owl": "application/rdf+xml",
    ".xml": "application/rdf+xml",
    ".jsonld": "application/ld+json",
    ".json": "application/ld+json",
}


def media_type_for(path: Path) -> str:
    """The RDF media type of a file, from its extension."""
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"{path}: unknown RDF extension {path.suffix!r} (known: {', '.join(EXTENSIONS)})"
        ) from None


def rdf_format(media_type: str) -> RdfFormat:
    """The pyoxigraph format for a media type; ``ValueError`` when unsupported."""
    fmt = RdfFormat.from_media_type(media_type.split(";")[0].strip())
    if fmt is None:
        raise ValueError(f"unsupported RDF media type: {media_type}")
    return fmt


def graph_node(graph: str | None) -> NamedNode | DefaultGraph:
    """The graph term for a graph IRI (``None``: the default graph)."""
    return DefaultGraph() if graph is None else NamedNode(graph)


def parse_rdf(
    data: bytes | IO[bytes] | str,
    media_type: str,
    *,
    graph: str | None = None,
    base_iri: str | None = None,
) -> list[Quad]:
    """Parse a whole document into quads (into ``graph`` for triple formats).

    Parsing everything before writing is what makes a failed load change nothing.
    """
    fmt = rdf_format(media_type)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes):
        data = data.read()
    check_rdf(data, fmt)  # hostile documents never reach the parser
    if isinstance(data, bytes):
        data = io.BytesIO(data)
    target = graph_node(graph)
    try:
        # Fresh blank nodes per document: two files that both say ``_:x`` mean two nodes.
        quads = list(parse(data, format=fmt, base_iri=base_iri, rename_blank_nodes=True))
    except SyntaxError as exc:
        raise RdfSyntaxError(str(exc)) from exc
    except (OSError, ValueError) as exc:
        raise RdfSyntaxError(str(exc)) from exc
    if graph is not None or not fmt.supports_datasets:
        quads = [Quad(q.subject, q.predicate, q.object, target) if q.graph_name == DefaultGraph()
                 else q for q in quads]
    return quads
