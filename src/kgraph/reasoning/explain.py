"""Derivation trees: why an inferred triple holds, down to the article's quotes.

An inner node names the rule (file and summary) and its bindings; its
children are the rule's premises. A leaf is an asserted triple: an ontology
axiom, a hypothetical scenario statement, or a fact of the knowledge base with
the quotes that evidence it (through the ``kgo:Fact`` reification and
``kgo:Quote`` selectors) or the external source it was taken from. Triples that
were already explained higher up are referenced, not repeated, so a tree stays
readable when many conclusions share premises.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyoxigraph import BlankNode, Literal, NamedNode, Store, Triple

from ..namespaces import GRAPH_ONTOLOGY, GRAPH_SOURCE, KGO, OA, PREFIXES, PROV, RDF, RDFS
from ..store.results import json_term as term_json
from .engine import Derivation, EngineRun

#: The scratch graph that holds hypothetical (scenario) statements.
GRAPH_SCENARIO = "https://w3id.org/kgraph/graph/scenario"


def shorten(iri: str) -> str:
    """A CURIE for known namespaces, else ``<iri>``."""
    for prefix, ns in sorted(PREFIXES.items(), key=lambda kv: -len(kv[1])):
        if iri.startswith(ns) and all(c not in iri[len(ns):] for c in "/#?"):
            return f"{prefix}:{iri[len(ns):]}"
    return f"<{iri}>"


def term_text(term: object) -> str:
    """A compact, readable rendering of a term."""
    if isinstance(term, NamedNode):
        return shorten(term.value)
    if isinstance(term, BlankNode):
        return f"_:{term.value}"
    if isinstance(term, Literal):
        if term.language:
            return f'"{term.value}"@{term.language}'
        dt = term.datatype.value
        if dt == PREFIXES["xsd"] + "string":
            return f'"{term.value}"'
        return f'"{term.value}"^^{shorten(dt)}'
    return str(term)


@dataclass
class Explainer:
    """Builds derivation trees from an engine run over a scratch store."""

    run: EngineRun
    store: Store  # asserted graphs + inferred (and scenario) graphs, graphs kept
    max_depth: int = 25

    # -- lookups ---------------------------------------------------------------
    def label(self, term: object) -> str | None:
        if not isinstance(term, NamedNode | BlankNode):
            return None
        labels = [
            q.object.value
            for q in self.store.quads_for_pattern(term, NamedNode(RDFS + "label"), None)
            if isinstance(q.object, Literal)
        ]
        return sorted(labels)[0] if labels else None

    def graphs_of(self, t: Triple) -> list[str]:
        out = []
        for q in self.store.quads_for_pattern(t.subject, t.predicate, t.object, None):
            name = q.graph_name
            out.append(name.value if isinstance(name, NamedNode) else "")
        return sorted(set(out))

    def quotes(self, quote_nodes: Iterable[object]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for qn in quote_nodes:
            entry: dict[str, object] = {"quote": qn.value if isinstance(qn, NamedNode) else str(qn)}
            for src in self.store.quads_for_pattern(qn, NamedNode(OA + "hasSource"), None):
                entry["source"] = src.object.value
            for sel in self.store.quads_for_pattern(qn, NamedNode(OA + "hasSelector"), None):
                for p, key in (("exact", "exact"), ("start", "start"), ("end", "end")):
                    for v in self.store.quads_for_pattern(sel.object, NamedNode(OA + p), None):
                        value = v.object.value
                        entry[key] = int(value) if key != "exact" else value
            out.append(entry)
        out.sort(key=lambda e: (e.get("start", 0), e["quote"]))
        return out

    def evidence(self, t: Triple) -> list[dict[str, object]]:
        """The kgo:Fact records of an asserted triple: source, quotes, derivation note."""
        facts: list[dict[str, object]] = []
        subj_q = self.store.quads_for_pattern(None, NamedNode(RDF + "subject"), t.subject)
        for q in subj_q:
            f = q.subject
            if not any(self.store.quads_for_pattern(f, NamedNode(RDF + "predicate"), t.predicate)):
                continue
            if not any(self.store.quads_for_pattern(f, NamedNode(RDF + "object"), t.object)):
                continue
            entry: dict[str, object] = {"fact": f.value if isinstance(f, NamedNode) else str(f)}
            derived = [
                x.object.value
                for x in self.store.quads_for_pattern(f, NamedNode(PROV + "wasDerivedFrom"), None)
            ]
            if derived:
                entry["derived_from"] = sorted(set(derived))
            ev = [x.object for x in self.store.quads_for_pattern(f, NamedNode(KGO + "hasEvidence"), None)]
            entry["quotes"] = self.quotes(ev)
            for x in self.store.quads_for_pattern(f, NamedNode(KGO + "derivation"), None):
                entry["derivation"] = x.object.value
            facts.append(entry)
        facts.sort(key=lambda e: str(e["fact"]))
        return facts

    def mentions(self, term: object) -> list[dict[str, object]]:
        if not isinstance(term, NamedNode):
            return []
        nodes = [q.object for q in self.store.quads_for_pattern(term, NamedNode(KGO + "hasMention"), None)]
        return self.quotes(nodes)

    # -- trees -----------------------------------------------------------------
    def triple_json(self, t: Triple) -> dict[str, object]:
        out: dict[str, object] = {
            "s": term_json(t.subject),
            "p": term_json(t.predicate),
            "o": term_json(t.object),
            "text": f"{term_text(t.subject)} {term_text(t.predicate)} {term_text(t.object)}",
        }
        labels = {k: self.label(v) for k, v in (("s", t.subject), ("o", t.object))}
        labels = {k: v for k, v in labels.items() if v}
        if labels:
            out["labels"] = labels
        return out

    def explain(self, t: Triple) -> dict[str, object]:
        """The derivation tree of ``t`` (asserted or inferred) as JSON-able dicts."""
        seen: set[object] = set()
        return self._node(t, seen, 0)

    def _node(self, t: Triple, seen: set[object], depth: int) -> dict[str, object]:
        node = self._node1(t, seen, depth)
        alts = self.run.alternatives.get(t)
        if alts and depth < self.max_depth and not node.get("see_above"):
            also = []
            shown: set[str] = set()
            for d in alts:
                if d.rule.name in shown:
                    continue  # one alternative per rule is enough for a reader
                if any(t in self._support(p) for p in d.premises()):
                    continue  # would explain t by itself
                shown.add(d.rule.name)
                also.append(self._inner(self.triple_json(t), t, d, seen, depth))
            if also:
                node["also_inferred"] = also
        return node

    def _support(self, t: Triple, _memo: dict | None = None) -> set[Triple]:  # type: ignore[type-arg]
        """Every triple the recorded derivation of ``t`` rests on (itself included)."""
        out: set[Triple] = set()
        stack = [t]
        while stack:
            x = stack.pop()
            if x in out:
                continue
            out.add(x)
            d = self.run.derivations.get(x)
            if d is not None:
                stack.extend(d.premises())
        return out

    def _node1(self, t: Triple, seen: set[object], depth: int) -> dict[str, object]:
        node = self.triple_json(t)
        d: Derivation | None = self.run.derivations.get(t)
        if d is None:
            graphs = self.graphs_of(t)
            if not graphs:
                node["kind"] = "unknown"
                node["note"] = "neither asserted nor inferred"
                return node
            node["graphs"] = graphs
            if any(g == GRAPH_SCENARIO for g in graphs):
                node["kind"] = "hypothetical"
            elif all(g == GRAPH_ONTOLOGY for g in graphs):
                node["kind"] = "axiom"
            else:
                node["kind"] = "asserted"
                facts = self.evidence(t)
                if facts:
                    node["facts"] = facts
                elif t.predicate.value == RDF + "type" or any(
                    g.startswith(GRAPH_SOURCE) for g in graphs
                ):
                    mentions = self.mentions(t.subject)
                    if mentions:
                        node["mentions"] = mentions
            return node
        return self._inner(node, t, d, seen, depth)

    def _inner(self, node: dict[str, object], t: Triple, d: Derivation, seen: set[object],
               depth: int) -> dict[str, object]:
        node["kind"] = "inferred"
        node["rule"] = {
            "name": d.rule.name,
            "file": d.rule.relpath,
            "summary": d.rule.summary,
        }
        node["bindings"] = {k: term_json(v) for k, v in d.binding}
        key = (t, d.rule.name, d.binding)
        if key in seen:
            node["see_above"] = True
            return node
        seen.add(key)
        if depth >= self.max_depth:
            node["truncated"] = True
            return node
        node["premises"] = [
            self._node(p, seen, depth + 1) for p in d.premises() if self.holds(p)
        ]
        return node

    def holds(self, t: Triple) -> bool:
        """Whether a premise holds (a pattern of an unused UNION branch may not)."""
        if t in self.run.derivations:
            return True
        return next(self.store.quads_for_pattern(t.subject, t.predicate, t.object), None) is not None


def quotes_in(tree: dict[str, object]) -> list[dict[str, object]]:
    """Every quote reachable in a derivation tree (facts' evidence and mentions)."""
    out: list[dict[str, object]] = []
    for fact in tree.get("facts", []) or []:  # type: ignore[union-attr]
        out.extend(fact.get("quotes", []))
    out.extend(tree.get("mentions", []) or [])  # type: ignore[arg-type]
    for key in ("premises", "also_inferred"):
        for child in tree.get(key, []) or []:  # type: ignore[union-attr]
            out.extend(quotes_in(child))
    return out


def rules_in(tree: dict[str, object]) -> list[str]:
    """Names of the rules used in a derivation tree, in first-use order."""
    out: list[str] = []
    rule = tree.get("rule")
    if isinstance(rule, dict):
        out.append(str(rule["name"]))
    for key in ("premises", "also_inferred"):
        for child in tree.get(key, []) or []:  # type: ignore[union-attr]
            for r in rules_in(child):
                if r not in out:
                    out.append(r)
    return out


def render_text(tree: dict[str, object], indent: str = "") -> str:
    """The tree as indented text for people (the CLI)."""
    lines: list[str] = []
    _render(tree, indent, lines)
    return "\n".join(lines)


def _render(node: dict[str, object], indent: str, lines: list[str]) -> None:
    _render1(node, indent, lines)
    for alt in node.get("also_inferred", []) or []:  # type: ignore[union-attr]
        rule = alt["rule"]
        lines.append(f"{indent}  also <= rule {rule['name']} ({rule['file']}): {rule['summary']}")
        for child in alt.get("premises", []) or []:
            _render(child, indent + "    ", lines)


def _render1(node: dict[str, object], indent: str, lines: list[str]) -> None:
    text = str(node["text"])
    labels = node.get("labels")
    if isinstance(labels, dict) and labels:
        text += "   (" + "; ".join(f"{v}" for v in labels.values()) + ")"
    kind = node.get("kind")
    if kind == "inferred":
        rule = node["rule"]  # type: ignore[index]
        suffix = "  [see above]" if node.get("see_above") else ""
        lines.append(f"{indent}{text}")
        lines.append(f"{indent}  <= rule {rule['name']} ({rule['file']}): {rule['summary']}{suffix}")  # type: ignore[index]
        for child in node.get("premises", []) or []:  # type: ignore[union-attr]
            _render(child, indent + "    ", lines)
        if node.get("truncated"):
            lines.append(f"{indent}    ... (depth limit)")
        return
    if kind == "axiom":
        lines.append(f"{indent}{text}   [ontology axiom]")
        return
    if kind == "hypothetical":
        lines.append(f"{indent}{text}   [scenario, hypothetical]")
        return
    if kind == "unknown":
        lines.append(f"{indent}{text}   [not in the knowledge base]")
        return
    graphs = ", ".join(shorten(g) if g else "default graph" for g in node.get("graphs", []))  # type: ignore[union-attr]
    lines.append(f"{indent}{text}   [asserted in {graphs}]")
    for fact in node.get("facts", []) or []:  # type: ignore[union-attr]
        for q in fact.get("quotes", []):
            lines.append(f'{indent}    quote: “{q.get("exact", "?")}” '
                         f'(chars {q.get("start", "?")}-{q.get("end", "?")} of {q.get("source", "?")})')
        if not fact.get("quotes"):
            for src in fact.get("derived_from", []):
                lines.append(f"{indent}    source: {src}")
        if fact.get("derivation"):
            lines.append(f"{indent}    note: {fact['derivation']}")
    for q in node.get("mentions", []) or []:  # type: ignore[union-attr]
        lines.append(f'{indent}    mention: “{q.get("exact", "?")}” '
                     f'(chars {q.get("start", "?")}-{q.get("end", "?")})')
