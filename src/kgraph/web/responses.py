"""Turning queries and their results into HTTP responses.

:func:`answer_query` is the one path from a query operation to its answer: content
negotiation for both kinds of answer up front, the answer cache and its ETags,
the evaluation gate, the result-size cap, and streaming. A store that writes
answers itself (``query_serialized``: worker processes, a remote engine) gets
both negotiated formats and its bytes are streamed as they come; any other store
returns terms, serialized here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request, Response, request
from werkzeug.datastructures import MultiDict

from ..namespaces import PREFIXES
from ..sparql.conneg import negotiate
from ..sparql.guard import without_base
from ..sparql.protocol import FORM, ProtocolError, QueryOperation
from ..store import results as fmt
from ..store.base import DatasetSpec, GraphResult, SelectResult, SparqlSyntaxError
from .cache import CachedAnswer, etag_matches, request_digest, versioned_key
from .limits import Slot, check_text_size, hold_until_sent
from .logs import RequestInfo, info

if TYPE_CHECKING:
    from . import KGraph

#: An exception the WSGI fast path met, for the view to raise (kgraph.web.fastpath).
FAILED_KEY = "kgraph.failed"

log = logging.getLogger("kgraph.http")

Choice = tuple[str, str]  # (response media type, canonical media type)

_SHOWN = 200  # longest client-supplied value echoed in an error message


def _shown(value: str | None) -> str:
    if value is None or len(value) <= _SHOWN:
        return repr(value)
    return repr(value[:_SHOWN]) + f"... ({len(value)} characters)"


def _choice(formats: list[fmt.ResultFormat], name: str | None, accept: str | None) -> Choice | str:
    """``(response media type, canonical media type)``, or why none can be chosen (a 406)."""
    if name:
        chosen = fmt.by_name(formats, name)
        if chosen is None:
            names = ", ".join(n for f in formats for n in f.names[:1])
            return f"unknown or inapplicable format {_shown(name)}; choose one of: {names}"
        return chosen, chosen
    chosen = negotiate(accept, fmt.offered(formats))
    if chosen is None:
        offered = ", ".join(f.media_type for f in formats)
        return f"cannot produce any type in Accept: {_shown(accept)}; offered: {offered}"
    return chosen, fmt.canonical(formats, chosen)


def _format_param(req: Request) -> str | None:
    return format_param(req.method, req.mimetype, req.args, req.form if req.method == "POST"
                        and req.mimetype == FORM else None)


def format_param(method: str, mimetype: str, args: MultiDict[str, str],
                 form: MultiDict[str, str] | None) -> str | None:
    """The ``format`` parameter of a request: the query string's, else a POSTed form's."""
    name = args.get("format")
    if name is None and method == "POST" and mimetype == FORM and form is not None:
        name = form.get("format")
    return name


def choose(formats: list[fmt.ResultFormat]) -> Choice:
    """Pick ``(response media type, canonical media type)`` for this request.

    A ``format`` parameter (short name or media type) wins over Accept; 406
    when neither can be met.
    """
    req = request._get_current_object()  # type: ignore[attr-defined]
    chosen = _choice(formats, _format_param(req), req.environ.get("HTTP_ACCEPT"))
    if isinstance(chosen, str):
        raise ProtocolError(406, chosen)
    return chosen


@functools.lru_cache(maxsize=512)
def _cached_query_choices(name: str | None, accept: str | None) -> tuple[Choice | str, Choice | str]:
    return (_choice(fmt.SOLUTION_FORMATS, name, accept), _choice(fmt.GRAPH_FORMATS, name, accept))


def query_choices(req: Request) -> tuple[Choice | str, Choice | str]:
    """The choices for a SELECT/ASK answer and for a CONSTRUCT/DESCRIBE one (a string says why
    there is none). Clients send the same few Accept headers over and over: cached, except
    for odd long ones, which would only fill the cache."""
    return query_choices_for(_format_param(req), req.environ.get("HTTP_ACCEPT"))


def query_choices_for(name: str | None, accept: str | None) -> tuple[Choice | str, Choice | str]:
    """:func:`query_choices` for a ``format`` parameter and an Accept header."""
    if (name is None or len(name) < 100) and (accept is None or len(accept) < 500):
        return _cached_query_choices(name, accept)
    return (_choice(fmt.SOLUTION_FORMATS, name, accept), _choice(fmt.GRAPH_FORMATS, name, accept))


def _solutions_type(media: str) -> str:
    return media + "; charset=utf-8"


def rdf_content_type(media: str) -> str:
    """The Content-Type for an RDF answer: text types say their charset (always UTF-8)."""
    return media + "; charset=utf-8" if media.startswith("text/") else media


@dataclass(frozen=True, slots=True)
class Plan:
    """What a query request asks for, whatever the store's state: the operation, the
    negotiated choices for both kinds of answer, and the digest of the cache key."""

    op: QueryOperation
    solutions: Choice | str
    graph: Choice | str
    digest: bytes


def plan_query(kg: KGraph, op: QueryOperation, name: str | None, accept: str | None) -> Plan:
    """Check a query's size and negotiate its answer (413, 406), for a ``format`` parameter
    ``name`` and an Accept header."""
    check_text_size(op.query, kg.settings, "query")
    solutions, graph = query_choices_for(name, accept)
    if isinstance(solutions, str) and isinstance(graph, str):
        raise ProtocolError(406, f"{solutions} (for SELECT and ASK); "
                                 f"{graph} (for CONSTRUCT and DESCRIBE)")
    media = (None if isinstance(solutions, str) else solutions[0],
             None if isinstance(graph, str) else graph[0])
    digest = request_digest(kg.store_id, op.query, op.default_graph_uri, op.named_graph_uri,
                            op.inference, media, op.base_iri)
    return Plan(op, solutions, graph, digest)


class Answer:
    """An answer ready to send, framework-free: status, Content-Type, headers, and either
    whole bytes (``body``) or chunks (``stream``); ``slot`` is the evaluation slot to free
    once it has been sent."""

    __slots__ = ("status", "content_type", "headers", "body", "stream", "slot")

    def __init__(self, status: int, content_type: str | None, headers: dict[str, str],
                 body: bytes = b"", stream: Iterator[bytes] | None = None,
                 slot: Slot | None = None) -> None:
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self.body = body
        self.stream = stream
        self.slot = slot


def cached_answer(kg: KGraph, plan: Plan, version: int, if_none_match: str | None,
                  method: str) -> tuple[Answer | None, tuple[int, bytes], str]:
    """``(answer, key, etag)``: the answer is a 304 or a cache hit, ``None`` on a miss; 412
    for a conditional request that is not a GET or HEAD and names the current answer."""
    key, etag = versioned_key(version, plan.digest)
    headers = kg.cache_headers(etag)
    if etag_matches(if_none_match, etag):
        if method in ("GET", "HEAD"):
            return Answer(304, None, headers), key, etag
        # RFC 9110 §13.1.2: other methods answer 412 when the precondition fails
        raise ProtocolError(412, "If-None-Match names the current answer; revalidate "
                                 "with GET", headers)
    cache = kg.cache
    if cache.enabled:
        hit = cache.get(key)
        if hit is not None:
            return Answer(200, hit.content_type, headers, hit.body), key, etag
    return None, key, etag


def evaluate_answer(kg: KGraph, plan: Plan, version: int, key: tuple[int, bytes], etag: str,
                    state: RequestInfo, method: str, path: str) -> Answer:
    """Evaluate a query that is not cached, under an evaluation slot (held by the answer),
    keeping a whole or short streamed answer in the cache when no write interfered."""
    store = kg.store
    cache = kg.cache
    headers = kg.cache_headers(etag)
    slot = kg.gate.enter()
    mark = kg.quiet()
    try:
        text, dataset = kg.endpoint.prepare(plan.op)
        if kg.endpoint.calls_remote(text):  # not a function of the store alone
            headers = kg.cache_headers(None)
        content_type, chunks = _evaluate(kg, text, dataset, plan.solutions, plan.graph)

        def stable() -> bool:
            return kg.still_quiet(mark) and store.version() == version

        def keep(body: bytes) -> None:
            if stable():
                cache.put(key, CachedAnswer(content_type, body))

        first = _bytes(next(chunks, b""))
        second = next(chunks, None)
        if not stable():  # a write landed meanwhile: this answer gets no ETag and is not kept
            headers = kg.cache_headers(None)
        if second is None:
            if cache.enabled and "ETag" in headers:
                keep(first)
            return Answer(200, content_type, headers, first, slot=slot)
        limit = cache.max_bytes if cache.enabled and "ETag" in headers else 0
        body = _stream([first, _bytes(second)], chunks, keep if limit else None, limit,
                       state, method, path)
        return Answer(200, content_type, headers, stream=body, slot=slot)
    except SparqlSyntaxError as exc:
        slot.release()
        if plan.op.base_iri is None:
            raise
        raise without_base(exc) from None  # positions in the client's text, not the engine's
    except BaseException:
        slot.release()
        raise


def answer_query(kg: KGraph, op: QueryOperation, req: Request | None = None) -> Response:
    """The response to a query: from the cache, a 304, or evaluated (streamed when large)."""
    if req is None:
        req = request._get_current_object()  # type: ignore[attr-defined]
    method = req.method
    environ = req.environ
    plan = plan_query(kg, op, _format_param(req), environ.get("HTTP_ACCEPT"))
    version = kg.store.version()
    answer, key, etag = cached_answer(kg, plan, version, environ.get("HTTP_IF_NONE_MATCH"),
                                      method)
    if answer is None:
        answer = evaluate_answer(kg, plan, version, key, etag, info(environ), method, req.path)
    if answer.status == 304:
        return Response(status=304, headers=answer.headers)
    slot = answer.slot
    response = Response(answer.body if answer.stream is None else answer.stream,
                        content_type=answer.content_type, headers=answer.headers)
    if slot is None:
        return response
    try:
        return hold_until_sent(response, slot, method == "HEAD")
    except BaseException:
        slot.release()
        raise


def _evaluate(
    kg: KGraph, text: str, dataset: DatasetSpec | None, solutions: Choice | str,
    graph: Choice | str,
) -> tuple[str, Iterator[str] | Iterator[bytes]]:
    """``(Content-Type, chunks)`` of the answer; 406 when its kind has no acceptable type."""
    settings = kg.settings
    if kg.serialized:
        # A kind the client cannot take still gets a format: not every store accepts None
        # there; if the query is of that kind its bytes are dropped and 406 answered.
        answer = kg.endpoint.run_serialized(
            text, dataset,
            fmt.SOLUTION_FORMATS[0].media_type if isinstance(solutions, str) else solutions[1],
            fmt.GRAPH_FORMATS[0].media_type if isinstance(graph, str) else graph[1],
        )
        chosen = graph if answer.kind == "graph" else solutions
        if isinstance(chosen, str):
            close = getattr(answer.chunks, "close", None)
            if close is not None:
                close()
            raise ProtocolError(406, chosen)
        content_type = (rdf_content_type(chosen[0]) if answer.kind == "graph"
                        else _solutions_type(chosen[0]))
        return content_type, iter(answer.chunks)
    result = kg.endpoint.run(text, dataset)
    check = fmt.deadline_checker(settings.query_timeout_s)
    cap = settings.max_result_rows
    if isinstance(result, GraphResult):
        if isinstance(graph, str):
            raise ProtocolError(406, graph)
        prefixes = {**PREFIXES, **result.prefixes}
        triples = fmt.capped(result.triples, cap)
        return rdf_content_type(graph[0]), fmt.stream_rdf(triples, graph[1], check, prefixes)  # type: ignore[arg-type]
    if isinstance(solutions, str):
        raise ProtocolError(406, solutions)
    if isinstance(result, SelectResult):
        result = SelectResult(result.variables, fmt.capped(result.rows, cap))  # type: ignore[arg-type]
    return _solutions_type(solutions[0]), fmt.write_solutions(result, solutions[1], check)


def _bytes(chunk: str | bytes) -> bytes:
    return chunk.encode("utf-8") if isinstance(chunk, str) else chunk


def _stream(
    head: list[bytes], rest: Iterable[str] | Iterable[bytes],
    keep: Callable[[bytes], None] | None, limit: int, state: RequestInfo | None = None,
    method: str | None = None, path: str | None = None,
) -> Iterator[bytes]:
    """The chunks of a streamed answer; a complete one of at most ``limit`` bytes is handed to
    ``keep``. An error after the first byte is logged and re-raised, so the server closes the
    connection and the client cannot take the cut answer for a whole one."""
    if state is None:  # captured now: the generator runs after the request context is gone
        state = info(request.environ)
        method, path = request.method, request.path

    def body() -> Iterator[bytes]:
        kept: list[bytes] | None = [] if keep is not None else None
        size = 0
        try:
            for chunk in _chain(head, rest):
                size += len(chunk)
                if kept is not None:
                    if size > limit:
                        kept = None
                    else:
                        kept.append(chunk)
                yield chunk
        except Exception as exc:
            log.warning("answer cut off after %d bytes (connection closed): %s", size, exc,
                        extra={"request_id": state.rid, "method": method, "path": path, "bytes": size,
                               "error": type(exc).__name__})
            # the engine's iterators live in the trace's frames and must be dropped on this
            # thread (pyoxigraph's are bound to the thread that made them)
            exc.__traceback__ = None
            raise exc from None
        finally:
            state.bytes = size
        if kept is not None and keep is not None:
            keep(b"".join(kept))

    return body()


def _chain(head: list[bytes], rest: Iterable[str] | Iterable[bytes]) -> Iterator[bytes]:
    yield from head
    for chunk in rest:
        yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk


def stream_response(chunks: Iterator[str] | Iterator[bytes], content_type: str,
                    headers: dict[str, str] | None = None) -> Response:
    """A response from serialized chunks; errors before the first byte keep their status.

    The first chunk is produced now, so an evaluation error or a timeout still
    gets its own status. An answer that fits in one chunk goes out whole, with a
    Content-Length; a longer one streams (chunked transfer encoding).
    """
    headers = headers or {"Vary": "Accept"}
    first = _bytes(next(chunks, b""))
    second = next(chunks, None)
    if second is None:
        return Response(first, content_type=content_type, headers=headers)
    return Response(_stream([first, _bytes(second)], chunks, None, 0),
                    content_type=content_type, headers=headers)


def result_response(result: GraphResult, timeout_s: float | None) -> Response:
    """Serialize an RDF graph made by the server (the service description) for the client."""
    check = fmt.deadline_checker(timeout_s)
    media, canonical = choose(fmt.GRAPH_FORMATS)
    prefixes = {**PREFIXES, **result.prefixes}
    return stream_response(fmt.stream_rdf(result.triples, canonical, check, prefixes),
                           rdf_content_type(media))
