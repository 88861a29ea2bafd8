"""SERVICE handling: the allowlist, the rewrites per mode, and equal answers offline and via a stand-in."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kgraph.config import Settings
from kgraph.linking.snapshot import load_snapshot
from kgraph.namespaces import GRAPH_ONTOLOGY, GRAPH_WIKIDATA, source_graph
from kgraph.sparql.federation import ServiceNotAllowedError, prepare_services, wikidata_mode
from kgraph.sparql.protocol import Endpoint, QueryOperation
from kgraph.sparql.relay import ServiceRelay
from kgraph.store import SelectResult, SparqlEvaluationError, open_store
from kgraph.web import create_app

from .wikidata_standin import OxigraphServer, Script, ScriptedEndpoint, free_port

ROOT = Path(__file__).resolve().parents[1]
WD = "https://query.wikidata.org/sparql"
Q = "SELECT * WHERE { SERVICE <https://query.wikidata.org/sparql> { ?s ?p ?o } }"


def settings(**kw) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(store_path=None, bootstrap=False, **kw)


# -- rewriting ---------------------------------------------------------------------------------
def test_snapshot_mode_rewrites_to_the_snapshot_graph() -> None:
    out = prepare_services(Q, settings(wikidata="snapshot"))
    assert out == f"SELECT * WHERE {{ GRAPH <{GRAPH_WIKIDATA}> {{ ?s ?p ?o }} }}"


def test_snapshot_mode_drops_silent() -> None:
    q = "SELECT * WHERE { SERVICE SILENT <https://query.wikidata.org/sparql> { ?s ?p ?o } }"
    assert (
        prepare_services(q, settings())
        == f"SELECT * WHERE {{ GRAPH <{GRAPH_WIKIDATA}> {{ ?s ?p ?o }} }}"
    )


def test_live_mode_leaves_the_query_alone() -> None:
    assert prepare_services(Q, settings(wikidata="live")) == Q


def test_url_mode_points_at_the_standin() -> None:
    out = prepare_services(Q, settings(wikidata="http://127.0.0.1:9999/query"))
    assert out == "SELECT * WHERE { SERVICE <http://127.0.0.1:9999/query> { ?s ?p ?o } }"
    q = Q.replace("SERVICE", "SERVICE SILENT")
    assert "SERVICE SILENT <http://127.0.0.1:9999/query>" in prepare_services(
        q, settings(wikidata="http://127.0.0.1:9999/query")
    )


def test_prefixed_and_relative_service_iris_are_resolved() -> None:
    q = "PREFIX wdqs: <https://query.wikidata.org/> SELECT * { SERVICE wdqs:sparql { ?s ?p ?o } }"
    assert f"GRAPH <{GRAPH_WIKIDATA}>" in prepare_services(q, settings())
    q = "BASE <https://query.wikidata.org/> SELECT * { SERVICE <sparql> { ?s ?p ?o } }"
    assert f"GRAPH <{GRAPH_WIKIDATA}>" in prepare_services(q, settings())


def test_service_map_and_allowlist() -> None:
    s = settings(
        service_map={"http://example.org/sparql": "http://127.0.0.1:1234/sparql"},
        service_allowlist=("http://allowed.example/sparql",),
    )
    q = "SELECT * { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"
    assert (
        prepare_services(q, s) == "SELECT * { SERVICE <http://127.0.0.1:1234/sparql> { ?s ?p ?o } }"
    )
    q = "SELECT * { SERVICE <http://allowed.example/sparql> { ?s ?p ?o } }"
    assert prepare_services(q, s) == q


@pytest.mark.parametrize(
    "query, message",
    [
        ("SELECT * { SERVICE <http://evil.example/sparql> { ?s ?p ?o } }", "not allowed"),
        ("SELECT * { SERVICE ?endpoint { ?s ?p ?o } }", "SERVICE ?endpoint"),
        ("SELECT * { SERVICE nope:sparql { ?s ?p ?o } }", "undeclared prefix"),
        (
            "INSERT { ?s ?p ?o } WHERE { SERVICE <http://evil.example/> { ?s ?p ?o } }",
            "not allowed",
        ),
    ],
)
def test_refused_services(query: str, message: str) -> None:
    with pytest.raises(ServiceNotAllowedError, match=message):
        prepare_services(query, settings())


def test_service_in_strings_and_comments_is_ignored() -> None:
    q = 'SELECT * { ?s ?p "SERVICE <http://evil.example/>" } # SERVICE <http://evil.example/>\n'
    assert prepare_services(q, settings()) == q


def test_bad_mode_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="KGRAPH_WIKIDATA"):
        wikidata_mode(settings(wikidata="offline"))


# -- evaluation: snapshot mode vs a stand-in ----------------------------------------------------
KB = """
@prefix kgo: <https://w3id.org/kgraph/ontology#> .
@prefix kgr: <https://w3id.org/kgraph/resource/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix wd: <http://www.wikidata.org/entity/> .
kgr:PRC a kgo:State ; rdfs:label "People’s Republic of China"@en ; skos:exactMatch wd:Q148 .
kgr:DPRK a kgo:State ; rdfs:label "Democratic People’s Republic of Korea"@en ; skos:exactMatch wd:Q423 .
kgr:USA a kgo:State ; rdfs:label "United States"@en ; skos:exactMatch wd:Q30 .
kgr:XiJinping a kgo:Person ; rdfs:label "Xi Jinping"@en ; skos:exactMatch wd:Q15031 .
kgr:MaoZedong a kgo:Person ; rdfs:label "Mao Zedong"@en ; skos:exactMatch wd:Q5816 .
kgr:KimJongUn a kgo:Person ; rdfs:label "Kim Jong-un"@en ; skos:exactMatch wd:Q56226 .
kgr:HeadOfState a kgo:Role ; rdfs:label "head of state"@en .
kgr:ra-xi a kgo:RoleAssignment ; kgo:holder kgr:XiJinping ; kgo:inOrganization kgr:PRC ;
    kgo:role kgr:HeadOfState .
kgr:Treaty1961 a kgo:Treaty ; rdfs:label "Sino-DPRK Treaty"@en ; kgo:hasParty kgr:PRC , kgr:DPRK .
"""


@pytest.fixture(scope="module")
def kb_store():  # type: ignore[no-untyped-def]
    store = open_store(None)
    store.load(KB.encode(), "text/turtle", graph=source_graph("federation-fixture"))
    store.load((ROOT / "ontology" / "kgraph.ttl").read_bytes(), "text/turtle", graph=GRAPH_ONTOLOGY)
    load_snapshot(store)
    return store


def rows(store, query: str) -> list[tuple[str | None, ...]]:  # type: ignore[no-untyped-def]
    result = store.query(query)
    assert isinstance(result, SelectResult)
    return sorted(tuple(None if t is None else t.value for t in row) for row in result.rows)


def named(name: str) -> str:
    return (ROOT / "queries" / f"{name}.rq").read_text("utf-8")


def test_wd_heads_from_the_snapshot(kb_store) -> None:  # type: ignore[no-untyped-def]
    out = rows(kb_store, prepare_services(named("wd_heads"), settings()))
    by_state = {r[1]: r for r in out}
    assert by_state["People’s Republic of China"][3] == "Xi Jinping"  # P35 per Wikidata
    assert by_state["People’s Republic of China"][6] == "Xi Jinping"  # role holder per article
    assert by_state["Democratic People’s Republic of Korea"][3] == "Kim Jong Un"
    assert by_state["United States"][3] == "Donald Trump"


def test_wd_leaders_from_the_snapshot(kb_store) -> None:  # type: ignore[no-untyped-def]
    out = rows(kb_store, prepare_services(named("wd_leaders"), settings()))
    mao = [r for r in out if r[1] == "Mao Zedong"]
    assert mao and mao[0][3].startswith("1893-12-26")
    assert {r[5] for r in mao} == {"Chairman of the Chinese Communist Party"}
    assert any(r[1] == "Xi Jinping" and r[3].startswith("1953-06-15") for r in out)


def test_wd_signatories_reports_unlinked_treaty(kb_store) -> None:  # type: ignore[no-untyped-def]
    out = rows(kb_store, prepare_services(named("wd_signatories"), settings()))
    assert {r[-1] for r in out} == {"treaty not linked"}
    assert {r[4] for r in out} == {
        "People’s Republic of China",
        "Democratic People’s Republic of Korea",
    }


def test_disallowed_service_in_named_query_style(kb_store) -> None:  # type: ignore[no-untyped-def]
    q = named("wd_heads").replace(WD, "http://evil.example/sparql")
    with pytest.raises(ServiceNotAllowedError):
        prepare_services(q, settings())


@pytest.mark.slow
def test_same_answers_through_the_standin(kb_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with OxigraphServer(tmp_path) as server:
        for name in ("wd_heads", "wd_leaders", "wd_signatories"):
            offline = rows(kb_store, prepare_services(named(name), settings()))
            remote = rows(kb_store, prepare_services(named(name), settings(wikidata=server.url)))
            assert offline == remote, name
            assert offline, name


def test_silent_service_to_a_dead_standin_yields_empty_bindings(kb_store) -> None:  # type: ignore[no-untyped-def]
    dead = f"http://127.0.0.1:{free_port()}/query"
    q = "SELECT ?x WHERE { SERVICE SILENT <https://query.wikidata.org/sparql> { ?x ?p ?o } }"
    out = rows(kb_store, prepare_services(q, settings(wikidata=dead)))
    assert out == [(None,)]
    with pytest.raises(Exception):  # noqa: B017 - engine error type is the store's business
        rows(kb_store, prepare_services(q.replace(" SILENT", ""), settings(wikidata=dead)))


# -- the SERVICE relay: kgraph's User-Agent, a deadline, Retry-After ------------------------------
HEADS = ("PREFIX wdt: <http://www.wikidata.org/prop/direct/> PREFIX wd: <http://www.wikidata.org/entity/> "
                   "SELECT ?head WHERE { SERVICE <https://query.wikidata.org/sparql> { wd:Q148 wdt:P35 ?head } }")


def endpoint_rows(endpoint: Endpoint, query: str) -> list[tuple[str | None, ...]]:
    result = endpoint.query(QueryOperation(query))
    assert isinstance(result, SelectResult)
    return sorted(tuple(None if t is None else t.value for t in row) for row in result.rows)


def test_url_mode_goes_through_the_relay_with_kgraphs_user_agent(kb_store) -> None:  # type: ignore[no-untyped-def]
    with ScriptedEndpoint() as standin:
        endpoint = Endpoint(kb_store, settings(wikidata=standin.url))
        try:
            rewritten = endpoint._services(HEADS)
            assert "http://127.0.0.1:" in rewritten and standin.url not in rewritten
            assert endpoint_rows(endpoint, HEADS) == [("http://www.wikidata.org/entity/Q15031",)]
        finally:
            endpoint.relay.close()
    (call,) = standin.requests
    agent = call.headers["User-Agent"]
    assert agent.startswith("kgraph/") and "federated SPARQL" in agent and "Oxigraph" not in agent
    assert "wdt:P35" in call.query or "P35>" in call.query


def test_relay_honours_retry_after(kb_store) -> None:  # type: ignore[no-untyped-def]
    with ScriptedEndpoint(script=Script(rate_limited=1, retry_after="1")) as standin:
        endpoint = Endpoint(kb_store, settings(wikidata=standin.url))
        try:
            assert endpoint_rows(endpoint, HEADS) == [("http://www.wikidata.org/entity/Q15031",)]
        finally:
            endpoint.relay.close()
    first, second = standin.requests
    assert second.at - first.at >= 0.9


def test_relay_gives_up_on_a_hanging_endpoint_within_the_query_timeout(kb_store) -> None:  # type: ignore[no-untyped-def]
    with ScriptedEndpoint(script=Script(delay=30)) as standin:
        endpoint = Endpoint(kb_store, settings(wikidata=standin.url, query_timeout_s=1.0))
        try:
            started = time.monotonic()
            silent = HEADS.replace("SERVICE", "SERVICE SILENT")
            assert endpoint_rows(endpoint, silent) == [(None,)]
            with pytest.raises(SparqlEvaluationError, match="no answer .* within 1 s"):
                endpoint_rows(endpoint, HEADS)
            assert time.monotonic() - started < 10
        finally:
            endpoint.relay.close()


def test_relay_reports_an_unreachable_endpoint(kb_store) -> None:  # type: ignore[no-untyped-def]
    dead = f"http://127.0.0.1:{free_port()}/sparql"
    endpoint = Endpoint(kb_store, settings(wikidata=dead))
    try:
        with pytest.raises(SparqlEvaluationError, match="could not reach"):
            endpoint_rows(endpoint, HEADS)
    finally:
        endpoint.relay.close()


def test_relay_forwards_only_registered_targets() -> None:
    relay = ServiceRelay(timeout_s=5, max_bytes=1000)
    try:
        url = relay.url_for("http://127.0.0.1:9/sparql")
        assert relay.url_for("http://127.0.0.1:9/sparql") == url
        other = url.rsplit("/", 1)[0] + "/999"
        with urllib.request.urlopen(urllib.request.Request(other, data=b"ASK {}")) as response:
            raise AssertionError(f"unexpected {response.status}")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    finally:
        relay.close()


def test_relay_bounds_the_size_of_an_answer(kb_store) -> None:  # type: ignore[no-untyped-def]
    with ScriptedEndpoint() as standin:
        endpoint = Endpoint(kb_store, settings(wikidata=standin.url, max_body_bytes=100))
        try:
            with pytest.raises(SparqlEvaluationError, match="exceeds 100 bytes"):
                endpoint_rows(endpoint, HEADS)
        finally:
            endpoint.relay.close()


def test_http_status_for_failed_remote_calls(kb_store) -> None:  # type: ignore[no-untyped-def]
    def get(wikidata: str, query: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
        app = create_app(settings(wikidata=wikidata, query_timeout_s=timeout), store=kb_store)
        try:
            return app.test_client().get("/sparql", query_string={"query": query})
        finally:
            app.extensions["kgraph"].endpoint.relay.close()

    dead = f"http://127.0.0.1:{free_port()}/sparql"
    response = get(dead, HEADS)
    assert response.status_code == 502
    text = response.get_data(as_text=True)
    assert f"could not reach {dead}" in text and "/service/" not in text
    with ScriptedEndpoint(script=Script(delay=30)) as standin:
        response = get(standin.url, HEADS, timeout=1.0)
        assert response.status_code == 504
        assert f"no answer from {standin.url} within 1 s" in response.get_data(as_text=True)
    # the same query under SERVICE SILENT: one empty solution, 200
    response = get(dead, HEADS.replace("SERVICE", "SERVICE SILENT"))
    assert response.status_code == 200


def test_relay_error_messages_name_the_real_endpoints() -> None:
    relay = ServiceRelay(timeout_s=5, max_bytes=1000)
    try:
        urls = [relay.url_for(f"http://endpoint-{i}.example/sparql") for i in range(1, 12)]
        message = f"Error 503 Service Unavailable returned by {urls[9]} with payload:\nbusy"
        status, text = relay.remote_error(message)  # type: ignore[misc]
        assert status == 502 and "http://endpoint-10.example/sparql" in text
        assert "127.0.0.1" not in text
        assert relay.remote_error("Error 400 returned by http://elsewhere/sparql") is None
    finally:
        relay.close()
