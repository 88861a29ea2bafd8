"""Seeded, ontology-conformant benchmark data, streamed to N-Quads with bounded memory.

``python -m bench generate --triples 1000000 --seed 7 --out DIR`` writes ``DIR/data.nq`` and
``DIR/pools/*.txt`` (terms the load generator draws its random parameters from, one a line:
IRIs of states, treaties, obligations, people, claims, attacks, summits; the few signature
days; role start dates, of which there are thousands).

The treaty core (states, bilateral mutual defence treaties with provisions, one obligation per
direction with armed-attack trigger conditions, dated attacks, assessments alleging breach) is
``kgraph.reasoning.synthetic.generate``; this module adds what the competency queries also
read: leaders holding roles over time (kgo:RoleAssignment with start and end dates), news
organisations, attributed claims with claimant, reporter, quote and date, reified facts with
their quote selectors (provenance), and summits with participants. Everything is under
``http://example.org/synthetic/`` in the synthetic source graph, so it can never be mistaken
for knowledge-base data. Memory stays bounded: quads are written as they are made, and every
pool is a fixed-size reservoir sample.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import BlankNode, Literal, NamedNode, Quad

from kgraph.namespaces import KGO, PREFIXES, XSD
from kgraph.reasoning import synthetic
from kgraph.reasoning.synthetic import GRAPH, LABEL, _date, _k, _x

OA = "http://www.w3.org/ns/oa#"
RDF = PREFIXES["rdf"]
#: Share of the triples that the treaty core (kgraph.reasoning.synthetic) produces.
CORE_SHARE = 0.6
#: Triples one leader unit below produces, about (measured on the generator's output).
TRIPLES_PER_LEADER = 31
#: Size of every parameter pool (a reservoir sample of the generated IRIs).
POOL_SIZE = 20000
ROLES = ("head-of-state", "head-of-government", "foreign-minister", "defence-minister")
POOL_NAMES = ("state", "treaty", "obligation", "person", "claim", "event", "summit", "day",
              "date")
QUOTES = ("We will stand by our ally.", "The treaty remains in force.",
          "An attack on one is an attack on both.", "The obligation has lapsed.",
          "We reserve the right to respond.")


@dataclass
class Pools:
    """Reservoir samples of terms (N-Triples syntax: ``<iri>``, ``"1950-01-01"^^<...>``), one
    per kind, drawn with their own seeded generator."""

    seed: int
    size: int = POOL_SIZE
    seen: dict[str, int] = field(default_factory=dict)
    items: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rnd = random.Random(self.seed + 1)

    def offer(self, kind: str, iri: str) -> None:
        """Keep ``iri`` with probability size/seen (Algorithm R), so the pool stays uniform."""
        n = self.seen.get(kind, 0) + 1
        self.seen[kind] = n
        pool = self.items.setdefault(kind, [])
        if len(pool) < self.size:
            pool.append(iri)
        else:
            j = self._rnd.randrange(n)
            if j < self.size:
                pool[j] = iri

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for kind in POOL_NAMES:
            (folder / f"{kind}.txt").write_text("".join(f"{i}\n" for i in self.items.get(kind, [])))


_TYPE_POOL = {
    KGO + "State": "state", KGO + "MutualDefenceTreaty": "treaty", KGO + "Obligation": "obligation",
    KGO + "Person": "person", KGO + "AttributedClaim": "claim", KGO + "ArmedAttack": "event",
    KGO + "Summit": "summit",
}


def _year(y: int) -> Literal:
    return Literal(str(y), datatype=NamedNode(XSD + "gYear"))


def _int(n: int) -> Literal:
    return Literal(str(n), datatype=NamedNode(XSD + "integer"))


def _leaders(n_leaders: int, n_states: int, n_treaties: int, rnd: random.Random) -> Iterator[Quad]:
    """Leaders with roles over time, claims with provenance, facts with quotes, summits."""
    g = GRAPH

    def q(s: NamedNode, p: str | NamedNode, o: object) -> Quad:
        pred = p if isinstance(p, NamedNode) else NamedNode(p)
        return Quad(s, pred, o, g)  # type: ignore[arg-type]

    t = RDF + "type"
    for r in ROLES:
        yield q(_x(f"role/{r}"), t, _k("Role"))
        yield q(_x(f"role/{r}"), LABEL, Literal(r.replace("-", " "), language="en"))
    n_agencies = max(2, n_leaders // 200)
    for a in range(n_agencies):
        agency = _x(f"agency/{a}")
        yield q(agency, t, _k("NewsAgency"))
        yield q(agency, LABEL, Literal(f"Agency {a}", language="en"))
    doc = _x("doc/source")
    yield q(doc, t, _k("NewsArticle"))
    for i in range(n_leaders):
        person = _x(f"person/{i}")
        state = _x(f"state/{rnd.randrange(n_states)}")
        yield q(person, t, _k("Person"))
        yield q(person, LABEL, Literal(f"Leader {i}", language="en"))
        start = 1950 + rnd.randrange(70)
        for k in range(2):  # two terms, the second open-ended half of the time
            ra = _x(f"person/{i}/role/{k}")
            yield q(ra, t, _k("RoleAssignment"))
            yield q(ra, _k("holder"), person)
            yield q(ra, _k("role"), _x(f"role/{ROLES[rnd.randrange(len(ROLES))]}"))
            yield q(ra, _k("inOrganization"), state)
            yield q(ra, _k("startDate"), _date(start, 1 + rnd.randrange(12), 1 + rnd.randrange(28)))
            end = start + 1 + rnd.randrange(8)
            if k == 0 or rnd.random() < 0.5:
                yield q(ra, _k("endDate"), _year(end))
            start = end
        claim = _x(f"claim/p{i}")
        quote = QUOTES[rnd.randrange(len(QUOTES))]
        yield q(claim, t, _k("AttributedClaim"))
        yield q(claim, _k("claimant"), person)
        yield q(claim, _k("reportedBy"), _x(f"agency/{rnd.randrange(n_agencies)}"))
        yield q(claim, _k("about"), _x(f"treaty/{rnd.randrange(n_treaties)}"))
        yield q(claim, _k("claimText"), Literal(quote))
        yield q(claim, _k("claimDate"), _date(1990 + rnd.randrange(35), 1 + rnd.randrange(12),
                                               1 + rnd.randrange(28)))
        fact, ev = _x(f"fact/{i}"), _x(f"quote/{i}")
        exact, pos = _x(f"quote/{i}#exact"), _x(f"quote/{i}#position")
        offset = rnd.randrange(100_000)
        yield q(fact, t, _k("Fact"))
        yield q(fact, RDF + "subject", person)
        yield q(fact, _k("hasEvidence"), ev)
        yield q(ev, t, _k("Quote"))
        yield q(ev, OA + "hasSource", doc)
        yield q(ev, OA + "hasSelector", exact)
        yield q(ev, OA + "hasSelector", pos)
        yield q(exact, t, NamedNode(OA + "TextQuoteSelector"))
        yield q(exact, OA + "exact", Literal(quote))
        yield q(pos, t, NamedNode(OA + "TextPositionSelector"))
        yield q(pos, OA + "start", _int(offset))
        yield q(pos, OA + "end", _int(offset + len(quote)))
        if i % 10 == 0:
            m = _x(f"summit/{i // 10}")
            yield q(m, t, _k("Summit"))
            yield q(m, _k("date"), _date(1990 + rnd.randrange(35), 1 + i % 12, 1 + i % 28))
            for j in rnd.sample(range(n_leaders), min(3, n_leaders)):
                yield q(m, _k("participant"), _x(f"person/{j}"))


def ontology() -> list[Quad]:
    """kgraph's ontology in its graph, as the server holds it (class and property paths need it)."""
    from kgraph.bootstrap import ontology_files
    from kgraph.loader import media_type_for
    from kgraph.namespaces import GRAPH_ONTOLOGY
    from kgraph.rdf import parse_rdf

    folder = Path(__file__).resolve().parents[1] / "ontology"
    out: list[Quad] = []
    labels: dict[str, BlankNode] = {}

    def stable(term: object) -> object:  # a parse names blank nodes at random: renumber them
        if isinstance(term, BlankNode):
            return labels.setdefault(term.value, BlankNode(f"onto{len(labels)}"))
        return term

    for path in ontology_files(folder):
        for q in parse_rdf(path.read_bytes(), media_type_for(path), graph=GRAPH_ONTOLOGY,
                           base_iri=path.as_uri()):
            out.append(Quad(stable(q.subject), q.predicate, stable(q.object),  # type: ignore[arg-type]
                            q.graph_name))
    return out


def quads(triples: int, seed: int) -> Iterator[Quad]:
    """About ``triples`` quads: the ontology, the synthetic treaty core, then leaders, claims and
    provenance."""
    yield from ontology()
    core = max(100, int(triples * CORE_SHARE))
    n_units = max(1, core // synthetic.TRIPLES_PER_UNIT)  # as synthetic.generate counts them
    n_states = max(4, n_units // 2)
    yield from synthetic.generate(core, seed=seed)
    n_leaders = max(4, int((triples - core) / TRIPLES_PER_LEADER))
    yield from _leaders(n_leaders, n_states, n_units, random.Random(seed + 2))


def write(triples: int, seed: int, out: Path, *, progress: bool = True) -> dict[str, object]:
    """Write ``out/data.nq`` and ``out/pools/``; returns a summary (count, seconds, bytes)."""
    out.mkdir(parents=True, exist_ok=True)
    pools = Pools(seed)
    path = out / "data.nq"
    t0 = time.perf_counter()
    n = 0
    type_iri, signed_iri, start_iri = RDF + "type", KGO + "signedOn", KGO + "startDate"
    days: set[str] = set()  # the distinct signature days (a few dozen)
    with path.open("w", encoding="utf-8", buffering=1 << 20) as f:
        buf: list[str] = []
        for quad in quads(triples, seed):
            buf.append(f"{quad} .\n")
            n += 1
            if quad.predicate.value == type_iri:
                kind = _TYPE_POOL.get(quad.object.value)  # type: ignore[union-attr]
                if kind:
                    pools.offer(kind, str(quad.subject))
            elif quad.predicate.value == signed_iri and str(quad.object) not in days:
                days.add(str(quad.object))
                pools.offer("day", str(quad.object))
            elif quad.predicate.value == start_iri:  # thousands of distinct days
                pools.offer("date", str(quad.object))
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf.clear()
                if progress and n % 1_000_000 == 0:
                    print(f"  generated {n:,} quads ({n / (time.perf_counter() - t0):,.0f}/s)",
                          flush=True)
        f.write("".join(buf))
    pools.write(out / "pools")
    summary = {"triples": n, "requested": triples, "seed": seed,
               "seconds": round(time.perf_counter() - t0, 2), "bytes": path.stat().st_size,
               "pools": {k: len(v) for k, v in pools.items.items()}}
    (out / "data.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--triples", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench/data"))
    args = ap.parse_args(argv)
    print(json.dumps(write(args.triples, args.seed, args.out), indent=2))
    return 0
