"""Turning query results into HTTP responses by content negotiation."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from flask import Response, request

from ..namespaces import PREFIXES
from ..sparql import results as fmt
from ..sparql.conneg import negotiate
from ..sparql.protocol import ProtocolError
from ..store.base import AskResult, GraphResult, QueryResult


def choose(formats: list[fmt.ResultFormat]) -> tuple[str, str]:
    """Pick ``(response media type, canonical media type)`` for this request.

    A ``format`` parameter (short name or media type) wins over Accept; 406
    when neither can be met.
    """
    name = request.values.get("format")
    if name:
        chosen = fmt.by_name(formats, name)
        if chosen is None:
            names = ", ".join(n for f in formats for n in f.names[:1])
            raise ProtocolError(406, f"unknown or inapplicable format {name!r}; choose one of: {names}")
        return chosen, chosen
    accept = request.headers.get("Accept")
    chosen = negotiate(accept, fmt.offered(formats))
    if chosen is None:
        offered = ", ".join(f.media_type for f in formats)
        raise ProtocolError(406, f"cannot produce any type in Accept: {accept!r}; offered: {offered}")
    return chosen, fmt.canonical(formats, chosen)


def result_response(result: QueryResult, timeout_s: float | None) -> Response:
    """Serialize a query result for the client; errors before the first byte keep their status.

    HEAD requests get the same response, and werkzeug leaves the body out.
    """
    check = fmt.deadline_checker(timeout_s)
    if isinstance(result, GraphResult):
        media, canonical = choose(fmt.GRAPH_FORMATS)
        prefixes = {**PREFIXES, **result.prefixes}
        return stream_response(fmt.stream_rdf(result.triples, canonical, check, prefixes),
                               rdf_content_type(media))
    media, canonical = choose(fmt.SOLUTION_FORMATS)
    content_type = media + "; charset=utf-8"
    chunks = fmt.write_solutions(result, canonical, check)
    if isinstance(result, AskResult):
        return Response(next(chunks, ""), content_type=content_type, headers=_vary())
    return stream_response(chunks, content_type)


def rdf_content_type(media: str) -> str:
    """The Content-Type for an RDF answer: text types say their charset (always UTF-8)."""
    return media + "; charset=utf-8" if media.startswith("text/") else media


def stream_response(chunks: Iterator[str] | Iterator[bytes], content_type: str) -> Response:
    """A response from serialized chunks; errors before the first byte keep their status.

    The first chunk is produced now, so an evaluation error or a timeout still
    gets its own status. An answer that fits in one chunk goes out whole, with a
    Content-Length; a longer one streams (chunked transfer encoding).
    """
    first = next(chunks, b"")
    second = next(chunks, None)
    if second is None:
        return Response(first, content_type=content_type, headers=_vary())
    stream = itertools.chain([first, second], chunks)
    return Response(stream, content_type=content_type, headers=_vary())


def _vary() -> dict[str, str]:
    return {"Vary": "Accept"}
