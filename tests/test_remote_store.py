"""RemoteStore against real engines on loopback: Oxigraph server and Virtuoso 7."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryResultsFormat,
    RdfFormat,
    parse,
    parse_query_results,
)

from kgraph.config import Settings
from kgraph.store import open_store
from kgraph.store.base import (
    AskResult,
    DatasetSpec,
    GraphResult,
    QueryTimeoutError,
    RdfSyntaxError,
    SelectResult,
    SparqlSyntaxError,
    StoreError,
    StoreReadOnlyError,
)
from kgraph.store.oxigraph import OxigraphStore
from kgraph.store.remote import RemoteStore, query_form

from .engines import (  # noqa: F401 - fixtures: engine, engine_store, *_engine
    Engine,
    engine_fixture,
    engine_store_fixture,
    free_port,
    oxigraph_engine_fixture,
    virtuoso_engine_fixture,
)

BOTH = pytest.mark.parametrize("engine", ["oxigraph", "virtuoso"], indirect=True)
EX = "http://example.org/"
G1, G2 = EX + "g1", EX + "g2"
XSD = "http://www.w3.org/2001/XMLSchema#"

DATA = f"""
@prefix ex: <{EX}> .
@prefix xsd: <{XSD}> .
ex:a ex:name "Alice", "Alicia"@es ; ex:age 42 ; ex:born "1980-02-01"^^xsd:date ;
     ex:note "quote \\" tab\\t nl\\n café ✓" ; ex:plain "s"^^xsd:string ;
     ex:knows ex:b ; ex:addr [ ex:city "Oslo" ] .
"""


def _load_both(store: RemoteStore) -> None:
    store.load(DATA.encode(), "text/turtle", graph=G1)
    store.load(f"<{EX}b> <{EX}name> \"Bob\" .".encode(), "application/n-triples", graph=G2)


def _canon(rows: list[tuple[object, ...]]) -> set[tuple[object, ...]]:
    """Rows with blank nodes replaced by a marker (labels differ between engines)."""
    return {tuple("_:b" if isinstance(t, BlankNode) else t for t in row) for row in rows}


def test_query_form_reads_the_prologue() -> None:
    assert query_form("PREFIX a: <x:> BASE <y:> # c\n select * {}") == "SELECT"
    assert query_form("ASK{}") == "ASK"
    assert query_form("PREFIX select: <x:> CONSTRUCT WHERE {}") == "CONSTRUCT"
    with pytest.raises(SparqlSyntaxError):
        query_form("INSERT DATA {}")


@BOTH
def test_query_forms_and_terms_match_the_embedded_store(engine_store: RemoteStore) -> None:
    _load_both(engine_store)
    local = OxigraphStore()
    local.load(DATA.encode(), "text/turtle", graph=G1)
    local.load(f"<{EX}b> <{EX}name> \"Bob\" .".encode(), "application/n-triples", graph=G2)
    q = f"SELECT ?s ?p ?o WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?p), '{EX}')) }}"
    remote = engine_store.query(q)
    assert isinstance(remote, SelectResult) and remote.variables == ["s", "p", "o"]
    expected = local.query(q)
    assert isinstance(expected, SelectResult)
    assert _canon(list(remote.rows)) == _canon(list(expected.rows))
    assert engine_store.query(f"ASK {{ <{EX}a> <{EX}age> 42 }}") == AskResult(True)
    assert engine_store.query(f"ASK {{ <{EX}a> <{EX}age> 43 }}") == AskResult(False)
    graph = engine_store.query(f"CONSTRUCT {{ ?s <{EX}n> ?o }} WHERE {{ ?s <{EX}name> ?o }}")
    assert isinstance(graph, GraphResult)
    names = {t.object for t in graph.triples}
    assert names == {Literal("Alice"), Literal("Alicia", language="es"), Literal("Bob")}
    described = engine_store.query(f"DESCRIBE <{EX}b>")
    assert isinstance(described, GraphResult)
    assert Literal("Bob") in {t.object for t in described.triples}
    # xsd:string and the simple literal are one term (RDF 1.1), whatever the engine keeps
    plain = engine_store.query(f"SELECT ?o WHERE {{ <{EX}a> <{EX}plain> ?o }}")
    assert isinstance(plain, SelectResult) and list(plain.rows) == [(Literal("s"),)]


@BOTH
def test_union_default_graph_and_dataset_parameters(engine_store: RemoteStore) -> None:
    _load_both(engine_store)
    assert engine_store.named_graphs() == [G1, G2]
    names = f"SELECT ?n WHERE {{ ?s <{EX}name> ?n }}"
    everything = engine_store.query(names)
    assert isinstance(everything, SelectResult)
    assert {r[0].value for r in everything.rows} == {"Alice", "Alicia", "Bob"}
    only_g2 = engine_store.query(names, dataset=DatasetSpec([G2], []))
    assert isinstance(only_g2, SelectResult) and [r[0].value for r in only_g2.rows] == ["Bob"]
    # the protocol's own view: kgraph's default graph plus the listed graphs
    spec = DatasetSpec([None, G1], [G1])
    listed = engine_store.query(f"SELECT ?g WHERE {{ GRAPH ?g {{ ?s <{EX}name> ?n }} }}",
                                dataset=spec)
    assert isinstance(listed, SelectResult) and {r[0].value for r in listed.rows} == {G1}
    # FROM in the text names the dataset: no union then
    from_g2 = engine_store.query(f"SELECT ?n FROM <{G2}> WHERE {{ ?s <{EX}name> ?n }}")
    assert isinstance(from_g2, SelectResult) and [r[0].value for r in from_g2.rows] == ["Bob"]
    assert engine_store.verify_union_default_graph()


def test_generic_profile_spells_the_union_out(oxigraph_engine: Engine) -> None:
    """An engine kgraph knows nothing about: one default-graph-uri per graph."""
    oxigraph_engine.clear()
    store = oxigraph_engine.store(profile="generic")
    _load_both(store)
    store.add_quads([Quad(NamedNode(EX + "d"), NamedNode(EX + "name"), Literal("Dora"),
                          DefaultGraph())])
    result = store.query(f"SELECT ?n WHERE {{ ?s <{EX}name> ?n }}")
    assert isinstance(result, SelectResult)
    assert {r[0].value for r in result.rows} == {"Alice", "Alicia", "Bob", "Dora"}
    assert store.verify_union_default_graph()
    assert [t.object for t in store.triples(None)] == [Literal("Dora")]
    assert store.named_graphs() == [G1, G2]  # kgraph's default graph is not listed
    # without the rewrite the engine's default graph is empty: the rewrite did the work
    plain = oxigraph_engine.store(profile="generic", union_default_graph=False)
    assert plain.query(f"ASK {{ ?s <{EX}name> ?n }}") == AskResult(False)
    oxigraph_engine.clear()


@BOTH
def test_updates_count_as_writes(engine_store: RemoteStore) -> None:
    v0 = engine_store.version()
    engine_store.update(f"INSERT DATA {{ GRAPH <{G1}> {{ <{EX}x> <{EX}p> 1, 2, 3 }} }}")
    assert engine_store.version() > v0
    assert engine_store.count(G1) == 3
    engine_store.update(f"DELETE DATA {{ GRAPH <{G1}> {{ <{EX}x> <{EX}p> 2 }} }}")
    assert engine_store.count(G1) == 2
    with pytest.raises(SparqlSyntaxError):
        engine_store.update("INSERT DATA { GRAPH <x:g> { <x:s> <x:p> } }")
    assert engine_store.count(G1) == 2
    # triples outside GRAPH {...} land in kgraph's default graph on every engine
    engine_store.update(f"INSERT DATA {{ <{EX}d> <{EX}p> \"default\" }}")
    assert [t.object for t in engine_store.triples(None)] == [Literal("default")]
    assert engine_store.named_graphs() == [G1]


def test_a_shared_counter_sees_every_process_write(oxigraph_engine: Engine,
                                                  tmp_path: Path) -> None:
    """Server workers each have a RemoteStore; a write through one changes every version()."""
    first, second = oxigraph_engine.store(), oxigraph_engine.store()
    for store in (first, second):
        store.share_versions(tmp_path / "versions")
    v0 = second.version()
    assert first.version() == v0
    first.update(f"INSERT DATA {{ GRAPH <{G1}> {{ <{EX}shared> <{EX}p> 1 }} }}")
    assert second.version() == first.version() > v0
    second.drop_graph(G1)
    assert first.version() == second.version() > v0 + 1
    unshared = oxigraph_engine.store()
    assert unshared.version() == 0  # without the counter: only its own writes
    oxigraph_engine.clear()


@BOTH
@pytest.mark.parametrize("gsp", [True, False], ids=["graph-store", "update-only"])
def test_whole_graph_writes(engine: Engine, gsp: bool) -> None:
    store = engine.store(**({} if gsp else {"graph_store_url": None}))
    quads = [Quad(NamedNode(f"{EX}s{i}"), NamedNode(EX + "v"), Literal(i), NamedNode(G1))
             for i in range(100)]
    store.add_quads(quads)
    assert store.count(G1) == 100 and store.contains_graph(G1)
    store.replace_graph(G1, quads[:10])
    assert store.count(G1) == 10
    store.replace_graph(None, [Quad(NamedNode(EX + "d"), NamedNode(EX + "v"), Literal("d"),
                                    DefaultGraph())])
    assert store.count(None) == 1
    assert store.count(all_graphs=True) == 11
    assert {q.graph_name for q in store.quads()} == {NamedNode(G1), DefaultGraph()}
    assert store.drop_graph(G1) is True
    assert store.drop_graph(G1) is False
    assert not store.contains_graph(G1)
    assert store.drop_graph(None) is True and store.count(None) == 0


@BOTH
def test_blank_nodes_stay_one_node_within_a_write(engine_store: RemoteStore) -> None:
    b = BlankNode()
    # across two graphs where the engine allows it (not Virtuoso: see _insert_text)
    g2 = G2 if engine_store.profile.bnodes_in_insert_data else G1
    engine_store.add_quads([
        Quad(NamedNode(EX + "a"), NamedNode(EX + "addr"), b, NamedNode(G1)),
        Quad(b, NamedNode(EX + "city"), Literal("Oslo"), NamedNode(g2)),
        Quad(NamedNode(EX + "z"), NamedNode(EX + "addr"), BlankNode(), NamedNode(G2)),
    ])
    joined = engine_store.query(
        f"SELECT ?c WHERE {{ GRAPH <{G1}> {{ <{EX}a> <{EX}addr> ?b }} "
        f"GRAPH <{g2}> {{ ?b <{EX}city> ?c }} }}")
    assert isinstance(joined, SelectResult) and list(joined.rows) == [(Literal("Oslo"),)]
    engine_store.load(f"<{EX}x> <{EX}p> _:n .\n_:n <{EX}q> \"v\" .\n".encode(),
                      "application/n-triples", graph=EX + "g3")
    chained = engine_store.query(f"ASK {{ <{EX}x> <{EX}p> ?n . ?n <{EX}q> \"v\" }}")
    assert chained == AskResult(True)


@BOTH
def test_large_write_keeps_blank_node_chains(engine_store: RemoteStore) -> None:
    """Thousands of triples in one write, blank nodes chained (Virtuoso splits the request
    into operations; the triples of one chain must stay in one)."""
    quads = []
    for i in range(700):
        a, b = BlankNode(), BlankNode()
        quads += [Quad(NamedNode(f"{EX}s{i}"), NamedNode(EX + "p"), a, NamedNode(G1)),
                  Quad(a, NamedNode(EX + "q"), b, NamedNode(G1)),
                  Quad(b, NamedNode(EX + "v"), Literal(i), NamedNode(G1))]
    engine_store.replace_graph(G1, quads)
    assert engine_store.count(G1) == 2100
    chains = engine_store.query(
        f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{EX}p> ?a . ?a <{EX}q> ?b . ?b <{EX}v> ?v "
        f"FILTER(?s = IRI(CONCAT('{EX}s', STR(?v)))) }}")
    assert isinstance(chains, SelectResult) and list(chains.rows)[0][0] == Literal(700)


@pytest.mark.parametrize("engine", ["oxigraph", pytest.param("virtuoso", marks=pytest.mark.xfail(
    reason="Virtuoso 7 commits each operation of an update request on its own (measured: "
           "readers saw the graph empty and half written); see docs/engines.md",
    strict=False))], indirect=True)
def test_replace_graph_is_never_seen_half_done(engine_store: RemoteStore, engine: Engine) -> None:
    old = [Quad(NamedNode(f"{EX}o{i}"), NamedNode(EX + "v"), Literal(i), NamedNode(G1))
           for i in range(600)]
    new = [Quad(NamedNode(f"{EX}n{i}"), NamedNode(EX + "v"), Literal(i), NamedNode(G1))
           for i in range(900)]  # more than one Virtuoso operation: still one request
    engine_store.replace_graph(G1, old)
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        local = engine.store()
        while not stop.is_set():
            seen.add(local.count(G1))
        local.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(10):
            engine_store.replace_graph(G1, new if i % 2 == 0 else old)
    finally:
        stop.set()
        thread.join()
    assert seen <= {600, 900}, f"a reader saw a half-replaced graph: {sorted(seen)}"
    assert engine_store.count(G1) == 600


@BOTH
def test_read_only_store_refuses_every_write(engine: Engine) -> None:
    store = engine.store(read_only=True)
    q = Quad(NamedNode(EX + "s"), NamedNode(EX + "p"), Literal(1), NamedNode(G1))
    for write in (lambda: store.update("CLEAR ALL"), lambda: store.add_quads([q]),
                  lambda: store.replace_graph(G1, [q]), lambda: store.drop_graph(G1),
                  lambda: store.load(b"", "application/n-triples")):
        with pytest.raises(StoreReadOnlyError):
            write()
    assert store.version() == 0


@BOTH
def test_timeout_stops_the_query(engine_store: RemoteStore) -> None:
    engine_store.add_quads(
        Quad(NamedNode(f"{EX}n{i}"), NamedNode(EX + "v"), Literal(i), NamedNode(EX + "big"))
        for i in range(3000))
    heavy = (f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{EX}big> {{ ?a ?p ?b . ?c ?q ?d . "
             "?e ?r ?f } }")
    start = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        result = engine_store.query(heavy, timeout_s=1)
        assert isinstance(result, SelectResult)
        list(result.rows)  # Virtuoso's partial "anytime" answer must not pass as an answer
    assert time.monotonic() - start < 10
    # the store still answers
    assert engine_store.query("ASK {}") == AskResult(True)


def test_unreachable_engine_is_a_store_error() -> None:
    url = f"http://kg:secret-pw@127.0.0.1:{free_port()}/sparql"
    store = RemoteStore(url, profile="generic", auth="basic", user="kg", password="secret-pw")
    with pytest.raises(StoreError) as info:
        store.query("ASK {}")
    assert "unreachable" in str(info.value)
    assert "secret" not in str(info.value)


def test_wrong_credentials_are_named_clearly(virtuoso_engine: Engine) -> None:
    virtuoso_engine.clear()
    store = virtuoso_engine.store(password="not-the-password")
    with pytest.raises(StoreError) as info:
        store.update(f"INSERT DATA {{ GRAPH <{G1}> {{ <{EX}s> <{EX}p> 1 }} }}")
    assert "credentials" in str(info.value) and "not-the-password" not in str(info.value)
    anonymous = virtuoso_engine.store(auth=None, user=None, password=None)
    with pytest.raises(StoreError):
        anonymous.update(f"INSERT DATA {{ GRAPH <{G1}> {{ <{EX}s> <{EX}p> 1 }} }}")
    assert not virtuoso_engine.store().contains_graph(G1)


def test_virtuoso_ways_are_normalised(virtuoso_engine: Engine) -> None:
    virtuoso_engine.clear()
    store = virtuoso_engine.store()
    store.load(DATA.encode(), "text/turtle", graph=G1)
    # its nodeID:// blank nodes come back as plain blank nodes, and can be asked about again
    rows = store.query(f"SELECT ?b WHERE {{ <{EX}a> <{EX}addr> ?b }}")
    assert isinstance(rows, SelectResult)
    [(b,)] = list(rows.rows)
    assert isinstance(b, BlankNode) and "nodeID" not in b.value
    assert [q.object for q in store.match(b, NamedNode(EX + "city"), None)] == [Literal("Oslo")]
    # answers handed on are standard: no typed-literal, no xsd:string, plain booleans
    answer = store.query_serialized(f"SELECT ?o WHERE {{ <{EX}a> ?p ?o }}")
    text = b"".join(answer.chunks).decode()
    assert "typed-literal" not in text and XSD + "string" not in text and "nodeID" not in text
    parsed = json.loads(text)
    assert {"type": "literal", "value": "s"} in [b["o"] for b in parsed["results"]["bindings"]]
    for media, fmt in (("application/sparql-results+json", QueryResultsFormat.JSON),
                       ("application/sparql-results+xml", QueryResultsFormat.XML)):
        ask = store.query_serialized(f"ASK {{ <{EX}a> ?p ?o }}", solutions_format=media)
        assert ask.kind == "boolean"
        assert bool(parse_query_results(b"".join(ask.chunks), fmt)) is True
    nt = store.query_serialized(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{G1}> {{ ?s ?p ?o }} }}",
                                graph_format="text/turtle")
    assert len(list(parse(b"".join(nt.chunks), format=RdfFormat.TURTLE))) == 9


def test_oxigraph_answers_pass_through(oxigraph_engine: Engine) -> None:
    oxigraph_engine.clear()
    store = oxigraph_engine.store()
    _load_both(store)
    for media in ("text/csv", "application/sparql-results+xml"):
        answer = store.query_serialized(f"SELECT ?n WHERE {{ ?s <{EX}name> ?n }} ORDER BY ?n",
                                        solutions_format=media)
        body = b"".join(answer.chunks)
        assert answer.media_type == media and b"Alice" in body and b"Bob" in body


@BOTH
def test_bulk_load_streams_files_all_or_nothing(engine: Engine, tmp_path: Path) -> None:
    store = engine.store()
    ttl = tmp_path / "a.ttl"
    ttl.write_text("".join(f"<{EX}s{i}> <{EX}v> {i} .\n" for i in range(1200)))
    nq = tmp_path / "b.nq"
    nq.write_text(f"<{EX}x> <{EX}v> \"1\" <{G1}> .\n<{EX}y> <{EX}v> \"2\" <{G2}> .\n")
    seen: list[int] = []
    assert store.bulk_load([ttl, nq], graph=None, progress=seen.append) == 1202
    assert sum(seen) == 1202
    assert store.count(None) == 1200 and store.count(G1) == 1 and store.count(G2) == 1
    bad = tmp_path / "bad.ttl"
    bad.write_text(f"<{EX}z> <{EX}v> 1 .\n<{EX}z> <{EX}v> .\n")
    with pytest.raises(RdfSyntaxError):
        store.bulk_load([bad], graph=EX + "g9")
    assert not store.contains_graph(EX + "g9")
    assert store.bulk_load([ttl], graph=EX + "g9") == 1200 and store.count(EX + "g9") == 1200


@BOTH
def test_dump_and_match(engine_store: RemoteStore) -> None:
    _load_both(engine_store)
    out = io.BytesIO()
    engine_store.dump(out, "application/n-quads")
    quads = list(parse(out.getvalue(), format=RdfFormat.N_QUADS))
    assert len(quads) == 10 and {q.graph_name for q in quads} == {NamedNode(G1), NamedNode(G2)}
    assert [q.object for q in engine_store.match(NamedNode(EX + "b"), None, None, graph=G2)] \
        == [Literal("Bob")]
    assert list(engine_store.match(NamedNode(EX + "b"), None, None, graph=G1)) == []
    assert len(list(engine_store.match(None, NamedNode(EX + "name"), None))) == 3


@BOTH
def test_open_store_settings_and_detection(engine: Engine) -> None:
    detected = RemoteStore(engine.query_url, update_url=engine.update_url, auth=engine.auth,
                           user=engine.user, password=engine.password)
    assert detected.profile.name == engine.kind
    settings = Settings(store_url=engine.query_url, update_url=engine.update_url,
                        graph_store_url=engine.graph_store_url, store_auth=engine.auth,
                        store_user=engine.user, store_password=engine.password)
    store = RemoteStore.from_settings(settings)
    store.update(f"INSERT DATA {{ GRAPH <{G1}> {{ <{EX}s> <{EX}p> 1 }} }}")
    opened = open_store(engine.query_url, engine="sparql", profile=engine.kind)
    assert opened.name == "sparql" and opened.contains_graph(G1)
    assert repr(settings).count(engine.password or "\x00") == 0


@BOTH
def test_answers_can_be_read_in_another_thread(engine_store: RemoteStore) -> None:
    """A streaming HTTP response may read the rows in a thread other than the one that
    asked (pyoxigraph's parsers are bound to their thread: reading one elsewhere aborts)."""
    _load_both(engine_store)
    rows = engine_store.query(f"SELECT ?n WHERE {{ ?s <{EX}name> ?n }}")
    triples = engine_store.query(f"CONSTRUCT WHERE {{ ?s <{EX}name> ?n }}")
    assert isinstance(rows, SelectResult) and isinstance(triples, GraphResult)
    out: list[int] = []
    reader = threading.Thread(target=lambda: out.extend(
        [len(list(rows.rows)), len(list(triples.triples))]))
    reader.start()
    reader.join()
    assert out == [3, 3]


def test_dataset_with_an_unnameable_default_graph(oxigraph_engine: Engine) -> None:
    """Oxigraph server cannot name its default graph in a dataset: exact while it is
    empty, a clear error (not a silently smaller answer) once it holds triples."""
    oxigraph_engine.clear()
    store = oxigraph_engine.store()
    _load_both(store)
    spec = DatasetSpec([None, G2], [G2])
    names = f"SELECT ?n WHERE {{ ?s <{EX}name> ?n }}"
    result = store.query(names, dataset=spec)
    assert isinstance(result, SelectResult) and [r[0].value for r in result.rows] == ["Bob"]
    store.update(f"INSERT DATA {{ <{EX}d> <{EX}name> \"Dora\" }}")
    with pytest.raises(StoreError, match="cannot name its default graph"):
        store.query(names, dataset=spec)
    oxigraph_engine.clear()


def test_credentials_schemes() -> None:
    """Basic and Digest are requests' own; Bearer sends the token; a scheme without its
    secrets is refused before any request."""
    import requests

    bearer = RemoteStore("http://127.0.0.1:1/sparql", profile="generic", auth="bearer",
                         token="tok-123")
    prepared = bearer._session.prepare_request(requests.Request("POST", bearer.query_url))
    assert prepared.headers["Authorization"] == "Bearer tok-123"
    basic = RemoteStore("http://127.0.0.1:1/sparql", profile="generic", auth="basic",
                        user="u", password="p")
    prepared = basic._session.prepare_request(requests.Request("POST", basic.query_url))
    assert prepared.headers["Authorization"].startswith("Basic ")
    for scheme, kwargs in (("bearer", {}), ("digest", {"user": "u"}), ("kerberos", {})):
        with pytest.raises(StoreError):
            RemoteStore("http://127.0.0.1:1/sparql", auth=scheme, **kwargs)  # type: ignore[arg-type]
