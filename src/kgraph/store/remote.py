"""A store on any SPARQL 1.1 engine, over HTTP.

Why: an engine such as Virtuoso, Fuseki, GraphDB, Stardog, Neptune or QLever can
hold more data than one machine's embedded Oxigraph, and kgraph should run on it
unchanged. :class:`RemoteStore` speaks the SPARQL 1.1 Protocol (queries and
updates) and, when one is configured, the Graph Store HTTP Protocol (whole-graph
writes), and converts every answer at its edge into the same pyoxigraph terms and
result classes as the embedded store, so nothing above it knows which engine
answered.

Engines differ where the standards leave room; a :class:`Profile` records what
kgraph relies on for each (sources in ``docs/engines.md``):

* how a query that names no dataset sees the union of all graphs (kgraph's
  documented view): a request parameter (Oxigraph server), a special graph IRI
  (Fuseki, Stardog), the engine's own default (Virtuoso, GraphDB, Neptune,
  QLever), or, for an unknown engine, one ``default-graph-uri`` per graph;
* where kgraph's default graph lives when the engine has none of its own;
* Virtuoso's ways: its ``nodeID://`` blank-node labels, partial "anytime"
  answers on a timeout (``X-SQL-State``), no blank nodes in ``INSERT DATA``.

``version()`` counts the writes made through this object in this process; a
write made by another client of the engine does not change it, so kgraph's
answer cache would not notice it (run with the cache off when others write).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import itertools
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import requests
from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryBoolean,
    QueryResultsFormat,
    RdfFormat,
    Triple,
    parse,
    parse_query_results,
    serialize,
)

from ..errors import ProtocolError
from ..lexer import engine_text, has_dataset_clause, query_prefixes, tokenize
from ..rdf import graph_node, parse_rdf, rdf_format
from .base import (
    AskResult,
    DatasetSpec,
    GraphResult,
    QueryResult,
    QueryTimeoutError,
    SelectResult,
    SerializedResult,
    SparqlEvaluationError,
    SparqlSyntaxError,
    StoreError,
    StoreReadOnlyError,
)
from .bnodes import EngineNodes, engine_bnode_iri
from .results import capped, stream_rdf, write_solutions

log = logging.getLogger(__name__)

SPARQL_JSON = "application/sparql-results+json"
SPARQL_XML = "application/sparql-results+xml"
N_TRIPLES = "application/n-triples"
N_QUADS = "application/n-quads"
#: Triples per request body chunk / per INSERT DATA batch of a bulk load.
BATCH = 50_000
_CHUNK = 1 << 16
#: Most blank-subject triples read to recognise the engine's own blank nodes in a write
#: (beyond: the write's blank nodes are written as new ones, with a warning).
DESCRIPTION_ROWS = 200_000
#: Longest reuse of the graph list (union rewrites, dataset views) without a local write.
GRAPHS_TTL_S = 2.0


@dataclass(frozen=True)
class Profile:
    """What kgraph relies on in one engine (see ``docs/engines.md`` for sources)."""

    name: str
    #: Fixed request parameters that make a query's default graph the union of all graphs.
    union_params: tuple[tuple[str, str], ...] = ()
    #: Pass one ``default-graph-uri`` per graph of the store (engines offering nothing).
    union_rewrite: bool = False
    #: Also pass one ``named-graph-uri`` per graph (a ``default-graph-uri`` alone would
    #: leave ``GRAPH ?g`` with no graphs, SPARQL 1.1 Protocol 2.1.4).
    union_named: bool = False
    #: The IRI that names kgraph's default graph in this engine (``None``: the engine's
    #: own default graph, which the protocol cannot name).
    default_graph_iri: str | None = None
    #: Whether kgraph must write its default graph's triples into ``default_graph_iri``
    #: (the engine has no writable plain default graph).
    default_graph_is_named: bool = False
    #: Graphs the engine keeps for itself, hidden from ``named_graphs`` and dumps.
    system_graphs: tuple[str, ...] = ()
    system_graph_prefixes: tuple[str, ...] = ()
    #: Name of the request parameter that takes a time limit in milliseconds.
    timeout_param: str | None = None
    #: Prefix the engine puts before blank-node labels in results (cut on the way in).
    bnode_prefix: str | None = None
    #: Whether ``INSERT DATA`` may contain blank nodes (else ``INSERT {...} WHERE {}``).
    bnodes_in_insert_data: bool = True
    #: Whether the engine's result documents are standard enough to hand on unchanged.
    passthrough: bool = True
    #: Graph Store Protocol: the parameter naming a graph, and the one for the default graph.
    gsp_graph_param: str = "graph"
    gsp_default_param: str | None = "default"
    #: Whether an HTTP 500 answer means "your operation failed" rather than "I failed".
    errors_500_are_evaluation: bool = False
    #: Whether a Graph Store PUT replaces a graph in one transaction (readers never see
    #: it half done); else replace_graph goes through one SPARQL Update request.
    gsp_put_atomic: bool = True
    #: Most triples in one update operation (Virtuoso's compiler runs out of memory beyond).
    max_triples_per_op: int | None = None
    #: DESCRIBE sees nothing without a dataset (Virtuoso): spell the union out for it.
    describe_needs_graphs: bool = False
    #: Apply kgraph's fixes for Oxigraph's parser gaps (the same engine as the embedded store).
    oxigraph_fixes: bool = False
    #: No notation for an existing blank node, but ``INSERT {…} WHERE {…}`` keeps the
    #: engine's nodes and answers give stable labels: write a blank node that the engine
    #: holds through a WHERE pattern describing it (kgraph.store.bnodes.EngineNodes).
    bnodes_by_description: bool = False


VIRTUOSO_DEFAULT_GRAPH = "urn:x-kgraph:default-graph"

PROFILES: dict[str, Profile] = {
    # Oxigraph server: `union-default-graph` request parameter; real default graph.
    "oxigraph": Profile("oxigraph", union_params=(("union-default-graph", ""),),
                        errors_500_are_evaluation=True, oxigraph_fixes=True,
                        bnodes_by_description=True),
    # Virtuoso: the default dataset is every graph; no plain default graph (a named one
    # is given on updates with default-graph-uri); anytime answers; nodeID:// labels.
    "virtuoso": Profile(
        "virtuoso", default_graph_iri=VIRTUOSO_DEFAULT_GRAPH, default_graph_is_named=True,
        system_graphs=("http://www.w3.org/ns/ldp#", "http://localuriqaserver/sparql",
                       "http://www.w3.org/2002/07/owl#", "virtrdf-label"),
        system_graph_prefixes=("http://www.openlinksw.com/",),
        timeout_param="timeout", bnode_prefix="nodeID://", bnodes_in_insert_data=False,
        describe_needs_graphs=True, gsp_put_atomic=False, max_triples_per_op=500,
        passthrough=False, gsp_graph_param="graph-uri", gsp_default_param=None,
        errors_500_are_evaluation=True),
    # Fuseki (TDB/TDB2): urn:x-arq:UnionGraph is the union of the named graphs; the stored
    # default graph is not part of it, so kgraph's default graph is a named one there.
    "fuseki": Profile("fuseki", union_params=(("default-graph-uri", "urn:x-arq:UnionGraph"),),
                      union_named=True, default_graph_iri="urn:x-kgraph:default-graph",
                      default_graph_is_named=True),
    # GraphDB (RDF4J): the default graph of a query without a dataset is every graph;
    # rdf4j:nil names the real default graph.
    "graphdb": Profile("graphdb", default_graph_iri="http://rdf4j.org/schema/rdf4j#nil"),
    # Stardog: tag:stardog:api:context:all is every graph; context:default the default one.
    "stardog": Profile("stardog",
                       union_params=(("default-graph-uri", "tag:stardog:api:context:all"),),
                       union_named=True, default_graph_iri="tag:stardog:api:context:default"),
    # Neptune: the default graph is the union; triples without a graph go to its fallback graph.
    "neptune": Profile("neptune",
                       default_graph_iri="http://aws.amazon.com/neptune/vocab/v01/DefaultNamedGraph"),
    # QLever: a query without a dataset sees every graph; ql:default-graph names the default one.
    "qlever": Profile("qlever",
                      default_graph_iri="http://qlever.cs.uni-freiburg.de/builtin-functions/default-graph"),
    # Anything else: spell the union out, one default-graph-uri per graph.
    "generic": Profile("generic", union_rewrite=True, union_named=True,
                       default_graph_iri="urn:x-kgraph:default-graph", default_graph_is_named=True),
}


def safe_url(url: str) -> str:
    """``url`` without user information, for messages (credentials never leave kgraph)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def query_form(sparql: str) -> str:
    """``SELECT``, ``ASK``, ``CONSTRUCT`` or ``DESCRIBE``: the first keyword after the prologue."""
    tokens = tokenize(sparql)
    for tok in tokens:
        if tok.is_word("BASE"):
            next(tokens, None)
        elif tok.is_word("PREFIX"):
            next(tokens, None)
            next(tokens, None)
        elif tok.is_word("SELECT", "ASK", "CONSTRUCT", "DESCRIBE"):
            return tok.text.upper()
        else:
            break
    raise SparqlSyntaxError("error at 1:1: expected SELECT, ASK, CONSTRUCT or DESCRIBE")


class _Body(io.RawIOBase):
    """A response body as a file for pyoxigraph's streaming parsers.

    It enforces the whole request's deadline while the answer streams in, and cuts
    an engine's blank-node label prefix (``<bnode>nodeID://`` -> ``<bnode>``).
    """

    def __init__(self, response: requests.Response, deadline: float | None,
                 limit_s: float | None, replace: tuple[bytes, bytes] | None = None) -> None:
        self._response = response
        self._chunks = response.iter_content(_CHUNK)
        self._deadline = deadline
        self._limit_s = limit_s
        self._replace = replace
        self._pending = b""
        self._tail = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._pending and not self._eof:
            if self._deadline is not None and time.monotonic() > self._deadline:
                self._response.close()
                raise QueryTimeoutError(f"query exceeded the {self._limit_s:g} s time limit")
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._eof = True
                chunk = b""
            except requests.exceptions.ConnectionError as exc:
                if "timed out" in str(exc).lower():
                    raise QueryTimeoutError(
                        f"query exceeded the {self._limit_s:g} s time limit") from None
                raise StoreError("the engine closed the connection mid-answer") from None
            if self._replace is None:
                self._pending = chunk
                continue
            old, new = self._replace
            buf = (self._tail + chunk).replace(old, new)
            hold = 0
            if not self._eof:
                for n in range(min(len(old) - 1, len(buf)), 0, -1):
                    if old.startswith(buf[-n:]):
                        hold = n
                        break
            self._pending, self._tail = (buf[:-hold], buf[-hold:]) if hold else (buf, b"")

    def readinto(self, b: Any) -> int:
        self._fill()
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        if self._recorded is not None:
            self._recorded.append(self._pending[:n])
        self._pending = self._pending[n:]
        return n

    _recorded: list[bytes] | None = None

    def record(self) -> None:
        """Keep what is read from now on, for :meth:`rewind`."""
        self._recorded = []

    def rewind(self) -> None:
        """Read the recorded bytes again (a second parser starts where the first did)."""
        if self._recorded is not None:
            self._pending = b"".join(self._recorded) + self._pending
        self._recorded = None

    def close(self) -> None:
        self._response.close()
        super().close()


def _spelled(term: Any, profile: Profile) -> Any:
    """``term`` with each blank node in the engine's own notation for that very node
    (Virtuoso's ``nodeID://``, see kgraph.store.bnodes); unchanged on an engine that has
    none, where a blank node in a write is a new node."""
    if isinstance(term, BlankNode) and profile.bnode_prefix:
        return engine_bnode_iri(term, profile.bnode_prefix)
    if isinstance(term, Triple) and profile.bnode_prefix:
        return Triple(_spelled(term.subject, profile), term.predicate,
                      _spelled(term.object, profile))
    return term


def _nt_term(term: object, profile: Profile) -> str:
    term = _spelled(term, profile)
    if isinstance(term, Triple):
        return (f"<< {_nt_term(term.subject, profile)} {_nt_term(term.predicate, profile)} "
                f"{_nt_term(term.object, profile)} >>")
    return str(term)


class RemoteStore:
    """A :class:`kgraph.store.base.Store` on a SPARQL 1.1 engine reached over HTTP."""

    name = "sparql"

    def __init__(
        self,
        query_url: str,
        *,
        update_url: str | None = None,
        graph_store_url: str | None = None,
        profile: str = "auto",
        auth: str | None = None,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        read_only: bool = False,
        union_default_graph: bool = True,
        connect_timeout_s: float = 10.0,
        timeout_s: float | None = 30.0,
        max_rows: int | None = None,
    ) -> None:
        if urlsplit(query_url).scheme not in ("http", "https"):
            raise StoreError("a remote store needs an http(s) SPARQL query endpoint URL")
        self.query_url = query_url
        self.update_url = update_url or query_url
        self.graph_store_url = graph_store_url
        self.read_only = read_only
        self.union_default_graph = union_default_graph
        self.connect_timeout_s = connect_timeout_s
        #: Time limit of an operation that names none.
        self.timeout_s = timeout_s
        #: Most rows or triples in an answer kgraph writes itself (beyond: ResultTooLargeError);
        #: an answer handed on as the engine wrote it is bounded by the engine's own limit.
        self.max_rows = max_rows
        self._auth = self._make_auth(auth, user, password, token)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._version = 0
        #: A version counter shared by every process of one server (see share_versions).
        self._shared: Any = None
        self._shared_fd: int | None = None
        self._graphs_cache: tuple[int, list[str]] | None = None
        self._graphs_at = 0.0
        self._default_empty_cache: tuple[int, bool] | None = None
        if profile != "auto" and profile not in PROFILES:
            raise StoreError(f"unknown engine profile {profile!r}; known: auto, "
                             + ", ".join(PROFILES))
        self._profile: Profile | None = None if profile == "auto" else PROFILES[profile]

    @classmethod
    def from_settings(cls, settings: Any, *, read_only: bool = False) -> RemoteStore:
        """A store on the engine that ``settings`` (``store_url`` and friends) name."""
        if not settings.store_url:
            raise StoreError("no remote store URL configured (KGRAPH_STORE_URL / --store URL)")
        store = cls(settings.store_url, update_url=settings.update_url,
                   graph_store_url=settings.graph_store_url, profile=settings.store_profile,
                   auth=settings.store_auth, user=settings.store_user,
                   password=settings.store_password, token=settings.store_token,
                   read_only=read_only, timeout_s=settings.query_timeout_s,
                   max_rows=settings.max_result_rows)
        if getattr(settings, "version_dir", None):
            store.share_versions(Path(settings.version_dir))
        return store

    # -- plumbing -------------------------------------------------------------------
    @staticmethod
    def _make_auth(scheme: str | None, user: str | None, password: str | None,
                   token: str | None) -> Callable[[requests.PreparedRequest], Any] | None:
        if not scheme:
            return None
        scheme = scheme.strip().lower()
        if scheme == "bearer":
            if not token:
                raise StoreError("store auth 'bearer' needs a token (KGRAPH_STORE_TOKEN)")
            header = f"Bearer {token}"

            def bearer(request: requests.PreparedRequest) -> requests.PreparedRequest:
                request.headers["Authorization"] = header
                return request

            return bearer
        if scheme in ("basic", "digest"):
            if user is None or password is None:
                raise StoreError(f"store auth '{scheme}' needs a user and a password "
                                 "(KGRAPH_STORE_USER, KGRAPH_STORE_PASSWORD)")
            cls = requests.auth.HTTPBasicAuth if scheme == "basic" else requests.auth.HTTPDigestAuth
            return cls(user, password)
        raise StoreError(f"unknown store auth scheme {scheme!r}; use basic, digest or bearer")

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = self._auth
            session.headers["User-Agent"] = "kgraph (remote store)"
            self._local.session = session
        return session

    @property
    def profile(self) -> Profile:
        """The engine's profile (detected on first use when configured as ``auto``)."""
        if self._profile is None:
            with self._lock:
                if self._profile is None:
                    self._profile = PROFILES[self.detect_profile()]
        return self._profile

    def detect_profile(self) -> str:
        """Name the engine from its ``Server`` header or its URL (``generic`` when unknown)."""
        host = (urlsplit(self.query_url).hostname or "").lower()
        if "neptune.amazonaws.com" in host:
            return "neptune"
        response = self._request("POST", self.query_url, data={"query": "ASK {}"},
                                 headers={"Accept": SPARQL_XML}, limit_s=self.connect_timeout_s)
        server = response.headers.get("Server", "").lower()
        response.close()
        for needle, name in (("virtuoso", "virtuoso"), ("oxigraph", "oxigraph"),
                             ("fuseki", "fuseki"), ("graphdb", "graphdb"),
                             ("stardog", "stardog"), ("qlever", "qlever")):
            if needle in server:
                return name
        return "generic"

    def _request(self, method: str, url: str, *, limit_s: float | None, data: Any = None,
                 params: Any = None, headers: dict[str, str] | None = None,
                 stream: bool = False, what: str = "query") -> requests.Response:
        read = limit_s if limit_s else None
        try:
            response = self._session.request(
                method, url, data=data, params=params, headers=headers, stream=stream,
                timeout=(self.connect_timeout_s, read))
        except requests.exceptions.ConnectTimeout:
            raise StoreError(f"the SPARQL engine at {safe_url(url)} is unreachable "
                             "(connection timed out)") from None
        except requests.exceptions.ReadTimeout:
            raise QueryTimeoutError(f"{what} exceeded the {limit_s:g} s time limit") from None
        except requests.exceptions.ConnectionError:
            raise StoreError(f"the SPARQL engine at {safe_url(url)} is unreachable") from None
        except requests.exceptions.RequestException as exc:
            raise StoreError(f"request to the SPARQL engine at {safe_url(url)} failed: "
                             f"{type(exc).__name__}") from None
        if response.status_code >= 400:
            self._raise_for(response, url, what)
        return response

    def _raise_for(self, response: requests.Response, url: str, what: str) -> None:
        status = response.status_code
        try:
            text = response.text.strip()
        finally:
            response.close()
        message = " ".join(text.split("SPARQL query:", 1)[0].split())[:500] or response.reason
        where = f"the SPARQL engine at {safe_url(url)}"
        if status in (401, 403):
            raise StoreError(f"{where} refused the credentials kgraph sent (HTTP {status}); "
                             "check KGRAPH_STORE_AUTH, KGRAPH_STORE_USER, KGRAPH_STORE_PASSWORD "
                             "or KGRAPH_STORE_TOKEN")
        if status == 404 and what == "graph":
            raise KeyError("graph not found")
        if status in (400, 422):
            raise SparqlSyntaxError(message)
        if status == 504 or (status == 503 and "timeout" in message.lower()):
            raise QueryTimeoutError(f"{what} exceeded the engine's time limit: {message}")
        profile = self._profile
        if status == 500 and profile is not None and profile.errors_500_are_evaluation:
            lowered = message.lower()
            if profile.name == "virtuoso" and ("security" in lowered or "permission" in lowered):
                raise StoreError(f"{where} refused the operation: {message}")
            if profile.name == "virtuoso" and "s1t00" in lowered:
                raise QueryTimeoutError(f"{what} exceeded the engine's time limit")
            raise SparqlEvaluationError(message)
        raise StoreError(f"{where} failed (HTTP {status}): {message}")

    def _limit(self, timeout_s: float | None) -> float | None:
        return timeout_s if timeout_s is not None else self.timeout_s

    def _engine_params(self, limit_s: float | None) -> list[tuple[str, str]]:
        p = self.profile
        if p.timeout_param and limit_s:
            return [(p.timeout_param, str(max(1, int(limit_s * 1000))))]
        return []

    # -- datasets ---------------------------------------------------------------------
    def _dataset_params(self, sparql: str, dataset: DatasetSpec | None,
                        form: str = "SELECT") -> list[tuple[str, str]]:
        p = self.profile
        if dataset is not None and (dataset.default_graphs is not None
                                    or dataset.named_graphs is not None):
            params: list[tuple[str, str]] = []
            if dataset.default_graphs is not None:
                defaults = list(dataset.default_graphs)
            else:
                defaults = [None, *self.named_graphs()]
            for g in defaults:
                if g is not None:
                    params.append(("default-graph-uri", g))
                elif p.default_graph_iri is not None:
                    params.append(("default-graph-uri", p.default_graph_iri))
                elif not self._default_graph_empty():
                    raise StoreError(
                        f"the {p.name} engine cannot name its default graph in a dataset, and "
                        "it holds triples; keep data in named graphs")
            named = (dataset.named_graphs if dataset.named_graphs is not None
                     else self.named_graphs())
            params += [("named-graph-uri", g) for g in named]
            if not params:
                # An empty dataset: a graph that cannot exist keeps it empty.
                params.append(("default-graph-uri", "urn:x-kgraph:empty"))
            return params
        if not self.union_default_graph or has_dataset_clause(sparql):
            return []
        params = list(p.union_params)
        rewrite = p.union_rewrite or (form == "DESCRIBE" and p.describe_needs_graphs)
        if rewrite or p.union_named:
            graphs = self.named_graphs()
            if rewrite:
                params += [("default-graph-uri", g) for g in graphs]
                if p.default_graph_iri is not None:
                    params.append(("default-graph-uri", p.default_graph_iri))
                if not graphs and p.default_graph_iri is None:
                    params.append(("default-graph-uri", "urn:x-kgraph:empty"))
            if p.union_named:
                params += [("named-graph-uri", g) for g in graphs]
        return params

    def _default_graph_empty(self) -> bool:
        version = self.version()
        cached = self._default_empty_cache
        if cached is not None and cached[0] == version:
            return cached[1]
        empty = not self._ask_raw("ASK { ?s ?p ?o }")
        self._default_empty_cache = (version, empty)
        return empty

    # -- queries ----------------------------------------------------------------------
    def _text(self, sparql: str, base_iri: str | None) -> str:
        if self.profile.oxigraph_fixes:
            try:
                sparql = engine_text(sparql)
            except ValueError as exc:
                raise SparqlSyntaxError(str(exc)) from exc
        return f"BASE <{base_iri}>\n{sparql}" if base_iri else sparql

    def _post_query(self, text: str, params: list[tuple[str, str]], accept: str,
                    limit_s: float | None) -> requests.Response:
        data = [("query", text), *params, *self._engine_params(limit_s)]
        response = self._request("POST", self.query_url, data=data, headers={"Accept": accept},
                                 stream=True, limit_s=limit_s)
        state = response.headers.get("X-SQL-State", "")
        if state:
            # Virtuoso's "anytime" answer: partial results cut at the time limit.
            response.close()
            if state.upper().startswith("S1T"):
                raise QueryTimeoutError(f"query exceeded the {limit_s or 0:g} s time limit")
            raise SparqlEvaluationError(response.headers.get("X-SQL-Message", state)[:300])
        return response

    def _body(self, response: requests.Response, limit_s: float | None) -> _Body:
        p = self.profile
        replace = None
        if p.bnode_prefix:
            replace = (b"<bnode>" + p.bnode_prefix.encode(), b"<bnode>")
        deadline = time.monotonic() + limit_s if limit_s else None
        return _Body(response, deadline, limit_s, replace)

    def _solutions_media(self) -> str:
        # Virtuoso's XML is the easier to normalise (its blank nodes); JSON elsewhere.
        return SPARQL_XML if self.profile.bnode_prefix else SPARQL_JSON

    def query(
        self,
        sparql: str,
        *,
        dataset: DatasetSpec | None = None,
        base_iri: str | None = None,
        timeout_s: float | None = None,
    ) -> QueryResult:
        form = query_form(sparql)
        limit_s = self._limit(timeout_s)
        text = self._text(sparql, base_iri)
        params = self._dataset_params(sparql, dataset, form)
        if form in ("SELECT", "ASK"):
            media = self._solutions_media()
            response = self._post_query(text, params, media, limit_s)
            parsed = self._parse_solutions(response, media, limit_s)
            if isinstance(parsed, QueryBoolean):
                return AskResult(bool(parsed))
            if form == "ASK":
                raise SparqlEvaluationError("the engine answered an ASK query with solutions")
            return parsed
        response = self._post_query(text, params, N_TRIPLES, limit_s)
        return GraphResult(self._parse_triples(response, limit_s), query_prefixes(sparql))

    def _parse_solutions(self, response: requests.Response, media: str,
                         limit_s: float | None) -> SelectResult | QueryBoolean:
        fmt = QueryResultsFormat.XML if media == SPARQL_XML else QueryResultsFormat.JSON
        body = self._body(response, limit_s)
        body.record()
        try:
            parsed = parse_query_results(body, fmt)
        except SyntaxError as exc:
            body.close()
            raise StoreError(f"the engine's answer does not parse: {exc}") from None
        if isinstance(parsed, QueryBoolean):
            body.close()
            return parsed
        variables = [v.value for v in parsed.variables]
        # pyoxigraph's parsers are bound to the thread that made them, and a result may be
        # read in another one (a streaming response): this parser only read the head; the
        # rows come from a second parser, made by the thread that reads them, over the
        # same bytes again.
        del parsed
        body.rewind()
        return SelectResult(variables, _rows(body, fmt, len(variables)))

    def _parse_triples(self, response: requests.Response, limit_s: float | None) -> Iterator[Triple]:
        body = self._body(response, limit_s)
        try:
            for quad in parse(body, format=RdfFormat.N_TRIPLES, lenient=True):
                yield quad.triple
        except SyntaxError as exc:
            raise StoreError(f"the engine's answer does not parse: {exc}") from None
        finally:
            body.close()

    def query_serialized(
        self,
        sparql: str,
        *,
        dataset: DatasetSpec | None = None,
        base_iri: str | None = None,
        timeout_s: float | None = None,
        solutions_format: str | None = SPARQL_JSON,
        graph_format: str | None = N_TRIPLES,
    ) -> SerializedResult:
        """The answer already written in the wanted media type (canonical kgraph types).

        A standard engine's bytes are handed on unchanged; an engine that needs
        normalising (Virtuoso) is parsed and written again by kgraph's writers.
        """
        form = query_form(sparql)
        wanted = solutions_format if form in ("SELECT", "ASK") else graph_format
        if wanted is None:  # the client accepts no media type for this kind of answer
            kind_name = "solutions" if form in ("SELECT", "ASK") else "graph"
            raise ProtocolError(406, f"cannot produce an acceptable media type for a {kind_name} "
                                     "answer")
        limit_s = self._limit(timeout_s)
        text = self._text(sparql, base_iri)
        params = self._dataset_params(sparql, dataset, form)
        p = self.profile
        if form in ("SELECT", "ASK"):
            assert solutions_format is not None
            kind = "boolean" if form == "ASK" else "solutions"
            if p.passthrough and solutions_format in (SPARQL_JSON, SPARQL_XML, "text/csv",
                                                      "text/tab-separated-values"):
                response = self._post_query(text, params, solutions_format, limit_s)
                return SerializedResult(kind, solutions_format,
                                        _passthrough(self._body(response, limit_s)))
            media = self._solutions_media()
            parsed = self._parse_solutions(self._post_query(text, params, media, limit_s),
                                           media, limit_s)
            result: AskResult | SelectResult
            if isinstance(parsed, QueryBoolean):
                result = AskResult(bool(parsed))
            else:
                result = SelectResult(parsed.variables, capped(parsed.rows, self.max_rows))  # type: ignore[arg-type]
            chunks = (c.encode("utf-8") for c in write_solutions(result, solutions_format))
            return SerializedResult(kind, solutions_format, chunks)
        assert graph_format is not None
        if p.passthrough and graph_format == N_TRIPLES:
            response = self._post_query(text, params, N_TRIPLES, limit_s)
            return SerializedResult("graph", N_TRIPLES, _passthrough(self._body(response, limit_s)))
        triples = capped(self._parse_triples(self._post_query(text, params, N_TRIPLES, limit_s),
                                             limit_s), self.max_rows)
        return SerializedResult("graph", graph_format,
                                stream_rdf(triples, graph_format, prefixes=query_prefixes(sparql)))

    def _ask_raw(self, text: str, params: Sequence[tuple[str, str]] = ()) -> bool:
        media = self._solutions_media()
        parsed = self._parse_solutions(self._post_query(text, list(params), media, self.timeout_s),
                                       media, self.timeout_s)
        if not isinstance(parsed, QueryBoolean):
            raise StoreError("the engine answered an ASK query with solutions")
        return bool(parsed)

    def _select_raw(self, text: str, params: Sequence[tuple[str, str]] = ()) -> SelectResult:
        media = self._solutions_media()
        parsed = self._parse_solutions(self._post_query(text, list(params), media, self.timeout_s),
                                       media, self.timeout_s)
        if isinstance(parsed, QueryBoolean):
            raise StoreError("the engine answered a SELECT query with a boolean")
        return parsed

    # -- updates ----------------------------------------------------------------------
    def _writing(self) -> None:
        if self.read_only:
            raise StoreReadOnlyError("this store is read-only; nothing was changed")

    def share_versions(self, root: Path) -> None:
        """Count writes in the counter every process of one server maps (``root/version``).

        Each granian worker has its own RemoteStore; with a shared counter a write
        through any of them changes ``version()`` in all of them before the write is
        acknowledged, so no worker's answer cache serves an answer the write made stale.
        """
        from .snapshots import VersionCounter

        root.mkdir(parents=True, exist_ok=True)
        self._shared = VersionCounter(root, writable=True)
        self._shared_fd = os.open(root / "version", os.O_RDWR)

    def _wrote(self) -> None:
        with self._lock:
            self._version += 1
            if self._shared is not None and self._shared_fd is not None:
                fcntl.flock(self._shared_fd, fcntl.LOCK_EX)  # other processes write it too
                try:
                    self._shared.write(self._shared.read() + 1)
                finally:
                    fcntl.flock(self._shared_fd, fcntl.LOCK_UN)

    def version(self) -> int:
        """Writes made through kgraph: through every process of this server when they share a
        counter (:meth:`share_versions`), else through this object. Writes that bypass kgraph
        are not seen."""
        if self._shared is not None:
            return self._shared.read()
        return self._version

    def _post_update(self, text: str, limit_s: float | None) -> None:
        data: list[tuple[str, str]] = [("update", text)]
        p = self.profile
        if p.default_graph_is_named and p.name == "virtuoso" and p.default_graph_iri:
            # Virtuoso writes triples outside GRAPH {...} into the default-graph-uri graph.
            data.append(("default-graph-uri", p.default_graph_iri))
        data += self._engine_params(limit_s)
        try:
            response = self._request("POST", self.update_url, data=data, limit_s=limit_s,
                                     what="update")
        finally:
            self._wrote()
        response.close()

    def update(
        self, sparql: str, *, base_iri: str | None = None, timeout_s: float | None = None
    ) -> None:
        self._writing()
        self._post_update(self._text(sparql, base_iri), self._limit(timeout_s))

    def _graph_term(self, graph: object) -> str | None:
        """``GRAPH`` IRI for a quad's graph (``None``: the engine's plain default graph)."""
        p = self.profile
        if isinstance(graph, DefaultGraph) or graph is None:
            return p.default_graph_iri if p.default_graph_is_named else None
        if isinstance(graph, NamedNode):
            return graph.value
        if isinstance(graph, str):
            return graph
        raise ValueError(f"a graph name must be an IRI, not {graph!r}")

    def _insert_text(self, quads: Iterable[Quad]) -> str:
        """One update request that inserts ``quads`` (blank nodes fresh, shared within it).

        Virtuoso refuses blank nodes in ``INSERT DATA``, fails on a template with
        blank nodes in more than one ``GRAPH`` block, and its SPARQL compiler runs
        out of memory on a few thousand triples in one operation. There the request
        holds several operations of at most ``Profile.max_triples_per_op`` triples,
        each triple with the others that share its blank nodes, and one graph per
        ``INSERT {...} WHERE {}`` (a blank node shared by two graphs becomes two
        nodes on that engine).
        """
        p = self.profile
        by_graph: dict[str | None, list[tuple[Triple, str]]] = {}
        bnodes = False
        for q in quads:
            terms = (q.subject, q.predicate, q.object)
            bnodes = bnodes or any(isinstance(_spelled(t, p), BlankNode) for t in terms)
            line = " ".join(_data_text(t, p) for t in terms) + " ."
            by_graph.setdefault(self._graph_term(q.graph_name), []).append((q.triple, line))

        def block(g: str | None, lines: list[str]) -> str:
            body = "\n".join(lines)
            return body if g is None else f"GRAPH <{g}> {{\n{body}\n}}"

        if p.max_triples_per_op is None and (p.bnodes_in_insert_data or not bnodes):
            blocks = [block(g, [line for _, line in items]) for g, items in by_graph.items()]
            return "INSERT DATA {\n" + "\n".join(blocks) + "\n}"
        ops = []
        size = p.max_triples_per_op or 1 << 62
        for g, items in by_graph.items():
            for group in _packed(items, size):
                has_bnode = any(isinstance(_spelled(t, p), BlankNode) for tr, _ in group
                                for t in (tr.subject, tr.object))
                text = block(g, [line for _, line in group])
                if has_bnode and not p.bnodes_in_insert_data:
                    ops.append(f"INSERT {{\n{text}\n}} WHERE {{}}")
                else:
                    ops.append(f"INSERT DATA {{\n{text}\n}}")
        return " ;\n".join(ops)

    def add_quads(self, quads: Iterable[Quad]) -> None:
        self._add(list(quads), identify=True)

    def _add(self, quads: list[Quad], *, identify: bool) -> None:
        self._writing()
        if not quads:
            return
        plan = self._identity_plan(quads, ...) if identify else None
        if plan is not None:
            plain, ops = plan
            self._post_update(" ;\n".join(
                ([self._insert_text(plain)] if plain else []) + ops), self.timeout_s)
            return
        graphs = {q.graph_name for q in quads}
        if self.graph_store_url and len(graphs) == 1:
            self._gsp_send("POST", next(iter(graphs)), quads)
            return
        self._post_update(self._insert_text(quads), self.timeout_s)

    def _identity_plan(self, quads: list[Quad],
                       exclude: object) -> tuple[list[Quad], list[str]] | None:
        """On an engine without a blank-node notation (``bnodes_by_description``): the
        quads to insert as data and the ``INSERT {…} WHERE {…}`` operations that write
        the others with the engine's own blank nodes; ``None`` when no blank node of the
        write is one the engine holds (outside graph ``exclude``, ``...``: none excluded).

        A blank node of the write is the engine's when its label is the subject of a
        triple the engine holds outside ``exclude`` (Oxigraph server reports its nodes
        under stable labels). Each group of quads linked by blank nodes is one operation
        whose WHERE describes its engine nodes (EngineNodes.pattern; a node whose own
        description matches another node through the blank node that holds it,
        EngineNodes.anchor) inside a ``SELECT … LIMIT 1``, so a description that matched
        two nodes could never multiply triples; a node kgraph cannot pin down is
        written as a new one, with a warning (identical descriptions in identical
        places are indistinguishable). Cost: one query reading the engine's blank-subject
        triples, only for writes that hold blank nodes.
        """
        p = self.profile
        if not p.bnodes_by_description:
            return None
        direct: set[str] = set()
        quoted: set[str] = set()
        for q in quads:
            for t in (q.subject, q.object):
                if isinstance(t, BlankNode):
                    direct.add(t.value)
                elif isinstance(t, Triple):
                    quoted.update(_labels(t))
        if not direct:
            return None
        nodes = self._engine_nodes(exclude)
        if nodes is None:
            return None
        #: the engine's nodes in the write -> the node whose pattern pins each down
        roots: dict[str, str] = {}
        for label in sorted(direct - quoted):
            if label not in nodes:
                continue
            root = nodes.anchor(label)
            if root is not None:
                roots[label] = root
            else:
                log.warning("blank node _:%s: its description matches more than one node of "
                            "the engine; written as a new node", label)
        if not roots:
            return None
        known = set(roots)
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        plain: list[Quad] = []
        linked: list[tuple[Quad, list[str]]] = []
        for q in quads:
            labels = _labels(q.subject) + _labels(q.object)
            if not labels:
                plain.append(q)
                continue
            for other in labels[1:]:
                parent[find(other)] = find(labels[0])
            linked.append((q, labels))
        groups: dict[str, list[tuple[Quad, list[str]]]] = {}
        for q, labels in linked:
            groups.setdefault(find(labels[0]), []).append((q, labels))
        counter = itertools.count()
        ops: list[str] = []
        for group in groups.values():
            mine = sorted({label for _, labels in group for label in labels} & known)
            if not mine:
                plain.extend(q for q, _ in group)
                continue
            var = _Variables(counter)

            where: dict[str | None, dict[str, None]] = {}
            for root in sorted({roots[label] for label in mine}):
                g, lines = nodes.pattern(root, var)
                where.setdefault(g, {}).update(dict.fromkeys(lines))
            template: dict[str | None, list[str]] = {}
            for q, _ in group:
                line = " ".join(var(t.value) if isinstance(t, BlankNode) and t.value in known
                                else _data_text(t, p)
                                for t in (q.subject, q.predicate, q.object)) + " ."
                template.setdefault(self._graph_term(q.graph_name), []).append(line)
            ops.append("INSERT {\n" + _blocks(template) + "\n} WHERE {\n{ SELECT "
                       + " ".join(var(label) for label in mine) + " WHERE {\n"
                       + _blocks({g: list(lines) for g, lines in where.items()})
                       + "\n} LIMIT 1 }\n}")
        return plain, ops

    def _engine_nodes(self, exclude: object) -> EngineNodes | None:
        """Every blank-subject triple of the engine outside graph ``exclude`` (``None``:
        the default graph; ``...``: none), as :class:`EngineNodes`; ``None`` beyond
        :data:`DESCRIPTION_ROWS`."""
        skip = None if exclude is ... else self._graph_term(exclude)
        named = "GRAPH ?g { ?b ?p ?o } FILTER(isBlank(?b))"
        if skip is not None:
            named += f" FILTER(?g != <{skip}>)"
        branches = [f"{{ {named} }}"]
        if exclude is ... or skip is not None:
            branches.append("{ ?b ?p ?o FILTER(isBlank(?b)) }")
        text = (f"SELECT ?g ?b ?p ?o WHERE {{ {' UNION '.join(branches)} }} "
                f"LIMIT {DESCRIPTION_ROWS + 1}")
        rows = [(g.value if isinstance(g, NamedNode) else None, b.value, pred, o)
                for g, b, pred, o in self._select_raw(text).rows]
        if len(rows) > DESCRIPTION_ROWS:
            log.warning("more than %d blank-subject triples in the engine: the blank nodes "
                        "of this write are written as new nodes", DESCRIPTION_ROWS)
            return None
        return EngineNodes(rows)

    def load(
        self,
        data: bytes | IO[bytes],
        media_type: str,
        *,
        graph: str | None = None,
        base_iri: str | None = None,
    ) -> int:
        self._writing()
        quads = parse_rdf(data, media_type, graph=graph, base_iri=base_iri)
        self._add(list(quads), identify=False)  # parsed nodes are new by construction
        return len(quads)

    def replace_graph(self, graph: str | None, quads: Iterable[Quad]) -> None:
        self._writing()
        target = graph_node(graph)
        quads = [q if q.graph_name == target else Quad(q.subject, q.predicate, q.object, target)
                 for q in quads]
        plan = self._identity_plan(quads, target) if quads else None
        if self.graph_store_url and quads and self.profile.gsp_put_atomic and plan is None:
            self._gsp_send("PUT", target, quads)
            return
        # One update request: the engine applies it as one transaction where it can
        # (Oxigraph server: measured, a failing last operation undoes the CLEAR).
        g = self._graph_term(target)
        clear = "CLEAR SILENT DEFAULT" if g is None else f"CLEAR SILENT GRAPH <{g}>"
        if not quads:
            self._post_update(clear, self.timeout_s)
            return
        if plan is not None:
            plain, ops = plan
            self._post_update(" ;\n".join(
                [clear, *([self._insert_text(plain)] if plain else []), *ops]), self.timeout_s)
            return
        self._post_update(f"{clear} ;\n{self._insert_text(quads)}", self.timeout_s)

    def drop_graph(self, graph: str | None) -> bool:
        self._writing()
        target = graph_node(graph)
        g = self._graph_term(target)
        pattern = "{ ?s ?p ?o }" if g is None else f"{{ GRAPH <{g}> {{ ?s ?p ?o }} }}"
        if self.graph_store_url and g is not None:
            try:
                response = self._request("DELETE", self.graph_store_url,
                                         params=self._gsp_params(target),
                                         limit_s=self.timeout_s, what="graph")
            except KeyError:
                return False
            finally:
                self._wrote()
            response.close()
            return True
        existed = self._ask_raw(f"ASK {pattern}")
        self._post_update("CLEAR SILENT DEFAULT" if g is None else f"DROP SILENT GRAPH <{g}>",
                          self.timeout_s)
        return existed

    # -- Graph Store Protocol -------------------------------------------------------------
    def _gsp_params(self, graph: object) -> dict[str, str]:
        p = self.profile
        g = self._graph_term(graph)
        if g is None:
            if p.gsp_default_param is None:
                raise StoreError(f"the {p.name} engine's Graph Store has no default graph")
            return {p.gsp_default_param: ""}
        return {p.gsp_graph_param: g}

    def _gsp_send(self, method: str, graph: object, triples: Iterable[Quad | Triple],
                  spool: IO[bytes] | None = None) -> None:
        """Send a graph's triples as N-Triples (spooled to a temporary file, so memory
        stays bounded and the engine gets a Content-Length)."""
        assert self.graph_store_url is not None
        p = self.profile
        with contextlib.ExitStack() as stack:
            if spool is None:
                spool = stack.enter_context(tempfile.TemporaryFile())
                _write_ntriples(spool, triples, p)
            spool.seek(0)
            try:
                response = self._request(method, self.graph_store_url,
                                         params=self._gsp_params(graph), data=spool,
                                         headers={"Content-Type": N_TRIPLES},
                                         limit_s=self.timeout_s, what="graph write")
            finally:
                self._wrote()
            response.close()

    def bulk_load(self, paths: Iterable[str | Path], *, graph: str | None = None,
                  progress: Callable[[int], None] | None = None) -> int:
        """Stream RDF files into the engine with bounded memory; return the quads sent.

        Each file is parsed by kgraph twice: once to check all of it (a file that
        does not parse sends nothing), once while it is spooled as N-Triples and
        sent per graph (Graph Store POST, or INSERT DATA batches without one).
        """
        self._writing()
        total = 0
        for path in paths:
            path = Path(path)
            fmt = RdfFormat.from_extension(path.suffix.lstrip(".")) if path.suffix else None
            if fmt is None:
                raise ValueError(f"cannot tell the RDF format of {path.name} from its extension")
            _check_parses(path, fmt)
            target = NamedNode(graph) if graph else DefaultGraph()
            count = 0
            with contextlib.ExitStack() as stack:
                spools: dict[Any, IO[bytes]] = {}
                with path.open("rb") as fh:
                    for batch in _batched(parse(fh, format=fmt, rename_blank_nodes=True), BATCH):
                        if graph is not None or not fmt.supports_datasets:
                            batch = [Quad(q.subject, q.predicate, q.object, target)
                                     if q.graph_name == DefaultGraph() else q for q in batch]
                        if self.graph_store_url:
                            for g, group in itertools.groupby(batch, key=lambda q: q.graph_name):
                                if g not in spools:
                                    spools[g] = stack.enter_context(tempfile.TemporaryFile())
                                _write_ntriples(spools[g], group, self.profile)
                        else:
                            self._post_update(self._insert_text(batch), self.timeout_s)
                        count += len(batch)
                        if progress is not None:
                            progress(len(batch))
                for g, spool in spools.items():
                    self._gsp_send("POST", g, (), spool=spool)
            total += count
        return total

    # -- reads ----------------------------------------------------------------------------
    def _hidden(self, graph: str) -> bool:
        p = self.profile
        return (graph in p.system_graphs or graph == p.default_graph_iri
                or any(graph.startswith(prefix) for prefix in p.system_graph_prefixes))

    def named_graphs(self) -> list[str]:
        # Cached per version and for at most GRAPHS_TTL_S: another process (another
        # server worker) may have created a graph that this one's version does not count.
        version = self.version()
        cached = self._graphs_cache
        if cached is not None and cached[0] == version \
                and time.monotonic() - self._graphs_at < GRAPHS_TTL_S:
            return list(cached[1])
        # GROUP BY, not DISTINCT: the same answer, and Virtuoso 7 takes 0.03 s for it
        # where it takes 20 s and more for DISTINCT (measured on 10^4 triples).
        result = self._select_raw("SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
        graphs = sorted(row[0].value for row in result.rows
                        if isinstance(row[0], NamedNode) and not self._hidden(row[0].value))
        self._graphs_cache = (version, graphs)
        self._graphs_at = time.monotonic()
        return list(graphs)

    def contains_graph(self, graph: str) -> bool:
        if self._hidden(graph):
            return False
        return self._ask_raw(f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")

    def match(
        self,
        subject: object = None,
        predicate: object = None,
        object: object = None,  # noqa: A002 - the RDF name
        graph: object = ...,
    ) -> Iterator[Quad]:
        p = self.profile
        terms = [subject, predicate, object]
        names = ["s", "p", "o"]
        pattern = " ".join(f"?{n}" if t is None else _term_text(t, p) for n, t in zip(names, terms,
                                                                                      strict=True))
        variables = [f"?{n}" for n, t in zip(names, terms, strict=True) if t is None]
        if graph is ...:
            yield from self._match_default(pattern, variables, terms)
            hidden = self._hidden_filter()
            text = f"SELECT {' '.join(variables)} ?g WHERE {{ GRAPH ?g {{ {pattern} }} {hidden} }}"
            for row in self._select_raw(text).rows:
                values = iter(row)
                filled = [next(values) if t is None else t for t in terms]
                g = next(values)
                yield Quad(filled[0], filled[1], filled[2], g)
            return
        g = self._graph_term(graph)
        if g is None:
            yield from self._match_default(pattern, variables, terms)
            return
        node = DefaultGraph() if graph is None else NamedNode(g)
        vars_text = " ".join(variables) or "*"
        text = f"SELECT {vars_text} WHERE {{ GRAPH <{g}> {{ {pattern} }} }}"
        if not variables:
            if self._ask_raw(f"ASK {{ GRAPH <{g}> {{ {pattern} }} }}"):
                yield Quad(terms[0], terms[1], terms[2], node)
            return
        for row in self._select_raw(text).rows:
            values = iter(row)
            filled = [next(values) if t is None else t for t in terms]
            yield Quad(filled[0], filled[1], filled[2], node)

    def _match_default(self, pattern: str, variables: list[str],
                       terms: list[object]) -> Iterator[Quad]:
        """Quads of kgraph's default graph matching ``pattern``."""
        p = self.profile
        if p.default_graph_iri is not None:
            where = f"GRAPH <{p.default_graph_iri}> {{ {pattern} }}"
        else:
            where = pattern  # a query without a dataset reads the engine's own default graph
        if not variables:
            if self._ask_raw(f"ASK {{ {where} }}"):
                yield Quad(terms[0], terms[1], terms[2], DefaultGraph())
            return
        for row in self._select_raw(f"SELECT {' '.join(variables)} WHERE {{ {where} }}").rows:
            values = iter(row)
            filled = [next(values) if t is None else t for t in terms]
            yield Quad(filled[0], filled[1], filled[2], DefaultGraph())

    def _hidden_filter(self) -> str:
        p = self.profile
        hidden = [*p.system_graphs, *([p.default_graph_iri] if p.default_graph_iri else [])]
        parts = []
        if hidden:
            parts.append("?g NOT IN (" + ", ".join(f"<{g}>" for g in hidden) + ")")
        parts += [f'!STRSTARTS(STR(?g), "{prefix}")' for prefix in p.system_graph_prefixes]
        return f"FILTER({' && '.join(parts)})" if parts else ""

    def triples(self, graph: str | None) -> Iterator[Triple]:
        for q in self.match(None, None, None, graph=graph):
            yield q.triple

    def quads(self) -> Iterator[Quad]:
        return self.match(None, None, None, graph=...)

    def count(self, graph: str | None | type[...] = None, /, *, all_graphs: bool = False) -> int:
        """Quads in one graph (``None``: the default graph), or in all with ``all_graphs``."""
        p = self.profile
        if all_graphs or graph is ...:
            named = self._select_raw(
                f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?s ?p ?o }} {self._hidden_filter()} }}")
            return _number(named) + self.count(None)
        g = self._graph_term(graph_node(graph))  # type: ignore[arg-type]
        if g is None and p.default_graph_iri is None:
            where = "?s ?p ?o"
        else:
            where = f"GRAPH <{g or p.default_graph_iri}> {{ ?s ?p ?o }}"
        return _number(self._select_raw(f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}"))

    def dump(self, output: IO[bytes], media_type: str) -> None:
        fmt = rdf_format(media_type)
        if not fmt.supports_datasets:
            raise ValueError(f"{media_type} cannot hold named graphs; use N-Quads or TriG")
        for chunk in stream_rdf(self.quads(), fmt.media_type):
            output.write(chunk)

    def verify_union_default_graph(self) -> bool:
        """Probe: is a triple of some named graph seen by a query that names no dataset?

        ``True`` when the store holds no named graph (nothing to check).
        """
        for row in self._select_raw(
                f"SELECT ?s ?p ?o WHERE {{ GRAPH ?g {{ ?s ?p ?o }} {self._hidden_filter()} "
                "FILTER(!isBlank(?s) && !isBlank(?o)) } LIMIT 1").rows:
            s, p_, o = row
            probe = f"ASK {{ {_term_text(s, self.profile)} {p_} {_term_text(o, self.profile)} }}"
            result = self.query(probe)
            return isinstance(result, AskResult) and result.value
        return True

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None


# -- helpers ----------------------------------------------------------------------------
def _term_text(term: object, profile: Profile) -> str:
    if isinstance(term, BlankNode):
        if not profile.bnode_prefix:
            raise ValueError(f"the {profile.name} engine cannot address a blank node "
                             "from an earlier answer")
        return str(_spelled(term, profile))
    if isinstance(term, NamedNode | Literal):
        return str(term)
    if isinstance(term, Triple):
        return _nt_term(term, profile)
    raise ValueError(f"not an RDF term: {term!r}")


def _data_text(term: object, profile: Profile) -> str:
    """A term in INSERT DATA: blank nodes in the engine's notation for that node, else as
    ``_:label`` (fresh, and shared within a request)."""
    return _nt_term(term, profile)


class _Variables:
    """One SPARQL variable per blank-node label (numbers shared by one request)."""

    def __init__(self, counter: Iterator[int]) -> None:
        self._counter = counter
        self._names: dict[str, str] = {}

    def __call__(self, label: str) -> str:
        if label not in self._names:
            self._names[label] = f"?b{next(self._counter)}"
        return self._names[label]


def _labels(term: object) -> list[str]:
    """Labels of the blank nodes in a term (in a quoted triple too)."""
    if isinstance(term, BlankNode):
        return [term.value]
    if isinstance(term, Triple):
        return _labels(term.subject) + _labels(term.object)
    return []


def _blocks(lines_by_graph: dict[str | None, list[str]]) -> str:
    """Lines grouped in ``GRAPH <g> {…}`` blocks (``None``: outside any)."""
    parts = []
    for g, lines in lines_by_graph.items():
        body = "\n".join(lines)
        parts.append(body if g is None else f"GRAPH <{g}> {{\n{body}\n}}")
    return "\n".join(parts)


def _rows(body: _Body, fmt: QueryResultsFormat, width: int) -> Iterator[tuple[Any, ...]]:
    try:
        solutions = parse_query_results(body, fmt)
        for solution in solutions:  # type: ignore[union-attr]
            yield tuple(solution[i] for i in range(width))
    except SyntaxError as exc:
        raise StoreError(f"the engine's answer does not parse: {exc}") from None
    finally:
        body.close()


def _passthrough(body: _Body) -> Iterator[bytes]:
    try:
        while True:
            chunk = body.read(_CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        body.close()


def _packed(items: list[tuple[Triple, str]], size: int) -> Iterator[list[tuple[Triple, str]]]:
    """Groups of at most ``size`` items; the triples that share a blank node stay in one
    group (a group of connected triples larger than ``size`` stays whole)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    plain: list[tuple[Triple, str]] = []
    linked: list[tuple[Triple, str, list[str]]] = []
    for item in items:
        labels = [t.value for t in (item[0].subject, item[0].object) if isinstance(t, BlankNode)]
        if not labels:
            plain.append(item)
            continue
        for other in labels[1:]:
            parent[find(other)] = find(labels[0])
        linked.append((*item, labels))
    components: dict[str, list[tuple[Triple, str]]] = {}
    for triple, line, labels in linked:
        components.setdefault(find(labels[0]), []).append((triple, line))
    group: list[tuple[Triple, str]] = []
    for part in [*components.values(), *([p] for p in plain)]:
        if group and len(group) + len(part) > size:
            yield group
            group = []
        group.extend(part)
    if group:
        yield group


def _number(result: SelectResult) -> int:
    for row in result.rows:
        term = row[0]
        return int(term.value) if isinstance(term, Literal) else 0
    return 0


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def _write_ntriples(out: IO[bytes], items: Iterable[Quad | Triple], profile: Profile) -> None:
    """Write triples as N-Triples in batches (blank nodes in the engine's own notation)."""
    for batch in _batched(items, BATCH):
        # Blank nodes in a Graph Store body are fresh per request, consistent within it,
        # unless spelled in the engine's notation for an existing node (_spelled).
        triples = [_spelled(i.triple if isinstance(i, Quad) else i, profile) for i in batch]
        out.write(serialize(triples, format=RdfFormat.N_TRIPLES) or b"")


def _check_parses(path: Path, fmt: RdfFormat) -> None:
    from .base import RdfSyntaxError

    try:
        with path.open("rb") as fh:
            for _ in parse(fh, format=fmt):
                pass
    except (SyntaxError, ValueError) as exc:
        raise RdfSyntaxError(f"{path.name}: {exc}") from None
