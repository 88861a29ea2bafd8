"""Annotation rules: what a facts file may state as plain fact, checked mechanically.

Quotes at the right offsets are not enough for a faithful knowledge base: a
quote can be verbatim and still not support what the statement says. These
checks catch three kinds of unfaithful statement (docs/facts-format.md,
"Annotation rules"):

``hedged``
    A plain fact (a statement whose subject is neither an attributed claim nor a
    scenario) every quote of which sits in a sentence that hedges
    (:data:`HEDGES`, outside quotations that do not hold the quote), that
    attributes it (an :data:`ATTRIBUTIONS` word before it, reported content
    opening in between), or inside someone else's quoted words (a quotation of
    :data:`QUOTED_SPEECH_WORDS` or more words). Positions are attitudes the
    article attributes to their holders, so only hedges count for them. Such
    content belongs in an attributed claim. A fact the article does assert in
    such a sentence (the hedge scopes over another clause) carries
    ``asserted:``, a reason that names each word it answers.
``ends``
    A relation (an object property between two ``kgr:`` resources) none of
    whose quotes names both ends. For a role assignment the ends of its
    holder, role and organization statements are all three. An end is named
    in a quote when, within the sentence(s) the quote overlaps, one of its
    mentions lies, or one of its label / alternative labels occurs as whole
    words (case-insensitive). A pronoun or description ("the parties", "his
    regime") names a resource once it is listed among its mentions. A
    ``derived:`` statement is exempt: it says how it was resolved.
``evidence``
    A statement of the compiled graph that is neither quoted
    (``kgo:hasEvidence``), sourced (``prov:wasDerivedFrom`` something other
    than the document) nor a document's own metadata; and a derived fact
    without a reason (``kgo:derivation`` of at least three words).

:func:`check_rules` runs the first two on a loaded file and the third on its
compiled quads; ``kgraph ingest`` reports the results as warnings, and
tests/test_kb_rules.py requires the article's file to have none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import rdflib
from pyoxigraph import Literal, NamedNode, Quad

from ..namespaces import DCT, KGO, KGR, OA, PROV, RDF, RDFS
from .facts import FactsFile, FactSpec, FactsProblem, QuoteRef, ResourceSpec
from .validate import DEFAULT_ONTOLOGY_DIR, OntologySource, ontology_graph

#: Words that make a sentence's content a belief, guess or possibility, not a fact.
#: Matched as whole words, case-insensitively, except ``may`` (lower case only: May is a month).
HEDGES: tuple[str, ...] = (
    "apparently", "widely believed", "believed", "perhaps", "probably", "reportedly",
    "allegedly", "could", "may", "might", "seem", "seems", "seemed", "likely", "possibly",
    "possible", "unclear", "look", "looks", "looked",
)

#: Words that attribute what follows them in a sentence to someone (reported speech or view).
ATTRIBUTIONS: tuple[str, ...] = (
    "said", "says", "told", "insisted", "reported", "charge", "charges", "claimed", "claims",
    "citing", "according to", "noted", "warned", "added", "indicated", "sees", "propose",
    "proposes",
)

#: A quote wholly inside a quotation of at least this many words is someone else's speech.
QUOTED_SPEECH_WORDS = 5

#: The minimum number of words of a derivation ("how it was resolved").
MIN_DERIVATION_WORDS = 3

ROLE_PREDICATES = frozenset({KGO + "holder", KGO + "role", KGO + "inOrganization"})

_RDF_TYPE = RDF + "type"
RDFS_SUBCLASS = rdflib.URIRef(RDFS + "subClassOf")
_ABBREVIATION = re.compile(r"(?:\b[A-Z]\.){2,}$")
_SENTENCE_END = re.compile(r"[.?!][”\"’)]*(?=\s+[“\"‘(A-Z0-9])")


@dataclass(frozen=True)
class Sentence:
    """``text[start:end]``: one sentence (a title or heading line counts as one)."""

    start: int
    end: int


@lru_cache(maxsize=8)
def sentences(text: str) -> tuple[Sentence, ...]:
    """Split ``text`` into sentences: paragraphs at blank lines, then at ``. ? !``.

    A full stop after an initialism (``U.S.``) does not end a sentence;
    closing quotation marks after the stop stay with the sentence.
    """
    out: list[Sentence] = []
    for para in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*", text):
        start = para.start()
        for match in _SENTENCE_END.finditer(para.group()):
            stop = para.start() + match.end()
            if match.group()[0] == "." and _ABBREVIATION.search(text[start:stop]):
                continue
            out.append(Sentence(start, stop))
            start = stop
            while start < para.end() and text[start].isspace():
                start += 1
        if start < para.end():
            out.append(Sentence(start, para.end()))
    return tuple(out)


def sentence_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the sentence(s) that ``text[start:end]`` overlaps."""
    hits = [s for s in sentences(text) if s.start < max(end, start + 1) and s.end > start]
    if not hits:
        return start, end
    return hits[0].start, hits[-1].end


def _phrase(word: str) -> re.Pattern[str]:
    flags = 0 if word == "may" else re.IGNORECASE
    return re.compile(r"(?<![\w-])" + re.escape(word).replace(r"\ ", r"\s+") + r"(?![\w-])",
                      flags)


#: What opens reported content after an attribution word: "insisted that …", "said: …", "“…".
_COMPLEMENT = re.compile(r"\bthat\b|[:“]")


_HEDGE_PATTERNS = [(w, _phrase(w)) for w in HEDGES]
_ATTRIBUTION_PATTERNS = [(w, _phrase(w)) for w in ATTRIBUTIONS]


def markers(text: str, start: int, end: int, quote_start: int | None = None) -> list[str]:
    """The hedges of ``text[start:end]`` and the attributions that govern ``quote_start``.

    Hedges count anywhere in the sentence except inside a quotation that does not
    hold the quote (a speaker's own "could" is not the article hedging). An
    attribution word counts when it comes before the quote with reported content
    opening in between ("insisted that", "said: ", "“"): "the Post reported four
    years ago" is the article's plain account of the report. The longest phrase
    wins ("widely believed", not also "believed").
    """
    at = start if quote_start is None else quote_start
    window = list(text[start:end])
    for q_start, q_end in quotations(text):
        if q_end > start and q_start < end and not q_start <= at <= q_end:
            for i in range(max(q_start, start), min(q_end, end)):
                window[i - start] = " "
    masked = "".join(window)
    found: list[str] = []
    for word, pattern in _HEDGE_PATTERNS:
        if pattern.search(masked) and not any(word in longer for longer in found):
            found.append(word)
    if quote_start is None:
        return found
    before = text[start:quote_start]
    for word, pattern in _ATTRIBUTION_PATTERNS:
        for match in pattern.finditer(before):
            if _COMPLEMENT.search(before, match.end()):
                found.append(word)
                break
    return found


@lru_cache(maxsize=8)
def quotations(text: str) -> tuple[tuple[int, int], ...]:
    """Spans inside typographic double quotes “…” (an unclosed one ends at its paragraph)."""
    out: list[tuple[int, int]] = []
    opened: int | None = None
    for i, ch in enumerate(text):
        if ch == "“" and opened is None:
            opened = i + 1
        elif ch == "”" and opened is not None or ch == "\n" and opened is not None and text[i + 1:i + 2] == "\n":
            out.append((opened, i))
            opened = None
    return tuple(out)


def quoted_speech(text: str, quote: QuoteRef) -> tuple[int, int] | None:
    """The quotation of at least :data:`QUOTED_SPEECH_WORDS` words that holds ``quote``."""
    for start, end in quotations(text):
        if start <= quote.start and quote.end <= end and \
                len(text[start:end].split()) >= QUOTED_SPEECH_WORDS:
            return start, end
    return None


def _subclasses(graph: rdflib.Graph | None, root: str) -> frozenset[str]:
    """``root`` and its subclasses in the ontology (just ``root`` without one)."""
    out = {root}
    if graph is None:
        return frozenset(out)
    todo = [rdflib.URIRef(root)]
    while todo:
        for sub in graph.subjects(RDFS_SUBCLASS, todo.pop()):
            if isinstance(sub, rdflib.URIRef) and str(sub) not in out:
                out.add(str(sub))
                todo.append(sub)
    return frozenset(out)


@dataclass(frozen=True)
class Kinds:
    """Which resources of a file are claims, positions, scenarios and role assignments."""

    claims: frozenset[str]
    positions: frozenset[str]
    scenarios: frozenset[str]
    roles: frozenset[str]

    @classmethod
    def of(cls, facts: FactsFile, ontology: OntologySource = DEFAULT_ONTOLOGY_DIR) -> Kinds:
        graph = ontology_graph(ontology)

        def typed(root: str) -> frozenset[str]:
            classes = _subclasses(graph, KGO + root)
            return frozenset(r.iri for r in facts.resources if classes & set(r.types))

        return cls(typed("AttributedClaim"), typed("Position"), typed("Scenario"),
                   typed("RoleAssignment"))


def _short(iri: str) -> str:
    for prefix, base in (("kgr", KGR), ("kgo", KGO), ("rdfs", RDFS), ("rdf", RDF), ("dcterms", DCT)):
        if iri.startswith(base):
            return f"{prefix}:{iri[len(base):]}"
    return f"<{iri}>"


def _problem(facts: FactsFile, line: int | None, rule: str, message: str) -> FactsProblem:
    return FactsProblem(line, f"[{rule}] {message}", str(facts.path))


# -- rule 1: no plain fact from a hedged or attributed sentence ---------------------------


def hedge_reasons(text: str, quote: QuoteRef, *, attributions: bool = True) -> list[str]:
    """Why ``quote`` cannot alone evidence a plain fact ([] when it can)."""
    start, end = sentence_span(text, quote.start, quote.end)
    reasons = markers(text, start, end, quote.start)
    if not attributions:
        reasons = [w for w in reasons if w not in ATTRIBUTIONS]
    if attributions and quoted_speech(text, quote) is not None:
        reasons.append("quoted speech")
    return reasons


def check_hedged(facts: FactsFile, kinds: Kinds | None = None) -> list[FactsProblem]:
    """Plain facts each of whose quotes sits in a hedged or attributed sentence.

    Claims are exempt (recording what is hedged or attributed is their job), and
    so are scenarios (hypothetical by nature) and positions that a claim ascribes
    (``kgo:ascribes``: their statements are that claim's content, the hedge is on
    the claim). Another position records an attitude the article attributes to its
    holder, so only hedges count against it.
    """
    kinds = kinds or Kinds.of(facts)
    ascribed = {s.obj.value for s in facts.statements()
                if s.predicate == KGO + "ascribes" and s.subject in kinds.claims
                and isinstance(s.obj, NamedNode)}
    problems: list[FactsProblem] = []
    for statement in facts.statements():
        if statement.origin not in ("fact", "document") or not statement.quotes:
            continue
        if statement.subject in kinds.claims or statement.subject in kinds.scenarios \
                or statement.subject in ascribed:
            continue
        attributions = statement.subject not in kinds.positions
        per_quote = [hedge_reasons(facts.text, q, attributions=attributions)
                     for q in statement.quotes]
        if any(not reasons for reasons in per_quote):
            continue
        words = sorted({w for reasons in per_quote for w in reasons})
        if statement.asserted is not None:
            missing = [w for w in words if w.lower() not in statement.asserted.lower()]
            if not missing:
                continue
            problems.append(_problem(
                facts, statement.line, "hedged", f"asserted: does not answer {', '.join(missing)}"
                " (name each hedge or attribution word of the sentence and why it does not "
                "scope over this statement)"))
            continue
        quote = statement.quotes[0]
        problems.append(_problem(
            facts, statement.line, "hedged",
            f"{_short(statement.subject)} {_short(statement.predicate)} is stated as a plain fact "
            f"but its sentence says {', '.join(repr(w) for w in words)} (quote "
            f"“{quote.text[:50]}” at {quote.start}): make it an attributed claim (claimant, "
            "reporter, stance, the exact quote), or say why the article asserts it (asserted:)"))
    return problems


# -- rule 2: a relation's quote names both ends -------------------------------------------


def _label_pattern(label: str) -> re.Pattern[str]:
    # Whole words; a hyphen joins names ("U.S.-China ties" names both) without hiding them.
    return re.compile(r"(?<!\w)" + re.escape(label) + r"(?!\w)", re.IGNORECASE)


def is_named(text: str, resource: ResourceSpec, start: int, end: int) -> bool:
    """Whether ``resource`` is named in ``text[start:end]`` (see the module docstring)."""
    for mention in resource.mentions:
        if start <= mention.start and mention.end <= end:
            return True
    names = [resource.label or "", *resource.alt_labels]
    window = text[start:end]
    return any(name and _label_pattern(name).search(window) for name in names)


def relation_ends(statement: FactSpec, by_iri: dict[str, ResourceSpec],
                  roles: frozenset[str]) -> list[str]:
    """The resources a relation statement's quote must name."""
    subject = by_iri.get(statement.subject)
    obj = statement.obj.value if isinstance(statement.obj, NamedNode) else ""
    if subject is not None and subject.iri in roles and statement.predicate in ROLE_PREDICATES:
        ends = [f.obj.value for f in subject.facts
                if f.predicate in ROLE_PREDICATES and isinstance(f.obj, NamedNode)]
        return [e for e in dict.fromkeys(ends) if e in by_iri]
    return [e for e in (statement.subject, obj) if e in by_iri]


def check_ends(facts: FactsFile, kinds: Kinds | None = None) -> list[FactsProblem]:
    """Relations between resources none of whose quotes names both (all) ends."""
    kinds = kinds or Kinds.of(facts)
    claims = kinds.claims
    by_iri = {r.iri: r for r in facts.resources}
    problems: list[FactsProblem] = []
    for resource in facts.resources:
        if resource.iri in claims:
            continue
        for statement in resource.facts:
            if not isinstance(statement.obj, NamedNode) or not statement.obj.value.startswith(KGR):
                continue
            if statement.derived or not statement.quotes or statement.predicate == _RDF_TYPE:
                continue
            ends = relation_ends(statement, by_iri, kinds.roles)
            unnamed: list[str] = []
            for quote in statement.quotes:
                start, end = sentence_span(facts.text, quote.start, quote.end)
                unnamed = [e for e in ends if not is_named(facts.text, by_iri[e], start, end)]
                if not unnamed:
                    break
            if unnamed:
                quote = statement.quotes[0]
                problems.append(_problem(
                    facts, statement.line, "ends",
                    f"{_short(statement.subject)} {_short(statement.predicate)} "
                    f"{_short(statement.obj.value)}: the quote “{quote.text[:50]}” (at "
                    f"{quote.start}) and its sentence do not name "
                    f"{', '.join(_short(e) for e in unnamed)}: quote where the article names "
                    "both, list the description as a mention, or mark it derived (and say how)"))
    return problems


# -- rule 3: every statement quoted, sourced or derived with a reason ---------------------

_DOCUMENT_KEYS = frozenset({_RDF_TYPE, DCT + "title", DCT + "creator", DCT + "publisher",
                            DCT + "issued", RDFS + "label", KGO + "sourceText", KGO + "sha256"})
_MACHINERY_TYPES = frozenset({KGO + "Fact", KGO + "Quote", OA + "TextQuoteSelector",
                              OA + "TextPositionSelector"})


def check_evidence(quads: Iterable[Quad], document: str) -> list[str]:
    """Statements of a compiled graph with no quote, no source and no reasoned derivation.

    Works on the RDF alone (any graph built like ``kgraph ingest`` builds one):
    every triple other than the provenance machinery (facts, quotes, selectors,
    mentions) and the document's own metadata must be reified as a ``kgo:Fact``
    with ``kgo:hasEvidence`` or a ``prov:wasDerivedFrom`` other than the
    document; a fact marked ``kgo:isDerived`` needs a ``kgo:derivation`` of at
    least :data:`MIN_DERIVATION_WORDS` words.
    """
    triples = [(q.subject, q.predicate, q.object) for q in quads]
    machinery = {s for s, p, o in triples if p.value == _RDF_TYPE
                 and isinstance(o, NamedNode) and o.value in _MACHINERY_TYPES}
    facts: dict[object, dict[str, list[object]]] = {}
    for s, p, o in triples:
        if s in machinery:
            facts.setdefault(s, {}).setdefault(p.value, []).append(o)
    supported: set[tuple[object, object, object]] = set()
    problems: list[str] = []
    for node, props in facts.items():
        if NamedNode(KGO + "Fact") not in props.get(_RDF_TYPE, []):
            continue
        key = (props.get(RDF + "subject", [None])[0], props.get(RDF + "predicate", [None])[0],
               props.get(RDF + "object", [None])[0])
        sources = [o for o in props.get(PROV + "wasDerivedFrom", [])
                   if not (isinstance(o, NamedNode) and o.value == document)]
        if props.get(KGO + "hasEvidence") or sources:
            supported.add(key)
        else:
            problems.append(f"{node}: fact with neither a quote nor a source")
        if any(isinstance(o, Literal) and o.value == "true"
               for o in props.get(KGO + "isDerived", [])):
            reasons = [o.value for o in props.get(KGO + "derivation", [])
                       if isinstance(o, Literal)]
            if not any(len(r.split()) >= MIN_DERIVATION_WORDS for r in reasons):
                problems.append(f"{node}: derived without a reason (kgo:derivation, "
                                f"at least {MIN_DERIVATION_WORDS} words, says how)")
    for s, p, o in triples:
        if s in machinery or p.value == KGO + "hasMention":
            continue
        if isinstance(s, NamedNode) and s.value == document and p.value in _DOCUMENT_KEYS:
            continue
        if (s, p, o) not in supported:
            problems.append(f"{s} {p} {o}: neither quoted, sourced nor derived with a reason")
    return problems


def check_rules(facts: FactsFile, quads: Iterable[Quad] | None = None,
                ontology: OntologySource = DEFAULT_ONTOLOGY_DIR) -> list[FactsProblem]:
    """Every annotation-rule problem of a loaded file (and of its compiled quads)."""
    kinds = Kinds.of(facts, ontology)
    problems = check_hedged(facts, kinds) + check_ends(facts, kinds)
    if quads is not None:
        problems += [_problem(facts, None, "evidence", m)
                     for m in check_evidence(quads, facts.document.iri)]
    return sorted(problems, key=lambda p: (p.line or 0, p.message))
