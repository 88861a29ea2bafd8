"""Labels users type: a label with typographic apostrophes, quotes or dashes is also an ASCII
``skos:altLabel``, added by the compiler (not by hand), evidenced and marked derived."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pyoxigraph import Literal, NamedNode, Quad, Store

from kgraph.ingest import compile_facts, load_facts
from kgraph.ingest.terms import ascii_spelling
from kgraph.namespaces import KGO, KGR, RDF, RDFS, SKOS

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "data" / "facts" / "bandow-2021-07-10.yaml"
ALT = SKOS + "altLabel"


@pytest.fixture(scope="module")
def quads() -> list[Quad]:
    return compile_facts(load_facts(FACTS))


def _names(quads: list[Quad]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for q in quads:
        if q.predicate.value in (RDFS + "label", ALT) and isinstance(q.object, Literal) \
                and q.subject.value.startswith(KGR) and "/fact/" not in q.subject.value:
            out.setdefault(q.subject.value, set()).add(q.object.value)
    return out


def test_ascii_spelling() -> None:
    assert ascii_spelling("People’s Liberation Army") == "People's Liberation Army"
    assert ascii_spelling("“friends”") == '"friends"'
    assert ascii_spelling("China–North Korea alliance") == "China-North Korea alliance"
    assert ascii_spelling("plain") == "plain"


def test_every_typographic_label_has_its_ascii_spelling(quads: list[Quad]) -> None:
    names = _names(quads)
    typographic = {(s, n) for s, ns in names.items() for n in ns if ascii_spelling(n) != n}
    assert len(typographic) > 20
    for subject, name in typographic:
        assert ascii_spelling(name) in names[subject], (subject, name)


def test_the_ascii_label_is_evidenced_and_derived(quads: list[Quad]) -> None:
    store = Store()
    store.extend(quads)
    rows = list(store.query("""
        PREFIX kgo: <https://w3id.org/kgraph/ontology#>
        PREFIX oa: <http://www.w3.org/ns/oa#>
        PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
        PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
        SELECT ?s ?exact ?how WHERE { GRAPH ?g {
          ?s skos:altLabel "People's Liberation Army"@en .
          ?f rdf:subject ?s ; rdf:predicate skos:altLabel ;
             rdf:object "People's Liberation Army"@en ;
             kgo:isDerived true ; kgo:derivation ?how ; kgo:hasEvidence ?q .
          ?q oa:hasSelector [ oa:exact ?exact ] } }"""))
    assert {row["s"].value for row in rows} == {KGR + "PLA"}
    assert any("People’s Liberation Army" in row["exact"].value for row in rows)
    assert all("ASCII spelling of “People’s Liberation Army”" in row["how"].value for row in rows)


def test_no_duplicate_or_needless_ascii_label(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("The People’s Army and the Navy.\n", encoding="utf-8")
    (tmp_path / "t.yaml").write_text(textwrap.dedent("""\
        document: {id: t, text: t.txt, title: "t"}
        resources:
          - id: kgr:Army
            type: kgo:ArmedForces
            label: "People’s Army"
            altLabel: ["People's Army"]
            mentions: [{quote: "The People’s Army", start: 0}]
          - id: kgr:Navy
            type: kgo:ArmedForces
            label: "the Navy"
            mentions: [{quote: "the Navy", start: 22}]
        """), encoding="utf-8")
    compiled = compile_facts(load_facts(tmp_path / "t.yaml"))
    alt = [q for q in compiled if q.predicate.value == ALT]
    assert [(q.subject.value, q.object.value) for q in alt] == [(KGR + "Army", "People's Army")]
    # The hand-written spelling is the author's, so it is not marked derived.
    derived = [q for q in compiled if q.predicate.value == KGO + "isDerived"]
    assert derived == []
    assert not any(q.predicate.value == RDF + "object" and q.object == Literal("the Navy")
                   and q.subject == NamedNode(KGR + "Navy") for q in compiled)
