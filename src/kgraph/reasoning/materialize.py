"""OWL 2 RL materialization of the store into the inferred named graph.

The reasoner reads every graph except the inferred one (ontology, sources,
Wikidata snapshot) through the store interface, computes the closure in a
scratch in-memory store, and replaces the inferred graph with what is new in one
atomic write. Asserted
graphs are never written. Three engines can compute the closure; the default
(``rules``) is kgraph's own SPARQL-rule engine because it is the only one that
records *why* each triple holds, and it measured fast enough (docs/reasoning.md).
``owlrl`` and ``reasonable`` are kept for comparison (bench/reasoning.py) and
as a cross-check in the tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple
from pyoxigraph import Store as OxStore

from ..namespaces import GRAPH_INFERRED
from ..rdf import parse_rdf
from .engine import EngineRun, RuleEngine
from .workspace import INFERRED, asserted_quads, engine_for, register, scratch_store, working_copy

ENGINES = ("rules", "owlrl", "reasonable")


@dataclass
class MaterializeReport:
    """What a materialization did, for logs, the CLI and the benchmark."""

    engine: str
    input_triples: int
    inferred_triples: int
    seconds: float
    rounds: int = 0
    rule_runs: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)
    #: The provenance of every inferred triple (engine ``rules`` only).
    run: EngineRun | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "input_triples": self.input_triples,
            "inferred_triples": self.inferred_triples,
            "seconds": round(self.seconds, 4),
            "rounds": self.rounds,
            "rule_runs": self.rule_runs,
            "per_rule": dict(sorted(self.per_rule.items())),
        }


def run_rules(scratch: OxStore, rules_dirs: Iterable[Path] | None = None) -> EngineRun:
    """Run the shipped rules on a scratch store; derived triples go to its inferred graph."""
    return engine_for(rules_dirs).run(scratch, INFERRED)


def materialize(
    store: object, *, engine: str = "rules", rules_dirs: Iterable[Path] | None = None
) -> MaterializeReport:
    """Recompute the inferred graph of ``store`` from all its other graphs.

    ``store`` is a :class:`kgraph.store.base.Store`, read with ``quads()`` and
    written with one atomic ``replace_graph`` of the inferred graph; nothing
    else is written. With the ``rules`` engine the scratch store and the
    derivations become the store's working copy for explanations and scenarios.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    t0 = time.perf_counter()
    before = store.version()  # type: ignore[attr-defined]
    quads = list(asserted_quads(store))
    scratch: OxStore | None = None
    rule_engine: RuleEngine | None = None
    if engine == "rules":
        scratch = scratch_store(quads)
        rule_engine = engine_for(rules_dirs)
        run = rule_engine.run(scratch, INFERRED)
        inferred = [Quad(t.subject, t.predicate, t.object, INFERRED) for t in run.derivations]
        report = MaterializeReport(
            engine, len(quads), len(inferred), 0.0, run.rounds, run.rule_runs, run.per_rule, run
        )
    else:
        triples = closure_owlrl(quads) if engine == "owlrl" else closure_reasonable(quads)
        inferred = [Quad(t.subject, t.predicate, t.object, INFERRED) for t in triples]
        report = MaterializeReport(engine, len(quads), len(inferred), 0.0)
    del quads
    store.replace_graph(GRAPH_INFERRED, inferred)  # type: ignore[attr-defined]
    after = store.version()  # type: ignore[attr-defined]
    if scratch is not None and rule_engine is not None and rules_dirs is None \
            and after == before + 1:
        # Nobody else wrote in between: the scratch store is exactly this version's data.
        register(store, after, scratch, report.run, rule_engine)  # type: ignore[arg-type]
    report.seconds = time.perf_counter() - t0
    return report


def derivations_for(store: object) -> tuple[EngineRun, OxStore]:
    """The rule engine's derivations for the store's current data, and the working copy's
    scratch store (asserted + inferred). Shared: read the scratch store only while
    holding ``working_copy(store).lock``."""
    copy = working_copy(store)
    return copy.run, copy.scratch


# ---------------------------------------------------------------------------
# Baseline engines (measured against in bench/reasoning.py).


def _to_rdflib(term: object) -> object:
    import rdflib

    if isinstance(term, NamedNode):
        return rdflib.URIRef(term.value)
    if isinstance(term, BlankNode):
        return rdflib.BNode(term.value)
    if isinstance(term, Literal):
        if term.language:
            return rdflib.Literal(term.value, lang=term.language)
        return rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value))
    raise TypeError(f"unsupported term {term!r}")


def _from_rdflib(term: object) -> NamedNode | BlankNode | Literal:
    import rdflib

    if isinstance(term, rdflib.URIRef):
        return NamedNode(str(term))
    if isinstance(term, rdflib.BNode):
        return BlankNode(str(term))
    if isinstance(term, rdflib.Literal):
        if term.language:
            return Literal(str(term), language=term.language)
        if term.datatype is not None:
            return Literal(str(term), datatype=NamedNode(str(term.datatype)))
        return Literal(str(term))
    raise TypeError(f"unsupported term {term!r}")


def to_rdflib_graph(quads: Iterable[Quad]) -> object:
    """Merge quads into one rdflib Graph (the reasoners work on a single graph)."""
    import rdflib

    g = rdflib.Graph()
    for q in quads:
        g.add((_to_rdflib(q.subject), _to_rdflib(q.predicate), _to_rdflib(q.object)))
    return g


def _new_triples(before: set[Triple], after: Iterable[tuple[object, object, object]]) -> list[Triple]:
    out: list[Triple] = []
    seen: set[Triple] = set()
    for s, p, o in after:
        try:
            t = Triple(_from_rdflib(s), _from_rdflib(p), _from_rdflib(o))
        except TypeError:
            continue  # generalized RDF (literal subject) is not storable
        if t not in before and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def closure_owlrl(quads: Iterable[Quad], *, semantics: str = "owlrl") -> list[Triple]:
    """The triples owlrl's OWL 2 RL (or RDFS) closure adds to the merged quads."""
    import owlrl

    quads = list(quads)
    before = {Triple(q.subject, q.predicate, q.object) for q in quads}
    g = to_rdflib_graph(quads)
    sem = owlrl.OWLRL_Semantics if semantics == "owlrl" else owlrl.RDFS_Semantics
    owlrl.DeductiveClosure(sem, axiomatic_triples=False, datatype_axioms=False).expand(g)
    return _new_triples(before, g)


def closure_reasonable(quads: Iterable[Quad]) -> list[Triple]:
    """The triples the ``reasonable`` OWL 2 RL reasoner adds to the merged quads."""
    import reasonable

    quads = list(quads)
    before = {Triple(q.subject, q.predicate, q.object) for q in quads}
    r = reasonable.PyReasoner()
    r.from_graph(to_rdflib_graph(quads))
    return _new_triples(before, r.reason())


def turtle_quads(data: str | bytes, graph: str | None, *, base_iri: str | None = None) -> list[Quad]:
    """Parse Turtle (with :mod:`kgraph.rdf`) into quads of ``graph`` (blank nodes renamed
    apart); raises :class:`kgraph.store.base.RdfSyntaxError`."""
    return parse_rdf(data, "text/turtle", graph=graph, base_iri=base_iri)
