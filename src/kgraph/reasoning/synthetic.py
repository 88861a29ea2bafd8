"""Synthetic states, treaties, obligations, claims and attacks for benchmarks.

The data uses the real ontology's terms and the same shape as the article's
knowledge base (bilateral mutual defence treaties with one provision and one
obligation per direction, armed-attack conditions, claims contesting
treaties, dated attacks), so the benchmark exercises the same rules. It is
generated, deterministic (seeded) and lives under ``http://example.org/synthetic/``
so it can never be mistaken for knowledge-base data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from pyoxigraph import Literal, NamedNode, Quad

from ..namespaces import KGO, PREFIXES, XSD

EX = "http://example.org/synthetic/"
GRAPH = NamedNode("https://w3id.org/kgraph/graph/source/synthetic")
RDF_TYPE = NamedNode(PREFIXES["rdf"] + "type")
LABEL = NamedNode(PREFIXES["rdfs"] + "label")

#: Triples one "unit" (a treaty with its obligations, events and claims) produces, about.
TRIPLES_PER_UNIT = 33


def _k(local: str) -> NamedNode:
    return NamedNode(KGO + local)


def _x(local: str) -> NamedNode:
    return NamedNode(EX + local)


def _date(y: int, m: int, d: int) -> Literal:
    return Literal(f"{y:04d}-{m:02d}-{d:02d}", datatype=NamedNode(XSD + "date"))


def generate(triples: int, *, seed: int = 7) -> Iterator[Quad]:
    """About ``triples`` asserted triples of synthetic treaty data (ontology not included)."""
    rnd = random.Random(seed)
    units = max(1, triples // TRIPLES_PER_UNIT)
    n_states = max(4, units // 2)
    days = [_date(1950 + 3 * i, 1 + i % 12, 1 + i % 28) for i in range(25)]  # 25 distinct days
    g = GRAPH

    def q(s: NamedNode, p: NamedNode, o: object) -> Quad:
        return Quad(s, p, o, g)  # type: ignore[arg-type]

    yield q(_x("doc"), NamedNode(PREFIXES["dcterms"] + "issued"), _date(2021, 7, 10))
    for i in range(n_states):
        s = _x(f"state/{i}")
        yield q(s, RDF_TYPE, _k("State"))
        yield q(s, LABEL, Literal(f"State {i}"))
    assist = _x("action/assist")
    yield q(assist, RDF_TYPE, _k("ActionType"))
    for u in range(units):
        a, b = rnd.sample(range(n_states), 2)
        sa, sb = _x(f"state/{a}"), _x(f"state/{b}")
        t = _x(f"treaty/{u}")
        prov = _x(f"treaty/{u}/art2")
        yield q(t, RDF_TYPE, _k("MutualDefenceTreaty"))
        yield q(t, LABEL, Literal(f"Treaty {u}"))
        yield q(sa, _k("partyTo"), t)
        yield q(sb, _k("partyTo"), t)
        yield q(t, _k("signedOn"), days[rnd.randrange(len(days))])
        if rnd.random() < 0.8:
            yield q(t, _k("renewsAutomatically"), Literal(True))
        else:
            yield q(t, _k("renewalPeriod"),
                    Literal("P20Y", datatype=NamedNode(XSD + "yearMonthDuration")))
        yield q(t, _k("hasProvision"), prov)
        yield q(prov, RDF_TYPE, _k("Provision"))
        for obligor, beneficiary, tag in ((sa, sb, "ab"), (sb, sa, "ba")):
            ob = _x(f"treaty/{u}/obligation/{tag}")
            cond = _x(f"treaty/{u}/condition/{tag}")
            yield q(ob, RDF_TYPE, _k("Obligation"))
            yield q(ob, _k("obligor"), obligor)
            yield q(ob, _k("beneficiary"), beneficiary)
            yield q(ob, _k("sourceProvision"), prov)
            yield q(ob, _k("requiredAction"), assist)
            yield q(ob, _k("modality"), _k("Obligatory"))
            yield q(ob, _k("trigger"), cond)
            yield q(cond, RDF_TYPE, _k("ArmedAttackCondition"))
            yield q(cond, _k("conditionTarget"), beneficiary)
            yield q(cond, _k("requiresThirdPartyAttacker"), Literal(True))
        # one dated attack per unit, on a random state by a random state
        e = _x(f"event/{u}")
        attacker, target = rnd.sample(range(n_states), 2)
        yield q(e, RDF_TYPE, _k("ArmedAttack"))
        yield q(e, _k("attacker"), _x(f"state/{attacker}"))
        yield q(e, _k("target"), _x(f"state/{target}"))
        yield q(e, _k("date"), days[rnd.randrange(len(days))])
        if u % 10 == 0:  # a claim contesting every tenth treaty
            c = _x(f"claim/{u}")
            yield q(c, RDF_TYPE, _k("Assessment"))
            yield q(c, _k("allegesBreachOf"), t)
