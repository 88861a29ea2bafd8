"""The served knowledge base: a fresh store bootstraps, and every competency query
answers over HTTP exactly as it does in process.

The competency tests of ``test_competency_queries`` run here again, unchanged,
against a real ``server.py`` over a fresh on-disk store: their ``store`` fixture
is replaced by one that sends each query to ``/queries/NAME`` and reads the
SPARQL JSON answer back into terms.

Every test runs three times: on the embedded store, and with ``--store URL`` on
Oxigraph server and on Virtuoso 7 (``tests/engines.py`` starts them on loopback).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pyoxigraph import QueryResultsFormat, parse_query_results
from SPARQLWrapper import JSON, SPARQLWrapper

from kgraph.namespaces import GRAPH_INFERRED, GRAPH_ONTOLOGY, GRAPH_WIKIDATA, source_graph
from kgraph.store.base import SelectResult

from .engines import (  # noqa: F401 - fixtures
    ENGINES,
    kgraph_server,
    oxigraph_engine_fixture,
    virtuoso_engine_fixture,
)
from .support import ServerProcess
from .test_competency_queries import (  # noqa: F401 - collected again with the HTTP store
    test_allies,
    test_claims,
    test_leaders,
    test_meetings,
    test_obligations,
    test_provenance,
    test_states,
    test_treaties,
)

pytestmark = pytest.mark.slow

QUERIES = Path(__file__).resolve().parents[1] / "queries"


class NamedQueriesOverHttp:
    """Answers ``query(text)`` by running the named query with that text on the server."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.names = {p.read_text(encoding="utf-8"): p.stem for p in QUERIES.glob("*.rq")}

    def query(self, text: str) -> SelectResult:
        name = self.names[text]
        r = requests.get(f"{self.server.url}/queries/{name}", timeout=60,
                         headers={"Accept": "application/sparql-results+json"})
        assert r.status_code == 200, r.text
        solutions = parse_query_results(r.content, format=QueryResultsFormat.JSON)
        variables = [v.value for v in solutions.variables]
        rows = [tuple(s[v] for v in variables) for s in solutions]
        return SelectResult(variables, rows)


@pytest.fixture(scope="module", params=["embedded", *ENGINES])
def kb(request: pytest.FixtureRequest,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server bootstrapped with the knowledge base: over the embedded store (the
    session's ``kb_server``) or over a freshly emptied engine."""
    if request.param == "embedded":
        yield request.getfixturevalue("kb_server")
        return
    engine = request.getfixturevalue(f"{request.param}_engine")
    engine.clear()
    server = kgraph_server(engine, tmp_path_factory.mktemp(f"kb-{request.param}"),
                           ["--allow-update"])
    server.engine = engine  # type: ignore[attr-defined]
    yield server
    server.stop()


#: Competency queries Virtuoso 7.2 answers wrongly (its evaluation, not kgraph's: e.g. an
#: OPTIONAL with a LANGMATCHES filter after a property path yields no rows unless the
#: query says DISTINCT); see docs/engines.md.
VIRTUOSO_WRONG = {"test_leaders", "test_meetings", "test_allies"}


@pytest.fixture(autouse=True)
def _virtuoso_deviations(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("kb") == "virtuoso" \
            and request.node.originalname in VIRTUOSO_WRONG:
        request.applymarker(pytest.mark.xfail(
            reason="Virtuoso 7.2 evaluates this query wrongly (docs/engines.md)", strict=False))


@pytest.fixture(scope="module")
def store(kb: ServerProcess) -> NamedQueriesOverHttp:
    return NamedQueriesOverHttp(kb)


def test_fresh_store_serves_every_graph(kb: ServerProcess) -> None:
    sw = SPARQLWrapper(kb.sparql, agent="kgraph-tests")
    sw.setQuery("SELECT DISTINCT ?g { GRAPH ?g { ?s ?p ?o } }")
    sw.setReturnFormat(JSON)
    graphs = {b["g"]["value"] for b in sw.query().convert()["results"]["bindings"]}
    assert {GRAPH_ONTOLOGY, source_graph("bandow-2021-07-10"), GRAPH_INFERRED,
            GRAPH_WIKIDATA} <= graphs


def test_union_default_graph_reaches_the_whole_knowledge_base(kb: ServerProcess) -> None:
    def count(query: str, **params: str) -> int:
        r = requests.get(kb.sparql, params={"query": query, **params}, timeout=60,
                         headers={"Accept": "application/sparql-results+json"})
        return int(r.json()["results"]["bindings"][0]["n"]["value"])

    union = count("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")
    per_graph = count("SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } }")
    asserted = count("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }", inference="false")
    inferred = count(f"SELECT (COUNT(*) AS ?n) {{ GRAPH <{GRAPH_INFERRED}> {{ ?s ?p ?o }} }}")
    assert union > 1000 and inferred > 0
    assert union <= per_graph  # the same triple may sit in two graphs
    assert asserted < union


def test_restart_does_not_reload(kb: ServerProcess, tmp_path: Path) -> None:
    engine = getattr(kb, "engine", None)
    if engine is not None:
        # A second server on the same engine finds the knowledge base complete.
        again = kgraph_server(engine, tmp_path)
        try:
            assert "loaded" not in again.log()
            r = requests.get(again.url + "/queries/treaties", headers={"Accept": "text/csv"},
                             timeout=60)
            assert "1961-07-11" in r.text
        finally:
            again.stop()
        return
    kb_server = kb
    # The session server bootstrapped its store; a second start on a copy finds it complete.
    import shutil

    kb_server.stop()
    copy = tmp_path / "store"
    shutil.copytree(kb_server.store, copy)
    kb_server.start()
    again = ServerProcess(copy).start()
    try:
        assert "loaded" not in again.log()
        r = requests.get(again.url + "/queries/treaties", headers={"Accept": "text/csv"}, timeout=60)
        assert "1961-07-11" in r.text
    finally:
        again.stop()


def test_scenario_and_explanation_over_http(kb: ServerProcess) -> None:
    """A hypothetical attack triggers the alliance duty, contested, and leaves the stored
    data as it was; an inferred triple is explained down to its axioms (on every engine)."""
    def graph_sizes() -> dict[str, str]:
        r = requests.get(kb.sparql, timeout=60, headers={"Accept": "text/csv"}, params={
            "query": "SELECT ?g (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"})
        return dict(line.split(",", 1) for line in r.text.splitlines()[1:])

    before = graph_sizes()
    attack = {"events": [{"type": "ArmedAttack", "attacker": "kgr:USA", "target": "kgr:DPRK",
                          "date": "2021-07-10"}]}
    r = requests.post(kb.url + "/reason/scenario", json=attack, timeout=120)
    assert r.status_code == 200, r.text
    [duty] = r.json()["triggered_obligations"]
    assert duty["obligor"]["iri"].endswith("/PRC") and duty["status"] == "contested"
    assert graph_sizes() == before
    r = requests.get(kb.url + "/reason/explain", timeout=60, params={
        "s": "kgr:DPRK", "p": "kgo:alliedWith", "o": "kgr:PRC", "format": "text"})
    assert r.status_code == 200 and "rule " in r.text
