"""Serializers for SPARQL results (JSON, XML, CSV, TSV) and RDF graphs.

Results are written as a stream of text chunks so a large answer never sits
whole in memory, and so the writer can stop at the query deadline. The RDF
formats are delegated to pyoxigraph's serializers, which follow the W3C
specifications exactly.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, RdfFormat, Triple, serialize

from .base import AskResult, GraphResult, QueryTimeoutError, SelectResult

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
RDF_DIR_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#dirLangString"

CHUNK = 1 << 16


@dataclass(frozen=True)
class ResultFormat:
    """A result serialization: canonical media type, short names, writer."""

    media_type: str
    names: tuple[str, ...]
    aliases: tuple[str, ...] = ()


SOLUTION_FORMATS = [
    ResultFormat("application/sparql-results+json", ("json", "srj"), ("application/json",)),
    ResultFormat("application/sparql-results+xml", ("xml", "srx"), ("application/xml", "text/xml")),
    ResultFormat("text/csv", ("csv",)),
    ResultFormat("text/tab-separated-values", ("tsv",)),
]

GRAPH_FORMATS = [
    # Turtle is a subset of N3, so N3 clients (SPARQLWrapper's N3 among them) get Turtle.
    ResultFormat("text/turtle", ("turtle", "ttl", "n3"),
                 ("application/x-turtle", "application/turtle", "text/n3", "text/rdf+n3")),
    ResultFormat("application/n-triples", ("ntriples", "nt", "n-triples"), ("text/plain",)),
    ResultFormat("application/rdf+xml", ("rdfxml", "rdf", "xml", "rdf-xml", "rdf+xml"),
                 ("application/xml", "text/xml")),
    ResultFormat("application/ld+json", ("jsonld", "json-ld", "json"), ("application/json",)),
]


def offered(formats: list[ResultFormat]) -> list[str]:
    """Media types in server preference order, aliases after canonical types."""
    return [f.media_type for f in formats] + [a for f in formats for a in f.aliases]


def canonical(formats: list[ResultFormat], media_type: str) -> str:
    """The canonical media type behind an offered type or alias."""
    for f in formats:
        if media_type == f.media_type or media_type in f.aliases:
            return f.media_type
    raise KeyError(media_type)


def by_name(formats: list[ResultFormat], name: str) -> str | None:
    """Resolve a ``format=`` parameter (short name or media type)."""
    name = name.strip().lower()
    for f in formats:
        if name in f.names or name == f.media_type or name in f.aliases:
            return f.media_type
    return None


Deadline = Callable[[], None]


class ResultTooLargeError(ValueError):
    """An answer has more rows (SELECT) or triples (CONSTRUCT/DESCRIBE) than the endpoint's
    cap: refused before the first byte when it is found out in time, else cut off (the
    connection is closed, so no client mistakes it for a whole answer)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the answer has more than {limit:,} rows or triples, this endpoint's limit; "
            "narrow the query or page through it with LIMIT and OFFSET")
        self.limit = limit


def capped(items: Iterable[object], limit: int | None) -> Iterator[object]:
    """``items``, raising :class:`ResultTooLargeError` at item ``limit + 1``."""
    if not limit:
        yield from items
        return
    for n, item in enumerate(items, 1):
        if n > limit:
            raise ResultTooLargeError(limit)
        yield item


def deadline_checker(timeout_s: float | None) -> Deadline:
    """A callable that raises :class:`QueryTimeoutError` once ``timeout_s`` has passed."""
    if not timeout_s:
        return lambda: None
    end = time.monotonic() + timeout_s

    def check() -> None:
        if time.monotonic() > end:
            raise QueryTimeoutError(f"query exceeded the {timeout_s:g} s time limit")

    return check


# -- terms ------------------------------------------------------------------------
def json_term(term: object) -> dict[str, object]:
    """A term as SPARQL 1.1 Query Results JSON encodes it (RDF-star triples included)."""
    if isinstance(term, NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, Literal):
        out: dict[str, object] = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
            direction = getattr(term, "direction", None)
            if direction is not None:
                out["its:dir"] = str(direction).rsplit(".", 1)[-1].lower()
        elif term.datatype.value != XSD_STRING:
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, Triple):
        return {
            "type": "triple",
            "value": {
                "subject": json_term(term.subject),
                "predicate": json_term(term.predicate),
                "object": json_term(term.object),
            },
        }
    raise TypeError(f"not an RDF term: {term!r}")


_XML_RESTRICTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")


def _xml_text(text: str) -> str:
    """Escape markup, and write control characters as character references.

    XML 1.0 cannot carry C0 controls at all; a character reference at least
    keeps the value lossless for XML 1.1 and lenient parsers.
    """
    return _XML_RESTRICTED.sub(lambda m: f"&#x{ord(m.group()):X};", escape(text))


def _xml_term(term: object) -> str:
    if isinstance(term, NamedNode):
        return f"<uri>{_xml_text(term.value)}</uri>"
    if isinstance(term, BlankNode):
        return f"<bnode>{_xml_text(term.value)}</bnode>"
    if isinstance(term, Literal):
        if term.language:
            return f"<literal xml:lang={quoteattr(term.language)}>{_xml_text(term.value)}</literal>"
        if term.datatype.value != XSD_STRING:
            return f"<literal datatype={quoteattr(term.datatype.value)}>{_xml_text(term.value)}</literal>"
        return f"<literal>{_xml_text(term.value)}</literal>"
    if isinstance(term, Triple):
        return (
            f"<triple><subject>{_xml_term(term.subject)}</subject>"
            f"<predicate>{_xml_term(term.predicate)}</predicate>"
            f"<object>{_xml_term(term.object)}</object></triple>"
        )
    raise TypeError(f"not an RDF term: {term!r}")


def _csv_field(text: str) -> str:
    if any(c in text for c in '",\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_term(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, NamedNode | Literal):
        return _csv_field(term.value)
    if isinstance(term, BlankNode):
        return "_:" + term.value
    if isinstance(term, Triple):
        return _csv_field(f"<< {term.subject} {term.predicate} {term.object} >>")
    raise TypeError(f"not an RDF term: {term!r}")


def _tsv_term(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, Triple):
        return f"<<( {_tsv_term(term.subject)} {_tsv_term(term.predicate)} {_tsv_term(term.object)} )>>"
    # pyoxigraph's str() is the N-Triples form, which escapes tabs and newlines.
    return str(term)


# -- writers ------------------------------------------------------------------------
def _chunked(parts: Iterable[str], check: Deadline) -> Iterator[str]:
    buf: list[str] = []
    size = 0
    for part in parts:
        buf.append(part)
        size += len(part)
        if size >= CHUNK:
            check()
            yield "".join(buf)
            buf, size = [], 0
    check()
    if buf:
        yield "".join(buf)


def _rows(rows: Iterable[Sequence[object]], check: Deadline) -> Iterator[Sequence[object]]:
    for n, row in enumerate(rows):
        if n % 256 == 0:
            check()
        yield row


def write_json(result: SelectResult | AskResult, check: Deadline) -> Iterator[str]:
    if isinstance(result, AskResult):
        yield json.dumps({"head": {}, "boolean": result.value})
        return
    head = json.dumps({"vars": result.variables}, ensure_ascii=False)

    def parts() -> Iterator[str]:
        yield '{"head":' + head + ',"results":{"bindings":['
        first = True
        for row in _rows(result.rows, check):
            binding = {
                var: json_term(term)
                for var, term in zip(result.variables, row, strict=True)
                if term is not None
            }
            yield ("" if first else ",") + json.dumps(binding, ensure_ascii=False)
            first = False
        yield "]}}"

    yield from _chunked(parts(), check)


def write_xml(result: SelectResult | AskResult, check: Deadline) -> Iterator[str]:
    prolog = '<?xml version="1.0" encoding="UTF-8"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n'
    if isinstance(result, AskResult):
        yield prolog + f"<head/>\n<boolean>{'true' if result.value else 'false'}</boolean>\n</sparql>\n"
        return

    def parts() -> Iterator[str]:
        yield prolog + "<head>"
        for var in result.variables:
            yield f"<variable name={quoteattr(var)}/>"
        yield "</head>\n<results>\n"
        for row in _rows(result.rows, check):
            yield "<result>"
            for var, term in zip(result.variables, row, strict=True):
                if term is not None:
                    yield f"<binding name={quoteattr(var)}>{_xml_term(term)}</binding>"
            yield "</result>\n"
        yield "</results>\n</sparql>\n"

    yield from _chunked(parts(), check)


def write_csv(result: SelectResult | AskResult, check: Deadline) -> Iterator[str]:
    if isinstance(result, AskResult):
        yield ("true" if result.value else "false") + "\r\n"
        return

    def parts() -> Iterator[str]:
        yield ",".join(_csv_field(v) for v in result.variables) + "\r\n"
        for row in _rows(result.rows, check):
            yield ",".join(_csv_term(t) for t in row) + "\r\n"

    yield from _chunked(parts(), check)


def write_tsv(result: SelectResult | AskResult, check: Deadline) -> Iterator[str]:
    if isinstance(result, AskResult):
        yield ("true" if result.value else "false") + "\n"
        return

    def parts() -> Iterator[str]:
        yield "\t".join("?" + v for v in result.variables) + "\n"
        for row in _rows(result.rows, check):
            yield "\t".join(_tsv_term(t) for t in row) + "\n"

    yield from _chunked(parts(), check)


SOLUTION_WRITERS: dict[str, Callable[[SelectResult | AskResult, Deadline], Iterator[str]]] = {
    "application/sparql-results+json": write_json,
    "application/sparql-results+xml": write_xml,
    "text/csv": write_csv,
    "text/tab-separated-values": write_tsv,
}


def write_solutions(
    result: SelectResult | AskResult, media_type: str, check: Deadline | None = None
) -> Iterator[str]:
    """Serialize SELECT/ASK results in a canonical solutions media type."""
    return SOLUTION_WRITERS[media_type](result, check or (lambda: None))


def used_prefixes(items: Iterable[Triple | Quad], prefixes: dict[str, str]) -> dict[str, str]:
    """The entries of ``prefixes`` whose namespace starts some IRI of ``items``."""
    iris: set[str] = set()
    for item in items:
        terms = [item.subject, item.predicate, item.object]
        if isinstance(item, Quad):
            terms.append(item.graph_name)
        for term in terms:
            if isinstance(term, NamedNode):
                iris.add(term.value)
            elif isinstance(term, Literal):
                iris.add(term.datatype.value)
    return {name: ns for name, ns in prefixes.items() if any(iri.startswith(ns) for iri in iris)}


#: An answer of up to this many triples (or quads) is written as one document, declaring
#: the prefixes it uses; a larger one streams in batches of this size when its format
#: allows (N-Triples, N-Quads, Turtle, TriG), so memory stays bounded.
GRAPH_BATCH = 10_000
_STREAMABLE = (RdfFormat.N_TRIPLES, RdfFormat.N_QUADS, RdfFormat.TURTLE, RdfFormat.TRIG)
_PREFIXED = (RdfFormat.TURTLE, RdfFormat.RDF_XML, RdfFormat.TRIG)


def stream_rdf(
    items: Iterable[Triple | Quad], media_type: str, check: Deadline | None = None,
    prefixes: dict[str, str] | None = None,
) -> Iterator[bytes]:
    """Serialize triples (or quads) in a canonical RDF media type, chunk by chunk.

    A large Turtle or TriG answer declares every prefix in ``prefixes`` up front
    (which of them it will use is not known until its end); each later batch is a
    document of its own with its prefix lines cut, which the grammar allows.
    """
    check = check or (lambda: None)
    fmt = RdfFormat.from_media_type(media_type)
    if fmt is None:  # pragma: no cover - only canonical types reach here
        raise KeyError(media_type)
    rows = _rows(items, check)  # type: ignore[arg-type]
    batch = list(itertools.islice(rows, GRAPH_BATCH))
    kwargs: dict[str, object] = {}
    if len(batch) < GRAPH_BATCH or fmt not in _STREAMABLE:
        batch.extend(rows)
        if fmt in _PREFIXED and prefixes:
            kwargs["prefixes"] = used_prefixes(batch, prefixes)
        yield serialize(batch, format=fmt, **kwargs) or b""
        return
    if fmt in _PREFIXED and prefixes:
        kwargs["prefixes"] = prefixes
    first = True
    while batch:
        out = serialize(batch, format=fmt, **kwargs) or b""
        if not first:
            while out.startswith(b"@prefix "):
                out = out[out.index(b"\n") + 1:]
        first = False
        yield out
        batch = list(itertools.islice(rows, GRAPH_BATCH))


def write_graph(
    result: GraphResult, media_type: str, check: Deadline | None = None,
    prefixes: dict[str, str] | None = None,
) -> bytes:
    """Serialize CONSTRUCT/DESCRIBE triples in a canonical RDF media type, as one document."""
    return b"".join(stream_rdf(result.triples, media_type, check, prefixes))
