"""The reasoning layer's done-when tests, on the article's knowledge base.

The store is built the way the server builds it (ontology file, the facts file
compiled by the ingest compiler, the Wikidata snapshot) and materialized once
for the module; SHACL validation is the ingest tests' business and is skipped
here to keep the suite fast.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from pyoxigraph import NamedNode, Quad

from kgraph.bootstrap import ontology_files
from kgraph.config import Settings
from kgraph.ingest import load_facts
from kgraph.ingest.compile import compile_document
from kgraph.loader import load_files
from kgraph.namespaces import GRAPH_INFERRED, GRAPH_ONTOLOGY, KGO, KGR
from kgraph.reasoning import materialize, run_scenario, workspace
from kgraph.reasoning.explain import GRAPH_SCENARIO, quotes_in, render_text, rules_in
from kgraph.reasoning.scenario import ScenarioError, events_from_json, events_from_turtle
from kgraph.reasoning.service import explain_obligation, explain_triple
from kgraph.store import open_store
from kgraph.web import create_app

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "data" / "facts" / "bandow-2021-07-10.yaml"
ARTICLE = (ROOT / "data" / "sources" / "bandow-2021-07-10.txt").read_text(encoding="utf-8")

pytestmark = pytest.mark.skipif(not FACTS.exists(), reason="knowledge base not present")


def build_kb():  # type: ignore[no-untyped-def]
    store = open_store(None)
    load_files(store, ontology_files(ROOT / "ontology"), GRAPH_ONTOLOGY, progress=False)
    compiled = compile_document(load_facts(FACTS))
    store.replace_graph(compiled.graph, compiled.quads)
    if (ROOT / "data" / "wikidata").is_dir():
        from kgraph.linking.snapshot import load_snapshot

        load_snapshot(store)
    return store


@pytest.fixture(scope="module")
def kb():  # type: ignore[no-untyped-def]
    store = build_kb()
    report = materialize(store)
    assert report.inferred_triples > 0
    return store


def dump(store) -> list[str]:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    store.dump(out, "application/n-quads")
    return sorted(out.getvalue().decode("utf-8").splitlines())


def attack(attacker: str, target: str, date: str) -> dict:  # type: ignore[type-arg]
    return {"events": [{"type": "ArmedAttack", "attacker": attacker, "target": target,
                        "date": date}]}


def assert_quotes_are_verbatim(quotes: list[dict]) -> None:  # type: ignore[type-arg]
    assert quotes
    for q in quotes:
        assert ARTICLE[q["start"]:q["end"]] == q["exact"], q


# -- done when ---------------------------------------------------------------------------------


def test_us_attack_on_dprk_obliges_china_contested_by_the_scmp_claim(kb) -> None:  # type: ignore[no-untyped-def]
    before = dump(kb)
    result = run_scenario(kb, events_from_json(attack("kgr:USA", "kgr:DPRK", "2021-07-10")),
                          explain=True)
    assert dump(kb) == before
    obligations = result.obligations
    assert len(obligations) == 1
    ob = obligations[0]
    assert ob["obligor"]["iri"] == KGR + "PRC"
    assert ob["beneficiary"]["iri"] == KGR + "DPRK"
    assert ob["treaty"]["iri"] == KGR + "Treaty1961"
    assert ob["source_provision"]["iri"] == KGR + "Treaty1961/DefenceProvision"
    assert ob["action"]["iri"] == KGR + "action/RespondToAttack"
    assert ob["status"] == "contested"
    assert "kgo:Triggered" in ob["statuses"] and "kgo:Contested" in ob["statuses"]
    claims = {c["iri"]: c for c in ob["contested_by"]}
    scmp = claims[KGR + "claim/scmp-2017-not-obliged"]
    assert any(r["iri"] == KGR + "SCMP" for r in scmp["reported_by"])
    assert any("China is not obliged to help defend North Korea" in q["exact"]
               for q in scmp["quotes"])
    assert_quotes_are_verbatim(scmp["quotes"])
    # the explanation reaches the article's quotes: signature date, parties, the obligation
    tree = ob["explanation"]
    assert {"mutual-defence-triggered", "treaty-in-force-on"} <= set(rules_in(tree))
    quotes = quotes_in(tree)
    assert_quotes_are_verbatim(quotes)
    exact = {q["exact"] for q in quotes}
    assert "on July 11, 1961" in exact
    assert any("respond to an “attack.”" in e for e in exact)
    # and why it is contested, down to the SCMP report
    why_contested = [t for t in ob["contest_explanations"]
                     if t["o"]["value"] == KGR + "claim/scmp-2017-not-obliged"][0]
    assert "China is not obliged to help defend North Korea" in {
        q["exact"] for q in quotes_in(why_contested)}


def test_dprk_attack_on_south_korea_obliges_china_to_nothing(kb) -> None:  # type: ignore[no-untyped-def]
    result = run_scenario(kb, events_from_json(attack("kgr:DPRK", "kgr:ROK", "2021-07-10")))
    assert result.obligations == []
    assert result.events[0]["triggered"] == []
    assert "kgr:ROK" in result.events[0]["not_triggered_because"][0]


def test_attack_by_a_party_on_its_ally_triggers_nothing(kb) -> None:  # type: ignore[no-untyped-def]
    result = run_scenario(kb, events_from_json(attack("kgr:DPRK", "kgr:PRC", "2021-07-10")))
    assert result.obligations == []
    assert "defensive" in result.events[0]["not_triggered_because"][0]


def test_attack_on_dprk_in_1955_predates_the_treaty(kb) -> None:  # type: ignore[no-untyped-def]
    result = run_scenario(kb, events_from_json(attack("kgr:USA", "kgr:DPRK", "1955-06-25")))
    assert result.obligations == []
    assert "not in force on 1955-06-25" in result.events[0]["not_triggered_because"][0]
    # the day after signature, it is in force
    result = run_scenario(kb, events_from_json(attack("kgr:USA", "kgr:DPRK", "1961-07-12")))
    assert [o["obligor"]["iri"] for o in result.obligations] == [KGR + "PRC"]


def test_china_and_dprk_are_inferred_allies_with_an_explanation(kb) -> None:  # type: ignore[no-untyped-def]
    allied = NamedNode(KGO + "alliedWith")
    prc, dprk = NamedNode(KGR + "PRC"), NamedNode(KGR + "DPRK")
    inferred = {(q.subject, q.object) for q in kb.quads()
                if q.graph_name == NamedNode(GRAPH_INFERRED) and q.predicate == allied}
    assert (dprk, prc) in inferred
    for s, o in (("kgr:PRC", "kgr:DPRK"), ("kgr:DPRK", "kgr:PRC")):
        tree = explain_triple(kb, s, "kgo:alliedWith", o)
        alliance = [a for a in [tree, *tree.get("also_inferred", [])]
                    if a.get("rule", {}).get("name") == "alliance"]
        assert alliance, render_text(tree)
        quotes = quotes_in(tree)  # shared premises are explained once per tree
        assert_quotes_are_verbatim(quotes)
        exact = {q["exact"] for q in quotes}
        assert "on July 11, 1961" in exact  # signature: the start of the treaty
        assert "July 10, 2021" in exact  # the publication date: "in force now"
    text = render_text(explain_triple(kb, "kgr:DPRK", "kgo:alliedWith", "kgr:PRC"))
    assert "rule alliance" in text and "“on July 11, 1961”" in text


def test_every_scenario_leaves_the_store_exactly_as_it_was(kb) -> None:  # type: ignore[no-untyped-def]
    before = dump(kb)
    for doc in (attack("kgr:USA", "kgr:DPRK", "2021-07-10"),
                attack("kgr:DPRK", "kgr:ROK", "2021-07-10"),
                attack("kgr:USA", "kgr:DPRK", "1955-06-25")):
        run_scenario(kb, events_from_json(doc), explain=True)
    ttl = ('kgr:hypotheticalStrike a kgo:ArmedAttack ; kgo:attacker kgr:USA ; kgo:target kgr:DPRK ; '
           'kgo:date "2021-07-10"^^xsd:date .')
    assert run_scenario(kb, events_from_turtle(ttl)).obligations
    assert dump(kb) == before


# -- the shared working copy -------------------------------------------------------------------


def test_scenarios_leave_the_working_copy_exactly_as_it_was(kb) -> None:  # type: ignore[no-untyped-def]
    copy = workspace.working_copy(kb)
    before = copy.dump_nquads()
    assert before and not any(GRAPH_SCENARIO in line for line in before)
    for doc in (attack("kgr:USA", "kgr:DPRK", "2021-07-10"),
                attack("kgr:DPRK", "kgr:ROK", "2021-07-10")):
        run_scenario(kb, events_from_json(doc), explain=True)
    with pytest.raises(ScenarioError):  # a failing scenario removes its overlay too
        run_scenario(kb, events_from_json({"events": [{"type": "kgo:Treaty", "date": "2021-01-01"}]}))
    assert workspace.working_copy(kb) is copy
    assert copy.dump_nquads() == before


def test_the_working_copy_is_built_once_per_store_version(kb) -> None:  # type: ignore[no-untyped-def]
    explain_triple(kb, "kgr:DPRK", "kgo:alliedWith", "kgr:PRC")
    builds = workspace.builds
    for _ in range(3):
        explain_triple(kb, "kgr:DPRK", "kgo:alliedWith", "kgr:PRC")
        run_scenario(kb, events_from_json(attack("kgr:USA", "kgr:DPRK", "2021-07-10")))
    assert workspace.builds == builds
    # a write makes a new version: the next request builds a new copy, once, that sees it
    other = open_store(None)
    other.add_quads(kb.quads())
    copy = workspace.working_copy(other)
    assert workspace.builds == builds + 1
    label = NamedNode(KGR + "ScenarioTestLabel")
    other.add_quads([Quad(label, NamedNode(KGO + "alliedWith"), NamedNode(KGR + "PRC"),
                          NamedNode(GRAPH_ONTOLOGY))])
    tree = explain_triple(other, "kgr:ScenarioTestLabel", "kgo:alliedWith", "kgr:PRC")
    assert tree["kind"] == "axiom"
    assert workspace.builds == builds + 2 and workspace.working_copy(other) is not copy


@pytest.mark.parametrize("doc", [
    attack("kgr:USA", "kgr:DPRK", "2021-07-10"),
    attack("kgr:DPRK", "kgr:ROK", "2021-07-10"),
    attack("kgr:DPRK", "kgr:PRC", "1999-01-01"),
    {"events": [{"type": "ArmedAttack", "attacker": "kgr:USA", "target": "kgr:DPRK",
                 "date": "2021-07-10", "id": "kgr:strike"},
                {"type": "kgo:Event", "date": "2020-01-01", "target": "kgr:PRC"}]},
], ids=["triggers", "nothing", "party", "two-events"])
def test_the_incremental_overlay_derives_exactly_what_a_full_run_does(kb, doc) -> None:  # type: ignore[no-untyped-def]
    from kgraph.reasoning.materialize import asserted_quads, run_rules, scratch_store

    events = events_from_json(doc)
    result = run_scenario(kb, events)
    full = run_rules(scratch_store([*asserted_quads(kb), *events]))
    assert set(result.run.derivations) == set(full.derivations)


def test_concurrent_scenarios_do_not_see_each_others_events(kb) -> None:  # type: ignore[no-untyped-def]
    docs = {
        "triggers": attack("kgr:USA", "kgr:DPRK", "2021-07-10"),
        "nothing": attack("kgr:DPRK", "kgr:ROK", "2021-07-10"),
        "too-early": attack("kgr:USA", "kgr:DPRK", "1955-06-25"),
    }
    alone = {k: run_scenario(kb, events_from_json(d)).as_dict() for k, d in docs.items()}
    assert alone["triggers"]["triggered_obligations"]
    assert not alone["nothing"]["triggered_obligations"]
    results: dict[str, list[dict]] = {k: [] for k in docs}  # type: ignore[type-arg]
    errors: list[BaseException] = []

    def worker(key: str) -> None:
        try:
            for _ in range(3):
                results[key].append(run_scenario(kb, events_from_json(docs[key])).as_dict())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in docs for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for key, outs in results.items():
        assert len(outs) == 6 and all(out == alone[key] for out in outs), key


# -- explanation of a stored inference -----------------------------------------------------------


def test_explain_obligation_shows_contested_status_with_claim_quotes(kb) -> None:  # type: ignore[no-untyped-def]
    out = explain_obligation(kb, "kgr:obligation/PRC-defend-DPRK")
    contested = [t for t in out["inferred"] if t["p"]["value"] == KGO + "contestedBy"]
    assert {t["o"]["value"] for t in contested} >= {KGR + "claim/scmp-2017-not-obliged"}
    for t in contested:
        assert_quotes_are_verbatim(quotes_in(t))


def test_explain_rejects_unknown_triples_and_bad_terms(kb) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LookupError):
        explain_triple(kb, "kgr:DPRK", "kgo:alliedWith", "kgr:ROK")
    with pytest.raises(ScenarioError):
        explain_triple(kb, "not an iri", "kgo:alliedWith", "kgr:ROK")
    tree = explain_triple(kb, "kgr:Treaty1961", "kgo:signedOn", '"1961-07-11"^^xsd:date')
    assert tree["kind"] == "asserted"
    assert tree["facts"][0]["quotes"][0]["exact"] == "on July 11, 1961"


# -- HTTP ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(kb):  # type: ignore[no-untyped-def]
    app = create_app(Settings(store_path=None, bootstrap=False), kb)
    return app.test_client()


def test_http_scenario_json_and_turtle(client, kb) -> None:  # type: ignore[no-untyped-def]
    before = dump(kb)
    resp = client.post("/reason/scenario", json=attack("kgr:USA", "kgr:DPRK", "2021-07-10"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["stored_data_changed"] is False
    [ob] = body["triggered_obligations"]
    assert ob["obligor"]["iri"] == KGR + "PRC" and ob["status"] == "contested"
    assert any(c["iri"].endswith("scmp-2017-not-obliged") for c in ob["contested_by"])
    ttl = ("@prefix ex: <http://example.org/> .\n"
           'ex:strike a kgo:ArmedAttack ; kgo:attacker kgr:DPRK ; kgo:target kgr:ROK ; '
           'kgo:date "2021-07-10"^^xsd:date .')
    resp = client.post("/reason/scenario", data=ttl, content_type="text/turtle")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["triggered_obligations"] == []
    resp = client.post("/reason/scenario?explain=true",
                       json=attack("kgr:USA", "kgr:DPRK", "2021-07-10"))
    assert "explanation" in resp.get_json()["triggered_obligations"][0]
    assert dump(kb) == before


@pytest.mark.parametrize(
    ("body", "ctype", "status", "message"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b'{"events": []}', "application/json", 400, "non-empty list"),
        (b'{"events": [{"type": "ArmedAttack", "date": "2021-13-40"}]}', "application/json",
         400, "not a valid"),
        (b'{"events": [{"type": "ArmedAttack", "date": "2021-07-10", "attacker": "a b"}]}',
         "application/json", 400, "not an absolute IRI"),
        (b'{"events": [{"type": "Treaty", "date": "2021-07-10"}]}', "application/json", 400,
         "no event"),
        (b'{"events": [{"type": "ArmedAttack", "date": "2021-07-10", "color": 1}]}',
         "application/json", 400, "unknown key"),
        (b"kgr:x a kgo:ArmedAttack", "text/turtle", 400, "does not parse"),
        (b"<a/>", "application/xml", 415, "Content-Type"),
    ],
)
def test_http_scenario_bad_input_is_a_clear_4xx(client, body, ctype, status, message) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/reason/scenario", data=body, content_type=ctype)
    assert resp.status_code == status
    err = resp.get_json()["error"]
    assert message in err and "Traceback" not in err


def test_http_explain(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/reason/explain", query_string={
        "s": "kgr:DPRK", "p": "kgo:alliedWith", "o": "kgr:PRC"})
    assert resp.status_code == 200
    tree = resp.get_json()
    assert "alliance" in rules_in(tree)
    resp = client.get("/reason/explain", query_string={
        "s": "kgr:DPRK", "p": "kgo:alliedWith", "o": "kgr:PRC", "format": "text"})
    assert resp.mimetype == "text/plain" and "rule alliance" in resp.get_data(as_text=True)
    resp = client.get("/reason/explain",
                      query_string={"obligation": KGR + "obligation/PRC-defend-DPRK"})
    assert resp.status_code == 200 and resp.get_json()["inferred"]
    assert client.get("/reason/explain").status_code == 400
    assert client.get("/reason/explain", query_string={
        "s": "kgr:DPRK", "p": "kgo:alliedWith", "o": "kgr:ROK"}).status_code == 404


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_scenario_and_explain(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kgraph import cli
    from kgraph.reasoning import cli as rcli

    store = build_kb()
    materialize(store)
    store.close = lambda: None  # type: ignore[method-assign]
    monkeypatch.setattr(rcli, "_open", lambda args: store)
    path = tmp_path / "attack.json"
    path.write_text(json.dumps(attack("kgr:USA", "kgr:DPRK", "2021-07-10")))
    assert cli.main(["scenario", str(path), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "TRIGGERED" in out and "People’s Republic of China" in out
    assert "contested by" in out and "on July 11, 1961" in out
    assert cli.main(["scenario", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["triggered_obligations"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"events": "nope"}')
    assert cli.main(["scenario", str(bad)]) == 2
    assert "non-empty list" in capsys.readouterr().err
    assert cli.main(["explain", "kgr:DPRK", "kgo:alliedWith", "kgr:PRC"]) == 0
    assert "rule alliance" in capsys.readouterr().out
    assert cli.main(["reason", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["materialize"]["inferred_triples"] > 0


@pytest.mark.slow
def test_hermit_finds_the_knowledge_base_consistent(kb) -> None:  # type: ignore[no-untyped-def]
    from kgraph.reasoning import check_with_hermit
    from kgraph.reasoning.materialize import asserted_quads

    result = check_with_hermit(asserted_quads(kb))
    assert result.consistent, result.message
    assert result.unsatisfiable == []
    # classification finds what the OWL RL rules do not derive as schema axioms
    assert (KGO + "MutualDefenceTreatyInForce", KGO + "TreatyInForce") in result.inferred_subclasses


def test_sparql_sees_inferred_triples_unless_inference_is_off(client) -> None:  # type: ignore[no-untyped-def]
    ask = f"ASK {{ <{KGR}DPRK> <{KGO}alliedWith> <{KGR}PRC> }}"
    headers = {"Accept": "application/sparql-results+json"}
    on = client.get("/sparql", query_string={"query": ask}, headers=headers)
    off = client.get("/sparql", query_string={"query": ask, "inference": "false"}, headers=headers)
    assert on.status_code == 200 and off.status_code == 200
    assert on.get_json()["boolean"] is True  # derived (symmetry, alliance rule)
    assert off.get_json()["boolean"] is False  # the article states PRC -> DPRK only


@pytest.mark.slow
def test_real_server_answers_a_scenario_and_keeps_its_data(kb_server) -> None:  # type: ignore[no-untyped-def]
    """Over real HTTP: the server bootstrapped (and materialized) the KB itself."""
    import requests

    def count() -> int:
        r = requests.get(kb_server.sparql, params={"query": "SELECT (COUNT(*) AS ?n) "
                                                   "{ GRAPH ?g { ?s ?p ?o } }"},
                         headers={"Accept": "application/sparql-results+json"}, timeout=60)
        return int(r.json()["results"]["bindings"][0]["n"]["value"])

    before = count()
    resp = requests.post(kb_server.url + "/reason/scenario",
                         json=attack("kgr:USA", "kgr:DPRK", "2021-07-10"), timeout=120)
    assert resp.status_code == 200, resp.text
    [ob] = resp.json()["triggered_obligations"]
    assert ob["obligor"]["iri"] == KGR + "PRC" and ob["status"] == "contested"
    resp = requests.post(kb_server.url + "/reason/scenario", data="nope",
                         headers={"Content-Type": "text/plain"}, timeout=60)
    assert resp.status_code == 415 and "error" in resp.json()
    resp = requests.get(kb_server.url + "/reason/explain", timeout=120, params={
        "s": "kgr:DPRK", "p": "kgo:alliedWith", "o": "kgr:PRC", "format": "text"})
    assert resp.status_code == 200 and "rule alliance" in resp.text
    assert count() == before
