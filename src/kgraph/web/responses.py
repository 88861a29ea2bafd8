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
        body = fmt.write_graph(result, canonical, check, prefixes={**PREFIXES, **result.prefixes})
        return Response(body, mimetype=media, headers=_vary())
    media, canonical = choose(fmt.SOLUTION_FORMATS)
    chunks = fmt.write_solutions(result, canonical, check)
    # Produce the first chunk now: evaluation errors then still get their own status.
    first = next(chunks, "")
    charset = "; charset=utf-8"
    second = None if isinstance(result, AskResult) else next(chunks, None)
    if second is None:  # the whole answer: sent with a Content-Length, not chunked
        return Response(first, content_type=media + charset, headers=_vary())
    stream: Iterator[str] = itertools.chain([first, second], chunks)
    return Response(stream, content_type=media + charset, headers=_vary())


def _vary() -> dict[str, str]:
    return {"Vary": "Accept"}
