"""Blank-node identity in kgraph's writes: one rule, and how each engine is told.

**The rule.** A :class:`~pyoxigraph.BlankNode` handed to a store write
(``add_quads``, ``replace_graph``, ``load``) *is* the node with that label in that
store: writing the quads read from a graph back (a copy, a replacement, the
reasoner's inferred graph, which points at the ontology's class expressions) keeps
every link. Fresh nodes come from parsing, never from writing:
:func:`kgraph.rdf.parse_rdf` renames a document's labels apart (two documents that
both say ``_:b`` mean two nodes), and a new ``BlankNode()`` has a random 128-bit label.

SPARQL alone cannot say this: ``INSERT DATA`` mints a new node for every label (SPARQL
1.1 Update 3.1.1), and so do Graph Store writes on the engines measured
(``docs/store.md``, "Blank nodes"). So each route spells node identity its own way,
all from this module:

* the embedded store takes terms (``Store.extend`` keeps labels); a write that must be
  one SPARQL update to be atomic (``replace_graph``: clear and insert in one
  transaction) skolemizes its blank nodes into IRIs that name nothing else
  (RDF 1.1 Concepts 3.5, under :data:`GENID` plus a random per-write segment) and
  turns them back into the same blank nodes inside that same update
  (:func:`replace_update`);
* between processes (HTTP worker -> writer) quads travel as N-Quads whose labels are
  read back verbatim (no renaming), so the writer gets the very same terms;
* a remote engine is written to in its own notation for an existing blank node
  (:func:`engine_bnode_iri`: Virtuoso's ``nodeID://``). Oxigraph server has none (no
  data write keeps a blank node there: measured), but ``INSERT ... WHERE`` keeps the
  engine's own nodes: there a node the engine holds is written through a WHERE pattern
  that describes it (:class:`EngineNodes`, used by ``RemoteStore``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable

from pyoxigraph import BlankNode, NamedNode, RdfFormat, Triple, serialize

#: Where kgraph's Skolem IRIs live (RDF 1.1 Concepts 3.5, ``.well-known/genid``).
GENID = "https://w3id.org/kgraph/.well-known/genid/"
#: The custom function that turns this write's Skolem IRIs back into blank nodes.
DESKOLEMIZE = NamedNode(GENID + "deskolemize")

Term = object


def has_blank_node(term: object) -> bool:
    """Whether a term (or a triple, or a quoted triple in it) holds a blank node."""
    if isinstance(term, BlankNode):
        return True
    if isinstance(term, Triple):
        return has_blank_node(term.subject) or has_blank_node(term.object)
    return False


class Skolemizer:
    """Blank nodes <-> Skolem IRIs for one write.

    The IRIs carry a random segment of their own, so an IRI already in the data that
    happens to start with :data:`GENID` is never mistaken for one of them:
    :meth:`deskolemize` maps back only IRIs under this write's :attr:`prefix`.
    """

    def __init__(self) -> None:
        self.prefix = f"{GENID}{secrets.token_hex(12)}/"
        self._cut = len(self.prefix)

    def text(self, term: Term) -> str:
        """``term`` in N-Triples / SPARQL syntax, its blank nodes skolemized."""
        if isinstance(term, BlankNode):
            return f"<{self.prefix}{term.value}>"
        if isinstance(term, Triple):
            return (f"<<( {self.text(term.subject)} {term.predicate} "
                    f"{self.text(term.object)} )>>")
        return str(term)

    def deskolemize(self, term: Term) -> Term:
        """The blank node a Skolem IRI of this write stands for; any other term as it is."""
        if isinstance(term, NamedNode):
            value = term.value
            return BlankNode(value[self._cut:]) if value.startswith(self.prefix) else term
        if isinstance(term, Triple):
            return Triple(self.deskolemize(term.subject), term.predicate,  # type: ignore[arg-type]
                          self.deskolemize(term.object))  # type: ignore[arg-type]
        return term


def replace_update(
    graph: str | None, triples: Iterable[Triple]
) -> tuple[str, dict[NamedNode, Callable[..., object]]]:
    """One SPARQL update that makes ``graph`` (``None``: the default graph) hold exactly
    ``triples``, blank nodes included as the very nodes they are, and the custom
    functions to run it with (``pyoxigraph.Store.update(text, custom_functions=...)``).

    Triples without blank nodes are ``INSERT DATA``; the others are ``VALUES`` tables
    of their skolemized form, turned back into blank nodes by :data:`DESKOLEMIZE` as
    they are inserted (called only where a blank node is). One update is one
    transaction: readers never see the graph half-replaced, and a failure leaves it
    as it was.
    """
    plain: list[Triple] = []
    #: rows by where the blank nodes are: (subject, object)
    rows: dict[tuple[bool, bool], list[str]] = {}
    sk = Skolemizer()
    for t in triples:
        in_s, in_o = has_blank_node(t.subject), has_blank_node(t.object)
        if not (in_s or in_o):
            plain.append(t)
            continue
        rows.setdefault((in_s, in_o), []).append(
            f"({sk.text(t.subject)} {t.predicate} {sk.text(t.object)})")
    target = "DEFAULT" if graph is None else f"GRAPH <{graph}>"
    ops = [f"CLEAR SILENT {target}"]
    if graph is not None:
        ops.append(f"CREATE SILENT GRAPH <{graph}>")

    def wrap(body: str) -> str:
        return body if graph is None else f"GRAPH <{graph}> {{\n{body}\n}}"

    if plain:
        ops.append("INSERT DATA {\n" + wrap(_ntriples(plain)) + "\n}")
    fn = f"<{DESKOLEMIZE.value}>"
    # (A join with a table of distinct nodes, to call the function once per node, made
    # Oxigraph evaluate a cross product: 100,000 triples took minutes instead of ~2 s.)
    for (in_s, in_o), lines in rows.items():
        s_var, o_var = ("?ks" if in_s else "?s"), ("?ko" if in_o else "?o")
        binds = (f"BIND({fn}(?ks) AS ?s) " if in_s else "") + \
                (f"BIND({fn}(?ko) AS ?o)" if in_o else "")
        ops.append("INSERT {\n" + wrap("?s ?p ?o") + "\n} WHERE {\n"
                   f"VALUES ({s_var} ?p {o_var}) {{\n" + "\n".join(lines) + f"\n}}\n{binds}\n}}")
    functions: dict[NamedNode, Callable[..., object]] = {DESKOLEMIZE: sk.deskolemize} \
        if rows else {}
    return " ;\n".join(ops), functions


def _ntriples(triples: list[Triple]) -> str:
    return (serialize(triples, format=RdfFormat.N_TRIPLES) or b"").decode("utf-8")


# -- remote engines --------------------------------------------------------------------
#: Virtuoso numbers its blank nodes from about 10^4 up; labels kgraph made itself are
#: placed at 2^61 + a 60-bit hash of the label, far above any count Virtuoso reaches and
#: below its limit (measured: ``nodeID://b`` + 2^62 - 1 and above are refused).
_VIRTUOSO_OWN = re.compile(r"b[0-9]{1,19}")
_VIRTUOSO_BASE = 1 << 61


def engine_bnode_iri(node: BlankNode, prefix: str) -> NamedNode:
    """The IRI an engine with labelled blank-node IRIs (Virtuoso: ``nodeID://``) reads as
    the blank node ``node``: the engine's own label when ``node`` came from it, else a
    label derived from kgraph's (a 60-bit BLAKE2b hash; two labels of kgraph's meet
    on one node with odds of about n^2 / 2^61 for n nodes)."""
    label = node.value
    if _VIRTUOSO_OWN.fullmatch(label) is None:
        digest = hashlib.blake2b(label.encode("utf-8"), digest_size=8).digest()
        label = f"b{_VIRTUOSO_BASE + (int.from_bytes(digest, 'big') >> 4)}"
    return NamedNode(prefix + label)


# -- engines without a notation (Oxigraph server): a node known by its description -------
def _blank_label(term: object) -> str | None:
    return term.value if isinstance(term, BlankNode) else None


class EngineNodes:
    """The blank nodes an engine holds, known by their outgoing triples.

    Why: Oxigraph server has no notation for an existing blank node in a write, but it
    keeps its nodes in ``INSERT {…} WHERE {…}``, where a variable binds the engine's own
    node, and it reports each node under one stable label. A blank node of a write whose
    label is the subject of a triple the engine holds is that node; it is written through
    a WHERE pattern that describes it (its outgoing triples in one graph, through nested
    blank nodes: lists, intersections), one variable per blank node.

    Built from rows ``(graph, label, predicate, object)`` (``graph`` ``None``: the default
    graph) of every blank-subject triple outside the graph being written. A description
    that matches more than one node (two identical restrictions) cannot tell them apart:
    :meth:`unique` says so, and the caller writes a fresh node instead.
    """

    def __init__(self, rows: Iterable[tuple[str | None, str, NamedNode, Term]]) -> None:
        self._out: dict[tuple[str | None, str], list[tuple[NamedNode, Term]]] = {}
        self._graphs: dict[str, list[str | None]] = {}
        self._by_pair: dict[tuple[str | None, NamedNode, Term], set[str]] = {}
        self._by_pred: dict[tuple[str | None, NamedNode], set[str]] = {}
        #: blank parents: (graph, child) -> [(parent, predicate)]
        self._in: dict[tuple[str | None, str], list[tuple[str, NamedNode]]] = {}
        for g, label, p, o in rows:
            if isinstance(o, Triple):  # a triple term: left out of descriptions
                continue
            key = (g, label)
            if key not in self._out:
                self._out[key] = []
                self._graphs.setdefault(label, []).append(g)
            self._out[key].append((p, o))
            self._by_pred.setdefault((g, p), set()).add(label)
            if isinstance(o, BlankNode):
                self._in.setdefault((g, o.value), []).append((label, p))
            else:
                self._by_pair.setdefault((g, p, o), set()).add(label)

    def __contains__(self, label: str) -> bool:
        return label in self._graphs

    def graph_of(self, label: str) -> str | None:
        """The graph whose triples describe ``label`` (the default graph first, then the
        first IRI in order, when it has outgoing triples in several)."""
        return min(self._graphs[label], key=lambda g: (g is not None, g or ""))

    def unique(self, label: str) -> bool:
        """Whether the description of ``label`` matches no other node of its graph (a
        conservative test: a node it cannot rule out counts as a match)."""
        g = self.graph_of(label)
        out = self._out[(g, label)]
        ground = [self._by_pair[(g, p, o)] for p, o in out if not isinstance(o, BlankNode)]
        candidates = min(ground, key=len) if ground else self._by_pred[(g, out[0][0])]
        return sum(1 for c in candidates if self._matches(g, label, c, set())) == 1

    def anchor(self, label: str, depth: int = 8) -> str | None:
        """A node whose pattern (:meth:`pattern`) pins ``label`` down: ``label`` itself when
        :meth:`unique`, else a blank parent in the same graph that is pinned down and has
        no other child by that predicate that ``label``'s description matches (the
        ontology's two identical restrictions ``[owl:onProperty :status; owl:hasValue
        :InForce]`` are told apart by the lists that hold them); ``None`` when none is."""
        g = self.graph_of(label)
        if self.unique(label):
            return label
        if depth == 0:
            return None
        for parent, p in self._in.get((g, label), []):
            if parent == label or self.graph_of(parent) != g:
                continue
            siblings = [o.value for p2, o in self._out[(g, parent)]
                        if p2 == p and isinstance(o, BlankNode) and o.value != label]
            if any(self._matches(g, label, c, set()) for c in siblings):
                continue
            top = self.anchor(parent, depth - 1)
            if top is not None:
                return top
        return None

    def _matches(self, g: str | None, a: str, b: str, assumed: set[tuple[str, str]]) -> bool:
        """Whether node ``b`` satisfies the pattern of node ``a`` (cycles assumed to match)."""
        if a == b or (a, b) in assumed:
            return True
        assumed.add((a, b))
        theirs = self._out.get((g, b), [])
        have = set(theirs)
        for p, o in self._out[(g, a)]:
            if not isinstance(o, BlankNode):
                if (p, o) not in have:
                    return False
            elif (g, o.value) not in self._out:  # a bare variable: any blank node there
                if not any(p2 == p and isinstance(o2, BlankNode) for p2, o2 in theirs):
                    return False
            elif not any(p2 == p and isinstance(o2, BlankNode)
                         and self._matches(g, o.value, o2.value, assumed) for p2, o2 in theirs):
                return False
        return True

    def pattern(self, label: str, var: Callable[[str], str]) -> tuple[str | None, list[str]]:
        """The graph that describes ``label`` and the lines of a WHERE pattern that match
        it (and its nested blank nodes), each blank node as ``var(label)``."""
        g = self.graph_of(label)
        lines: list[str] = []
        seen: set[str] = set()
        stack = [label]
        while stack:
            x = stack.pop()
            if x in seen:
                continue
            seen.add(x)
            lines.append(f"FILTER(isBlank({var(x)}))")
            for p, o in self._out.get((g, x), []):
                if isinstance(o, BlankNode):
                    stack.append(o.value)
                    text = var(o.value)
                else:
                    text = str(o)
                lines.append(f"{var(x)} {p} {text} .")
        return g, lines
