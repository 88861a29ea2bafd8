"""No server-side request forgery: a canary HTTP server on 127.0.0.1 must receive nothing.

Every way a request could make kgraph fetch a URL (SERVICE, LOAD, redirects,
JSON-LD contexts, XML external entities) is tried with the canary as target,
written in every spelling the engine would still read as the canary: codepoint
escapes, prefixed names, BASE, variables, nested patterns, updates. The relay's
address check is tried with every loopback spelling.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests

from kgraph.config import Settings
from kgraph.sparql.guard import prepare
from kgraph.sparql.relay import RelayFailure, ServiceRelay, checked_address, forbidden_address
from kgraph.store import open_store
from kgraph.web import create_app

from .support import TOKEN, ServerProcess, auth

EMPTY = json.dumps({"head": {"vars": []}, "results": {"bindings": [{}]}}).encode()


class Recorder:
    """An HTTP server that records every request it gets (and answers like an endpoint)."""

    def __init__(self, redirect_to: str | None = None, status: int = 302) -> None:
        self.requests: list[str] = []
        self.redirect_to = redirect_to
        self.status = status
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                recorder.requests.append(f"{self.command} {self.path}")
                if recorder.redirect_to is not None:
                    self.send_response(recorder.status)
                    self.send_header("Location", recorder.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/sparql-results+json")
                self.send_header("Content-Length", str(len(EMPTY)))
                self.end_headers()
                self.wfile.write(EMPTY)

            do_GET = do_POST = do_HEAD = do_PUT = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sparql"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def canary() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


@pytest.fixture(autouse=True)
def _nothing_reaches_the_canary(canary: Recorder) -> Iterator[None]:
    canary.requests.clear()
    yield
    assert canary.requests == [], f"the canary was called: {canary.requests}"


def _settings(**kw: object) -> Settings:
    return Settings(store_path=None, bootstrap=False, allow_update=True, token=TOKEN,
                    **kw)  # type: ignore[arg-type]


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    app = create_app(_settings(), open_store(None))
    yield app.test_client()
    app.extensions["kgraph"].endpoint.relay.close()


def esc(text: str) -> str:
    """Every character as a ``\\uXXXX`` escape."""
    return "".join(f"\\u{ord(c):04X}" for c in text)


def hostile_queries(port: int) -> list[str]:
    host = f"127.0.0.1:{port}"
    url = f"http://{host}/sparql"
    return [
        f"SELECT * {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }}",
        # codepoint escapes in scheme, host and path, short and long forms
        f"SELECT * {{ SERVICE <\\u0068ttp://{host}/sparql> {{ }} }}",
        f"SELECT * {{ SERVICE <http://{esc('127.0.0.1')}:{port}/sparql> {{ }} }}",
        f"SELECT * {{ SERVICE <http://{host}/\\u0073parql> {{ }} }}",
        f"SELECT * {{ SERVICE <\\U00000068ttp://{host}/sparql> {{ }} }}",
        f"SELECT * {{ SERVICE <{esc(url)}> {{ }} }}",
        f"SELECT * {{ SERVIC\\u0045 <{url}> {{ }} }}",
        f"SELECT * {{ \\u0053ERVICE <{url}> {{ }} }}",
        # prefixed names, with escapes too
        f"PREFIX c: <http://{host}/> SELECT * {{ SERVICE c:sparql {{ }} }}",
        f"PREFIX c: <http://{host}/> SELECT * {{ SERVICE c:\\u0073parql {{ }} }}",
        f"PREFIX c: <{esc('http://' + host + '/')}> SELECT * {{ SERVICE c:sparql {{ }} }}",
        f"PREFIX \\u0063: <http://{host}/> SELECT * {{ SERVICE c:sparql {{ }} }}",
        # BASE tricks and relative IRIs
        f"BASE <http://{host}/> SELECT * {{ SERVICE <sparql> {{ }} }}",
        f"BASE <http://{host}/sparql> SELECT * {{ SERVICE <> {{ }} }}",
        f"BASE <https://query.wikidata.org/> SELECT * {{ SERVICE <//{host}/sparql> {{ }} }}",
        f"BASE <https://query.wikidata.org/x/> SELECT * {{ SERVICE <../..//{host}/> {{ }} }}",
        f"BASE <http://{host}/> PREFIX c: <> SELECT * {{ SERVICE c:sparql {{ }} }}",
        f"BASE <\\u0068ttp://{host}/> SELECT * {{ SERVICE <sparql> {{ }} }}",
        # variables, bound in the query or not
        f"SELECT * {{ VALUES ?x {{ <{url}> }} SERVICE ?x {{ }} }}",
        f"SELECT * {{ BIND(<{url}> AS ?x) SERVICE ?x {{ }} }}",
        f"SELECT * {{ SERVICE ?x {{ }} }} VALUES ?x {{ <{url}> }}",
        f"SELECT * {{ BIND(IRI(CONCAT('http://', '{host}/sparql')) AS ?x) SERVICE ?x {{ }} }}",
        # nested: subquery, OPTIONAL, MINUS, EXISTS, NOT EXISTS, UNION, GRAPH
        f"SELECT * {{ {{ SELECT * {{ SERVICE <{url}> {{ }} }} }} }}",
        f"SELECT * {{ ?s ?p ?o OPTIONAL {{ SERVICE <{url}> {{ }} }} }}",
        f"SELECT * {{ ?s ?p ?o MINUS {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }}",
        f"SELECT * {{ FILTER EXISTS {{ SERVICE <{url}> {{ }} }} }}",
        f"SELECT * {{ FILTER NOT EXISTS {{ SERVICE <{url}> {{ }} }} }}",
        f"ASK {{ {{ }} UNION {{ GRAPH ?g {{ SERVICE <{url}> {{ }} }} }} }}",
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"DESCRIBE ?s WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        # a SERVICE hidden in a string the lexer sees differently from the engine
        f"SELECT * {{ ?s ?p \"\\u0022 }} SERVICE <{url}> {{ \\u0022\" }}",
        f"SELECT * {{ ?s ?p '\\u0027 . SERVICE <{url}> {{ }} ?s ?p \\u0027' }}",
        # a comment that only exists before expansion
        f"SELECT * {{ # \\u000A SERVICE <{url}> {{ }}\n }}",
        # allowed IRI for the lexer, the canary for a parser
        f"SELECT * {{ SERVICE <https://query.wikidata.org/sparql> {{ }} SERVICE <{url}> {{ }} }}",
    ]


def hostile_updates(port: int) -> list[str]:
    host = f"127.0.0.1:{port}"
    url = f"http://{host}/sparql"
    data = f"http://{host}/data.ttl"
    return [
        f"INSERT {{ <http://a> <http://b> <http://c> }} WHERE {{ SERVICE <{url}> {{ }} }}",
        f"DELETE {{ ?s ?p ?o }} WHERE {{ SERVICE <\\u0068ttp://{host}/sparql> {{ ?s ?p ?o }} }}",
        f"INSERT {{ <http://a> <http://b> ?x }} WHERE {{ VALUES ?x {{ <{url}> }} SERVICE ?x {{ }} }}",
        f"WITH <http://g> INSERT {{ <http://a> <http://b> <http://c> }} WHERE "
        f"{{ OPTIONAL {{ SERVICE <{url}> {{ }} }} }}",
        f"LOAD <{data}>",
        f"LOAD SILENT <{data}>",
        f"LOAD <{data}> INTO GRAPH <http://example.org/g>",
        f"LOAD <\\u0068ttp://{host}/data.ttl>",
        f"LOAD <http://{esc('127.0.0.1')}:{port}/data.ttl>",
        f"PREFIX c: <http://{host}/> LOAD c:data.ttl",
        f"BASE <http://{host}/> LOAD <data.ttl>",
        f"L\\u004FAD <{data}>",
        f"CLEAR SILENT GRAPH <http://g> ; LOAD <{data}>",
        f"PREFIX c: <http://example.org/> LOAD c:x ; PREFIX c: <http://{host}/> LOAD c:data.ttl",
        "LOAD <file:///etc/passwd>",
    ]


@pytest.mark.parametrize("index", range(35))
def test_hostile_queries_are_refused_in_process(client, canary: Recorder, index: int) -> None:  # type: ignore[no-untyped-def]
    query = hostile_queries(canary.port)[index]
    r = client.post("/sparql", data={"query": query})
    assert 400 <= r.status_code < 500, (query, r.status_code, r.data)
    assert b"Traceback" not in r.data


def test_the_query_battery_is_complete(canary: Recorder) -> None:
    assert len(hostile_queries(canary.port)) == 35


@pytest.mark.parametrize("index", range(15))
def test_hostile_updates_are_refused_in_process(client, canary: Recorder, index: int) -> None:  # type: ignore[no-untyped-def]
    update = hostile_updates(canary.port)[index]
    r = client.post("/sparql", data={"update": update}, headers=auth())
    assert 400 <= r.status_code < 500, (update, r.status_code, r.data)


def test_the_update_battery_is_complete(canary: Recorder) -> None:
    assert len(hostile_updates(canary.port)) == 15


def test_load_from_the_allowlist_is_the_only_load(canary: Recorder) -> None:
    # A LOAD allowlist names exact IRIs; another path on the same host is refused.
    allowed = f"http://127.0.0.1:{canary.port}/allowed.ttl"
    s = _settings()
    object.__setattr__(s, "load_allowlist", (allowed,))
    out = prepare(f"BASE <http://127.0.0.1:{canary.port}/> LOAD <allowed.ttl>", s, update=True)
    assert out == f"BASE <http://127.0.0.1:{canary.port}/> LOAD <{allowed}>"
    with pytest.raises(ValueError, match="not allowed"):
        prepare(f"LOAD <http://127.0.0.1:{canary.port}/other.ttl>", s, update=True)


# -- redirects and the relay's address check ----------------------------------------------
LOOPBACK_SPELLINGS = ["localhost", "127.1", "0x7f000001", "2130706433", "0177.0.0.1",
                      "[::1]", "[::ffff:127.0.0.1]", "127.0.0.1", "0.0.0.0", "[::]"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_the_relay_refuses_every_spelling_of_loopback(canary: Recorder, host: str) -> None:
    with pytest.raises(RelayFailure, match="not a public address|could not resolve"):
        checked_address(f"http://{host}:{canary.port}/sparql")


@pytest.mark.parametrize("address, forbidden", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("224.0.0.1", True), ("233.1.1.1", True),
    ("0.0.0.0", True), ("255.255.255.255", True), ("240.0.0.1", True), ("::1", True),
    ("fe80::1", True), ("fc00::1", True), ("ff02::1", True), ("::ffff:10.0.0.1", True),
    ("2002:7f00:1::", True), ("64:ff9b::7f00:1", True), ("::", True),
    ("8.8.8.8", False), ("2606:4700:4700::1111", False), ("208.80.154.224", False),
])
def test_forbidden_addresses(address: str, forbidden: bool) -> None:
    assert forbidden_address(address) is forbidden


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/", "gopher://x/",
                                 "http:///nohost"])
def test_the_relay_refuses_other_schemes(url: str) -> None:
    with pytest.raises(RelayFailure):
        checked_address(url)


@pytest.mark.parametrize("host", ["localhost", "127.1", "0x7f000001", "[::1]",
                                  "[::ffff:127.0.0.1]", "127.0.0.1"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_from_a_trusted_standin_to_loopback_is_refused(
        canary: Recorder, host: str, status: int) -> None:
    bouncer = Recorder(redirect_to=f"http://{host}:{canary.port}/sparql", status=status)
    relay = ServiceRelay(timeout_s=5, max_bytes=10_000)
    relay.trusted = frozenset({bouncer.url})
    try:
        with pytest.raises(RelayFailure, match="not a public address") as info:
            relay.forward("POST", bouncer.url, {"Accept": "application/sparql-results+json"},
                          b"query=ASK%7B%7D", trusted=True)
        assert info.value.status == 502
        assert len(bouncer.requests) == 1  # the trusted stand-in itself was called
    finally:
        relay.close()
        bouncer.close()


def test_a_refused_redirect_answers_502_through_the_endpoint(canary: Recorder) -> None:
    bouncer = Recorder(redirect_to=f"http://localhost:{canary.port}/sparql")
    app = create_app(_settings(service_map={"http://example.org/sparql": bouncer.url}),
                     open_store(None))
    try:
        r = app.test_client().post("/sparql", data={
            "query": "SELECT * { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"})
        assert r.status_code == 502, r.data
        assert bouncer.requests, "the stand-in should have been called"
    finally:
        app.extensions["kgraph"].endpoint.relay.close()
        bouncer.close()


def test_a_trusted_standin_is_called_as_configured(canary: Recorder) -> None:
    # the positive control: the operator's own loopback stand-in works (and is no canary)
    standin = Recorder()
    app = create_app(_settings(service_map={"http://example.org/sparql": standin.url}),
                     open_store(None))
    try:
        r = app.test_client().post("/sparql", data={
            "query": "SELECT * { SERVICE <http://example.org/\\u0073parql> { } }"})
        assert r.status_code == 200, r.data
        assert len(standin.requests) == 1
    finally:
        app.extensions["kgraph"].endpoint.relay.close()
        standin.close()


def test_an_unconfigured_target_is_address_checked(canary: Recorder) -> None:
    relay = ServiceRelay(timeout_s=5, max_bytes=10_000)
    try:
        with pytest.raises(RelayFailure, match="not a public address"):
            relay.forward("GET", canary.url, {}, b"")
    finally:
        relay.close()


# -- uploads that would fetch ---------------------------------------------------------------
def test_json_ld_remote_contexts_are_refused(client, canary: Recorder) -> None:  # type: ignore[no-untyped-def]
    ctx = f"http://127.0.0.1:{canary.port}/context.jsonld"
    for doc in (
        {"@context": ctx, "@id": "http://s", "p": "x"},
        {"@context": [ctx, {"p": "http://p"}], "@id": "http://s", "p": "x"},
        {"@context": {"@import": ctx}, "@id": "http://s"},
        {"@context": {"p": {"@id": "http://p", "@context": ctx}}, "@id": "http://s"},
        {"@graph": [{"@context": ctx, "@id": "http://s"}]},
    ):
        r = client.put("/store?default", data=json.dumps(doc),
                       headers={**auth(), "Content-Type": "application/ld+json"})
        assert r.status_code == 400, (doc, r.data)
    escaped = '{"@cont\\u0065xt": "' + ctx + '", "@id": "http://s"}'
    r = client.put("/store?default", data=escaped,
                   headers={**auth(), "Content-Type": "application/ld+json"})
    assert r.status_code == 400, r.data


def test_pyoxigraph_itself_never_fetches_a_json_ld_context(canary: Recorder) -> None:
    doc = json.dumps({"@context": f"http://127.0.0.1:{canary.port}/c.jsonld",
                      "@id": "http://s", "http://p": "x"}).encode()
    # refused or failed or parsed: either way the canary (checked after the test) saw nothing
    with contextlib.suppress(SyntaxError, ValueError, OSError):
        list(ox.parse(doc, format=ox.RdfFormat.JSON_LD))


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE r [<!ENTITY e SYSTEM "http://127.0.0.1:{port}/x">]>',
    '<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/x.dtd">',
    '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>',
])
def test_xml_external_entities_are_refused(client, canary: Recorder, doctype: str) -> None:  # type: ignore[no-untyped-def]
    body = (doctype.format(port=canary.port)
            + '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="http://s"><x:p xmlns:x="http://x/">&e;</x:p>'
            "</rdf:Description></rdf:RDF>")
    r = client.put("/store?default", data=body,
                   headers={**auth(), "Content-Type": "application/rdf+xml"})
    assert r.status_code == 400, r.data


# -- a real server process ------------------------------------------------------------------
@pytest.mark.slow
def test_hostile_requests_against_a_real_server(tmp_path: Path, canary: Recorder) -> None:
    server = ServerProcess(tmp_path / "store", ["--allow-update", "--no-bootstrap"]).start()
    try:
        queries = hostile_queries(canary.port)
        updates = hostile_updates(canary.port)
        for query in (queries[0], queries[3], queries[9], queries[13], queries[19],
                      queries[26], queries[31]):
            r = requests.post(server.sparql, data={"query": query}, timeout=30)
            assert 400 <= r.status_code < 500, (query, r.status_code, r.text)
        for update in (updates[0], updates[4], updates[7], updates[10], updates[11]):
            r = requests.post(server.sparql, data={"update": update}, headers=auth(), timeout=30)
            assert 400 <= r.status_code < 500, (update, r.status_code, r.text)
        r = requests.get(server.sparql, params={"query": "ASK {}"}, timeout=30)
        assert r.status_code == 200  # still serving
    finally:
        server.stop()


def test_the_checked_address_is_the_one_connected_to(monkeypatch: pytest.MonkeyPatch,
                                                      canary: Recorder) -> None:
    # DNS rebinding: the name is resolved once; a second answer (the canary) is never asked.
    import socket

    from kgraph.sparql import relay as relay_module

    answers = [("8.8.8.8", canary.port), ("127.0.0.1", canary.port)]
    calls: list[str] = []

    def fake_getaddrinfo(host: str, port: int, *args: object, **kw: object) -> list[tuple]:
        calls.append(host)
        address = answers[min(len(calls) - 1, 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", address)]

    monkeypatch.setattr(relay_module.socket, "getaddrinfo", fake_getaddrinfo)
    opened: list[str] = []

    def spy(method: str, url: str, address: str, *args: object) -> object:
        opened.append(address)
        raise RelayFailure(502, "not connecting anywhere in a test")

    monkeypatch.setattr(relay_module, "_open", spy)
    relay = ServiceRelay(timeout_s=2, max_bytes=1000)
    try:
        with pytest.raises(RelayFailure):
            relay.forward("GET", f"http://rebind.example:{canary.port}/sparql", {}, b"")
    finally:
        relay.close()
    assert calls == ["rebind.example"] and opened == ["8.8.8.8"]


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from kgraph.sparql import relay as relay_module

    def fake_getaddrinfo(host: str, port: int, *args: object, **kw: object) -> list[tuple]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]

    monkeypatch.setattr(relay_module.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(RelayFailure, match="not a public address"):
        checked_address("https://mixed.example/sparql")


class TurtleSource(Recorder):
    """Serves one Turtle document (a LOAD source), or redirects."""

    def __init__(self, redirect_to: str | None = None) -> None:
        super().__init__(redirect_to)
        body = b"<http://example.org/s> <http://example.org/p> <http://example.org/o> .\n"
        handler = self.server.RequestHandlerClass
        recorder = self

        def _any(self: BaseHTTPRequestHandler) -> None:
            recorder.requests.append(f"{self.command} {self.path}")
            if recorder.redirect_to is not None:
                self.send_response(302)
                self.send_header("Location", recorder.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/turtle")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        handler.do_GET = _any  # type: ignore[attr-defined]


def _load_app(source: str):  # type: ignore[no-untyped-def]
    s = _settings()
    object.__setattr__(s, "load_allowlist", (source,))
    return create_app(s, open_store(None))


def test_load_from_an_allowed_source_goes_through_the_relay(canary: Recorder) -> None:
    source = TurtleSource()
    url = f"http://127.0.0.1:{source.port}/data.ttl"
    app = _load_app(url)
    try:
        client = app.test_client()
        r = client.post("/sparql", data={"update": f"LOAD <{url}> INTO GRAPH <http://g>"},
                        headers=auth())
        assert r.status_code == 204, r.data
        assert source.requests == ["GET /data.ttl"]
        r = client.get("/sparql", query_string={
            "query": "ASK { GRAPH <http://g> { <http://example.org/s> ?p ?o } }"},
            headers={"Accept": "application/sparql-results+json"})
        assert r.json["boolean"] is True
    finally:
        app.extensions["kgraph"].endpoint.relay.close()
        source.close()


def test_a_load_source_redirecting_to_loopback_is_refused(canary: Recorder) -> None:
    source = TurtleSource(redirect_to=f"http://localhost:{canary.port}/data.ttl")
    url = f"http://127.0.0.1:{source.port}/data.ttl"
    app = _load_app(url)
    try:
        r = app.test_client().post("/sparql", data={"update": f"LOAD <{url}>"}, headers=auth())
        assert r.status_code in (400, 502), r.data
        assert source.requests == ["GET /data.ttl"]
    finally:
        app.extensions["kgraph"].endpoint.relay.close()
        source.close()


def test_an_escaped_from_is_a_from_for_the_dataset_too() -> None:
    """``inference=false`` leaves a query's own FROM alone, however FROM is written."""
    from kgraph.namespaces import GRAPH_INFERRED

    store = open_store(None)
    store.update(f"INSERT DATA {{ GRAPH <urn:g1> {{ <urn:a> <urn:b> 1 }} "
                 f"GRAPH <{GRAPH_INFERRED}> {{ <urn:a> <urn:b> 2 }} }}")
    client = create_app(Settings(bootstrap=False), store).test_client()
    for keyword in ("FROM", "FR\\u004FM", "\\u0046ROM"):
        r = client.get("/sparql", headers={"Accept": "text/csv"}, query_string={
            "query": f"SELECT ?o {keyword} <{GRAPH_INFERRED}> {{ ?s ?p ?o }}",
            "inference": "false"})
        assert r.status_code == 200 and r.data == b"o\r\n2\r\n", (keyword, r.data)
