"""A WSGI fast path for plain SPARQL queries: the whole request without Flask.

A query (``GET``/``HEAD /sparql?query=...``, or a ``POST`` of a form with ``query=`` or
of ``application/sparql-query``) costs mostly the framework when its answer is cheap:
routing, request and response objects, hooks. This middleware answers those requests
itself through the same functions the Flask view calls (size checks, the protocol's
parse, negotiation, the answer cache, the evaluation gate, evaluation) and sends the
same status, headers and body (``tests/test_fastpath.py`` compares the two).

Everything else goes to the Flask app unchanged: other paths, updates, a request with
no query (the service description), anything unusual (a chunked or long body, bytes
outside ASCII in the query string or form). And an exception the fast path meets is
handed to the app too (``FAILED_KEY`` in the environ): the view raises it, so its
status and body come from the app's own error handlers.
"""

from __future__ import annotations

import codecs
import functools
import io
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from werkzeug.datastructures import MultiDict
from werkzeug.http import HTTP_STATUS_CODES, parse_options_header

from ..sparql.protocol import FORM, QUERY_TYPE, QueryOperation, parse_request, require_utf8_params
from .limits import Slot
from .logs import ENVIRON_KEY, RequestInfo, access_log, loggable_path, request_id
from .responses import (
    FAILED_KEY,
    Answer,
    Plan,
    cached_answer,
    evaluate_answer,
    format_param,
    plan_query,
)
from .service_iri import query_base
from .sparql_views import check_sizes

if TYPE_CHECKING:
    from . import KGraph

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Longest query string the fast path looks at (longer ones go the full way).
MAX_FAST_QUERY_STRING = 16 * 1024
#: Longest POST body the fast path reads (a longer one goes the full way, which reads it
#: under werkzeug's own form limits).
MAX_FAST_BODY = 64 * 1024
#: Most parameters in a POSTed form the fast path reads (werkzeug's limit is 1000).
MAX_FAST_FORM_FIELDS = 500

#: Requests the fast path remembers it has read (query string and Accept), and the
#: longest query string it remembers: clients repeat the same few requests.
MAX_MEMO = 2048
MAX_MEMO_QUERY_STRING = 2048

_EMPTY: MultiDict[str, str] = MultiDict()


def _status_line(code: int) -> str:
    return f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}"


_STATUS = {code: _status_line(code) for code in (200, 304)}


@functools.lru_cache(maxsize=64)
def _content_type(value: str) -> tuple[str, str | None]:
    """``(mimetype, charset)`` of a Content-Type header, read as werkzeug reads it."""
    mimetype, options = parse_options_header(value)
    return mimetype.lower(), options.get("charset")


def _unquote(value: str) -> str:
    """``urllib.parse.unquote(value, errors="strict")`` of an ASCII value, with its
    ``%XX`` escapes decoded in C (``codecs.escape_decode`` of ``\\xXX``) when the value
    holds no backslash: a query is mostly escapes, and unquote's loop over them costs
    tens of microseconds. Anything ``escape_decode`` refuses (a ``%`` not followed by two
    hex digits) is unquote's."""
    if "%" not in value:
        return value
    if "\\" not in value:
        try:
            data = codecs.escape_decode(value.replace("%", "\\x"))[0]
        except ValueError:
            return unquote(value, errors="strict")
        return data.decode("utf-8", "strict")
    return unquote(value, errors="strict")


def _pairs(raw: str) -> list[tuple[str, str]]:
    """``parse_qsl(raw, keep_blank_values=True, errors="strict")`` of an ASCII string, with
    the same pairs and the same errors (``tests/test_fastpath.py`` compares them)."""
    pairs = []
    try:
        for item in raw.split("&"):
            if item:
                name, _, value = item.partition("=")
                pairs.append((_unquote(name.replace("+", " ")),
                              _unquote(value.replace("+", " "))))
    except UnicodeDecodeError:  # raised as parse_qsl raises it
        return parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict")
    return pairs


def _params(raw: str, where: str) -> MultiDict[str, str]:
    """The parameters of an ASCII query string or form body, as the view reads them
    (``require_utf8_params`` first, so that nothing is silently replaced)."""
    require_utf8_params(raw.encode("ascii"), where)
    return MultiDict(_pairs(raw))


class FastQueries:
    """WSGI middleware in front of the Flask app (see the module docstring)."""

    def __init__(self, app: WSGIApp, kg: KGraph) -> None:
        self.app = app
        self.kg = kg
        #: Switched off, every request goes to the app (the tests compare both ways).
        self.enabled = True
        #: What a GET's (query string, Accept, base IRI) asks for: reading it is deterministic.
        self._memo: dict[tuple[str, str | None, str | None], Plan] = {}
        origins = kg.settings.cors_origins
        self.cors = [("Access-Control-Allow-Origin", origins),
                     ("Access-Control-Expose-Headers", "Content-Type, Location, ETag, X-Request-Id"),
                     ] if origins else []
        self.max_body = kg.settings.max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/sparql" or not self.enabled \
                or environ.get("HTTP_TRANSFER_ENCODING"):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        raw = environ.get("QUERY_STRING", "")
        if len(raw) > MAX_FAST_QUERY_STRING or not raw.isascii():
            return self.app(environ, start_response)
        declared = environ.get("CONTENT_LENGTH")
        if method == "GET" or method == "HEAD":
            if declared or not raw:
                return self.app(environ, start_response)
            length = 0
        elif method == "POST":
            if not declared or not declared.isdigit() or not declared.isascii():
                return self.app(environ, start_response)
            length = int(declared)
            if length > MAX_FAST_BODY or (self.max_body and length > self.max_body):
                return self.app(environ, start_response)
        else:
            return self.app(environ, start_response)
        state = RequestInfo(request_id(environ.get("HTTP_X_REQUEST_ID")))
        environ[ENVIRON_KEY] = state
        try:
            answer = self._answer(environ, method, raw, length, state)
        except Exception as exc:  # the app's error handlers answer it
            environ[FAILED_KEY] = exc
            return self.app(environ, start_response)
        if answer is None:
            return self.app(environ, start_response)
        return self._send(environ, start_response, method, raw, state, answer)

    def _answer(self, environ: dict[str, Any], method: str, raw: str, length: int,
                state: RequestInfo) -> Answer | None:
        """The answer to a plain query, or ``None``: the app must take this request."""
        kg = self.kg
        accept = environ.get("HTTP_ACCEPT")
        plan = None
        base = query_base(kg.settings, environ)
        if length == 0 and method != "POST":
            memo_key = (raw, accept, base)
            plan = self._memo.get(memo_key)
            if plan is None:
                check_sizes(kg.settings, method, "", len(raw), None)
                args = _params(raw, "query string")
                op = parse_request(method, "", None, args, _EMPTY, b"", base)
                if not isinstance(op, QueryOperation):
                    return None
                plan = plan_query(kg, op, format_param(method, "", args, None), accept)
                if len(raw) <= MAX_MEMO_QUERY_STRING:
                    if len(self._memo) >= MAX_MEMO:
                        self._memo.clear()
                    self._memo[memo_key] = plan
        else:
            mimetype, charset = _content_type(environ.get("CONTENT_TYPE", ""))
            if mimetype != FORM and mimetype != QUERY_TYPE:
                return None
            body = environ["wsgi.input"].read(length) if length else b""
            # the app may read it again (a fall-back, an error)
            environ["wsgi.input"] = io.BytesIO(body)
            environ.pop("wsgi.input_terminated", None)
            if len(body) != length:
                return None  # the client went away: the app says so
            form = None
            if mimetype == FORM and (not body.isascii()
                                     or body.count(b"&") >= MAX_FAST_FORM_FIELDS):
                return None
            check_sizes(kg.settings, method, mimetype, len(raw), length)
            args = _params(raw, "query string")
            if mimetype == FORM:
                form = _params(body.decode("ascii"), "form body")
            op = parse_request(method, mimetype, charset, args, form if form is not None
                               else _EMPTY, b"" if form is not None else body, base)
            if not isinstance(op, QueryOperation):
                return None
            plan = plan_query(kg, op, format_param(method, mimetype, args, form), accept)
        version = kg.store.version()
        answer, key, etag = cached_answer(kg, plan, version, environ.get("HTTP_IF_NONE_MATCH"),
                                          method)
        if answer is None:
            answer = evaluate_answer(kg, plan, version, key, etag, state, method, "/sparql")
        return answer

    def _send(self, environ: dict[str, Any], start_response: Callable[..., Any], method: str,
              raw: str, state: RequestInfo, answer: Answer) -> Iterable[bytes]:
        headers = list(answer.headers.items())
        if self.cors:
            headers = [(k, v + ", Origin") if k == "Vary" else (k, v) for k, v in headers]
        status = answer.status
        body = answer.body
        stream = answer.stream
        if status != 304:
            headers.append(("Content-Type", answer.content_type))  # type: ignore[arg-type]
            if stream is None:
                headers.append(("Content-Length", str(len(body))))
        headers.append(("X-Request-Id", state.rid))
        headers.extend(self.cors)
        line = _STATUS.get(status) or _status_line(status)
        path = loggable_path("/sparql", raw.encode("ascii"))
        slot = answer.slot
        if stream is None or method == "HEAD":
            try:
                start_response(line, headers)
            finally:
                if slot is not None:
                    slot.release()
                if stream is not None:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()
            access_log(state, method, path, status, len(body) if stream is None else None)
            return [body] if method != "HEAD" else []
        try:
            start_response(line, headers)
        except BaseException:
            if slot is not None:
                slot.release()
            raise
        return _Streamed(stream, slot, state, method, path)


class _Streamed:
    """A streamed answer: its evaluation slot is freed and its access line written once
    the server closes it (sent, cut off, or never iterated)."""

    __slots__ = ("_chunks", "_slot", "_state", "_method", "_path")

    def __init__(self, chunks: Iterator[bytes], slot: Slot | None, state: RequestInfo,
                 method: str, path: str) -> None:
        self._chunks = chunks
        self._slot = slot
        self._state = state
        self._method = method
        self._path = path

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            if self._slot is not None:
                self._slot.release()
                self._slot = None
                access_log(self._state, self._method, self._path, 200, None)
