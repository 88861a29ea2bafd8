"""A real ``server.py`` process on a free port, spoken to over HTTP.

Two clients: SPARQLWrapper (what analysts script with) and plain ``requests``
(what curl does). The store is on disk, so restarts are real restarts.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pyoxigraph import RdfFormat, parse
from SPARQLWrapper import CSV, JSON, N3, TSV, TURTLE, XML, SPARQLWrapper
from SPARQLWrapper import POST as SW_POST
from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

from .support import ROOT, TOKEN, ServerProcess, auth

pytestmark = pytest.mark.slow

SEED = """
PREFIX ex: <http://example.org/>
INSERT DATA { GRAPH <http://example.org/people> {
  ex:xi ex:name "Xi Jinping" ; ex:born 1953 .
  ex:kim ex:name "Kim Jong-un"@en ; ex:born 1984 .
} }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("http") / "store", ["--allow-update", "--no-bootstrap"])
    srv.start()
    r = requests.post(srv.sparql, data={"update": SEED}, headers=auth(), timeout=30)
    assert r.status_code == 204, r.text
    yield srv
    srv.stop()


def wrapper(server: ServerProcess, query: str, fmt: str) -> SPARQLWrapper:
    sw = SPARQLWrapper(server.sparql, agent="kgraph-tests")
    sw.setQuery(query)
    sw.setReturnFormat(fmt)
    return sw


def dump(server: ServerProcess) -> list[str]:
    r = requests.get(server.url + "/store", headers={"Accept": "application/n-quads"}, timeout=30)
    assert r.status_code == 200
    return sorted(r.text.splitlines())


Q = "SELECT ?p ?name ?born { ?p <http://example.org/name> ?name ; <http://example.org/born> ?born } ORDER BY ?born"


def test_sparqlwrapper_json(server) -> None:
    res = wrapper(server, Q, JSON).query().convert()
    assert [b["name"]["value"] for b in res["results"]["bindings"]] == ["Xi Jinping", "Kim Jong-un"]
    assert res["results"]["bindings"][1]["name"]["xml:lang"] == "en"


def test_sparqlwrapper_xml(server) -> None:
    doc = wrapper(server, Q, XML).query().convert()
    names = [n.firstChild.data for n in doc.getElementsByTagName("literal") if n.firstChild.data.startswith(("Xi", "Kim"))]
    assert names == ["Xi Jinping", "Kim Jong-un"]


def test_sparqlwrapper_csv_and_tsv(server) -> None:
    rows = list(csv.reader(io.StringIO(wrapper(server, Q, CSV).query().convert().decode())))
    assert rows == [["p", "name", "born"], ["http://example.org/xi", "Xi Jinping", "1953"],
                    ["http://example.org/kim", "Kim Jong-un", "1984"]]
    tsv = wrapper(server, Q, TSV).query().convert().decode().splitlines()
    assert tsv[2] == '<http://example.org/kim>\t"Kim Jong-un"@en\t"1984"^^<http://www.w3.org/2001/XMLSchema#integer>'


def test_sparqlwrapper_ask_and_construct(server) -> None:
    assert wrapper(server, "ASK { ?s ?p 1953 }", JSON).query().convert()["boolean"] is True
    g = wrapper(server, "CONSTRUCT WHERE { ?s <http://example.org/born> ?o }", TURTLE).query().convert()
    assert len(list(parse(g, format=RdfFormat.TURTLE))) == 2
    graph = wrapper(server, "CONSTRUCT WHERE { ?s <http://example.org/born> ?o }", XML).query().convert()
    assert len(graph) == 2  # SPARQLWrapper parses RDF/XML into an rdflib Graph
    assert wrapper(server, "DESCRIBE <http://example.org/xi>", N3).query().convert()


def test_sparqlwrapper_post_and_errors(server) -> None:
    sw = wrapper(server, Q, JSON)
    sw.setMethod(SW_POST)
    assert len(sw.query().convert()["results"]["bindings"]) == 2
    with pytest.raises(QueryBadFormed):
        wrapper(server, "SELECT * WHERE { ?s ", JSON).query()


def test_sparqlwrapper_update_with_token(server) -> None:
    sw = SPARQLWrapper(server.sparql, updateEndpoint=server.sparql, agent="kgraph-tests")
    sw.addCustomHttpHeader("Authorization", f"Bearer {TOKEN}")
    sw.setMethod(SW_POST)
    sw.setQuery('INSERT DATA { GRAPH <http://example.org/scratch> { <http://example.org/t> <http://example.org/v> "sw" } }')
    sw.query()
    assert wrapper(server, "ASK { ?s ?p 'sw' }", JSON).query().convert()["boolean"] is True


@pytest.mark.parametrize("accept,expected", [
    ("application/sparql-results+json", "application/sparql-results+json"),
    ("application/sparql-results+xml", "application/sparql-results+xml"),
    ("text/csv", "text/csv"),
    ("text/tab-separated-values", "text/tab-separated-values"),
])
def test_plain_http_select_formats(server, accept: str, expected: str) -> None:
    r = requests.get(server.sparql, params={"query": Q}, headers={"Accept": accept}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(expected)
    assert "Kim Jong-un" in r.text


@pytest.mark.parametrize("accept,fmt", [("text/turtle", RdfFormat.TURTLE),
                                        ("application/n-triples", RdfFormat.N_TRIPLES),
                                        ("application/rdf+xml", RdfFormat.RDF_XML),
                                        ("application/ld+json", RdfFormat.JSON_LD)])
def test_plain_http_construct_formats(server, accept: str, fmt: RdfFormat) -> None:
    r = requests.post(server.sparql, data="CONSTRUCT WHERE { ?s <http://example.org/name> ?o }",
                      headers={"Accept": accept, "Content-Type": "application/sparql-query"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(accept)
    assert len(list(parse(r.content, format=fmt))) == 2


def test_errors_over_http(server) -> None:
    r = requests.get(server.sparql, params={"query": "SELEC *"}, timeout=30)
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain")
    assert "Traceback" not in r.text
    assert requests.delete(server.sparql, timeout=30).status_code == 405
    r = requests.post(server.sparql, data="x", headers={"Content-Type": "image/png"}, timeout=30)
    assert r.status_code == 415
    r = requests.get(server.sparql, params={"query": "ASK {}"}, headers={"Accept": "image/png"}, timeout=30)
    assert r.status_code == 406
    r = requests.post(server.sparql, data={"update": "CLEAR ALL"}, timeout=30)
    assert r.status_code == 401
    assert "Kim Jong-un" in requests.get(server.sparql, params={"query": Q}, timeout=30).text


def test_every_request_is_logged_with_its_timing(server) -> None:
    requests.get(server.url + "/health", params={"probe": "log-line"}, timeout=30)
    deadline = time.monotonic() + 10
    while "probe=log-line" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(x for x in server.log().splitlines() if "probe=log-line" in x)
    record = json.loads(line)  # structured: one JSON object per line
    assert record["method"] == "GET" and record["path"] == "/health?probe=log-line"
    assert record["status"] == 200 and record["request_id"] and record["ms"] >= 0


def test_rejected_update_changes_nothing(server) -> None:
    before = dump(server)
    r = requests.post(server.sparql, data={"update": "CLEAR ALL"},
                      headers={"Authorization": "Bearer nope"}, timeout=30)
    assert r.status_code == 403
    r = requests.post(server.sparql, headers=auth(), timeout=30, data={
        "update": "DROP GRAPH <http://example.org/people> ; LOAD <http://127.0.0.1:9/missing.ttl>"})
    assert r.status_code == 400
    assert dump(server) == before


def test_concurrent_readers_do_not_wait_for_each_other(server) -> None:
    values = " ".join(str(i) for i in range(700))
    slow = (f"SELECT (COUNT(*) AS ?n) {{ VALUES ?a {{ {values} }} VALUES ?b {{ {values} }} "
            f"VALUES ?c {{ 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 }} FILTER(?a + ?b != ?c) }}")
    finished: dict[str, float] = {}
    errors: list[str] = []

    def run(name: str, query: str) -> None:
        r = requests.get(server.sparql, params={"query": query}, timeout=120)
        if r.status_code != 200:
            errors.append(f"{name}: {r.status_code} {r.text[:200]}")
        finished[name] = time.monotonic()

    slow_thread = threading.Thread(target=run, args=("slow", slow))
    slow_thread.start()
    time.sleep(0.2)
    fast = [threading.Thread(target=run, args=(f"fast{i}", Q)) for i in range(16)]
    for t in fast:
        t.start()
    for t in fast:
        t.join()
    slow_thread.join()
    assert not errors
    assert all(finished[f"fast{i}"] < finished["slow"] for i in range(16))


def test_restart_keeps_everything(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "store", ["--allow-update", "--no-bootstrap"]).start()
    try:
        r = requests.post(srv.sparql, data={"update": SEED}, headers=auth(), timeout=30)
        assert r.status_code == 204
        r = requests.put(srv.url + "/store", params={"graph": "http://example.org/put"},
                         data="<http://example.org/a> <http://example.org/b> 1 .",
                         headers={**auth(), "Content-Type": "text/turtle"}, timeout=30)
        assert r.status_code == 201
        before = dump(srv)
    finally:
        srv.stop()
    srv = ServerProcess(tmp_path / "store", ["--no-bootstrap"]).start()
    try:
        assert dump(srv) == before and len(before) == 5
    finally:
        srv.stop()


def kgraph_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kgraph.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300)


def test_cli_load_is_all_or_nothing_and_dump_round_trips(tmp_path: Path) -> None:
    store = tmp_path / "store"
    good = tmp_path / "good.ttl"
    good.write_text("<http://example.org/a> <http://example.org/b> 1 .\n")
    quads = tmp_path / "more.nq"
    quads.write_text('<http://example.org/a> <http://example.org/b> "q" <http://example.org/g> .\n')
    jsonld = tmp_path / "doc.jsonld"
    jsonld.write_text('{"@id": "http://example.org/j", "http://example.org/b": "json"}')
    bad = tmp_path / "bad.ttl"
    bad.write_text("<http://example.org/a> <http://example.org/b> 2 .\n<http://example.org/broken> .\n")

    r = kgraph_cli("load", "--store", str(store), "-q", str(good), str(quads), str(jsonld))
    assert r.returncode == 0, r.stderr
    r = kgraph_cli("load", "--store", str(store), "-q", "--graph", "http://example.org/x", str(good), str(bad))
    assert r.returncode == 1 and "bad.ttl" in r.stderr and "nothing was loaded" in r.stderr
    r = kgraph_cli("dump", "--store", str(store))
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert len(lines) == 3 and not any("example.org/x" in line for line in lines)
    r = kgraph_cli("dump", "--store", str(store), "--format", "trig", "-o", str(tmp_path / "out.trig"))
    assert r.returncode == 0
    assert len(list(parse(path=str(tmp_path / "out.trig"), format=RdfFormat.TRIG))) == 3


def test_store_directory_is_created_and_locked_for_other_processes(tmp_path: Path) -> None:
    store = tmp_path / "not" / "yet" / "there"
    srv = ServerProcess(store, ["--no-bootstrap"]).start()
    try:
        r = kgraph_cli("dump", "--store", str(store))
        assert r.returncode == 1
        assert "holds it" in r.stderr and "Traceback" not in r.stderr
    finally:
        srv.stop()
