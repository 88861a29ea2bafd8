"""Explanations over the stored data, shared by the HTTP views and the CLI.

They read the derivations of the store's working copy (built once per store
version, :mod:`kgraph.reasoning.workspace`), never a copy of their own.
"""

from __future__ import annotations

from pyoxigraph import BlankNode, Literal, NamedNode, RdfFormat, Triple, parse

from ..namespaces import KGO, PREFIXES
from .explain import Explainer
from .materialize import INFERRED
from .scenario import ScenarioError, expand_iri
from .workspace import working_copy

RDF_TYPE = PREFIXES["rdf"] + "type"


def parse_term(value: str, what: str, *, literal_ok: bool = False) -> NamedNode | Literal:
    """An IRI, CURIE or (for objects) an N-Triples literal such as ``"1961-07-11"^^xsd:date``."""
    text = value.strip()
    if literal_ok and text.startswith('"'):
        for prefix, ns in PREFIXES.items():
            text = text.replace(f"^^{prefix}:", f"^^<{ns}").replace(f"^^<{ns}", f"^^<{ns}", 1)
        # close a CURIE datatype turned into "<ns" + local: add the ">" at the end
        if "^^<" in text and not text.endswith(">"):
            text += ">"
        try:
            triples = list(parse(f"<urn:s> <urn:p> {text} .", RdfFormat.N_TRIPLES))
        except SyntaxError as exc:
            raise ScenarioError(f"{what}: {value!r} is not an N-Triples literal ({exc})") from None
        return triples[0].object  # type: ignore[return-value]
    return NamedNode(expand_iri(text, what))


def explain_triple(store: object, s: str, p: str, o: str, *, max_depth: int = 25
                   ) -> dict[str, object]:
    """The derivation tree of one triple of the stored data (asserted or inferred)."""
    t = Triple(parse_term(s, "s"), parse_term(p, "p"), parse_term(o, "o", literal_ok=True))
    copy = working_copy(store)
    with copy.lock:
        tree = Explainer(copy.run, copy.scratch, max_depth=max_depth).explain(t)
    if tree.get("kind") == "unknown":
        raise LookupError(f"the triple {tree['text']} is neither asserted nor inferred")
    return tree


def explain_obligation(store: object, obligation: str, *, max_depth: int = 25
                       ) -> dict[str, object]:
    """Why an obligation is typed, triggered, contested, allied...: every inferred triple about it."""
    node = parse_term(obligation, "obligation")
    copy = working_copy(store)
    with copy.lock:  # the shared working copy: read it whole inside the lock
        return _obligation_json(Explainer(copy.run, copy.scratch, max_depth=max_depth), node)


def _obligation_json(ex: Explainer, node: NamedNode) -> dict[str, object]:
    run, scratch = ex.run, ex.store
    if next(scratch.quads_for_pattern(node, None, None, None), None) is None:
        raise LookupError(f"{node.value} is not in the knowledge base")
    about = {Triple(q.subject, q.predicate, q.object)
             for q in scratch.quads_for_pattern(node, None, None, INFERRED)}
    inferred = sorted(
        (t for t in about if t in run.derivations and not isinstance(t.object, BlankNode)),
        key=lambda t: (t.predicate.value == RDF_TYPE, str(t)),
    )
    asserted = [
        ex.triple_json(Triple(q.subject, q.predicate, q.object))
        for q in scratch.quads_for_pattern(node, None, None, None)
        if q.predicate.value.startswith(KGO)
        and Triple(q.subject, q.predicate, q.object) not in run.derivations
    ]
    return {
        "obligation": node.value,
        "label": ex.label(node),
        "asserted": asserted,
        "inferred": [ex.explain(t) for t in inferred],
    }
