"""The SPARQL 1.1 Protocol, independent of the web framework.

``parse_request`` turns the parts of an HTTP request into a query or update
operation (or raises :class:`ProtocolError` with the status the protocol
prescribes); :class:`Endpoint` runs operations against a store, applying the
dataset parameters, the SERVICE policy and the ``inference`` switch. The Flask
views only glue these to HTTP.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from ..config import Settings
from ..errors import ProtocolError
from ..lexer import DatasetConflictError, has_dataset_clause, inject_using, service_refs
from ..namespaces import GRAPH_INFERRED
from ..store.base import DatasetSpec, QueryResult, SerializedResult, SparqlSyntaxError, Store
from .relay import ServiceRelay


class MultiDictLike(Protocol):
    def getlist(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class QueryOperation:
    query: str
    default_graph_uri: tuple[str, ...] = ()
    named_graph_uri: tuple[str, ...] = ()
    #: ``False`` restricts the default dataset to asserted triples (no inferred graph).
    inference: bool = True
    #: The service-defined base IRI relative IRIs resolve against (``None``: none).
    base_iri: str | None = None


@dataclass(frozen=True)
class UpdateOperation:
    update: str
    using_graph_uri: tuple[str, ...] = ()
    using_named_graph_uri: tuple[str, ...] = ()
    #: The service-defined base IRI relative IRIs resolve against (``None``: none).
    base_iri: str | None = None


#: Methods the SPARQL endpoint answers (405 and OPTIONS say the same).
ALLOW = "GET, HEAD, POST, OPTIONS"
FORM = "application/x-www-form-urlencoded"
QUERY_TYPE = "application/sparql-query"
UPDATE_TYPE = "application/sparql-update"


def _single(params: MultiDictLike, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise ProtocolError(400, f"the '{name}' parameter must be given at most once")
    return values[0] if values else None


def _iris(params: MultiDictLike, name: str) -> tuple[str, ...]:
    values = tuple(params.getlist(name))
    for v in values:
        if not is_absolute_iri(v):
            raise ProtocolError(400, f"'{name}' must be an absolute IRI, got {v!r}")
    return values


def is_absolute_iri(value: str) -> bool:
    """Whether ``value`` is an absolute IRI (has a scheme, no spaces or angle brackets)."""
    if not value or any(c in value for c in ' <>"{}|^`\\') or any(ord(c) <= 0x20 for c in value):
        return False
    try:
        return bool(urlsplit(value).scheme)
    except ValueError:  # e.g. an unbalanced '[' in the authority: not an IRI
        return False


def _flag(params: MultiDictLike, name: str, default: bool) -> bool:
    value = _single(params, name)
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise ProtocolError(400, f"'{name}' must be true or false, got {value!r}")


_HIGH_ESCAPE = re.compile(rb"%[89A-Fa-f]")


def require_utf8_params(raw: bytes, where: str) -> None:
    """Refuse percent-encoded parameters that are not UTF-8 (werkzeug would silently
    replace the bad bytes, and the engine would run a different query)."""
    if raw.isascii() and _HIGH_ESCAPE.search(raw) is None:
        return  # only ASCII, escaped or not: always valid UTF-8
    try:
        parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                  errors="strict")
    except UnicodeDecodeError as exc:
        raise ProtocolError(400, f"the {where} is not valid percent-encoded UTF-8: {exc}") from exc


#: Charsets a direct POST may declare: the protocol requires UTF-8 (ASCII is a subset).
UTF8_CHARSETS = frozenset({"utf-8", "ascii"})


def _decode(body: bytes, charset: str | None) -> str:
    """The text of a direct POST body; 415 for a declared charset other than UTF-8 (SPARQL
    1.1 Protocol §2.1.3, §2.2.2: the body is UTF-8), 400 for bytes that are not UTF-8."""
    name = "utf-8"
    if charset is not None:
        try:
            name = codecs.lookup(charset).name
        except LookupError:
            name = ""
        if name not in UTF8_CHARSETS:
            raise ProtocolError(415, f"the charset {charset[:100]!r} is not supported: a SPARQL "
                                     "query or update sent directly must be UTF-8")
    try:
        return body.decode(name)
    except UnicodeDecodeError as exc:
        raise ProtocolError(400, f"the request body is not valid {charset or 'UTF-8'}: {exc}"
                            ) from exc


def parse_request(
    method: str,
    mimetype: str,
    charset: str | None,
    args: MultiDictLike,
    form: MultiDictLike,
    body: bytes,
    base_iri: str | None = None,
) -> QueryOperation | UpdateOperation | None:
    """Read a SPARQL Protocol operation from a request; ``None`` when it carries none.

    ``base_iri`` is the service-defined base the operation's relative IRIs resolve against
    (see :mod:`kgraph.web.service_iri`)."""
    op = _parse_request(method, mimetype, charset, args, form, body)
    if op is None or base_iri is None:
        return op
    return replace(op, base_iri=base_iri)


def _parse_request(
    method: str,
    mimetype: str,
    charset: str | None,
    args: MultiDictLike,
    form: MultiDictLike,
    body: bytes,
) -> QueryOperation | UpdateOperation | None:
    if method in ("GET", "HEAD"):
        if args.getlist("update"):
            raise ProtocolError(405, "SPARQL updates must be sent with POST", {"Allow": ALLOW})
        query = _single(args, "query")
        if query is None:
            return None
        return QueryOperation(
            query, _iris(args, "default-graph-uri"), _iris(args, "named-graph-uri"),
            _flag(args, "inference", True),
        )
    if method != "POST":
        raise ProtocolError(405, f"{method} is not allowed on the SPARQL endpoint",
                            {"Allow": ALLOW})
    if mimetype == FORM:
        query = _single(form, "query")
        update = _single(form, "update")
        if query is not None and update is not None:
            raise ProtocolError(400, "a request carries either 'query' or 'update', not both")
        if query is not None:
            return QueryOperation(
                query, _iris(form, "default-graph-uri"), _iris(form, "named-graph-uri"),
                _flag(form, "inference", _flag(args, "inference", True)),
            )
        if update is not None:
            return UpdateOperation(
                update, _iris(form, "using-graph-uri"), _iris(form, "using-named-graph-uri")
            )
        raise ProtocolError(400, "the form has neither a 'query' nor an 'update' parameter")
    if mimetype == QUERY_TYPE:
        return QueryOperation(
            _decode(body, charset), _iris(args, "default-graph-uri"),
            _iris(args, "named-graph-uri"), _flag(args, "inference", True),
        )
    if mimetype == UPDATE_TYPE:
        return UpdateOperation(
            _decode(body, charset), _iris(args, "using-graph-uri"),
            _iris(args, "using-named-graph-uri"),
        )
    if not mimetype:
        raise ProtocolError(415, "a POST to the SPARQL endpoint needs a Content-Type: "
                                 f"{FORM}, {QUERY_TYPE} or {UPDATE_TYPE}")
    raise ProtocolError(415, f"unsupported Content-Type {mimetype!r}; use {FORM}, "
                             f"{QUERY_TYPE} or {UPDATE_TYPE}")


class Endpoint:
    """Runs protocol operations against a store under one configuration."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        #: Remote SERVICE calls go out through it (started on first use).
        self.relay = ServiceRelay(settings.query_timeout_s, settings.max_body_bytes)

    def _services(self, text: str, update: bool = False, base_iri: str | None = None) -> str:
        """The text to hand the engine: escapes, nesting, SERVICE and LOAD decided
        (:func:`kgraph.sparql.guard.prepare`)."""
        from .federation import ServiceNotAllowedError, configured_targets
        from .guard import prepare

        self.relay.trusted = configured_targets(self.settings)
        try:
            return prepare(text, self.settings, update=update, route=self.relay.url_for,
                           base_iri=base_iri)
        except ServiceNotAllowedError as exc:
            raise ProtocolError(400, str(exc)) from exc

    def dataset_for(self, op: QueryOperation, text: str | None = None) -> DatasetSpec | None:
        """The dataset an operation asks for; ``None`` leaves the store's default.

        ``text`` is the query as the engine will read it (codepoint escapes expanded), so
        a ``FR\\u004FM`` is a FROM here as it is for the engine.
        """
        if op.default_graph_uri or op.named_graph_uri:
            return DatasetSpec(op.default_graph_uri, op.named_graph_uri)
        if not op.inference and not has_dataset_clause(op.query if text is None else text):
            asserted = [g for g in self.store.named_graphs() if g != GRAPH_INFERRED]
            return DatasetSpec([None, *asserted], asserted)
        return None

    def prepare(self, op: QueryOperation) -> tuple[str, DatasetSpec | None]:
        """The text the engine runs (SERVICE calls routed) and the dataset it runs on."""
        text = self._services(op.query, base_iri=op.base_iri)
        return text, self.dataset_for(op, text)

    @staticmethod
    def calls_remote(text: str) -> bool:
        """Whether prepared engine text still calls a SERVICE endpoint (its answer then
        depends on more than the store, so it is not cached). The snapshot's SERVICE
        clauses were rewritten into a local GRAPH by :meth:`prepare`."""
        if "service" not in text.lower():
            return False
        return bool(service_refs(text))

    def query(self, op: QueryOperation) -> QueryResult:
        text, dataset = self.prepare(op)
        return self.run(text, dataset)

    def run(self, text: str, dataset: DatasetSpec | None) -> QueryResult:
        """Evaluate prepared text (see :meth:`prepare`) under the query time limit."""
        return self.store.query(text, dataset=dataset, timeout_s=self.settings.query_timeout_s)

    def run_serialized(
        self, text: str, dataset: DatasetSpec | None, solutions_format: str | None,
        graph_format: str | None,
    ) -> SerializedResult:
        """Evaluate prepared text on a store that writes answers itself (worker processes, a
        remote engine): SELECT/ASK answers come back in ``solutions_format``, CONSTRUCT/DESCRIBE
        ones in ``graph_format`` (canonical media types; ``None``: that kind is not acceptable,
        406)."""
        return self.store.query_serialized(  # type: ignore[attr-defined]
            text, dataset=dataset, base_iri=None, timeout_s=self.settings.query_timeout_s,
            solutions_format=solutions_format, graph_format=graph_format)

    def update(self, op: UpdateOperation) -> None:
        text = self._services(op.update, update=True, base_iri=op.base_iri)
        try:
            text = inject_using(text, op.using_graph_uri, op.using_named_graph_uri)
        except DatasetConflictError as exc:
            raise ProtocolError(400, str(exc)) from exc
        try:
            self.store.update(text)
        except SparqlSyntaxError as exc:
            if op.base_iri is None:
                raise
            from .guard import without_base

            raise without_base(exc) from None
