"""Unit tests of the reasoning layer on small synthetic fixtures (not the knowledge base).

The article's knowledge base is tested in test_reasoning_kb.py; here the rule
parser, the engine (fixpoint, strata, provenance), the treaty rules on a toy
treaty, the agreement with owlrl on OWL 2 RL, and the HermiT check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple

from kgraph.namespaces import GRAPH_INFERRED, GRAPH_ONTOLOGY, KGO
from kgraph.reasoning.engine import RuleEngine
from kgraph.reasoning.explain import GRAPH_SCENARIO, Explainer, render_text, rules_in
from kgraph.reasoning.materialize import (
    INFERRED,
    closure_owlrl,
    closure_reasonable,
    materialize,
    run_rules,
    scratch_store,
    turtle_quads,
)
from kgraph.reasoning.owl import check_with_hermit
from kgraph.reasoning.rules import RULES_DIR, RuleError, load_rules, parse_rule
from kgraph.reasoning.synthetic import generate
from kgraph.store import open_store

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "data" / "reasoning" / "toy-treaty.ttl"
EX = "http://example.org/toy/"


def ex(local: str) -> NamedNode:
    return NamedNode(EX + local)


def kgo(local: str) -> NamedNode:
    return NamedNode(KGO + local)


@pytest.fixture(scope="module")
def ontology() -> list[Quad]:
    return turtle_quads((ROOT / "ontology" / "kgraph.ttl").read_bytes(), GRAPH_ONTOLOGY)


def toy_with(ontology: list[Quad], events: str) -> tuple:  # type: ignore[type-arg]
    """Ontology + toy treaty + scenario events; run the rules; (run, scratch)."""
    quads = ontology + turtle_quads(TOY.read_bytes(), "https://w3id.org/kgraph/graph/source/toy")
    prologue = ("@prefix kgo: <https://w3id.org/kgraph/ontology#> . "
                "@prefix ex: <http://example.org/toy/> . "
                "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n")
    quads += turtle_quads(prologue + events, GRAPH_SCENARIO)
    scratch = scratch_store(quads)
    return run_rules(scratch), scratch


def attack(name: str, attacker: str, target: str, day: str) -> str:
    return (f'ex:{name} a kgo:ArmedAttack ; kgo:attacker ex:{attacker} ; kgo:target ex:{target} ; '
            f'kgo:date "{day}"^^xsd:date .\n')


# -- rules as data ---------------------------------------------------------------------------


def test_every_shipped_rule_parses_and_is_documented() -> None:
    rules = load_rules([RULES_DIR], include=["owl-rl", "owl-rl-reflexive", "treaty"])
    assert len(rules) >= 45
    for r in rules:
        assert r.summary, f"{r.path} has no '# summary:' line"
        assert r.template and "SELECT *" in r.select
    names = {r.name for r in load_rules()}
    assert {"treaty-in-force-on", "mutual-defence-triggered", "alliance",
            "obligation-contested", "cax-sco", "prp-inv1"} <= names
    assert "eq-ref" not in names  # reflexive rules are opt-in


def test_malformed_rules_are_rejected_with_the_file_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rq"
    bad.write_text("# rule: bad\nSELECT * WHERE { ?s ?p ?o }\n")
    with pytest.raises(RuleError, match="bad.rq"):
        parse_rule(bad)
    nohead = tmp_path / "nohead.rq"
    nohead.write_text("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }\n")
    with pytest.raises(RuleError, match="rule: <name>"):
        parse_rule(nohead)
    bnode = tmp_path / "bnode.rq"
    bnode.write_text("# rule: b\nCONSTRUCT { ?s <urn:p> [] } WHERE { ?s ?p ?o }\n")
    with pytest.raises(RuleError, match="blank nodes"):
        parse_rule(bnode)


def test_engine_reaches_fixpoint_and_records_premises() -> None:
    ttl = """@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . @prefix : <urn:x:> .
    :A rdfs:subClassOf :B . :B rdfs:subClassOf :C . :C rdfs:subClassOf :D . :i a :A ."""
    scratch = scratch_store(turtle_quads(ttl, None))
    run = RuleEngine(load_rules([RULES_DIR], include=["owl-rl"])).run(scratch, INFERRED)
    rdf_type = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    goal = Triple(NamedNode("urn:x:i"), rdf_type, NamedNode("urn:x:D"))
    assert goal in run.derivations
    tree = Explainer(run, scratch).explain(goal)
    # every leaf of the tree is asserted: derivations are well-founded
    def leaves(node: dict) -> list[dict]:  # type: ignore[type-arg]
        kids = node.get("premises") or []
        return [node] if not kids else [x for k in kids for x in leaves(k)]
    assert all(leaf["kind"] in ("asserted", "axiom") for leaf in leaves(tree))
    assert rules_in(tree)[0] in ("cax-sco", "scm-sco")
    # the derived triples sit in the target graph only
    assert {q.graph_name for q in scratch.quads_for_pattern(None, None, None, INFERRED)} == {INFERRED}


# -- treaty rules on a toy treaty ------------------------------------------------------------


def test_third_party_attack_triggers_the_defence_obligation(ontology: list[Quad]) -> None:
    run, scratch = toy_with(ontology, attack("e1", "C", "B", "2021-07-10"))
    triggered = Triple(ex("ObAB"), kgo("triggeredBy"), ex("e1"))
    assert triggered in run.derivations
    assert run.derivations[triggered].rule.name == "mutual-defence-triggered"
    # only the obligation protecting B is triggered
    assert Triple(ex("ObBA"), kgo("triggeredBy"), ex("e1")) not in run.derivations
    text = render_text(Explainer(run, scratch).explain(triggered))
    assert "treaty-in-force-on" in text and "[scenario, hypothetical]" in text


def test_attack_by_a_party_triggers_nothing(ontology: list[Quad]) -> None:
    run, _ = toy_with(ontology, attack("e2", "A", "B", "2021-07-10"))
    assert not [t for t in run.derivations if t.predicate == kgo("triggeredBy")]


def test_attack_before_signature_triggers_nothing(ontology: list[Quad]) -> None:
    run, _ = toy_with(ontology, attack("e3", "C", "B", "1989-12-31"))
    assert not [t for t in run.derivations if t.predicate == kgo("triggeredBy")]
    assert Triple(ex("T"), kgo("inForceOn"),
                  Literal("1989-12-31", datatype=NamedNode("http://www.w3.org/2001/XMLSchema#date"))
                  ) not in run.derivations


@pytest.mark.parametrize(
    ("extra", "day", "in_force"),
    [
        ('ex:T kgo:terminatedOn "2000-01-01"^^xsd:date .', "2021-07-10", False),
        ('ex:T kgo:terminatedOn "2000-01-01"^^xsd:date .', "1999-12-31", True),
        ('ex:T kgo:terminatedOn "2000"^^xsd:gYear .', "2000-06-01", False),
        ('ex:T kgo:enteredIntoForceOn "1991-01-01"^^xsd:date .', "1990-06-01", False),
        ('ex:T kgo:enteredIntoForceOn "1991-01-01"^^xsd:date .', "1991-01-01", True),
    ],
)
def test_in_force_respects_termination_and_entry_into_force(
    ontology: list[Quad], extra: str, day: str, in_force: bool
) -> None:
    run, _ = toy_with(ontology, extra + "\n" + attack("e", "C", "B", day))
    fact = Triple(ex("T"), kgo("inForceOn"),
                  Literal(day, datatype=NamedNode("http://www.w3.org/2001/XMLSchema#date")))
    assert (fact in run.derivations) is in_force


def test_fixed_term_expires_unless_renewed_or_automatic(ontology: list[Quad]) -> None:
    # The toy treaty renews automatically; a copy with a 20-year term that does not.
    fixed = """ex:F a kgo:MutualDefenceTreaty ; kgo:hasParty ex:A , ex:C ;
        kgo:signedOn "1990-05-01"^^xsd:date ; kgo:renewalPeriod "P20Y"^^xsd:yearMonthDuration .
    ex:R a kgo:TreatyRenewal ; kgo:renewalOf ex:G ; kgo:date "2010-05-01"^^xsd:date .
    ex:G a kgo:MutualDefenceTreaty ; kgo:hasParty ex:A , ex:C ;
        kgo:signedOn "1990-05-01"^^xsd:date ; kgo:renewalPeriod "P20Y"^^xsd:yearMonthDuration .
    """
    run, _ = toy_with(ontology, fixed + attack("e", "B", "C", "2015-01-01")
                      + attack("f", "B", "C", "2005-01-01"))
    xsd_date = NamedNode("http://www.w3.org/2001/XMLSchema#date")
    assert Triple(ex("F"), kgo("inForceOn"), Literal("2005-01-01", datatype=xsd_date)) in run.derivations
    assert Triple(ex("F"), kgo("inForceOn"), Literal("2015-01-01", datatype=xsd_date)) not in run.derivations
    assert Triple(ex("G"), kgo("inForceOn"), Literal("2015-01-01", datatype=xsd_date)) in run.derivations


def test_alliance_and_contested_status(ontology: list[Quad]) -> None:
    run, scratch = toy_with(ontology, "")
    assert Triple(ex("A"), kgo("alliedWith"), ex("B")) in run.derivations
    assert Triple(ex("B"), kgo("alliedWith"), ex("A")) in run.derivations
    contested = Triple(ex("ObAB"), kgo("contestedBy"), ex("Claim"))
    assert contested in run.derivations
    assert Triple(ex("ObAB"), kgo("status"), kgo("Contested")) in run.derivations
    # OWL classifies it too, through kgo:ContestedObligation's definition
    rdf_type = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    assert Triple(ex("ObAB"), rdf_type, kgo("ContestedObligation")) in run.derivations
    tree = Explainer(run, scratch).explain(contested)
    assert "obligation-contested" in rules_in(tree)
    assert "prp-spo1" in rules_in(tree)  # allegesBreachOf is a sub-property of contests


# -- OWL 2 RL engines --------------------------------------------------------------------------


def _about_data(triples: set[Triple]) -> set[Triple]:
    """Conclusions about the data's individuals, minus the trivial ones owlrl adds
    (x sameAs x, x a owl:Thing) and memberships in anonymous class expressions."""
    from kgraph.reasoning.synthetic import EX as SYN

    thing = NamedNode("http://www.w3.org/2002/07/owl#Thing")
    return {
        t for t in triples
        if isinstance(t.subject, NamedNode) and t.subject.value.startswith(SYN)
        and t.subject != t.object and t.object != thing and not isinstance(t.object, BlankNode)
    }


def test_rule_engine_agrees_with_owlrl_on_synthetic_data(ontology: list[Quad]) -> None:
    quads = ontology + list(generate(1500))
    scratch = scratch_store(quads)
    mine = set(RuleEngine(load_rules(include=["owl-rl"])).run(scratch, INFERRED).derivations)
    theirs = _about_data(set(closure_owlrl(quads)))
    mine = _about_data(mine)
    assert len(mine) > 500
    # Everything owlrl concludes about the data, the rules conclude too
    missing = theirs - mine
    assert not missing, sorted(map(str, missing))[:10]
    extra = mine - theirs
    assert not extra, sorted(map(str, extra))[:10]


def test_reasonable_smushes_inverse_functional_values() -> None:
    """Why `reasonable` is not used: its prp-ifp makes distinct subjects the same.

    If this starts failing, reasonable was fixed: re-measure it (docs/reasoning.md).
    """
    ttl = """@prefix owl: <http://www.w3.org/2002/07/owl#> . @prefix : <urn:x:> .
    :hp a owl:ObjectProperty , owl:InverseFunctionalProperty . :t1 :hp :p1 . :t2 :hp :p2 ."""
    same = NamedNode("http://www.w3.org/2002/07/owl#sameAs")
    wrong = Triple(NamedNode("urn:x:t1"), same, NamedNode("urn:x:t2"))
    assert wrong in set(closure_reasonable(turtle_quads(ttl, None)))
    scratch = scratch_store(turtle_quads(ttl, None))
    assert wrong not in run_rules(scratch).derivations


def test_materialize_writes_only_the_inferred_graph(ontology: list[Quad]) -> None:
    store = open_store(None)
    store.add_quads(ontology + turtle_quads(TOY.read_bytes(), "https://w3id.org/kgraph/graph/source/toy"))
    before = sorted(map(str, store.quads()))
    report = materialize(store)
    assert report.inferred_triples > 0
    after = [q for q in store.quads() if q.graph_name != NamedNode(GRAPH_INFERRED)]
    assert sorted(map(str, after)) == before
    assert store.count(GRAPH_INFERRED) == report.inferred_triples
    # re-running replaces, not appends
    assert materialize(store).inferred_triples == report.inferred_triples
    assert store.count(GRAPH_INFERRED) == report.inferred_triples


@pytest.mark.parametrize("engine", ["owlrl", "reasonable"])
def test_baseline_engines_also_materialize(ontology: list[Quad], engine: str) -> None:
    store = open_store(None)
    store.add_quads(ontology + turtle_quads(TOY.read_bytes(), "https://w3id.org/kgraph/graph/source/toy"))
    report = materialize(store, engine=engine)
    assert report.engine == engine and report.inferred_triples > 0


# -- HermiT ----------------------------------------------------------------------------------


def test_hermit_accepts_the_ontology_and_toy_data(ontology: list[Quad]) -> None:
    quads = ontology + turtle_quads(TOY.read_bytes(), None)
    result = check_with_hermit(quads)
    assert result.consistent, result.message
    assert result.unsatisfiable == []
    assert result.skipped_literals > 0  # xsd:date values are outside the OWL 2 datatype map


def test_hermit_detects_an_inconsistency(ontology: list[Quad]) -> None:
    # a treaty that is also an event violates the ontology's disjointness axioms
    bad = turtle_quads(
        "@prefix kgo: <https://w3id.org/kgraph/ontology#> . <urn:x:t> a kgo:Treaty , kgo:Event .",
        None,
    )
    result = check_with_hermit(ontology + bad)
    assert not result.consistent
    assert "inconsistent" in result.message
