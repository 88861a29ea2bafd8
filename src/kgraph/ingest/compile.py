"""Turn a loaded facts file into the quads of its document's named graph.

The output is a pure function of the file: IRIs for facts and quotes are
derived from their content (a hash of subject, predicate and object; the
quote's offsets), and the quads come out sorted, so recompiling an unchanged
file gives byte-identical N-Quads and re-ingesting it changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pyoxigraph import Literal, NamedNode, Quad

from ..namespaces import DCT, KGO, KGR, OA, PROV, RDF, RDFS, SKOS, source_graph
from .facts import FactsFile, FactSpec, QuoteRef
from .terms import XSD, ascii_spelling

#: Characters of context kept around a quote (oa:prefix / oa:suffix).
CONTEXT_CHARS = 32


def _n(iri: str) -> NamedNode:
    return NamedNode(iri)


def _int(value: int) -> Literal:
    return Literal(str(value), datatype=_n(XSD + "nonNegativeInteger"))


def _term_key(term: NamedNode | Literal) -> str:
    return str(term)


def fact_iri(doc_id: str, subject: str, predicate: str, obj: NamedNode | Literal) -> str:
    """The stable IRI of the reified statement (s, p, o) as drawn from one document."""
    digest = hashlib.sha256(f"{subject}\n{predicate}\n{_term_key(obj)}".encode()).hexdigest()
    return f"{KGR}fact/{doc_id}/{digest[:16]}"


def quote_iri(doc_id: str, quote: QuoteRef) -> str:
    """The IRI of a quote: the document and the span it covers."""
    return f"{KGR}quote/{doc_id}/{quote.start}-{quote.end}"


@dataclass
class _Merged:
    """All the evidence a file gives for one (s, p, o)."""

    quotes: dict[tuple[int, int], QuoteRef] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    derivations: list[str] = field(default_factory=list)


@dataclass
class Compiled:
    """The quads of one document plus counts for the report."""

    graph: str
    quads: list[Quad]
    facts: int
    quotes: int
    resources: int


_NAMING = (RDFS + "label", SKOS + "altLabel")


def _add_ascii_labels(merged: dict[tuple[str, str, str], tuple[FactSpec, _Merged]],
                      extra: list[tuple[str, Literal, list[QuoteRef]]]) -> None:
    """Give every label written with typographic apostrophes, quotes or dashes its ASCII
    spelling as a ``skos:altLabel`` (what users type), evidenced by the same quotes and
    marked derived, unless the resource already carries that spelling. ``extra`` are
    labels given outside the statements (the document's title) with their quotes."""
    names: dict[str, set[str]] = {}
    labels: list[tuple[FactSpec, _Merged]] = []
    for (subject, predicate, _), (statement, evidence) in merged.items():
        if predicate in _NAMING and isinstance(statement.obj, Literal):
            names.setdefault(subject, set()).add(statement.obj.value)
            labels.append((statement, evidence))
    for subject, label, quotes in extra:
        names.setdefault(subject, set()).add(label.value)
        if quotes:
            labels.append((FactSpec(subject, RDFS + "label", label, quotes, 0, "label"),
                           _Merged({(q.start, q.end): q for q in quotes})))
    for statement, evidence in labels:
        subject, obj = statement.subject, statement.obj
        assert isinstance(obj, Literal)
        ascii_text = ascii_spelling(obj.value)
        if ascii_text == obj.value or ascii_text in names[subject]:
            continue
        names[subject].add(ascii_text)
        alt = Literal(ascii_text, language=obj.language) if obj.language else Literal(ascii_text)
        spec = FactSpec(subject, SKOS + "altLabel", alt, statement.quotes, statement.line,
                        "asciiLabel", statement.source)
        how = (f"ASCII spelling of “{obj.value}” (typographic apostrophes, quotation marks "
               "and dashes written as users type them)")
        merged[(subject, spec.predicate, _term_key(alt))] = (spec, _Merged(
            dict(evidence.quotes), set(evidence.sources), [how]))


def compile_facts(facts: FactsFile) -> list[Quad]:
    """The quads of ``facts`` in its document's graph, sorted (see :func:`compile_document`)."""
    return compile_document(facts).quads


def compile_document(facts: FactsFile) -> Compiled:
    """Compile a facts file: document entity, statements, reified facts, quotes, mentions."""
    doc = facts.document
    graph = _n(source_graph(doc.doc_id))
    doc_node = _n(doc.iri)
    triples: set[tuple[NamedNode, NamedNode, NamedNode | Literal]] = set()

    def add(s: NamedNode, p: str, o: NamedNode | Literal) -> None:
        triples.add((s, _n(p), o))

    # The document.
    add(doc_node, RDF + "type", _n(PROV + "Entity"))
    for type_iri in doc.types:
        add(doc_node, RDF + "type", _n(type_iri))
    add(doc_node, DCT + "title", Literal(doc.title))
    add(doc_node, RDFS + "label", Literal(doc.title, language="en"))
    if doc.creator is not None:
        add(doc_node, DCT + "creator", doc.creator)
    if doc.publisher is not None:
        add(doc_node, DCT + "publisher", doc.publisher)
    if doc.issued is not None:
        add(doc_node, DCT + "issued", doc.issued)
    add(doc_node, KGO + "sourceText", Literal(doc.text_name))
    add(doc_node, KGO + "sha256", Literal(facts.text_sha256))

    # Quotes: every span that evidences a fact or mentions a resource.
    quotes: dict[tuple[int, int], QuoteRef] = {}
    for quote in facts.quotes():
        quotes.setdefault((quote.start, quote.end), quote)
    for (start, end), quote in quotes.items():
        q = _n(quote_iri(doc.doc_id, quote))
        exact, position = _n(q.value + "#exact"), _n(q.value + "#position")
        add(q, RDF + "type", _n(KGO + "Quote"))
        add(q, OA + "hasSource", doc_node)
        add(q, OA + "hasSelector", exact)
        add(q, OA + "hasSelector", position)
        add(exact, RDF + "type", _n(OA + "TextQuoteSelector"))
        add(exact, OA + "exact", Literal(quote.text))
        before = facts.text[max(0, start - CONTEXT_CHARS):start]
        after = facts.text[end:end + CONTEXT_CHARS]
        if before:
            add(exact, OA + "prefix", Literal(before))
        if after:
            add(exact, OA + "suffix", Literal(after))
        add(position, RDF + "type", _n(OA + "TextPositionSelector"))
        add(position, OA + "start", _int(start))
        add(position, OA + "end", _int(end))

    # Mentions.
    for resource in facts.resources:
        for mention in resource.mentions:
            add(_n(resource.iri), KGO + "hasMention", _n(quote_iri(doc.doc_id, mention)))

    # Statements, merged by (s, p, o) so repeated evidence lands on one fact node.
    merged: dict[tuple[str, str, str], tuple[FactSpec, _Merged]] = {}
    for statement in facts.statements():
        key = (statement.subject, statement.predicate, _term_key(statement.obj))
        _, evidence = merged.setdefault(key, (statement, _Merged()))
        for quote in statement.quotes:
            evidence.quotes.setdefault((quote.start, quote.end), quote)
        if statement.source is not None:
            evidence.sources.add(statement.source)
        if statement.derived and statement.derived not in evidence.derivations:
            evidence.derivations.append(statement.derived)
    # The document's title is its label too; where the text shows the title, it is the evidence.
    title_quotes = [q for st in doc.extra if st.predicate == DCT + "title"
                    and isinstance(st.obj, Literal) and st.obj.value == doc.title
                    for q in st.quotes]
    _add_ascii_labels(merged, [(doc.iri, Literal(doc.title, language="en"), title_quotes)])
    reified = 0
    for (subject, predicate, _), (statement, evidence) in merged.items():
        s, o = _n(subject), statement.obj
        add(s, predicate, o)
        if not evidence.quotes and not evidence.sources:
            continue  # plain document metadata from ``extra`` with no quote
        reified += 1
        f = _n(fact_iri(doc.doc_id, subject, predicate, o))
        add(f, RDF + "type", _n(KGO + "Fact"))
        add(f, RDF + "subject", s)
        add(f, RDF + "predicate", _n(predicate))
        add(f, RDF + "object", o)
        if evidence.quotes:
            add(f, PROV + "wasDerivedFrom", doc_node)
        for source in evidence.sources:
            add(f, PROV + "wasDerivedFrom", _n(source))
        for quote in evidence.quotes.values():
            add(f, KGO + "hasEvidence", _n(quote_iri(doc.doc_id, quote)))
        if evidence.derivations:
            add(f, KGO + "isDerived", Literal("true", datatype=_n(XSD + "boolean")))
            add(f, KGO + "derivation", Literal("; ".join(evidence.derivations)))

    quads = sorted((Quad(s, p, o, graph) for s, p, o in triples), key=str)
    return Compiled(graph.value, quads, reified, len(quotes), len(facts.resources))
